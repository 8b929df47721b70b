"""The systems the speed benchmark times, each training the reference network for one epoch.

Every system has ``setup(batch_size, X, y)`` (build a fresh model and optimiser) and ``epoch()`` (one
pass over the data it was set up with, shuffled, last partial batch included). Peers whose package is
missing raise :class:`SkippedError` from their constructor so the benchmark reports them instead of failing.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from _common import HIDDEN, LEARNING_RATE, N_CLASSES, one_hot

import bprop
from bprop.nn import _blas


class SkippedError(Exception):
    """A peer cannot run here (package missing); the message says how to install it."""


def reference_net(n_features: int, hidden: tuple[int, ...] = HIDDEN) -> bprop.Sequential:
    return bprop.mlp([n_features, *hidden, N_CLASSES], activation="relu", output_activation="softmax", seed=0)


def engine_epoch(net, loss, optimizer, X, Y, batch_size: int, rng: np.random.Generator, buffers: dict) -> None:
    """One shuffled epoch through the engine API (``Sequential.train_step``): the least a fit loop must do."""
    n = X.shape[0]
    perm = rng.permutation(n)
    if "X" not in buffers:
        buffers["X"] = np.empty((batch_size, X.shape[1]), dtype=X.dtype)
        buffers["Y"] = np.empty((batch_size, Y.shape[1]), dtype=Y.dtype)
    bx, by = buffers["X"], buffers["Y"]
    for start in range(0, n, batch_size):
        idx = perm[start : start + batch_size]
        m = idx.shape[0]
        # Gather into reused buffers (fancy indexing allocates a fresh batch every step). mode="clip":
        # with the default mode="raise" NumPy gathers into a hidden temporary and copies it into out,
        # 11× slower at B=128 here; the indices come from a permutation, so they are always valid.
        xb = np.take(X, idx, axis=0, out=bx[:m], mode="clip")
        yb = np.take(Y, idx, axis=0, out=by[:m], mode="clip")
        net.train_step(xb, yb, loss, optimizer)


class Bprop:
    """bprop through ``bprop.fit`` (what users run) or through the engine loop above (``path="engine"``)."""

    def __init__(self, path: str = "fit", hidden: tuple[int, ...] = HIDDEN):
        if path == "fit" and not hasattr(bprop, "fit"):
            raise SkippedError("bprop.fit is not available in this checkout")
        self.path = path
        self.name = "bprop" if path == "fit" else "bprop-engine"
        self.hidden = hidden
        self.loss = bprop.get_loss("categorical_cross_entropy")

    def setup(self, batch_size: int, X: np.ndarray, y: np.ndarray) -> None:
        self.net = reference_net(X.shape[1], self.hidden)
        self.optimizer = bprop.SGD(LEARNING_RATE)
        self.X, self.Y, self.batch_size = X, one_hot(y), batch_size
        self.rng = np.random.default_rng(1)
        self.buffers: dict = {}
        self.epochs_run = 0

    def epoch(self) -> None:
        self.epochs_run += 1
        if self.path == "fit":
            bprop.fit(
                self.net, self.X, self.Y, loss=self.loss, optimizer=self.optimizer, epochs=1,
                batch_size=self.batch_size, shuffle=True, seed=self.epochs_run, verbose=0,
            )  # fmt: skip
        else:
            engine_epoch(self.net, self.loss, self.optimizer, self.X, self.Y, self.batch_size, self.rng, self.buffers)


class Torch:
    """PyTorch CPU eager: nn.Sequential + optim.SGD, batches by indexing a shuffled permutation."""

    name = "pytorch"

    def __init__(self, hidden: tuple[int, ...] = HIDDEN):
        try:
            import torch
        except ImportError:
            raise SkippedError("torch not installed; pip install -e .[bench] (pins torch==2.13.0)") from None
        self.torch = torch
        torch.set_num_threads(2)
        self.hidden = hidden

    def setup(self, batch_size: int, X: np.ndarray, y: np.ndarray) -> None:
        torch, nn = self.torch, self.torch.nn
        torch.manual_seed(0)
        sizes = [X.shape[1], *self.hidden]
        layers: list = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        self.model = nn.Sequential(*layers, nn.Linear(sizes[-1], N_CLASSES))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)
        self.loss = nn.CrossEntropyLoss()
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(1)

    def epoch(self) -> None:
        n, B = self.X.shape[0], self.batch_size
        perm = self.torch.randperm(n, generator=self.generator)
        for start in range(0, n, B):
            idx = perm[start : start + B]
            self.optimizer.zero_grad()
            self.loss(self.model(self.X[idx]), self.y[idx]).backward()
            self.optimizer.step()


class Sklearn:
    """scikit-learn's MLPClassifier with plain SGD, one epoch per ``fit`` (max_iter=1)."""

    def __init__(self, dtype=np.float64, hidden: tuple[int, ...] = HIDDEN):
        try:
            from sklearn.exceptions import ConvergenceWarning
            from sklearn.neural_network import MLPClassifier
        except ImportError:
            raise SkippedError("scikit-learn not installed; pip install -e .[bench]") from None
        self.MLPClassifier, self.ConvergenceWarning = MLPClassifier, ConvergenceWarning
        self.dtype = np.dtype(dtype)
        self.name = f"sklearn-{self.dtype.name}"
        self.hidden = hidden

    def setup(self, batch_size: int, X: np.ndarray, y: np.ndarray) -> None:
        self.X, self.y = X.astype(self.dtype), y
        # The configuration of BENCHMARK.md; random_state only makes the run repeatable.
        self.model = self.MLPClassifier(
            hidden_layer_sizes=self.hidden, solver="sgd", learning_rate_init=LEARNING_RATE, momentum=0,
            nesterovs_momentum=False, batch_size=batch_size, max_iter=1, alpha=0, shuffle=True, random_state=0,
        )  # fmt: skip

    def epoch(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.ConvergenceWarning)  # max_iter=1 always "fails to converge"
            self.model.fit(self.X, self.y)


