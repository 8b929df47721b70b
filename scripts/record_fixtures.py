"""Record the bit-exact training fixtures that prove a refactoring changes no number (issue 13).

Each reference configuration below trains a small network on the bundled digits with every option of
``bprop.mlp``, ``bprop.fit`` and the estimators given explicitly, so that a later change of a default
does not move the result. The final weights (every parameter array, in order, exact dtype) and the loss
curves go to ``tests/data/fixtures/<name>.npz``; ``index.json`` beside them says what each
configuration covers, the facts of its run (epochs, stop reason, best epoch) and where the numbers
were recorded. ``tests/test_fixtures.py`` imports this module, re-trains every configuration and
compares bit for bit.

Bit-identity holds on one platform: NumPy's BLAS and its SIMD kernels decide the rounding, so the
fixtures are re-recorded (``python scripts/record_fixtures.py``, from the commit the refactoring starts
from) when NumPy, OpenBLAS or the CPU family changes, never from the refactored code.

Only public names are used (plus ``bprop.training.checkpoint``, the one module path to follow if it moves), so
the recipes keep working while the modules move. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import bprop
from bprop.tables.datasets import load_digits

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data" / "fixtures"
INDEX = "index.json"

# Every keyword of bprop.fit, at a neutral value; each recipe overrides what it exercises. The recorder
# refuses to run if fit gains a keyword missing here, so no fixture silently depends on a default.
FIT_BASE = {
    "loss": "categorical_cross_entropy",
    "optimizer": None,  # always set by the recipe: an optimiser object with every argument given
    "learning_rate": None,
    "epochs": 3,
    "batch_size": 32,
    "shuffle": True,
    "seed": 1,
    "sample_weight": None,
    "validation_split": 0.0,
    "validation_data": None,
    "metric": "accuracy",
    "l2": 0.0,
    "clip_norm": None,
    "schedule": None,  # always set by the recipe: a schedule object
    "target_loss": None,
    "patience": None,
    "min_delta": 0.0,
    "max_time": None,
    "stop_when_all_correct": False,
    "restore_best_weights": False,
    "callbacks": (),
    "diagnostics": False,
    "verbose": 0,
    "resume": None,
}


@dataclass
class Run:
    """What a configuration produces: named arrays (compared bit for bit) and facts of the run."""

    arrays: dict[str, np.ndarray]
    facts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Configuration:
    name: str
    description: str
    train: Callable[[Path], Run]  # takes a scratch folder (checkpoints), returns the run
    fixture: str = ""  # the fixture it must equal; empty: its own (name)
    premise: Callable[[Run], str | None] = lambda run: None  # why the run would not test what it claims

    @property
    def fixture_name(self) -> str:
        return self.fixture or self.name


# -- data: the bundled digits, standardised with the statistics of all rows ---------------------------
@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(standardised X, labels, raw X), read-only so no recipe can change another's data."""
    raw, labels = load_digits()
    spread = raw.std(axis=0)
    spread[spread == 0] = 1.0  # constant pixels (always blank) stay 0 instead of dividing by zero
    X = (raw - raw.mean(axis=0)) / spread
    for a in (X, labels, raw):
        a.flags.writeable = False
    return X, labels, raw


