"""Tables → arrays: read a CSV, pick the target, split (stratified), encode features and target.

Needs pandas (the ``cli`` extra). Every user mistake is a ``ValueError`` naming the problem and the fix,
which the CLI prints as one ``error:`` line.

Example:
    >>> import numpy as np
    >>> from bprop.datasets import digits_path
    >>> prepared = prepare(read_csv(digits_path()), rng=np.random.default_rng(0))
    >>> prepared.encoder.target.task_, prepared.X_train.shape, prepared.Y_train.shape
    ('classification', (1258, 64), (1258, 10))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .preprocessing import Preprocessor, TransformReport
from .splits import Split, split_indices
from .targets import TargetEncoder, detect_task

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "read_csv",
    "split_target",
    "split_indices",
    "Split",
    "TableEncoder",
    "Prepared",
    "prepare",
    "Preprocessor",
    "TransformReport",
    "TargetEncoder",
    "detect_task",
]

_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV file (plain or compressed, by suffix) into a DataFrame, with a clear error for each bad file."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise ValueError(f"file {str(path)!r} not found; check the path")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, not a CSV file; give the path of the .csv file")
    try:
        if path.suffix.lower() not in _COMPRESSED:
            with open(path, "rb") as f:
                head = f.read(8192)
            # Text never contains NUL bytes; binary files (images, spreadsheets, models) almost always do.
            if b"\x00" in head:
                raise ValueError(f"{str(path)!r} is not a CSV file (it contains binary data); export the table as CSV")
        table = pd.read_csv(path, low_memory=False)
        if table.shape[1] == 1:
            # One column whose name holds ';' or tabs: a semicolon CSV (European Excel) or TSV; read it so.
            header = str(table.columns[0])
            sep = ";" if ";" in header else "\t" if "\t" in header else None
            if sep is not None:
                table = pd.read_csv(path, sep=sep, low_memory=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{str(path)!r} is empty; a CSV needs a header line and at least one data row") from None
    except UnicodeDecodeError:
        raise ValueError(f"{str(path)!r} is not a CSV text file (not UTF-8 text); save it as UTF-8 CSV") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise ValueError(f"{str(path)!r} is not valid CSV ({detail}); check the delimiter and quoting") from None
    except OSError as exc:
        raise ValueError(
            f"cannot read {str(path)!r}: {exc.strerror or exc}; check the file and its permissions"
        ) from None
    if table.shape[0] == 0:
        raise ValueError(f"{str(path)!r} has a header but no data rows; add at least one row")
    empty = [str(c) for c in table.columns if table[c].isna().all()]
    if empty:
        raise ValueError(f"column(s) {empty} of {str(path)!r} are entirely empty; delete them or fill them in")
    return table


def split_target(table: pd.DataFrame, target: str | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """``(features, target column)``; ``target=None`` takes the last column."""
    columns = [str(c) for c in table.columns]
    if table.shape[1] < 2:
        raise ValueError(f"the table needs at least one feature column and a target column, got columns {columns}")
    if target is None:
        target = table.columns[-1]
    elif target not in table.columns:
        raise ValueError(f"unknown target column {target!r}; the columns are: {', '.join(columns)}")
    return table.drop(columns=[target]), table[target]


@dataclass
class TableEncoder:
    """The fitted preprocessing of a model: feature :class:`Preprocessor` plus :class:`TargetEncoder`."""

    features: Preprocessor
    target: TargetEncoder

    def transform(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None, TransformReport]:
        """``(X, Y or None, report)`` for raw rows; Y when the table has the target column (evaluate)."""
        name = self.target.name_
        Y = None
        if name in table.columns:
            Y = self.target.transform(table[name])
            table = table.drop(columns=[name])
        X, report = self.features.transform_with_report(table)
        return X, Y, report

    def to_dict(self) -> dict:
        return {"features": self.features.to_dict(), "target": self.target.to_dict()}

    @classmethod
    def from_dict(cls, state: dict) -> TableEncoder:
        if not isinstance(state, dict) or set(state) != {"features", "target"}:
            raise ValueError("not a TableEncoder state: expected a dict with keys 'features' and 'target'")
        return cls(Preprocessor.from_dict(state["features"]), TargetEncoder.from_dict(state["target"]))


@dataclass
class Prepared:
    """Everything ``train`` needs: float64 arrays per part, the fitted encoder, the split and the fit-time notices."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    encoder: TableEncoder
    split: Split
    report: TransformReport


def prepare(
    table: pd.DataFrame,
    target: str | None = None,
    *,
    task: str = "auto",
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    rng: np.random.Generator,
) -> Prepared:
    """Split ``table`` and encode it, fitting feature statistics on the training rows only (no leakage).

    The target encoder sees every row (so every class is known); classification splits are stratified.
    ``report`` covers the whole table (how many values were imputed, extra columns: none at fit).
    """
    features, y = split_target(table, target)
    encoder = TargetEncoder(task).fit(y)
    labels = encoder.encode_labels(y) if encoder.task_ == "classification" else len(y)
    try:
        split = split_indices(labels, val_fraction=val_fraction, test_fraction=test_fraction, rng=rng)
    except ValueError as exc:
        if "too few" not in str(exc):
            raise
        raise ValueError(f"{exc}; add rows (a training, a validation and a test row at the very least)") from None
    # Stratifying keeps a training row of every class, which can leave nothing to hold out.
    parts = (("validation", split.val, val_fraction), ("test", split.test, test_fraction))
    empty = [name for name, rows, fraction in parts if fraction > 0 and len(rows) == 0]
    if empty:
        raise ValueError(
            f"{len(y)} rows are too few to keep a training row of every class and still hold out "
            f"{' and '.join(empty)} rows; add rows (a few of each class)"
        )
    pre = Preprocessor().fit(features.iloc[split.train])
    X, report = pre.transform_with_report(features)
    Y = encoder.transform(y)
    parts = [a[idx] for idx in split for a in (X, Y)]
    return Prepared(*parts, encoder=TableEncoder(pre, encoder), split=split, report=report)
