"""Tables → arrays: read a CSV, pick the target, split (stratified), encode features and target.

Needs pandas (the ``cli`` extra). Every user mistake is a ``ValueError`` naming the problem and the fix,
which the CLI prints as one ``error:`` line.

Example:
    >>> import numpy as np
    >>> from bprop.tables.datasets import digits_path
    >>> prepared = prepare(read_csv(digits_path()), rng=np.random.default_rng(0))
    >>> prepared.encoder.target.task_, prepared.X_train.shape, prepared.Y_train.shape
    ('classification', (1258, 64), (1258, 10))
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from ..training.splits import Split, split_indices
from .preprocessing import Preprocessor, TransformReport, is_numeric_column, mostly_numeric_problem
from .targets import TargetEncoder, detect_task

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "read_csv",
    "read_csv_bytes",
    "read_table",
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

# How a compressed stream (a pipe has no file name to go by) begins.
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip", b"\x28\xb5\x2f\xfd": "zstd"}
_SNIFF_BYTES = 8192


def read_csv(path: str | os.PathLike, *, decimal: str = ".", dtype: dict[str, type] | None = None) -> pd.DataFrame:
    """Read a CSV file (plain or compressed, by suffix) into a DataFrame, with a clear error for each bad file.

    A pipe, ``/dev/stdin`` or a process substitution is copied once to a temporary file and read from
    there, so no byte is lost to the checks. Comma, semicolon and tab separated files are recognised
    by their header line.

    Args:
        decimal: the decimal separator of the numbers, ``"."`` or ``","`` (European CSV files).
        dtype: column name → type to read it as, e.g. ``{"code": str}`` keeps ``007`` as text
            (``TableEncoder.read_options()`` gives those a model was trained with).
    """
    path = Path(path)
    if decimal not in (".", ","):
        raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
    if not path.exists():
        raise ValueError(f"file {str(path)!r} not found; check the path")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, not a CSV file; give the path of the .csv file")
    with _readable(path) as (source, compression):
        table = _parse(source, compression, path, decimal=decimal, dtype=dtype)
    if table.shape[0] == 0:
        raise ValueError(f"{str(path)!r} has a header but no data rows; add at least one row")
    table.attrs["decimal"] = decimal  # prepare() records it in the model
    return table


def read_csv_bytes(data: bytes, name: str, *, decimal: str = ".") -> pd.DataFrame:
    """:func:`read_csv` for a file's bytes held in memory (an upload): the same checks and one-line errors,
    ``name`` standing for the path in them. Compression is recognised by the bytes' first ones."""
    import io

    if decimal not in (".", ","):
        raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
    if not data:
        raise ValueError(f"{name!r} is empty; a CSV needs a header line and at least one data row")
    compression = next((kind for magic, kind in _MAGIC.items() if data.startswith(magic)), None)
    if compression is None:
        _refuse_binary(data[:_SNIFF_BYTES], Path(name))
    table = _parse(io.BytesIO(data), compression, Path(name), decimal=decimal, dtype=None)
    if table.shape[0] == 0:
        raise ValueError(f"{name!r} has a header but no data rows; add at least one row")
    table.attrs["decimal"] = decimal
    return table


def read_table(path: str | os.PathLike, *, decimal: str = ".", dtype: dict[str, type] | None = None) -> pd.DataFrame:
    """:func:`read_csv`, or a Parquet file (``.parquet``, ``.pq``) with the column types stored in it."""
    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".pq"):
        return read_csv(path, decimal=decimal, dtype=dtype)

    if not path.is_file():
        raise ValueError(f"file {str(path)!r} not found; check the path")
    try:
        table = _parquet_frame(path)
    except ImportError:
        raise ValueError(f"reading {str(path)!r} (Parquet) needs pyarrow: pip install 'bprop[stream]'") from None
    except Exception as exc:  # pyarrow's errors have no common base with OSError
        detail = " ".join(str(exc).split())[:200]
        raise ValueError(f"{str(path)!r} is not a complete Parquet file ({detail}); write it again") from None
    if table.shape[0] == 0:
        raise ValueError(f"{str(path)!r} has no data rows; add at least one row")
    table.columns = [str(c) for c in table.columns]
    table.attrs["decimal"] = decimal
    return table


