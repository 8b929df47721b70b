"""The systems the speed benchmark times, each training the reference network for one epoch.

Every system has ``setup(batch_size, X, y)`` (build a fresh model and optimiser) and ``epoch()`` (one
pass over the data it was set up with, shuffled, last partial batch included). Peers whose package is
missing raise :class:`SkippedError` from their constructor so the benchmark reports them instead of failing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import HIDDEN, LEARNING_RATE, N_CLASSES, one_hot

import bprop
from bprop.modelfile import read_metadata
from bprop.nn import _blas


class SkippedError(Exception):
    """A peer cannot run here (package missing); the message says how to install it."""


# The optimisers compared, with the hyper-parameters every system gets (PyTorch's defaults where bprop's
# differ: RMSprop's rho/alpha is set to 0.9 in both; SGD "momentum" is classical momentum, no dampening).
OPTIMIZERS = {
    "sgd": {"learning_rate": LEARNING_RATE},
    "momentum": {"learning_rate": LEARNING_RATE, "momentum": 0.9},
    "nesterov": {"learning_rate": LEARNING_RATE, "momentum": 0.9, "nesterov": True},
    "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
    "adamw": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "weight_decay": 0.01},
    "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "epsilon": 1e-8},
}


def bprop_optimizer(name: str) -> bprop.Optimizer:
    options = dict(OPTIMIZERS[name])
    if name in ("sgd", "momentum", "nesterov"):
        return bprop.SGD(**options)
    return {"adam": bprop.Adam, "adamw": bprop.AdamW, "rmsprop": bprop.RMSprop}[name](**options)


def torch_optimizer(torch, name: str, params, fused: bool):
    o, extra = OPTIMIZERS[name], ({"fused": True} if fused else {})
    if name in ("sgd", "momentum", "nesterov"):
        nesterov = o.get("nesterov", False)
        return torch.optim.SGD(params, lr=o["learning_rate"], momentum=o.get("momentum", 0), nesterov=nesterov, **extra)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=o["learning_rate"], alpha=o["rho"], eps=o["epsilon"], **extra)
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    decay = {"weight_decay": o.get("weight_decay", 0.0)}
    return cls(params, lr=o["learning_rate"], betas=(o["beta_1"], o["beta_2"]), eps=o["epsilon"], **decay, **extra)


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

    def __init__(self, path: str = "fit", hidden: tuple[int, ...] = HIDDEN, optimizer: str = "sgd"):
        if path == "fit" and not hasattr(bprop, "fit"):
            raise SkippedError("bprop.fit is not available in this checkout")
        self.path = path
        self.name = "bprop" if path == "fit" else "bprop-engine"
        self.hidden = hidden
        self.optimizer_name = optimizer
        self.loss = bprop.get_loss("categorical_cross_entropy")

    def setup(self, batch_size: int, X: np.ndarray, y: np.ndarray) -> None:
        self.net = reference_net(X.shape[1], self.hidden)
        self.optimizer = bprop_optimizer(self.optimizer_name)
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
    """PyTorch CPU eager: nn.Sequential + the optimiser (its default implementation, or ``fused=True``),
    batches by indexing a shuffled permutation."""

    def __init__(self, hidden: tuple[int, ...] = HIDDEN, optimizer: str = "sgd", fused: bool = False, threads: int = 2):
        try:
            import torch
        except ImportError:
            raise SkippedError("torch not installed; pip install -e .[bench] (pins torch==2.13.0)") from None
        self.torch = torch
        torch.set_num_threads(threads)
        self.hidden, self.optimizer_name, self.fused = hidden, optimizer, fused
        self.name = "pytorch-fused" if fused else "pytorch"
        if fused:  # refused by optimisers (or builds) without a fused CPU implementation
            try:
                probe = torch.nn.Linear(2, 2)
                opt = torch_optimizer(torch, optimizer, probe.parameters(), fused=True)
                probe(torch.ones(1, 2)).sum().backward()
                opt.step()
            except (RuntimeError, TypeError, ValueError) as why:
                raise SkippedError(f"torch {torch.__version__} has no fused CPU {optimizer}: {why}") from None

    def setup(self, batch_size: int, X: np.ndarray, y: np.ndarray) -> None:
        torch, nn = self.torch, self.torch.nn
        torch.manual_seed(0)
        sizes = [X.shape[1], *self.hidden]
        layers: list = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        self.model = nn.Sequential(*layers, nn.Linear(sizes[-1], N_CLASSES))
        self.optimizer = torch_optimizer(torch, self.optimizer_name, self.model.parameters(), self.fused)
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


class Estimator:
    """bprop's scikit-learn estimator, ``bprop.MLPClassifier(...).fit`` with ``max_iter=1``: one epoch the
    way scikit-learn users train (input checks, label encoding, a fresh network per call)."""

    name = "bprop-estimator"

    def __init__(self, hidden: tuple[int, ...] = HIDDEN, optimizer: str = "sgd"):
        try:
            from sklearn.exceptions import ConvergenceWarning

            from bprop.estimators import MLPClassifier
        except ImportError:
            raise SkippedError("scikit-learn not installed; pip install -e .[bench]") from None
        self.MLPClassifier, self.ConvergenceWarning = MLPClassifier, ConvergenceWarning
        self.hidden, self.optimizer_name = hidden, optimizer

    def setup(self, batch_size: int, X: np.ndarray, y: np.ndarray) -> None:
        o = OPTIMIZERS[self.optimizer_name]
        solver = {"momentum": "sgd", "nesterov": "sgd"}.get(self.optimizer_name, self.optimizer_name)
        options = {"momentum": o.get("momentum", 0.0), "nesterovs_momentum": o.get("nesterov", False)}
        options.update({k: o[k] for k in ("beta_1", "beta_2", "epsilon", "weight_decay") if k in o})
        # alpha=0: the peers have no L2 term either (scikit-learn's default alpha=1e-4 adds one pass per step).
        self.model = self.MLPClassifier(
            hidden_layer_sizes=self.hidden, solver=solver, learning_rate_init=o["learning_rate"], alpha=0.0,
            batch_size=batch_size, max_iter=1, shuffle=True, random_state=0, **options,
        )  # fmt: skip
        self.X, self.y = X, y

    def epoch(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.ConvergenceWarning)
            self.model.fit(self.X, self.y)


class Cli:
    """``bprop train`` on a CSV of the reference data, one epoch in a fresh process; ``epoch()`` returns the
    first epoch's time as the model file's history records it (every per-run cost inside the epoch
    included: numba's import and kernel loading and, with ``cold=True``, their compilation into an
    empty cache folder). Reading and encoding the CSV comes before the epoch and is not counted."""

    # The CSV (430 MB for the reference data, a minute to write) is kept between runs of the benchmark.
    CSV_FOLDER = Path(tempfile.gettempdir()) / "bprop-speed-reference"

    def __init__(self, hidden: tuple[int, ...] = HIDDEN, optimizer: str = "adam", cold: bool = False):
        self.hidden, self.optimizer_name, self.cold = hidden, optimizer, cold
        self.name = "bprop-cli-cold" if cold else "bprop-cli"
        self._scratch = tempfile.TemporaryDirectory(prefix="bprop-speed-cli-")  # removed with this object
        self.folder = Path(self._scratch.name)

    def setup(self, batch_size: int, X: np.ndarray, y: np.ndarray) -> None:
        self.batch_size = batch_size
        self.CSV_FOLDER.mkdir(exist_ok=True)
        self.csv = self.CSV_FOLDER / f"reference-{X.shape[0]}.csv"
        if not self.csv.exists():
            columns = [f"x{j}" for j in range(X.shape[1])]
            table = np.column_stack([X, y]).astype(np.float64)
            fmt = ["%.6g"] * X.shape[1] + ["%d"]
            partial_csv = self.csv.with_suffix(".part")
            np.savetxt(partial_csv, table, fmt=fmt, delimiter=",", header=",".join([*columns, "y"]), comments="")
            partial_csv.replace(self.csv)
        self.runs = 0

    def epoch(self) -> float:
        o = OPTIMIZERS[self.optimizer_name]
        if self.optimizer_name not in ("sgd", "adam", "adamw", "rmsprop"):
            raise SkippedError(f"bprop train has no flag for {self.optimizer_name}")
        self.runs += 1
        env = dict(os.environ)
        if self.cold:
            env["NUMBA_CACHE_DIR"] = str(self.folder / f"numba-cache-{self.runs}")
        out = self.folder / "model.safetensors"
        command = [
            sys.executable, "-m", "bprop.cli", "train", str(self.csv), "--target", "y", "--task", "classification",
            "--layers", ",".join(map(str, self.hidden)), "--optimizer", self.optimizer_name,
            "--lr", str(o["learning_rate"]), "--epochs", "1", "--batch-size", str(self.batch_size),
            "--val-split", "0", "--test-split", "0", "--patience", "0", "--quiet", "--out", str(out),
        ]  # fmt: skip
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        training = read_metadata(out)["training"]
        return float(training["history"]["time"][0])


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
