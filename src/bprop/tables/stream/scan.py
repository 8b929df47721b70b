"""The first pass over a streamed file: decide every column's type exactly as the in-memory reader would.

pandas reads a whole CSV column as numbers when every filled cell is a number, as True/False when every
cell is one of its boolean words, and as text otherwise; ``read_csv`` then reads whole numbers written
with leading zeros (``007``) as text codes. Those are properties of the whole column, so one pass adds
them up block by block (:class:`ColumnScan`), and :meth:`ColumnScan.kind` decides at the end. The same
pass keeps the target column (4 bytes a row for classes), because the split needs every row's class before any
feature statistic is taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..preprocessing import NumberCounts, numbers_problem, parse_numbers

__all__ = ["ColumnScan", "Scan", "TargetCells", "TargetValues", "as_numbers", "as_labels", "NUMERIC", "TEXT", "BOOLEAN"]

NUMERIC, TEXT, BOOLEAN = "numeric", "text", "boolean"
# A code like 007 (as the in-memory reader tells them, spaces before it allowed).
LEADING_ZERO = r"^\s*[+-]?0\d"
# What pandas reads as True and as False.
TRUE_WORDS, FALSE_WORDS = ("True", "TRUE", "true"), ("False", "FALSE", "false")
# Distinct labels a text target may have (more is an ID column, not classes).
MAX_TEXT_CLASSES = 100_000


# How a cell pandas could read as a number begins (after spaces): a sign, a digit or point, inf or nan.
_NUMBER_START = r"^\s*[-+]?(\d|\.\d|inf|nan)"


def as_numbers(cells, decimal: str = ".", *, fast: bool = True):
    """``(float64 values, is-a-number mask)`` of a pyarrow string array: NaN where a cell is missing or not a
    number, with pandas' reading of numbers (surrounding spaces allowed).

    ``fast``: try pyarrow's cast of the whole array first (a column of numbers); else, or when it fails,
    only the cells that begin like a number are handed to pandas, so a column of words costs one regex.
    """

    if fast:
        values = cast_numbers(cells, decimal)
        if values is not None:
            return values, np.asarray(cells.is_valid()) if cells.null_count else np.ones(len(cells), bool)
    return _parse_candidates(cells, _candidates(cells), decimal)


def cast_numbers(cells, decimal: str = "."):
    """float64 values of a string array in which every filled cell is a plain number (NaN where empty), by
    pyarrow's cast; None when some cell is not (then :func:`as_numbers` reads it as pandas would)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if decimal != ".":
        cells = pc.replace_substring(pc.replace_substring(cells, ".", "\x00"), decimal, ".")
    try:
        values = pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
    # pyarrow reads NAN, +nan, … as NaN; pandas reads them as text (its missing markers are nulls here).
    if np.isnan(values).sum() > cells.null_count:
        return None
    return values


def _candidates(cells) -> np.ndarray:
    """Which cells begin like a number (the only ones pandas could read as one)."""
    import pyarrow.compute as pc

    return np.asarray(pc.match_substring_regex(cells, _NUMBER_START, ignore_case=True).fill_null(False))