def _parquet_frame(path: Path) -> pd.DataFrame:
    """The Parquet table as pandas reads it, with decimal columns as float64 numbers (pandas would hold
    them as Python Decimal objects, one-hot encoded as text); the streamed reader reads them alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for i, field in enumerate(table.schema):
        if pa.types.is_decimal(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.float64()))
    return table.to_pandas()


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[tuple[Path | IO[bytes], str | None]]:
    """``(source, compression)`` to hand to pandas: the file itself, or a seekable copy of a stream."""
    try:
        regular = stat.S_ISREG(path.stat().st_mode)
        compression = _COMPRESSION_BY_SUFFIX.get(path.suffix.lower())
        if regular:
            if compression is None:
                with open(path, "rb") as f:
                    _refuse_binary(f.read(_SNIFF_BYTES), path)
            yield path, compression
            return
        with tempfile.TemporaryFile() as copy:
            # Read a pipe exactly once: checks that peeked at it would consume what pandas needs.
            with open(path, "rb") as stream:
                shutil.copyfileobj(stream, copy)
            copy.seek(0)
            head = copy.read(_SNIFF_BYTES)
            copy.seek(0)
            compression = compression or next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)
            if compression is None:
                _refuse_binary(head, path)
            yield copy, compression
    except OSError as exc:
        raise ValueError(
            f"cannot read {str(path)!r}: {exc.strerror or exc}; check the file and its permissions"
        ) from None


_COMPRESSION_BY_SUFFIX = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz", ".zst": "zstd"}


def _refuse_binary(head: bytes, path: Path) -> None:
    # Text never contains NUL bytes; binary files (images, spreadsheets, models) almost always do.
    if b"\x00" in head:
        raise ValueError(f"{str(path)!r} is not a CSV file (it contains binary data); export the table as CSV")


def _parse(source, compression: str | None, path: Path, **options) -> pd.DataFrame:
    """pandas.read_csv with the separator found from the header line, each failure as a one-line ValueError."""
    import pandas as pd

    where = repr(str(path))
    try:
        sep = _separator(pd.read_csv(source, nrows=0, compression=compression))
        if not isinstance(source, Path):
            source.seek(0)
        table = pd.read_csv(source, sep=sep, compression=compression, low_memory=False, **options)
        return _codes_as_text(table, source, sep=sep, compression=compression, **options)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{where} is empty; a CSV needs a header line and at least one data row") from None
    except UnicodeDecodeError:
        raise ValueError(f"{where} is not a CSV text file (not UTF-8 text); save it as UTF-8 CSV") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise ValueError(f"{where} is not valid CSV ({detail}); check the delimiter and quoting") from None
    except ImportError:
        if compression != "zstd":
            raise
        raise ValueError(
            f"reading {where} (zstd-compressed) needs the zstandard package: pip install zstandard"
        ) from None
    except (OSError, *_damaged_errors()) as exc:
        if isinstance(exc, OSError) and (compression is None or exc.errno is not None):
            raise  # a plain read error (permissions, disk): _readable words it
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(
            f"{where} is damaged: it is not a complete {compression} file ({detail}); download or compress it again"
        ) from None


def _codes_as_text(table: pd.DataFrame, source, **options) -> pd.DataFrame:
    """Columns of whole numbers written with leading zeros (``007``, ``01``) are codes, not quantities:
    read them again as text, so that ``007`` stays ``007`` as a category or a class label. Only columns
    pandas read as whole numbers are looked at again (a second pass over just those columns)."""
    import pandas as pd

    given = set(options.pop("dtype", None) or {})
    candidates = [c for c in table.columns if c not in given and _whole_numbers(table[c])]
    if not candidates:
        return table
    if not isinstance(source, Path):
        source.seek(0)
    options.pop("decimal", None)
    text = pd.read_csv(source, usecols=candidates, dtype=str, low_memory=False, **options)
    for column in candidates:
        if text[column].str.match(r"\s*[+-]?0\d").fillna(False).any():
            table[column] = text[column].str.strip()
    return table


def _whole_numbers(column: pd.Series) -> bool:
    from pandas.api import types

    if types.is_integer_dtype(column):
        return True
    if not types.is_float_dtype(column):
        return False
    present = column.dropna().to_numpy()
    return present.size > 0 and bool((present == np.round(present)).all())


def _damaged_errors() -> tuple[type[BaseException], ...]:
    """What the decompressors raise for a truncated or garbled archive (OSError covers gzip and bz2)."""
    import lzma
    import zipfile
    import zlib

    errors: list[type[BaseException]] = [EOFError, zipfile.BadZipFile, lzma.LZMAError, zlib.error]
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:
        pass
    return tuple(errors)


def _separator(header: pd.DataFrame) -> str:
    """One column whose name holds ';' or tabs: a semicolon CSV (European Excel) or TSV."""
    if header.shape[1] == 1:
        name = str(header.columns[0])
        if ";" in name:
            return ";"
        if "\t" in name:
            return "\t"
    return ","


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

    def read_options(self) -> dict:
        """Keyword arguments of :func:`read_csv` that read a new file with the types seen at fit time:
        the decimal separator, and text for categorical columns and string labels (``007`` stays ``"007"``)."""
        dtype = dict.fromkeys(self.features.text_columns, str)
        if self.target.reads_as_text:
            dtype[self.target.name_] = str
        return {"decimal": self.features.decimal, "dtype": dtype}

    def to_dict(self) -> dict:
        return {"features": self.features.to_dict(), "target": self.target.to_dict()}

    @classmethod
    def from_dict(cls, state: dict) -> TableEncoder:
        """Restore :meth:`to_dict`'s state; every field is checked, a ``ValueError`` names the first bad one."""
        if not isinstance(state, dict) or set(state) != {"features", "target"}:
            raise ValueError("not a TableEncoder state: expected a dict with keys 'features' and 'target'")
        encoder = cls(Preprocessor.from_dict(state["features"]), TargetEncoder.from_dict(state["target"]))
        clash = encoder.target.name_ in encoder.features.feature_names + encoder.features.left_out_
        if clash:
            raise ValueError(f"TableEncoder state: target column {encoder.target.name_!r} is also a feature column")
        return encoder


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
    decimal: str | None = None,
    keep_high_cardinality: bool = False,
    clip: float | None = None,
) -> Prepared:
    """Split ``table`` and encode it, fitting feature statistics on the training rows only (no leakage).

    The target encoder sees every row (so every class is known); classification splits are stratified.
    ``report`` covers the whole table (how many values were imputed, columns left out; extra columns:
    none at fit). ``decimal``: the separator the table was read with (default: what :func:`read_csv`
    used), recorded so new files are read alike; ``keep_high_cardinality`` and ``clip``: see
    :class:`Preprocessor`.
    """
    decimal = table.attrs.get("decimal", ".") if decimal is None else decimal
    _refuse_empty_columns(table)
    features, y = split_target(table, target)
    _refuse_numbers_as_text(y, task, decimal)
    encoder = TargetEncoder(task).fit(y)
    labels = encoder.encode_labels(y) if encoder.task_ == "classification" else len(y)
    split = split_rows(labels, val_fraction, test_fraction, rng)
    pre = Preprocessor(decimal=decimal, keep_high_cardinality=keep_high_cardinality, clip=clip)
    pre.fit(features.iloc[split.train])
    _check_memory(pre, len(features))
    X, report = pre.transform_with_report(features)
    Y = encoder.transform(y)
    parts = [a[idx] for idx in split for a in (X, Y)]
    return Prepared(*parts, encoder=TableEncoder(pre, encoder), split=split, report=report)


