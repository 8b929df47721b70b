"""The flags of ``bprop train``: declared with their defaults (those marked *auto* were chosen on the tables
of ``benchmarks/quality.py``; BENCHMARKS.md, "Defaults that generalise"), and checked into the run's settings."""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..nn.activations import ACTIVATIONS
from ..nn.init import INITIALIZERS
from ..nn.optimizers import OPTIMIZERS
from .common import CliError, fraction, layer_sizes, number, positive_float, positive_int
from .resume import mark_defaults
from .streaming import add_stream_flags

__all__ = [
    "register_flags",
    "settings_from_flags",
    "batch_size",
    "val_fraction",
    "ADAMW_DECAY",
    "AUTO_VAL",
    "MIN_AUTO_VAL_ROWS",
]

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
    p.add_argument("data", nargs="?", help="CSV (plain or compressed) or Parquet file; default: the bundled digits")
    _data_flags(p)
    _network_flags(p)
    _training_flags(p)
    _run_flags(p)
    mark_defaults(p)
    p.set_defaults(run=run, outlives_stdout=True)  # a model is never lost because stdout went away


def _data_flags(p) -> None:
    p.add_argument("--target", help="target column (default: the last column)")
    add_stream_flags(p, cache=True)
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
        help=f"validation fraction (default auto: {AUTO_VAL} when that is {MIN_AUTO_VAL_ROWS}+ rows or --monitor is "
        "given, else 0: no validation, no early stopping, every epoch trains on all rows)",
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
        help="stop after this many epochs without validation improvement (default 10; 0: never, a fixed budget)",
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


def settings_from_flags(args) -> dict:
    """Every flag checked before any file is read or written."""
    seed = args.seed
    try:
        seed = int(seed)
    except ValueError:
        raise CliError(f"--seed must be a whole number, got {seed!r}") from None
    if seed < 0:  # numpy's generators take only non-negative seeds
        raise CliError(f"--seed must be 0 or more, got {seed}; e.g. --seed 0")
    lr = None if args.lr is None else positive_float("--lr", args.lr)
    dropout = number("--dropout", args.dropout)
    if not 0 <= dropout < 1:
        raise CliError(f"--dropout must be in [0, 1), got {args.dropout!r}")
    l2 = number("--l2", args.l2)
    if not 0 <= l2 < math.inf:
        raise CliError(f"--l2 must be a finite number >= 0, got {args.l2!r}; e.g. --l2 0.0001")
    val, test = _splits(args)
    if val == 0 and args.monitor is not None:  # (auto may also come to 0: then _monitor ignores it)
        raise CliError(f"--monitor {args.monitor} needs validation rows, but --val-split is 0; drop one of them")
    patience = _patience(args.patience)
    return {
        "layers": layer_sizes(args.layers),
        "activation": args.activation,
        "optimizer": args.optimizer,
        "learning_rate": lr,
        "epochs": positive_int("--epochs", args.epochs),
        "batch_size": "auto" if args.batch_size == "auto" else positive_int("--batch-size", args.batch_size),
        "val_split": val,
        "test_split": test,
        "patience": patience,
        "monitor": args.monitor,
        "schedule": args.schedule,
        "weight_decay": _weight_decay(args),
        "test_file": _test_file(args),
        "dropout": dropout,
        "l2": l2,
        "dtype": args.dtype,
        "seed": seed,
        "task": args.task,
        "target": args.target,
        "decimal": args.decimal,
        "keep_high_cardinality": bool(args.keep_high_cardinality),
        "clip": _clip(args.clip),
        "init": None if args.init == "auto" else args.init,
    }


def _splits(args) -> tuple[float | str, float]:
    val = "auto" if args.val_split == "auto" else fraction("--val-split", args.val_split, zero=True)
    test = 0.2 if args.test_split is None else fraction("--test-split", args.test_split, zero=True)
    if args.test is not None:
        if test > 0 and args.test_split is not None:
            raise CliError(
                f"give --test FILE or --test-split {args.test_split}, not both: --test takes no rows from DATA"
            )
        test = 0.0
    if (AUTO_VAL if val == "auto" else val) + test >= 1:
        raise CliError(f"--val-split + --test-split must be below 1, got {val} + {test}")
    return val, test


def _test_file(args) -> str | None:
    """``--test``'s path, absolute when it is a file (a pipe keeps its name: resolving would break it)."""
    if args.test is None:
        return None
    path = Path(args.test)
    if args.data is not None and path.is_file() and Path(args.data).is_file() and os.path.samefile(path, args.data):
        raise CliError(
            f"--test {args.test!r} is DATA itself, so its scores would be training scores; give rows kept out "
            "of DATA, or drop --test to have --test-split carve them"
        )
    return str(path.resolve()) if path.is_file() else args.test


def _patience(text: str) -> int | None:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise CliError(f"--patience must be a whole number, got {text!r}; e.g. 10, or 0 for none") from None
    if value < 0:
        raise CliError(f"--patience must be 0 (no early stopping) or more, got {value}; e.g. 10")
    return value or None


def _clip(text: str) -> float | None:
    clip = number("--clip", text)
    if not 0 <= clip < math.inf:
        raise CliError(f"--clip must be a finite number >= 0 (0: no clipping), got {text!r}; e.g. --clip 3")
    return clip or None


def _weight_decay(args) -> float:
    if args.weight_decay is None:
        return ADAMW_DECAY if args.optimizer == "adamw" else 0.0
    if args.optimizer != "adamw" and args.resume is None:  # a resumed run's optimizer is the stored one
        raise CliError(
            f"--weight-decay is the decoupled decay of --optimizer adamw, not of {args.optimizer}; "
            "add --optimizer adamw, or use --l2"
        )
    decay = number("--weight-decay", args.weight_decay)
    if not 0 <= decay < math.inf:
        raise CliError(f"--weight-decay must be a finite number >= 0, got {args.weight_decay!r}; e.g. 0.01")
    rate = 0.001 if args.lr is None else positive_float("--lr", args.lr)  # AdamW's own default rate
    if decay * rate >= 1:
        raise CliError(
            f"--weight-decay {args.weight_decay} times the learning rate {rate} is 1 or more, which zeroes or "
            f"flips every weight at each step; keep it below {1 / rate:g}, e.g. 0.01"
        )
    return decay