def classification(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_rows`` digits with one-hot targets over the 10 classes."""
    X, labels, _ = _digits()
    return X[:n_rows], np.eye(10)[labels[:n_rows]]


def multilabel(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 0/1 targets per digit: "is even" and "is at least 5" (binary cross-entropy)."""
    X, labels, _ = _digits()
    labels = labels[:n_rows]
    return X[:n_rows], np.column_stack([labels % 2 == 0, labels >= 5]).astype(np.float64)


def regression(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Two continuous targets: the standardised mean ink of the top half and of the left half."""
    X, _, raw = _digits()
    images = raw.reshape(-1, 8, 8)
    Y = np.column_stack([images[:, :4, :].mean(axis=(1, 2)), images[:, :, :4].mean(axis=(1, 2))])
    Y = (Y - Y.mean(axis=0)) / Y.std(axis=0)
    return X[:n_rows], Y[:n_rows]


# -- building blocks -------------------------------------------------------------------------------
def network(sizes, activation, output_activation, *, dtype=np.float32, init="glorot_uniform", dropout=0.0):
    """``bprop.mlp`` with every argument given (the weights always from seed 0)."""
    return bprop.mlp(
        sizes,
        activation=activation,
        output_activation=output_activation,
        seed=0,
        dtype=dtype,
        init=init,
        dropout=dropout,
    )


def sgd(learning_rate: float, momentum: float = 0.0, nesterov: bool = False) -> bprop.SGD:
    return bprop.SGD(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov)


def adam(learning_rate: float) -> bprop.Adam:
    return bprop.Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def constant() -> bprop.schedules.Schedule:
    return bprop.schedules.Constant()


def fit_options(**options) -> dict:
    """``FIT_BASE`` with the recipe's ``options``; every key must be one of fit's."""
    unknown = set(options) - set(FIT_BASE)
    if unknown:
        raise ValueError(f"not keywords of bprop.fit: {sorted(unknown)}")
    if options.get("optimizer") is None or options.get("schedule") is None:
        raise ValueError("give the optimizer and the schedule as objects, so no fixture depends on a default")
    return {**FIT_BASE, **options}


def train(net: bprop.Sequential, X, Y, **options) -> Run:
    """Fit ``net`` with ``fit_options(**options)``; the run's arrays are its parameters and loss curves."""
    history = bprop.fit(net, X, Y, **fit_options(**options))
    return Run(network_arrays(net, history), history_facts(history))


def network_arrays(net: bprop.Sequential, history: bprop.History) -> dict[str, np.ndarray]:
    arrays = {f"param_{i:02d}": p.copy() for i, p in enumerate(net.parameters())}
    arrays["history_loss"] = np.array(history.loss, dtype=np.float64)
    arrays["history_val_loss"] = np.array(history.val_loss, dtype=np.float64)
    arrays["history_lr"] = np.array(history.lr, dtype=np.float64)
    return arrays


def history_facts(history: bprop.History) -> dict:
    return {
        "epochs_run": history.epochs,
        "stop_reason": history.stop_reason,
        "best_epoch": history.best_epoch,
        "restored_best": history.restored_best,
    }


# -- the reference configurations --------------------------------------------------------------------
def plain_sgd(dtype) -> Callable[[Path], Run]:
    def recipe(scratch: Path) -> Run:
        X, Y = classification(400)
        net = network([64, 24, 10], "relu", "softmax", dtype=dtype, init="he_uniform")
        return train(net, X, Y, optimizer=sgd(0.05), schedule=constant(), epochs=4)

    return recipe


def fused_with_diagnostics(scratch: Path) -> Run:
    X, Y = classification(400)
    net = network([64, 24, 10], "relu", "softmax", dtype=np.float32, init="he_uniform")
    return train(net, X, Y, optimizer=sgd(0.05), schedule=constant(), epochs=4, diagnostics=True)


def nesterov(scratch: Path) -> Run:
    X, Y = classification(400)
    net = network([64, 24, 10], "relu", "softmax", init="he_uniform")
    return train(net, X, Y, optimizer=sgd(0.02, momentum=0.9, nesterov=True), schedule=constant(), epochs=4)


def adam_run(scratch: Path) -> Run:
    X, Y = classification(400)
    net = network([64, 24, 10], "relu", "softmax", init="he_uniform")
    return train(net, X, Y, optimizer=adam(0.003), schedule=constant(), epochs=4)


def adamw_l2_clip(scratch: Path) -> Run:
    X, Y = classification(400)
    net = network([64, 24, 10], "relu", "softmax", init="he_uniform")
    optimizer = bprop.AdamW(learning_rate=0.003, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.05)
    return train(net, X, Y, optimizer=optimizer, schedule=constant(), epochs=4, l2=1e-3, clip_norm=0.5)


def rmsprop(scratch: Path) -> Run:
    X, Y = classification(400)
    net = network([64, 24, 10], "relu", "softmax", init="he_uniform")
    optimizer = bprop.RMSprop(learning_rate=0.002, rho=0.9, epsilon=1e-8)
    return train(net, X, Y, optimizer=optimizer, schedule=constant(), epochs=4)


def dropout_adam(scratch: Path) -> Run:
    X, Y = classification(400)
    net = network([64, 32, 16, 10], "relu", "softmax", init="he_uniform", dropout=0.2)
    return train(net, X, Y, optimizer=adam(0.003), schedule=constant(), epochs=4)


def early_stopping(scratch: Path) -> Run:
    # A small training set and a high rate overfit quickly, so the validation loss turns upwards.
    X, Y = classification(150)
    net = network([64, 64, 10], "relu", "softmax", init="he_uniform")
    return train(
        net,
        X,
        Y,
        optimizer=adam(0.02),
        schedule=constant(),
        epochs=40,
        batch_size=16,
        validation_split=0.3,
        patience=3,
        min_delta=1e-4,
        restore_best_weights=True,
    )


def restored_an_earlier_epoch(run: Run) -> str | None:
    facts = run.facts
    if facts["stop_reason"] != "no_improvement" or not facts["restored_best"]:
        return f"early stopping did not stop on patience and restore: {facts}"
    if facts["best_epoch"] >= facts["epochs_run"]:
        return f"the best epoch is the last one, so restoring changes nothing: {facts}"
    return None


def cosine_schedule(scratch: Path) -> Run:
    X, Y = classification(400)
    net = network([64, 24, 10], "relu", "softmax", init="he_uniform")
    schedule = bprop.schedules.CosineDecay(total_epochs=5, min_rate=0.005)
    return train(net, X, Y, optimizer=sgd(0.1), schedule=schedule, epochs=5)


def step_schedule(scratch: Path) -> Run:
    X, Y = classification(400)
    net = network([64, 24, 10], "relu", "softmax", init="he_uniform")
    schedule = bprop.schedules.StepDecay(step_size=2, gamma=0.5)
    return train(net, X, Y, optimizer=adam(0.005), schedule=schedule, epochs=5)


def per_example(scratch: Path) -> Run:
    X, Y = classification(120)
    net = network([64, 16, 10], "sigmoid", "softmax", dtype=np.float64)
    return train(net, X, Y, optimizer=sgd(0.05), schedule=constant(), epochs=2, batch_size=1)


PARTIAL_ROWS, PARTIAL_BATCH = 301, 64  # 4 full batches and one of 45


def partial_last_batch(scratch: Path) -> Run:
    X, Y = classification(PARTIAL_ROWS)
    net = network([64, 24, 10], "relu", "softmax", init="he_uniform")
    weights = 0.5 + (np.arange(PARTIAL_ROWS) % 3) / 2  # 0.5, 1, 1.5: the weighted batch loss too
    options = {"optimizer": sgd(0.05, momentum=0.9), "schedule": constant(), "epochs": 3}
    return train(net, X, Y, batch_size=PARTIAL_BATCH, sample_weight=weights, **options)


def last_batch_is_partial(run: Run) -> str | None:
    return "the last batch is full" if PARTIAL_ROWS % PARTIAL_BATCH == 0 else None


SKLEARN_COMMON = {
    "solver": "adam",
    "alpha": 1e-4,
    "batch_size": 32,
    "learning_rate": "constant",
    "learning_rate_init": 0.01,
    "power_t": 0.5,
    "max_iter": 60,
    "shuffle": True,
    "random_state": 0,
    "tol": 1e-4,
    "verbose": False,
    "warm_start": False,
    "momentum": 0.9,
    "nesterovs_momentum": True,
    "early_stopping": True,
    "validation_fraction": 0.2,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "epsilon": 1e-8,
    "n_iter_no_change": 3,
    "max_fun": 15000,
    "weight_decay": 0.01,
    "dropout": 0.0,
    "restore_best_weights": True,
    "schedule": None,
    "callbacks": None,
    "diagnostics": False,
}


def estimator_run(estimator, X, y) -> Run:
    """Fit a scikit-learn style estimator; its arrays are W0, b0, W1, b1, … and its curves."""
    estimator.fit(X, y)
    arrays = {}
    for i, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_)):
        arrays[f"param_{2 * i:02d}"], arrays[f"param_{2 * i + 1:02d}"] = W.copy(), b.copy()
    arrays["loss_curve"] = np.array(estimator.loss_curve_, dtype=np.float64)
    arrays["validation_scores"] = np.array(estimator.validation_scores_, dtype=np.float64)
    return Run(arrays, {"n_iter": estimator.n_iter_, "stop_reason": estimator.stop_reason_})


