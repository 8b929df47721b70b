"""The lean predict path: a network's forward pass for inference only, in buffers it keeps between calls.

Training's forward pass keeps what backward needs, asks each layer for its recorder and dropout state,
and checks every input entry for NaN before it starts. Prediction needs none of that: a
:class:`Predictor` holds one output buffer per Dense layer and, per batch size, a *plan*: each layer's
``x·W + b`` as a BLAS call bound once to those buffers (``_blas.bind_affine``: converting a call's
arguments costs more than a small call itself), followed by its activation in place. Dropout is the
identity at inference and is skipped. The input is checked for shape and dtype up front; for NaN or
infinity by one sum (of the copied rows, or of the first layer's ``x·W + b``, which a NaN or inf in a row
makes non-finite), and by name only when that sum is not finite, so a clean batch is never scanned twice.

One row of a network large enough goes through in one compiled call instead (:mod:`bprop.nn._one_row`).
A batch of up to :data:`COPY_ROWS` rows is copied into the predictor's own input buffer (a few hundred
bytes), so its whole plan stays bound. Larger batches are taken ``chunk`` rows at a time (at most
:data:`CHUNK_ROWS` rows and :data:`CHUNK_ELEMENTS` intermediate values, so 100,000 rows stream through
cache-sized buffers instead of 100 MB per layer), the first layer bound to the caller's rows for that
call only (the predictor never keeps the caller's array alive). With two BLAS threads allowed, the two
halves of a batch go through at once (see :meth:`Predictor.predict`).

A predictor is not thread-safe; :class:`Predictors` gives each thread of a network its own.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable

import numpy as np

from ._blas import bind_affine, bind_sum_of_squares, one_thread, restore_threads
from ._one_row import RowPlan, row_plan
from .activations import bind_forward
from .checks import check_matrix
from .dropout import Dropout
from .layers import Dense, plain

__all__ = ["Predictor", "Predictors", "CHUNK_ELEMENTS", "CHUNK_ROWS", "COPY_ROWS", "PARALLEL_ROWS"]

#: Intermediate values (rows × the widths of every layer) a chunk may hold: 4 M, 16 MB in float32.
CHUNK_ELEMENTS = 1 << 22
#: Rows a chunk may hold: 1,024 rows of the reference 784-256-128-10 network went 3 % faster through
#: 16,384 rows than chunks of 3,560 (its rows and outputs stay in the caches between layers).
CHUNK_ROWS = 1024
#: Batches up to this many rows are copied into the predictor's input buffer.
COPY_ROWS = 64
#: Plans kept (one per batch size seen); more sizes than this start the cache over.
MAX_PLANS = 16
#: From this many rows, with two or more BLAS threads allowed, the rows are split in two halves computed
#: at once by two threads each running one-threaded BLAS (see :meth:`Predictor.predict`).
PARALLEL_ROWS = 32


class _Plan:
    """The calls of one batch size, in order: each Dense layer's bound ``x·W + b`` (None for the first
    layer when it reads the caller's rows) and its activation in place (``activations.bind_forward``)."""

    def __init__(self, x: np.ndarray | None, calls: list[Callable | None], first: np.ndarray, output: np.ndarray):
        self.x, self.calls, self.first, self.output = x, calls, first, output
        self.sum_of_squares = None if x is None else bind_sum_of_squares(x)


