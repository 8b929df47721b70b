"""One row through the whole network in one compiled call: the serving case of the lean predict path.

For a single row the BLAS plan of :mod:`bprop.nn.inference` is about twenty small calls (copy in, check,
three ``sgemv``, activations, softmax), each 0.2-1.2 µs of NumPy or ctypes overhead around little work:
on the reference 784-256-128-10 network they were 11 of 25 µs. Here numba compiles the whole pass (the
finiteness check, each layer's ``x·W + b`` and its activation) into one function, so one dispatch
replaces them all; the products run at the speed of OpenBLAS's ``sgemv`` (about 10.5 µs for 784 × 256).

The products sum in a different order than BLAS, so the outputs agree with ``forward`` to rounding, not
bit for bit (tests compare them with a float64 reference). Used only for networks large enough to pay
for loading numba (weights of at least :data:`bprop.nn._updates.MIN_SIZE` values), with the activations
of this module and C-contiguous weights; anything else keeps the BLAS plan.
"""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np

from . import _updates
from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh

__all__ = ["RowPlan", "row_plan"]

# The kernel's activation codes.
CODES = {Identity: 0, ReLU: 1, LeakyReLU: 2, Sigmoid: 3, Tanh: 4, Softmax: 5}

_KERNEL = None  # the compiled function, False once known to be unavailable
# Held while the kernel is imported or compiled. Threads arriving meanwhile wait for it (rather than take
# the BLAS plan for good, so that copies of one network in several threads give the same bits), and so does
# os.fork(): a child forked during numba's compilation would inherit its lock held by a thread it does not
# have, and hang at its own first call.
_LOADING = threading.RLock()
os.register_at_fork(before=_LOADING.acquire, after_in_parent=_LOADING.release, after_in_child=_LOADING.release)


def _kernel():
    global _KERNEL
    if _KERNEL is None and _updates.available():
        with _LOADING:
            if _KERNEL is None:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # numba's deprecation notices are not the user's business
                        from ._one_row_kernel import forward_row
                except ImportError:  # numba installed but unusable (e.g. built for another NumPy)
                    forward_row = False
                _KERNEL = forward_row
    return _KERNEL or None


class RowPlan:
    """One row through Dense ``layers`` (their current weights) in one compiled call."""

    def __init__(self, kernel, layers: list, dtype: np.dtype) -> None:
        self.kernel = kernel
        # Read-only views of the layers' arrays (their values followed as they change): numba types a
        # read-only array apart, and one made read-only later must not change the kernel's argument types.
        self.weights = tuple(_read_only(layer.W) for layer in layers)
        self.biases = tuple(_read_only(layer.b) for layer in layers)
        self.outputs = tuple(np.empty(layer.fan_out, dtype=dtype) for layer in layers)
        self.activations = [layer.activation for layer in layers]
        self.codes = np.array([CODES[type(a)] for a in self.activations], dtype=np.int64)
        self.slopes = np.zeros(len(layers), dtype=dtype)
        self.leaky = any(isinstance(a, LeakyReLU) for a in self.activations)
        self.x = np.empty((1, layers[0].fan_in), dtype=dtype)
        self.result = self.outputs[-1][None, :]
        self.arguments = (self.weights, self.biases, self.outputs, self.codes, self.slopes)

    def __call__(self, X: np.ndarray) -> np.ndarray | None:
        """The outputs ``(1, n_outputs)`` for ``X`` of one row (a fresh array); None when the row holds NaN
        or inf."""
        flags = X.flags  # only C-contiguous, aligned, writeable rows go in as they are: one compiled signature
        if X.dtype != self.x.dtype or not (flags.c_contiguous and flags.aligned and flags.writeable):
            with np.errstate(over="ignore"):  # a value beyond float32 becomes inf and is refused
                np.copyto(self.x, X, casting="unsafe")  # rounded once, as astype would
            X = self.x
        if self.leaky:  # read each call: the BLAS plan's LeakyReLU reads its slope each call too
            self.slopes[:] = [getattr(a, "slope", 0.0) for a in self.activations]
        if not self.kernel(X, *self.arguments):
            return None
        return self.result.copy()


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def row_plan(layers: list, dtype: np.dtype) -> RowPlan | None:
    """A :class:`RowPlan` for these Dense layers, or None where the BLAS plan must serve: a network too
    small to pay for loading numba, numba unavailable (or ``BPROP_NO_NUMBA``), an activation this module
    does not compute (subclasses included: they may compute something else), or weights that are not
    aligned C-contiguous arrays of the network's dtype."""
    # By size alone (not whether numba is loaded yet), so a network's one-row outputs never depend on
    # what the process did before.
    if sum(layer.W.size for layer in layers) < _updates.MIN_SIZE:
        return None
    if any(type(layer.activation) not in CODES for layer in layers):
        return None
    for layer in layers:
        for array in (layer.W, layer.b):
            if array.dtype != dtype or not (array.flags.c_contiguous and array.flags.aligned):
                return None
    kernel = _kernel()
    if kernel is None:
        return None
    plan = RowPlan(kernel, layers, dtype)
    with _LOADING:  # compiled for this depth and dtype now (or loaded from numba's cache), not mid-fork
        try:
            plan(np.zeros((1, layers[0].fan_in), dtype=dtype))
        except Exception as exc:  # e.g. a damaged file in numba's cache: the BLAS plan serves instead
            warnings.warn(f"bprop's compiled one-row predict is unavailable ({exc!r}); using BLAS", RuntimeWarning, 2)
            return None
    return plan
