"""New rows for a trained model, streamed: a file of any size read a block at a time, each block typed as the
in-memory reader types it for that model (``TableEncoder.read_options``) and encoded by the model's own
:class:`~bprop.tables.data.TableEncoder` — the same code as for a table in memory, block by block."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..data import TableEncoder
from ..preprocessing import TransformReport
from .reader import TableFile
from .scan import FALSE_WORDS, TRUE_WORDS, as_numbers

__all__ = ["EncodedChunk", "encoded_chunks", "merge_reports"]


@dataclass
class EncodedChunk:
    """One block of rows: the encoded inputs, the encoded targets (None without a target column)."""

    n_rows: int
    X: np.ndarray
    Y: np.ndarray | None
    report: TransformReport


def encoded_chunks(
    path: str | os.PathLike, encoder: TableEncoder, *, need_target: bool = False
) -> Iterator[EncodedChunk]:
    """The rows of the file at ``path`` encoded for the model, a block at a time.

    ``need_target``: refuse a file without the target column (evaluation needs the true values).
    """
    table = TableFile(path, decimal=encoder.features.decimal)
    name = encoder.target.name_
    if need_target and name not in table.names:
        raise ValueError(f"{table.where} has no target column {name!r}; evaluation needs labelled rows")
    missing = [c for c in encoder.features.feature_names if c not in table.names]
    if missing:
        raise ValueError(
            f"missing feature column(s) {missing}; the model was trained on columns {encoder.features.feature_names}"
        )
    # Without need_target the target column is not read at all: predictions need no labels (as in memory).
    columns = [c for c in table.names if need_target or c != name]
    for chunk in table.chunks(columns):
        X, Y, report = encoder.transform(typed_frame(chunk.columns, chunk.n_rows, encoder))
        yield EncodedChunk(chunk.n_rows, X, Y, report)


def typed_frame(columns: dict, n_rows: int, encoder: TableEncoder):
    """A pandas DataFrame of a block's columns typed as ``read_csv(**encoder.read_options())`` would type them."""
    import pandas as pd

    specs = {spec["name"]: spec for spec in encoder.features.columns_}
    target = encoder.target
    frame = {}
    for name, cells in columns.items():
        if name == target.name_:
            frame[name] = _target_cells(cells, target, encoder.features.decimal)
        elif name not in specs:
            frame[name] = np.full(n_rows, np.nan)  # not used by the model: only its name is reported
        elif specs[name]["kind"] == "numeric":
            frame[name] = _number_cells(cells, encoder.features.decimal)
        else:
            frame[name] = _label_cells(cells, boolean=set(specs[name]["categories"]) <= {"True", "False"})
    return pd.DataFrame(frame)


def _is_text(cells) -> bool:
    import pyarrow as pa

    return pa.types.is_string(cells.type) or pa.types.is_large_string(cells.type)


def _number_cells(cells, decimal: str):
    """Floats; the cells as text when some are not numbers, so that the encoder names the first of them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _is_text(cells):
        return pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)
    values, numbers = as_numbers(cells, decimal)
    if numbers.sum() == len(cells) - cells.null_count:
        return values
    return cells.to_pandas().astype(object)


def _label_cells(cells, *, boolean: bool):
    """Category labels as text; pandas' boolean words as True/False for a True/False column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(cells.type):
        return cells.to_pandas().astype(object)
    if not _is_text(cells):
        return cells.to_pandas()
    if boolean:
        falses = pc.if_else(pc.is_in(cells, pa.array(FALSE_WORDS)), "False", cells)
        cells = pc.if_else(pc.is_in(cells, pa.array(TRUE_WORDS)), "True", falses)
    return cells.to_pandas().astype(object)


def _target_cells(cells, target, decimal: str):
    """Target cells typed as the model's target was: text labels, True/False, or numbers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if target.reads_as_text or not _is_text(cells):
        return cells.to_pandas().astype(object) if _is_text(cells) else cells.to_pandas()
    if target.classes_ is not None and isinstance(target.classes_[0], bool):
        words = pc.is_in(cells, pa.array(TRUE_WORDS + FALSE_WORDS))
        truth = pc.if_else(words, pc.is_in(cells, pa.array(TRUE_WORDS)), None)
        return truth.to_pandas().astype(object).where(np.asarray(words.fill_null(False)), cells.to_pandas())
    return _number_cells(cells, decimal)


def merge_reports(a: TransformReport | None, b: TransformReport) -> TransformReport:
    """The report of two blocks of one table together."""
    if a is None:
        return b
    imputed, unknown = dict(a.imputed), dict(a.unknown)
    for total, extra in ((imputed, b.imputed), (unknown, b.unknown)):
        for name, count in extra.items():
            total[name] = total.get(name, 0) + count
    return TransformReport(a.n_rows + b.n_rows, imputed, unknown, a.extra_columns, a.left_out)
