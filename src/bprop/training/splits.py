"""Random and stratified train / validation / test splits driven by a ``numpy.random.Generator``."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Split(NamedTuple):
    """Row indices (sorted, int64) of the three parts."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}")
    return float(value)


def _allocate(sizes: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over groups proportionally to ``sizes`` (largest remainder), leaving each group ≥ 1 member."""
    if total == 0:
        return np.zeros_like(sizes)
    quota = sizes * (total / sizes.sum())
    counts = np.minimum(np.floor(quota).astype(np.int64), sizes - 1)
    # Hand the rounding remainder to the groups whose quota was cut most, if they can spare a member.
    for g in np.argsort(-(quota - counts), kind="stable"):
        if counts.sum() >= total:
            break
        if counts[g] < sizes[g] - 1:
            counts[g] += 1
    return counts


def split_indices(
    labels: np.ndarray | int,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    rng: np.random.Generator,
    stratify: bool = True,
) -> Split:
    """Random train / validation / test split of row indices.

    Args:
        labels: class index per row (for stratification) or the number of rows.
        val_fraction, test_fraction: shares of the rows, each in [0, 1) with sum < 1; rounded to whole
            rows, at least one row for a fraction above 0.
        rng: the ``numpy.random.Generator`` that shuffles.
        stratify: keep class proportions in every part (needs labels); each class keeps ≥ 1 training row.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}; use np.random.default_rng(seed)"
        )
    val_fraction = _check_fraction("val_fraction", val_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be below 1, got {val_fraction} + {test_fraction}")
    codes = None if isinstance(labels, (int, np.integer)) else np.asarray(labels)
    n = int(labels) if codes is None else len(codes)
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    if n - n_test - n_val < 1:
        raise ValueError(f"{n} rows are too few for val_fraction={val_fraction} and test_fraction={test_fraction}")
    order = rng.permutation(n)
    if codes is None or not stratify:
        parts = (order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test])
        return Split(*(np.sort(p) for p in parts))
    classes, sizes = np.unique(codes, return_counts=True)
    test_counts = _allocate(sizes, n_test)
    val_counts = _allocate(sizes - test_counts, n_val)
    train, val, test = [], [], []
    for c, n_te, n_va in zip(classes, test_counts, val_counts):
        members = order[codes[order] == c]  # already in random order
        test.append(members[:n_te])
        val.append(members[n_te : n_te + n_va])
        train.append(members[n_te + n_va :])
    return Split(*(np.sort(np.concatenate(p)).astype(np.int64) for p in (train, val, test)))


def holdout_indices(
    n_samples: int, fraction: float, rng: np.random.Generator, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n_samples)`` into ``(kept, held_out)`` index arrays, both sorted.

    With ``labels`` (one label per row, or rows of a 2-D label array) the split is stratified by
    :func:`split_indices`, so rare classes appear on both sides when they can.
    """
    fraction = float(fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction!r}; 0.1 or 0.2 is typical")
    if n_samples < 2:
        raise ValueError(
            f"a fraction of {fraction} of {n_samples} samples leaves one side empty; use more data or another fraction"
        )
    codes = n_samples
    if labels is not None:
        codes = np.unique(labels, return_inverse=True, axis=0 if np.ndim(labels) > 1 else None)[1].reshape(-1)
    split = split_indices(codes, val_fraction=fraction, test_fraction=0.0, rng=rng)
    if split.val.size == 0:
        raise ValueError(
            f"holding out {fraction} of {n_samples} samples leaves no validation rows (every class keeps its "
            "only rows for training); use more data, or pass validation_data explicitly"
        )
    return split.train, split.val
