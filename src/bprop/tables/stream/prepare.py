"""Split a cached table and fit its preprocessing on the training rows, reading the cache a block at a time.

The result matches :func:`bprop.tables.data.prepare` on the same file and seed: the same split (drawn by
:func:`~bprop.tables.data.split_rows` from the same class labels), the same column types, categories,
fill values and target encoding; means and standard deviations equal up to float64 rounding (they are
summed block by block). Medians are exact when the training rows hold at most ``MEDIAN_VALUES`` numeric
cells, otherwise the median of a systematic sample of every k-th training row (at least
``MEDIAN_VALUES`` cells in all): a fill value for missing cells, where the rank error of such a sample
(about 1/√sample rows) does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...training.splits import Split
from ..data import TableEncoder, split_rows
from ..preprocessing import Preprocessor, TransformReport, column_scale, numbers_problem, too_many_categories
from ..targets import TargetEncoder
from .cache import Cache
from .scan import NUMERIC
from .source import CacheSource, EncodingPlan

__all__ = ["StreamedPrepared", "prepare_streamed", "MEDIAN_VALUES"]

MEDIAN_VALUES = 2_000_000
_BLOCK_ROWS = 65_536


@dataclass
class StreamedPrepared:
    """A cached table split and encoded lazily: batch sources per part instead of arrays."""

    cache: Cache
    encoder: TableEncoder
    split: Split
    report: TransformReport
    labels: np.ndarray | None  # class index per row (classification)

    def source(self, part: str, dtype="float32", shuffle: str = "auto") -> CacheSource:
        """The rows of ``part`` (``train``, ``val`` or ``test``), encoded per batch in ``dtype``; ``shuffle``:
        see :class:`CacheSource` (global, as in memory, unless the cache is larger than half the memory)."""
        rows = getattr(self.split, part)
        plan = EncodingPlan.of(self.cache, self.encoder)
        return CacheSource(self.cache, plan, rows, dtype, self.labels, shuffle=shuffle)

    def n_rows(self, part: str) -> int:
        return int(len(getattr(self.split, part)))


def prepare_streamed(
    cache: Cache,
    *,
    task: str = "auto",
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    rng: np.random.Generator,
    keep_high_cardinality: bool = False,
    clip: float | None = None,
) -> StreamedPrepared:
    """Split the cached rows (stratified for classification) and fit the preprocessing on the training rows."""
    target, labels = _target(cache, task)
    split = split_rows(labels if labels is not None else cache.n_rows, val_fraction, test_fraction, rng)
    in_train = np.zeros(cache.n_rows, bool)
    in_train[split.train] = True
    stats = _Statistics(cache, in_train)
    decimal = cache.manifest["read"]["decimal"]
    specs, left_out = [], []
    for column in cache.columns:
        spec = stats.spec(column, keep_high_cardinality)
        if spec is None:
            left_out.append(column.name)
        else:
            specs.append(spec)
    if not specs:
        raise ValueError(
            f"every feature column was left out for having too many distinct values ({left_out}); "
            "pass keep_high_cardinality=True (bprop train --keep-high-cardinality) or add other columns"
        )
    state = {
        "type": "Preprocessor",
        "columns": specs,
        "decimal": decimal,
        "keep_high_cardinality": keep_high_cardinality,
        "left_out": sorted(left_out),
        "clip": clip,
    }
    encoder = TableEncoder(Preprocessor.from_dict(state), target)
    imputed = {s["name"]: c.n_missing for s in specs for c in cache.columns if c.name == s["name"] and c.n_missing}
    unknown = {name: n for name, n in stats.unknown.items() if n and name not in left_out}
    report = TransformReport(cache.n_rows, imputed, unknown, [], left_out)
    return StreamedPrepared(cache, encoder, split, report, labels)


def _target(cache: Cache, task: str) -> tuple[TargetEncoder, np.ndarray | None]:
    """The target encoder as :meth:`TargetEncoder.fit` makes it of the whole column, and the class of every
    row (None for regression)."""
    import pandas as pd

    info = cache.target
    name = info["name"]
    if info["kind"] == NUMERIC:
        values = np.asarray(cache.target_array)  # int64 for whole numbers written as integers, else float64
        encoder = TargetEncoder(task).fit(pd.Series(values, name=name))
        if encoder.task_ != "classification":
            return encoder, None
        return encoder, np.searchsorted(np.asarray(encoder.classes_), values).astype(np.int32)
    if task != "classification":
        problem = numbers_problem(f"target column {name!r}", cache.target_counts, cache.manifest["read"]["decimal"])
        if problem:
            raise ValueError(problem)
    return TargetEncoder.from_classes(name, info["labels"], task), np.asarray(cache.target_array)


class _Statistics:
    """Per-column statistics of the training rows (and category counts of all rows), from the cache."""

    def __init__(self, cache: Cache, in_train: np.ndarray):
        self.cache = cache
        self.numeric = _numeric_statistics(cache, in_train)
        self.train_counts, self.all_counts = _category_counts(cache, in_train)
        self.n_train = int(in_train.sum())
        self.unknown: dict[str, int] = {}

    def spec(self, column, keep_high_cardinality: bool) -> dict | None:
        """The Preprocessor spec of ``column``, or None when it is left out (too many distinct values)."""
        if column.kind == NUMERIC:
            count, mean, scale, median = (a[column.slot] for a in self.numeric)
            if count == 0:
                raise ValueError(f"column {column.name!r} is entirely empty; delete it or fill it in")
            return {"name": column.name, "kind": "numeric", "mean": mean, "scale": scale, "fill": median}
        if column.overflow:
            if keep_high_cardinality:
                raise ValueError(
                    f"column {column.name!r} has more than 100,000 distinct values, more than a streamed run "
                    "one-hot encodes; leave it out of the file, or train without --keep-high-cardinality"
                )
            return None
        labels = self.cache.dictionaries[column.name]
        counts = self.train_counts[column.slot][1:]
        seen = np.flatnonzero(counts)
        if seen.size == 0:
            raise ValueError(f"column {column.name!r} is entirely empty; delete it or fill it in")
        if not keep_high_cardinality and too_many_categories(seen.size, self.n_train):
            return None
        by_label = sorted(seen, key=lambda i: labels[i])
        categories = [labels[i] for i in by_label]
        # The most frequent training label; on a tie the smallest, as np.unique + argmax decide in memory.
        fill = categories[int(np.argmax(counts[by_label]))]
        everywhere = self.all_counts[column.slot][1:]
        self.unknown[column.name] = int(everywhere.sum() - everywhere[seen].sum())
        return {"name": column.name, "kind": "categorical", "categories": categories, "fill": fill}


def _blocks(n: int):
    for begin in range(0, n, _BLOCK_ROWS):
        yield slice(begin, min(n, begin + _BLOCK_ROWS))


def _numeric_statistics(cache: Cache, in_train: np.ndarray):
    """``(count, mean, scale, median)`` per numeric column over the training rows' filled cells."""
    k = cache.numeric.shape[1]
    count, total, peak = np.zeros(k), np.zeros(k), np.zeros(k)
    low, high = np.full(k, np.inf), np.full(k, -np.inf)
    for rows in _blocks(cache.n_rows):
        block = cache.numeric[rows][in_train[rows]]
        filled = ~np.isnan(block)
        count += filled.sum(axis=0)
        total += np.where(filled, block, 0.0).sum(axis=0)
        peak = np.maximum(peak, np.where(filled, np.abs(block), 0.0).max(axis=0, initial=0.0))
        low = np.minimum(low, np.where(filled, block, np.inf).min(axis=0, initial=np.inf))
        high = np.maximum(high, np.where(filled, block, -np.inf).max(axis=0, initial=-np.inf))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    # Squared deviations of values scaled by the column's peak: no overflow for values near 1e200.
    unit = np.where(peak > 1e150, peak, 1.0)
    squares = np.zeros(k)
    for rows in _blocks(cache.n_rows):
        block = cache.numeric[rows][in_train[rows]]
        squares += np.nansum(((block - mean) / unit) ** 2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.sqrt(squares / count) * unit
    scale = [column_scale(sd, constant=lo == hi) for sd, lo, hi in zip(std.tolist(), low, high)]
    return count, mean.tolist(), scale, _medians(cache, np.flatnonzero(in_train))


def _medians(cache: Cache, train: np.ndarray) -> list[float]:
    """Median of each numeric column's filled training cells (of every k-th training row beyond MEDIAN_VALUES)."""
    k = cache.numeric.shape[1]
    if k == 0:
        return []
    step = max(1, -(-train.size * k // MEDIAN_VALUES))
    sample = train[::step]
    values = np.empty((sample.size, k))
    for rows in _blocks(sample.size):
        values[rows] = cache.numeric[sample[rows]]
    medians = []
    for j in range(k):
        column = values[:, j]
        filled = column[~np.isnan(column)]
        medians.append(float(np.median(filled)) if filled.size else float("nan"))
    return medians


def _category_counts(cache: Cache, in_train: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per text column, how often each code occurs in the training rows and in all rows (index 0: empty)."""
    text = [c for c in cache.columns if c.kind != NUMERIC]
    sizes = [len(cache.dictionaries[c.name]) + 1 for c in text]
    train = [np.zeros(size, np.int64) for size in sizes]
    every = [np.zeros(size, np.int64) for size in sizes]
    counted = [j for j, c in enumerate(text) if not c.overflow]  # an identifier column keeps no codes
    if not counted:
        return train, every
    for rows in _blocks(cache.n_rows):
        block = np.asarray(cache.codes[rows])
        mask = in_train[rows]
        for j in counted:
            size = sizes[j]
            every[j] += np.bincount(block[:, j], minlength=size)
            train[j] += np.bincount(block[mask, j], minlength=size)
    return train, every