def classifier(scratch: Path) -> Run:
    X, Y = classification(400)
    model = bprop.MLPClassifier(
        hidden_layer_sizes=(24,), activation="relu", class_weight=None, dtype="float32", **SKLEARN_COMMON
    )
    return estimator_run(model, X, Y.argmax(axis=1))


def regressor(scratch: Path) -> Run:
    X, Y = regression(400)
    model = bprop.MLPRegressor(hidden_layer_sizes=(24, 12), activation="tanh", dtype="float64", **SKLEARN_COMMON)
    return estimator_run(model, X, Y)


def stopped_early(run: Run) -> str | None:
    if run.facts["stop_reason"] != "no_improvement":
        return f"the estimator did not stop early: {run.facts}"
    return None


RESUME_EPOCHS, RESUME_CUT = 6, 3


def resume_options() -> dict:
    """The run with the most state to carry across a resume: momentum, a plateau schedule, dropout's
    random generator, a validation split and best-weights bookkeeping."""
    schedule = bprop.schedules.ReduceOnPlateau(factor=0.5, patience=1, min_delta=1e-4, min_rate=0.0)
    return {
        "optimizer": sgd(0.2, momentum=0.9),  # high enough for the validation loss to bounce
        "schedule": schedule,
        "epochs": RESUME_EPOCHS,
        "validation_split": 0.25,
        "restore_best_weights": True,
    }