class Predictor:
    """Inference for the Dense layers of a network, valid while the layers and their weight arrays stay the
    same objects (their values may change: training updates them in place).

    Args:
        layers: the network's layers (a layer without parameters, such as Dropout, is skipped).
        dtype: the network's dtype.
    """

    def __init__(self, layers: list, dtype: np.dtype) -> None:
        self.dense = [layer for layer in layers if isinstance(layer, Dense)]
        # What the plans compute: Dense layers and Dropout (the identity at inference), as their classes
        # define them. Any other layer, or a forward of its own, leaves predicting to forward().
        self.lean = bool(self.dense) and all(plain(layer, Dense, Dropout) for layer in layers)
        self.dtype = np.dtype(dtype)
        self.key = self.identity(layers)
        self.n_inputs = self.dense[0].fan_in if self.dense else 1
        widths = sum(layer.fan_out for layer in self.dense) + self.n_inputs
        self.chunk = max(COPY_ROWS, min(CHUNK_ROWS, CHUNK_ELEMENTS // widths))
        self._rows = 0
        self._input = np.empty((COPY_ROWS, self.n_inputs), dtype=self.dtype)
        self._outputs: list[np.ndarray] = []
        self._plans: dict[int, _Plan] = {}
        self._layers = list(layers)
        self._one_row: RowPlan | None | bool = False  # False: not built yet; None: the BLAS plan serves
        self._twin: Predictor | None = None  # the second half's predictor, and the thread that runs it
        self._worker = None
        self._worker_pid = 0

    def __reduce__(self):
        # Copies and pickles of a network start without a predictor: its buffers are scratch, and its
        # bound calls hold the original's addresses.
        return _no_predictor, ()

    @staticmethod
    def identity(layers: list) -> list[tuple]:
        """What a predictor depends on: each layer, its activation and a Dense layer's weight arrays
        (``adopt`` replaces the arrays; their values may change freely). Other layers' arrays do not
        matter: a network with one leaves predicting to ``forward``."""
        return [
            (layer, layer.activation, *((layer._W, layer._b) if isinstance(layer, Dense) else (None, None)))
            for layer in layers
        ]

    def valid_for(self, layers: list) -> bool:
        """Whether ``layers`` are still what this predictor was built for (same objects throughout)."""
        key = self.key
        if len(layers) != len(key):
            return False
        for layer, (same, activation, W, b) in zip(layers, key):
            if layer is not same or layer.activation is not activation:
                return False
            if W is not None and (layer._W is not W or layer._b is not b):  # not the properties: 2× faster
                return False
        return True

    def _plan(self, rows: int) -> _Plan:
        plan = self._plans.get(rows)
        if plan is not None:
            return plan
        if rows > self._rows:  # grow the buffers; plans of smaller sizes hold views of the old ones
            self._rows = max(rows, min(2 * self._rows, self.chunk))
            self._outputs = [np.empty((self._rows, layer.fan_out), dtype=self.dtype) for layer in self.dense]
            self._plans.clear()
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        x = self._input[:rows] if rows <= COPY_ROWS else None
        calls, a = [], x
        for layer, buffer in zip(self.dense, self._outputs):
            z = buffer[:rows]
            calls.append(None if a is None else bind_affine(a, layer.W, layer.b, z))
            activate = bind_forward(layer.activation, z)
            if activate is not None:
                calls.append(activate)
            a = z
        plan = self._plans[rows] = _Plan(x, calls, self._outputs[0][:rows], a)
        return plan

    def predict(self, X) -> np.ndarray:
        """Outputs ``(n_samples, n_outputs)`` (a fresh array) for inputs ``(n_samples, n_inputs)``.

        BLAS runs one-threaded. With two or more BLAS threads allowed and at least :data:`PARALLEL_ROWS`
        rows, the two halves of the rows go through the network at the same time, in this thread and a
        worker. OpenBLAS's own threads meet at every product, and on a busy 2-core machine each meeting
        can wait for a descheduled thread (batches of 16 and 64 rows took 50-100× longer than with one
        thread); two halves meet once per call.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.dtype.kind not in "biuf" or X.shape[0] == 0 or X.shape[1] != self.n_inputs:
            check_matrix("X", X, self.dtype, self.n_inputs)  # raises, naming the problem
        n = X.shape[0]
        if n < PARALLEL_ROWS:  # the serving case, one or a few rows: as few Python steps as possible
            return self._small(X)
        threads = one_thread()
        try:
            two = threads is not None and threads > 1
            if n <= COPY_ROWS and not two:
                return self._through(X, X).copy()
            result = np.empty((n, self.dense[-1].fan_out), dtype=self.dtype)
            if two:
                self._halves(X, result)
            else:
                self._rows_into(X, result, X)
            return result
        finally:
            restore_threads(threads)

    def _small(self, X: np.ndarray) -> np.ndarray:
        """:meth:`predict` of fewer than :data:`PARALLEL_ROWS` rows (all copied in, one bound plan)."""
        if X.shape[0] == 1:
            if self._one_row is False:
                self._one_row = row_plan(self.dense, self.dtype)
            if self._one_row is not None:
                outputs = self._one_row(X)
                if outputs is None:
                    check_matrix("X", X, self.dtype, self.n_inputs)  # raises, naming the NaN or inf
                return outputs
        plan = self._plans.get(X.shape[0]) or self._plan(X.shape[0])
        # One BLAS thread (see predict); a thread handed a second half would cost more than it saves.
        threads = one_thread()
        try:
            self._copy_in(X, plan, X)
            for call in plan.calls:
                call()
        finally:
            restore_threads(threads)
        return plan.output.copy()

    def _copy_in(self, rows: np.ndarray, plan: _Plan, X: np.ndarray) -> None:
        """Copy ``rows`` (of ``X``) into the plan's input buffer, refusing NaN or inf in ``X`` by name."""
        if rows.dtype == self.dtype:
            np.copyto(plan.x, rows)
        else:
            with np.errstate(over="ignore"):  # a value beyond float32 is refused by name below
                np.copyto(plan.x, rows, casting="unsafe")  # float64 rows are rounded once, as astype would
        # A finite sum proves every value finite; a non-finite one (NaN, inf, or an overflowing sum) has
        # the whole input checked as forward checks it.
        if not math.isfinite(plan.sum_of_squares()):
            check_matrix("X", X, self.dtype, self.n_inputs)

    def _halves(self, X: np.ndarray, result: np.ndarray) -> None:
        if self._twin is None:
            self._twin = Predictor(self._layers, self.dtype)
        if self._worker is None or self._worker_pid != os.getpid():
            # A forked child inherits the executor but not its thread: work handed to it would never run.
            from concurrent.futures import ThreadPoolExecutor

            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bprop-predict")
            self._worker_pid = os.getpid()
        half = (X.shape[0] + 1) // 2
        other = self._worker.submit(self._twin._rows_into, X[half:], result[half:], X, single=True)
        try:
            self._rows_into(X[:half], result[:half], X)
        finally:
            other.result()  # waited for even when this half failed: its buffers and result are in use

    def _rows_into(self, part: np.ndarray, out: np.ndarray, X: np.ndarray, *, single: bool = False) -> None:
        """``out ← the outputs of part`` (rows of ``X``), chunk by chunk; ``single``: one BLAS thread here."""
        threads = one_thread() if single else None
        try:
            for start in range(0, part.shape[0], self.chunk):
                rows = part[start : start + self.chunk]
                np.copyto(out[start : start + len(rows)], self._through(rows, X))
        finally:
            restore_threads(threads)

    def _through(self, rows: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The network's output for ``rows`` of ``X`` (at most ``chunk``), in the plan's last buffer.

        A non-finite sum of the rows' values (NaN, inf, or an overflow of the sum) has the whole input
        checked by name, as ``forward`` checks it; a finite sum proves every value finite.
        """
        plan = self._plan(len(rows))
        if plan.x is not None:
            self._copy_in(rows, plan, X)
            calls = plan.calls
        else:
            with np.errstate(over="ignore"):
                rows = np.ascontiguousarray(rows, dtype=self.dtype)  # no copy when it already is
            layer = self.dense[0]  # the caller's rows: the first layer bound for this call only
            bind_affine(rows, layer.W, layer.b, plan.first)()
            # A NaN or inf among the rows makes its row of x·W + b non-finite (inf·0 is NaN): summing that
            # product, smaller than the rows and still in cache, proves the rows finite.
            if not math.isfinite(np.add.reduce(plan.first.reshape(-1))):
                check_matrix("X", X, self.dtype, self.n_inputs)
            calls = plan.calls[1:]
        for call in calls:
            call()
        return plan.output


def _no_predictor() -> None:
    return None


class Predictors(threading.local):
    """A network's predictor for each thread that predicts with it: each thread its own buffers, so
    threads sharing one network (a threaded server) never read each other's intermediate values.
    Copies and pickles start empty, as predictors do."""

    predictor: Predictor | None = None

    def __reduce__(self):
        return Predictors, ()
