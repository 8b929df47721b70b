"""The flags of ``bprop train`` and their defaults: those marked *auto* were chosen on the tables of
``benchmarks/quality.py`` (BENCHMARKS.md, "Defaults that generalise")."""

from __future__ import annotations

from ..nn.activations import ACTIVATIONS
from ..nn.init import INITIALIZERS
from ..nn.optimizers import OPTIMIZERS
from .resume import mark_defaults

__all__ = ["register_flags", "batch_size", "val_fraction", "ADAMW_DECAY", "AUTO_VAL", "MIN_AUTO_VAL_ROWS"]

HIDDEN_ACTIVATIONS = sorted(set(ACTIVATIONS) - {"softmax", "linear"})
SCHEDULE_CHOICES = ["constant", "cosine"]  # per epoch; cosine decays to 0 over --epochs
ADAMW_DECAY = 0.01  # --weight-decay when not given
# The automatic defaults, chosen on benchmarks/quality.py (BENCHMARKS.md, "Defaults that generalise"):
# scikit-learn's batch rule, and no validation rows where they would be too few to pick an epoch by.
AUTO_BATCH = 200
AUTO_VAL, MIN_AUTO_VAL_ROWS = 0.1, 100


def batch_size(setting: int | str, n_train: int) -> int:
    """``--batch-size``: ``auto`` is AUTO_BATCH rows, or all of them when there are fewer."""
    return min(AUTO_BATCH, max(1, n_train)) if setting == "auto" else int(setting)


def val_fraction(setting: float | str, n_rows: int, *, wanted: bool = False) -> float:
    """``--val-split``'s fraction of ``n_rows``: ``auto`` holds out AUTO_VAL of the rows when that makes at
    least MIN_AUTO_VAL_ROWS or validation is ``wanted`` (a ``--monitor`` was given), else none: a tiny
    validation set picks the restored epoch by noise, and its rows are better spent on training."""
    if setting != "auto":
        return float(setting)
    return AUTO_VAL if AUTO_VAL * n_rows >= MIN_AUTO_VAL_ROWS or wanted else 0.0


def register_flags(sub, run) -> None:
    """The ``train`` sub-command, running ``run(args)``."""
    p = sub.add_parser(
        "train",
        help="train a network on a CSV file (default: the bundled handwritten digits)",
        description="Train an MLP on a CSV table. With no DATA, trains on the UCI 8x8 digits bundled in bprop.",
    )
    p.add_argument("data", nargs="?", help="CSV file (plain or .gz); default: the bundled digits")
    _data_flags(p)
    _network_flags(p)
    _training_flags(p)
    _run_flags(p)
    mark_defaults(p)
    p.set_defaults(run=run, outlives_stdout=True)  # a model is never lost because stdout went away


def _data_flags(p) -> None:
    p.add_argument("--target", help="target column (default: the last column)")
    p.add_argument("--task", default="auto", choices=["auto", "classification", "regression"])
    p.add_argument(
        "--decimal", default=".", choices=[".", ","], help="decimal separator of the numbers in DATA (default .)"
    )
    p.add_argument(
        "--keep-high-cardinality",
        action="store_true",
        default=None,  # None: not given (see resume.RESUMED_FLAGS)
        help="one-hot encode string columns with over 1,000 distinct values (or over half the rows) too",
    )
    p.add_argument(
        "--clip",
        default="0",
        help="smooth clipping z/sqrt(1+(z/CLIP)^2) of standardised numeric values within ±CLIP (default 0: none)",
    )


def _network_flags(p) -> None:
    p.add_argument(
        "--init",
        default="glorot_uniform",
        choices=["auto", *sorted(set(INITIALIZERS) - {"zeros"})],
        help="initial weights (default glorot_uniform, as scikit-learn; auto: He for ReLU-family, else Glorot)",
    )
    p.add_argument("--layers", default="128", help="hidden layer sizes, e.g. 64,32 (default 128)")
    p.add_argument(
        "--activation", default="relu", choices=HIDDEN_ACTIVATIONS, help="of the hidden layers (default relu)"
    )


def _training_flags(p) -> None:
    p.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS))
    p.add_argument(
        "--lr",
        default=None,
        help="learning rate (default: 0.001 for adam/adamw/rmsprop, 0.01 sgd)",
    )
    p.add_argument("--epochs", default="200", help="maximum epochs (default 200)")
    p.add_argument(
        "--batch-size", default="auto", help=f"examples per update (default auto: {AUTO_BATCH} or all rows if fewer)"
    )
    p.add_argument(
        "--val-split",
        default="auto",
        help=f"validation fraction (default auto: {AUTO_VAL} when that is {MIN_AUTO_VAL_ROWS}+ rows, else 0: "
        "no validation, every epoch trains on all rows)",
    )
    p.add_argument(
        "--test-split",
        default=None,  # None: not given (0.2, or 0 with --test)
        help="test fraction carved from DATA (default 0.2, 0 with --test; 0: no test rows, the report uses validation)",
    )
    p.add_argument("--test", metavar="FILE", help="CSV of test rows with DATA's columns: no test rows carved from DATA")
    p.add_argument(
        "--patience",
        default="10",
        help="stop after this many epochs without val improvement (default 10; 0: never, a fixed budget)",
    )
    p.add_argument(
        "--monitor",
        default=None,  # None: not given (see _monitor)
        choices=["val_loss", "val_accuracy"],
        help="what patience and the restored best epoch follow (val_accuracy: classification; the loss breaks ties)",
    )
    p.add_argument("--schedule", default="constant", choices=SCHEDULE_CHOICES, help="learning rate per epoch")
    p.add_argument(
        "--weight-decay",
        default=None,  # None: not given (adamw's default below; unused by other optimisers)
        help=f"decoupled weight decay of --optimizer adamw (default {ADAMW_DECAY}); --l2 is the coupled kind",
    )
    p.add_argument("--dropout", default="0", help="dropout rate after each hidden layer (default 0)")
    p.add_argument("--l2", default="0", help="L2 weight decay (default 0)")


def _run_flags(p) -> None:
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--seed", default="0", help="random seed (default 0)")
    p.add_argument("--out", default="model.safetensors", help="model file to write (default model.safetensors)")
    p.add_argument("--plot", help="write loss/accuracy curves to this .png/.svg/.pdf")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    p.add_argument("--report", help="write a self-contained HTML report (curves, diagnostics, findings) here")
    p.add_argument("--checkpoint", metavar="DIR", help="save the full training state to DIR after every epoch")
    p.add_argument("--resume", metavar="DIR", help="continue the run checkpointed in DIR (its settings and data)")