def resume_network() -> bprop.Sequential:
    return network([64, 32, 10], "relu", "softmax", init="he_uniform", dropout=0.2)


def uninterrupted(scratch: Path) -> Run:
    X, Y = classification(300)
    return train(resume_network(), X, Y, **resume_options())


def state_carried_over(run: Run) -> str | None:
    """The resume must carry a best epoch other than the last and a schedule that acted."""
    if not run.facts["restored_best"] or run.facts["best_epoch"] >= run.facts["epochs_run"]:
        return f"restoring the best weights changes nothing: {run.facts}"
    if len(set(run.arrays["history_lr"].tolist())) < 2:
        return "the plateau schedule never lowered the rate"
    return None


class StopAfterEpoch(bprop.Callback):
    """Stand-in for a crash: end training after epoch ``epoch`` (the checkpoint of that epoch is on disk)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, state) -> None:
        if state.epoch == self.epoch:
            state.stop("cut")


def resumed(scratch: Path) -> Run:
    from bprop.training.checkpoint import Checkpoint, load_checkpoint  # the one module path to follow if it moves

    X, Y = classification(300)
    folder = scratch / "checkpoint"
    cut = [Checkpoint(folder, every=1, extra=None), StopAfterEpoch(RESUME_CUT)]
    train(resume_network(), X, Y, callbacks=cut, **resume_options())
    snapshot, _ = load_checkpoint(folder)
    if snapshot["epoch"] != RESUME_CUT:
        raise RuntimeError(f"the checkpoint holds epoch {snapshot['epoch']}, expected {RESUME_CUT}")
    # A fresh network, as after a restart: everything must come from the checkpoint.
    return train(resume_network(), X, Y, resume=snapshot, **resume_options())


def activation_recipe(hidden: str, output: str, loss: str, targets, make_optimizer) -> Callable[[Path], Run]:
    def recipe(scratch: Path) -> Run:
        X, Y = targets(300)
        net = network([64, 16, Y.shape[1]], hidden, output, dtype=np.float64)
        return train(net, X, Y, loss=loss, metric=None, optimizer=make_optimizer(), schedule=constant(), epochs=4)

    return recipe


def fused_rate_premise(run: Run) -> str | None:
    return None if sgd(0.05).fused_rate() is not None else "plain SGD does not take the fused update"


CONFIGURATIONS = [
    Configuration(
        "sgd_fused_float32", "plain SGD, the fused update, float32", plain_sgd(np.float32), premise=fused_rate_premise
    ),
    Configuration(
        "sgd_fused_float64", "plain SGD, the fused update, float64", plain_sgd(np.float64), premise=fused_rate_premise
    ),
    Configuration(
        "sgd_fused_diagnostics",
        "as sgd_fused_float32 with diagnostics=True: recording diagnostics changes no weight",
        fused_with_diagnostics,
        fixture="sgd_fused_float32",
    ),
    Configuration("sgd_nesterov", "SGD with momentum 0.9, Nesterov", nesterov),
    Configuration("adam", "Adam", adam_run),
    Configuration("adamw_l2_clip", "AdamW with l2 and clip_norm", adamw_l2_clip),
    Configuration("rmsprop", "RMSprop", rmsprop),
    Configuration("dropout_adam", "two hidden layers with dropout 0.2, Adam", dropout_adam),
    Configuration(
        "early_stopping_restore_best",
        "validation_split, patience, min_delta, restore_best_weights (best epoch before the last)",
        early_stopping,
        premise=restored_an_earlier_epoch,
    ),
    Configuration("schedule_cosine", "CosineDecay object with plain SGD", cosine_schedule),
    Configuration("schedule_step", "StepDecay object with Adam", step_schedule),
    Configuration("per_example_float64", "batch_size=1, sigmoid hidden layer, float64", per_example),
    Configuration(
        "partial_last_batch",
        "a partial last batch, sample weights, SGD momentum",
        partial_last_batch,
        premise=last_batch_is_partial,
    ),
    Configuration(
        "classifier_early_stopping",
        "MLPClassifier, adam, early_stopping=True",
        classifier,
        premise=stopped_early,
    ),
    Configuration(
        "regressor_early_stopping",
        "MLPRegressor, tanh, float64, early_stopping=True",
        regressor,
        premise=stopped_early,
    ),
    Configuration(
        "resume_uninterrupted",
        "momentum, plateau schedule, dropout, validation, restore-best: the run never interrupted",
        uninterrupted,
        premise=state_carried_over,
    ),
    Configuration(
        "resume_from_checkpoint",
        f"the same run cut after epoch {RESUME_CUT} (Checkpoint callback) and resumed from the file",
        resumed,
        fixture="resume_uninterrupted",
        premise=state_carried_over,
    ),
    Configuration(
        "sigmoid_mse",
        "sigmoid hidden, identity output, mse (regression), fused SGD",
        activation_recipe("sigmoid", "identity", "mse", regression, lambda: sgd(0.05)),
        premise=fused_rate_premise,
    ),
    Configuration(
        "tanh_binary_cross_entropy",
        "tanh hidden, sigmoid outputs, binary_cross_entropy (two labels), Adam",
        activation_recipe("tanh", "sigmoid", "binary_cross_entropy", multilabel, lambda: adam(0.005)),
    ),
    Configuration(
        "leaky_relu_binary_cross_entropy",
        "leaky_relu hidden, sigmoid outputs, binary_cross_entropy, SGD momentum",
        activation_recipe("leaky_relu", "sigmoid", "binary_cross_entropy", multilabel, lambda: sgd(0.05, 0.5)),
    ),
    Configuration(
        "leaky_relu_mse",
        "leaky_relu hidden, identity output, mse, RMSprop",
        activation_recipe(
            "leaky_relu",
            "identity",
            "mse",
            regression,
            lambda: bprop.RMSprop(learning_rate=0.002, rho=0.9, epsilon=1e-8),
        ),
    ),
]


# -- recording ---------------------------------------------------------------------------------------
def platform_facts() -> dict:
    """What decides the rounding: a fixture is bit-exact only where these match."""
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": f"{blas.get('name', '?')} {blas.get('version', '?')}",
        "blas_kernels": blas_kernels(),
        "machine": platform.machine(),
        "system": platform.system(),
    }


def blas_kernels() -> str:
    """The CPU kernels NumPy's OpenBLAS chose at start-up (Haswell, SkylakeX, ...): the same library rounds
    differently on another CPU family."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "?"
    numpy_dir = Path(np.__file__).resolve().parent.parent
    for pool in threadpool_info():
        if pool.get("internal_api") == "openblas" and Path(pool.get("filepath", "")).is_relative_to(numpy_dir):
            if "numpy" in Path(pool["filepath"]).parts[-2]:
                return str(pool.get("architecture", "?"))
    return "?"