def gemm_shapes(batch_size: int, sizes: list[int]) -> list[tuple[str, tuple[int, int], tuple[int, int], bool, bool]]:
    """The matrix products of one training step: (label, A shape, B shape, A transposed, B transposed)."""
    shapes = []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append((f"fwd{layer + 1}", (batch_size, fan_in), (fan_in, fan_out), False, False))
        shapes.append((f"dW{layer + 1}", (batch_size, fan_in), (batch_size, fan_out), True, False))
        if layer > 0:  # the first layer's input gradient is never needed
            shapes.append((f"dX{layer + 1}", (batch_size, fan_out), (fan_in, fan_out), False, True))
    return shapes


def gemm_step_seconds(batch_size: int, sizes: list[int], budget: float = 0.05, blocks: int = 5) -> float:
    """Seconds for one step's GEMMs alone, each shape timed in isolation (NumPy's OpenBLAS, float32)."""
    rng = np.random.default_rng(0)
    total = 0.0
    for _, a_shape, b_shape, a_t, b_t in gemm_shapes(batch_size, sizes):
        a = rng.standard_normal(a_shape, dtype=np.float32)
        b = rng.standard_normal(b_shape, dtype=np.float32)
        out = np.zeros((a_shape[1] if a_t else a_shape[0], b_shape[0] if b_t else b_shape[1]), dtype=np.float32)
        if a_t and batch_size == 1:
            # NumPy's matmul does not send an outer product to BLAS; time the BLAS routine (ger) instead,
            # bound once as the layers bind it. The rate is not 0: OpenBLAS returns at once for α = 0.
            product = _blas.bind_descend_outer(out, a, b, 1e-3, out)
        else:

            def product(a=(a.T if a_t else a), b=(b.T if b_t else b), out=out):
                np.matmul(a, b, out=out)

        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < budget / 5 or calls < 3:
            product()
            calls += 1
        per_call = []
        for _ in range(blocks):
            t0 = time.perf_counter()
            for _ in range(calls):
                product()
            per_call.append((time.perf_counter() - t0) / calls)
        total += min(per_call)  # a lower bound: the least disturbed block
    return total


def gemm_epoch_seconds(n_samples: int, batch_size: int, sizes: list[int]) -> float:
    """Lower bound for one epoch: full batches plus the last partial one."""
    full, rest = divmod(n_samples, batch_size)
    seconds = full * gemm_step_seconds(batch_size, sizes)
    if rest:
        seconds += gemm_step_seconds(rest, sizes)
    return seconds
