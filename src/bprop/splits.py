"""Random and stratified hold-out splits driven by a ``numpy.random.Generator``."""

from __future__ import annotations

import numpy as np


def holdout_indices(
    n_samples: int, fraction: float, rng: np.random.Generator, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n_samples)`` into ``(kept, held_out)`` index arrays, both sorted.

    With ``labels`` the split is stratified: each class gives round(fraction · count) rows (at least
    one for a class of two or more rows), so rare classes appear on both sides.
    """
    fraction = float(fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction!r}; 0.1 or 0.2 is typical")
    if labels is None:
        n_out = int(round(fraction * n_samples))
        order = rng.permutation(n_samples)
        held = order[:n_out]
    else:
        held_parts = []
        classes, inverse = np.unique(labels, return_inverse=True, axis=0 if labels.ndim > 1 else None)
        for c in range(len(classes)):
            rows = np.flatnonzero(inverse.reshape(-1) == c)
            n_out = int(round(fraction * rows.size))
            if rows.size >= 2:
                n_out = min(max(n_out, 1), rows.size - 1)
            held_parts.append(rng.permutation(rows)[:n_out])
        held = np.concatenate(held_parts)
    if held.size == 0 or held.size == n_samples:
        raise ValueError(
            f"a fraction of {fraction} of {n_samples} samples leaves one side empty; use more data or another fraction"
        )
    mask = np.zeros(n_samples, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)