def source_commit() -> str:
    """The commit of the code that was run: HEAD, marked when bprop's sources differ from it."""
    package = Path(bprop.__file__).resolve().parent
    if not package.is_relative_to(REPO):
        return f"bprop imported from {package}, outside this repository"
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    changed = subprocess.run([*git, "status", "--porcelain", "--", str(package)], capture_output=True, text=True)
    return head + (" with uncommitted changes in src" if changed.stdout.strip() else "")


def check_fit_keywords() -> None:
    keywords = {
        name for name, p in inspect.signature(bprop.fit).parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    if keywords != set(FIT_BASE):
        raise SystemExit(
            f"error: FIT_BASE must list every keyword of bprop.fit; missing {sorted(keywords - set(FIT_BASE))}, "
            f"unknown {sorted(set(FIT_BASE) - keywords)}"
        )


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive with fixed timestamps, so recording twice gives identical files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(value), allow_pickle=False)
    return buffer.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, so a crash never leaves half a fixture."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; fixtures are ordinary repository files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def run_all(scratch: Path) -> dict[str, Run]:
    """Every configuration's run, checked against its premise and against the runs sharing its fixture."""
    runs: dict[str, Run] = {}
    for config in CONFIGURATIONS:
        run = config.train(scratch / config.name)
        problem = config.premise(run)
        if problem:
            raise SystemExit(f"error: configuration {config.name} does not test what it claims: {problem}")
        if config.fixture_name in runs and not same_arrays(run.arrays, runs[config.fixture_name].arrays):
            raise SystemExit(f"error: configuration {config.name} does not reproduce {config.fixture_name} bit for bit")
        runs.setdefault(config.fixture_name, run)
        print(f"{config.name}: {run.facts}", file=sys.stderr)
    return runs


def index_document(runs: dict[str, Run], commit: str) -> dict:
    configurations = {}
    for config in CONFIGURATIONS:
        run = runs[config.fixture_name]
        configurations[config.name] = {
            "description": config.description,
            "file": f"{config.fixture_name}.npz",
            "arrays": {k: f"{v.dtype}{list(v.shape)}" for k, v in run.arrays.items()},
            "facts": run.facts,
        }
    return {"recorded_from": commit, "platform": platform_facts(), "configurations": configurations}


def record(out: Path, commit: str) -> None:
    check_fit_keywords()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        runs = run_all(Path(scratch))
    for name, run in runs.items():
        write_atomically(out / f"{name}.npz", npz_bytes(run.arrays))
    document = json.dumps(index_document(runs, commit), indent=2, sort_keys=True) + "\n"
    write_atomically(out / INDEX, document.encode())
    print(f"wrote {len(runs)} fixtures and {INDEX} to {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURES, help="folder for the fixtures (default: %(default)s)")
    parser.add_argument(
        "--source-commit",
        help="the commit the imported bprop was exported from, when it is not this repository's src",
    )
    args = parser.parse_args(argv)
    record(args.out, args.source_commit or source_commit())


if __name__ == "__main__":
    main()