def _parse_candidates(cells, candidates: np.ndarray, decimal: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.full(len(cells), np.nan)
    if candidates.any():
        text = pc.utf8_trim_whitespace(pc.filter(cells, pa.array(candidates))).to_pandas().astype(object)
        values[candidates] = parse_numbers(text.astype(str), decimal).to_numpy(dtype=np.float64, na_value=np.nan)
    return values, np.asarray(cells.is_valid()) & ~np.isnan(values)


def as_labels(cells, kind: str, strip: bool):
    """Category labels of a column's cells as the in-memory path writes them: ``True``/``False`` for a
    boolean column, text stripped of spaces for codes with leading zeros."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == BOOLEAN:
        if pa.types.is_boolean(cells.type):
            return pc.if_else(cells, "True", "False")
        return pc.if_else(pc.is_in(cells, pa.array(TRUE_WORDS)), "True", "False")
    if not (pa.types.is_string(cells.type) or pa.types.is_large_string(cells.type)):
        cells = pc.cast(cells, pa.string())
    return pc.utf8_trim_whitespace(cells) if strip else cells


@dataclass
class ColumnScan:
    """What one pass learns of a column. ``typed``: the type a Parquet file stores (None for CSV text)."""

    name: str
    typed: str | None = None
    n_missing: int = 0
    numeric: bool = True  # every filled cell so far is a number
    whole: bool = True  # ... and a whole one
    ints: bool = True  # ... written as an integer (pandas reads the column as int64)
    boolean: bool = True  # every filled cell so far is a boolean word
    infinite: bool = False
    track_ints: bool = False  # find out `ints` (only the target's labels need it)
    counts: NumberCounts = field(default_factory=NumberCounts)

    def add(self, cells, decimal: str) -> None:
        """Add up one block of the column's cells."""
        self.n_missing += cells.null_count
        if len(cells) == cells.null_count:
            return
        if self.typed is not None and self.typed != TEXT:
            self._add_typed(cells)
            return
        self.counts.n_present += len(cells) - cells.null_count
        # Codes like 007 matter in whole-number columns (text codes) and text columns (not "stray text");
        # a column of fractions is spared the regex while it stays numeric.
        if self.whole or not self.numeric:
            self._look_for_codes(cells)
        if self.numeric and self.typed is None and self._add_numbers(cells, decimal):
            return
        self._add_text(cells, decimal)

    def _add_typed(self, cells) -> None:
        """A block of a Parquet column stored as numbers or True/False."""
        import pyarrow as pa
        import pyarrow.compute as pc

        present = len(cells) - cells.null_count
        if self.typed == NUMERIC:
            values = pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)
            filled = values[~np.isnan(values)]
            # A NaN stored as a value is a gap to pandas as much as a null is.
            self.n_missing += values.size - filled.size - cells.null_count
            present = filled.size
            self._numbers(filled)
            self.ints &= pa.types.is_integer(cells.type)
        self.counts.n_present += present

    def _look_for_codes(self, cells) -> None:
        import pyarrow.compute as pc

        if not self.counts.leading_zero:
            self.counts.leading_zero = bool(pc.any(pc.match_substring_regex(cells, LEADING_ZERO)).as_py())

    def _add_numbers(self, cells, decimal: str) -> bool:
        """A block of a column of numbers so far: True if every filled cell is a number too."""
        values = cast_numbers(cells, decimal)
        if values is None:
            values, numbers = as_numbers(cells, decimal, fast=False)
            if numbers.sum() != len(cells) - cells.null_count:
                return False
        filled = values[~np.isnan(values)] if cells.null_count else values
        whole = self._numbers(filled)
        self.counts.n_numbers += filled.size
        if decimal == ".":
            # Cells without a point read the same with a decimal comma; whole numbers stand in for them
            # (5.0 counts too: this only words a hint about decimal commas).
            self.counts.n_comma_numbers += whole
        if self.track_ints and self.ints:
            self.ints = _all_ints(cells)
        self.boolean = False
        return True

    def _add_text(self, cells, decimal: str) -> None:
        """A block of a text column (or the block where a column of numbers turns out to be text)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        self.numeric = False
        self._look_for_codes(cells)
        counts = self.counts
        candidates = _candidates(cells)
        numbers = _parse_candidates(cells, candidates, decimal)[1]
        counts.n_numbers += int(numbers.sum())
        if decimal == "." and candidates.any():
            counts.n_comma_numbers += int(_parse_candidates(cells, candidates, ",")[1].sum())
        if len(counts.examples) < 3:
            stripped = pc.utf8_trim_whitespace(cells).to_numpy(zero_copy_only=False)
            for cell in stripped[np.asarray(cells.is_valid()) & ~numbers]:
                if cell not in counts.examples and len(counts.examples) < 3:
                    counts.examples.append(str(cell))
        if self.boolean:
            self.boolean = bool(pc.all(pc.is_in(cells.drop_null(), pa.array(TRUE_WORDS + FALSE_WORDS))).as_py())

    def _numbers(self, values: np.ndarray) -> int:
        """Note the filled ``values`` of a block; returns how many are whole numbers."""
        with np.errstate(invalid="ignore"):
            whole = int(np.count_nonzero(values == np.round(values)))
        self.whole &= whole == values.size
        # inf is "whole" (inf == round(inf)), so a block without whole numbers has no infinite value.
        self.infinite |= bool(whole and np.isinf(values).any())
        return whole

    def kind(self) -> tuple[str, bool]:
        """``(kind, strip)``: numeric, text or boolean, and whether labels lose their surrounding spaces
        (whole numbers written with leading zeros, read again as text codes)."""
        if self.typed is not None:
            return self.typed, False
        if self.numeric:
            if self.whole and self.counts.leading_zero:
                return TEXT, True
            return NUMERIC, False
        return (BOOLEAN if self.boolean else TEXT), False

    def problem(self, what: str, decimal: str) -> str | None:
        """Why this text column should have been numbers (see :func:`numbers_problem`), or None."""
        kind, strip = self.kind()
        return None if kind != TEXT or strip else numbers_problem(what, self.counts, decimal)


def _all_ints(cells) -> bool:
    import pyarrow as pa

    try:
        int_cells(cells)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def int_cells(cells):
    """int64 of text cells written as whole numbers (spaces and a + sign allowed, as pandas reads them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pc.replace_substring_regex(pc.utf8_trim_whitespace(cells), r"^\+", ""), pa.int64())