def split_rows(labels: np.ndarray | int, val_fraction: float, test_fraction: float, rng: np.random.Generator) -> Split:
    """:func:`split_indices` (stratified by class ``labels``, or of that many rows), refusing a part left empty."""
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
        n = labels if isinstance(labels, (int, np.integer)) else len(labels)
        raise ValueError(
            f"{n} rows are too few to keep a training row of every class and still hold out "
            f"{' and '.join(empty)} rows; add rows (a few of each class)"
        )
    return split


def _refuse_empty_columns(table: pd.DataFrame) -> None:
    """Nothing can be learnt from an empty column (at prediction time it is simply imputed)."""
    empty = [str(c) for c in table.columns if table[c].isna().all()]
    if empty:
        raise ValueError(f"column(s) {empty} are entirely empty; delete them or fill them in")


def _refuse_numbers_as_text(y: pd.Series, task: str, decimal: str) -> None:
    """A regression (or auto) target of numbers with stray text would silently become thousands of classes."""
    if task == "classification" or is_numeric_column(y):
        return
    problem = mostly_numeric_problem(f"target column {str(y.name)!r}", y[y.notna()], decimal)
    if problem:
        raise ValueError(problem)


def _check_memory(pre: Preprocessor, n_rows: int) -> None:
    """Refuse before allocating the encoded matrix (and its per-part copies) when it cannot fit."""
    from ..memory import check_fits

    widths = {spec["name"]: len(spec["categories"]) for spec in pre.columns_ if spec["kind"] == "categorical"}
    widest = sorted(widths, key=widths.get, reverse=True)[:3]
    shown = ", ".join(f"{name!r} ({widths[name]:,} values)" for name in widest)
    fix = f"leave out the widest string columns ({shown}), or use fewer rows" if widest else "use fewer rows"
    if pre.keep_high_cardinality:
        fix += " (without keep_high_cardinality / --keep-high-cardinality, ID-like columns are left out)"
    check_fits(
        n_rows * pre.n_outputs * 8 * 2,
        f"encoding {n_rows:,} rows into {pre.n_outputs:,} inputs",
        fix,
    )