@dataclass
class TargetValues:
    """Every row's target: float64 ``values`` of a numeric column, or ``codes`` into sorted ``labels``."""

    name: str
    kind: str
    values: np.ndarray | None = None
    ints: bool = False
    codes: np.ndarray | None = None
    labels: list | None = None


@dataclass
class Scan:
    """The first pass's findings: rows, per-column scans (features in file order) and the target."""

    n_rows: int
    columns: list[ColumnScan]
    target: TargetValues
    target_counts: NumberCounts


def typed_kind(arrow_type, name: str, where: str) -> str:
    """The kind of a Parquet column from its stored type; a ``ValueError`` for types a table cannot hold."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_boolean(arrow_type):
        return BOOLEAN
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return NUMERIC
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return TEXT
    raise ValueError(
        f"column {name!r} of {where} has type {arrow_type}, which bprop cannot use as a feature or target; "
        "convert it to numbers or text first"
    )


class TargetCells:
    """The target column's cells, kept block by block until the pass has typed the column.

    Each block is kept dictionary-encoded: int32 indices in NumPy memory (-1 for an empty cell) and the
    block's distinct cells. A class target costs 4 bytes a row, and no small pyarrow buffers stay behind
    between the large blocks the pass frees (they kept the allocator from returning those).
    """

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, object]] = []

    def add(self, cells) -> None:
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(cells)
        if hasattr(encoded, "combine_chunks"):
            encoded = encoded.combine_chunks()
        indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        self.blocks.append((indices, encoded.dictionary))

    def __len__(self) -> int:
        return sum(len(indices) for indices, _ in self.blocks)

    def missing_rows(self, limit: int) -> list[int]:
        rows, start = [], 0
        for indices, _ in self.blocks:
            rows += (start + np.flatnonzero(indices < 0)[: limit - len(rows)]).tolist()
            start += len(indices)
        return rows

    def dictionaries(self):
        return (dictionary for _, dictionary in self.blocks)

    def drain(self, convert, dtype) -> np.ndarray:
        """Every row's ``convert``-ed cell in one array; blocks are dropped as they are converted, so the
        cells and their values are not both held whole. ``convert`` sees each block's distinct cells."""
        out = np.empty(len(self), dtype)
        start = 0
        self.blocks.reverse()
        while self.blocks:
            indices, dictionary = self.blocks.pop()
            out[start : start + len(indices)] = np.asarray(convert(dictionary))[indices]
            start += len(indices)
        return out


def target_values(name: str, scan: ColumnScan, cells: TargetCells, decimal: str) -> TargetValues:
    """The target column's values from its kept cells, typed as the in-memory reader types it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if scan.n_missing:
        rows = ", ".join(str(r) for r in cells.missing_rows(5))
        raise ValueError(
            f"target column {name!r} has {scan.n_missing} missing value(s) (e.g. at row index {rows}); "
            "remove those rows or fill in their targets"
        )
    kind, strip = scan.kind()
    if kind == NUMERIC:
        # Whole numbers stay int64 (a label above 2**53 is not a float's); others float64.
        dtype = np.int64 if scan.ints else np.float64
        if scan.typed == NUMERIC:
            convert = lambda cells: pc.cast(cells, pa.from_numpy_dtype(dtype)).to_numpy(zero_copy_only=False)  # noqa: E731
        elif scan.ints:
            convert = lambda cells: int_cells(cells).to_numpy(zero_copy_only=False)  # noqa: E731
        else:
            convert = lambda cells: as_numbers(cells, decimal)[0]  # noqa: E731
        return TargetValues(name, NUMERIC, values=cells.drain(convert, dtype), ints=scan.ints)
    distinct: set = set()
    for dictionary in cells.dictionaries():
        distinct.update(pc.unique(as_labels(dictionary, kind, strip)).to_pylist())
        if len(distinct) > MAX_TEXT_CLASSES:
            raise ValueError(
                f"target column {name!r} has over {MAX_TEXT_CLASSES:,} distinct values, too many to be classes; "
                "choose another --target column"
            )
    labels = sorted(distinct)
    value_set = pa.array(labels, pa.string())
    codes = cells.drain(lambda d: pc.index_in(as_labels(d, kind, strip), value_set=value_set), np.int32)
    if kind == BOOLEAN:
        labels = [label == "True" for label in labels]
    return TargetValues(name, kind, codes=codes, labels=labels)


def column_problem(scan: ColumnScan, decimal: str) -> str | None:
    """The in-memory reader's refusals of a feature column, from its scan."""
    if scan.n_missing and scan.counts.n_present == 0:
        return f"column(s) [{scan.name!r}] are entirely empty; delete them or fill them in"
    kind, _ = scan.kind()
    if kind == NUMERIC and scan.infinite:
        return f"column {scan.name!r} contains infinite values; replace them with numbers or leave them empty"
    return scan.problem(f"column {scan.name!r}", decimal)
