"""TensorFlow Playground's two-dimensional data sets, drawn from a seeded NumPy generator.

Written from the published descriptions of the sets (``dataset.ts`` of TensorFlow Playground): points
lie in the square [−6, 6]², ``noise`` is the playground's 0–50 % slider as a fraction (0 to 0.5).
Classification labels are ``"blue"`` (TensorFlow Playground's +1) and ``"orange"`` (−1); regression
targets lie in [−1, 1]. Every set is a table with columns ``x1``, ``x2`` and ``label`` (or ``value``),
which :func:`bprop.tables.prepare` encodes like any CSV.

=================  ==========================================================================================
set                how a point is drawn
=================  ==========================================================================================
``circle``         half inside radius 2.5, half in the ring 3.5–5 (uniform radius and angle); blue when the
                   point moved by noise·U(−5, 5) per coordinate is within 2.5 of the centre
``xor``            x, y ~ U(−5, 5) pushed 0.3 away from the axes; blue when x·y ≥ 0 after noise·U(−5, 5)
``gauss``          two Gaussians of variance 0.5 + 7·noise around (2, 2) (blue) and (−2, −2) (orange)
``spiral``         two arms r = 5·i/n, θ = 3.5·π·i/n (+ π for orange), plus noise·U(−1, 1) per coordinate
``plane``          x, y ~ U(−6, 6); value (x + y)/10 of the point moved by noise·U(−6, 6)
``multigauss``     x, y ~ U(−6, 6); value ±(1 − d/2, clamped at 0) of the strongest of six signed bumps
=================  ==========================================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CLASSIFICATION_SETS", "REGRESSION_SETS", "TWO_D_SETS", "two_d_points", "two_d_table", "EXTENT"]

CLASSIFICATION_SETS = ("circle", "xor", "gauss", "spiral")
REGRESSION_SETS = ("plane", "multigauss")
TWO_D_SETS = CLASSIFICATION_SETS + REGRESSION_SETS
#: The square the points (and the heatmaps) span: [−EXTENT, EXTENT]².
EXTENT = 6.0
_BUMPS = np.array([[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]], float)


def _jitter(rng: np.random.Generator, n: int, reach: float, noise: float) -> np.ndarray:
    return rng.uniform(-reach, reach, size=(n, 2)) * noise


def _circle(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    radius = 5.0
    inner, outer = n // 2, n - n // 2
    r = np.concatenate([rng.uniform(0, radius * 0.5, inner), rng.uniform(radius * 0.7, radius, outer)])
    angle = rng.uniform(0, 2 * np.pi, n)
    xy = np.column_stack([r * np.sin(angle), r * np.cos(angle)])
    moved = xy + _jitter(rng, n, radius, noise)
    return xy, np.hypot(moved[:, 0], moved[:, 1]) < radius * 0.5


def _xor(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(-5, 5, size=(n, 2))
    xy += np.where(xy > 0, 0.3, -0.3)  # a margin along the axes
    moved = xy + _jitter(rng, n, 5.0, noise)
    return xy, moved[:, 0] * moved[:, 1] >= 0


def _gauss(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    sd = np.sqrt(0.5 + 7.0 * noise)  # the variance grows linearly from 0.5 (no noise) to 4 (50 %)
    half = n // 2
    blue = rng.normal(2.0, sd, size=(half, 2))
    orange = rng.normal(-2.0, sd, size=(n - half, 2))
    return np.vstack([blue, orange]), np.arange(n) < half


def _spiral(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    half = n // 2
    arms = []
    for count, turn in ((half, 0.0), (n - half, np.pi)):
        i = np.arange(count) / count
        r, t = 5 * i, 1.75 * i * 2 * np.pi + turn
        arms.append(np.column_stack([r * np.sin(t), r * np.cos(t)]) + rng.uniform(-1, 1, size=(count, 2)) * noise)
    return np.vstack(arms), np.arange(n) < half


def _plane(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(-EXTENT, EXTENT, size=(n, 2))
    moved = xy + _jitter(rng, n, EXTENT, noise)
    return xy, (moved[:, 0] + moved[:, 1]) / 10


def _multigauss(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(-EXTENT, EXTENT, size=(n, 2))
    moved = xy + _jitter(rng, n, EXTENT, noise)
    distance = np.hypot(moved[:, None, 0] - _BUMPS[:, 0], moved[:, None, 1] - _BUMPS[:, 1])
    signed = _BUMPS[:, 2] * np.clip(1 - distance / 2, 0, 1)  # (n, 6)
    strongest = np.argmax(np.abs(signed), axis=1)
    return xy, signed[np.arange(n), strongest]


_MAKERS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral, "plane": _plane,
           "multigauss": _multigauss}  # fmt: skip


def two_d_points(name: str, n_points: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(xy, target)``: ``xy`` (n_points, 2); ``target`` booleans (blue) or values in [−1, 1].

    Args:
        name: one of :data:`TWO_D_SETS`; noise: 0 to 0.5; rng: the generator every draw comes from.
    """
    if name not in _MAKERS:
        raise ValueError(f"unknown data set {name!r}; choose one of {list(TWO_D_SETS)}")
    if not 0 <= noise <= 0.5:
        raise ValueError(f"noise must be between 0 and 0.5 (0 to 50 %), got {noise!r}")
    if n_points < 2:
        raise ValueError(f"n_points must be 2 or more, got {n_points!r}")
    return _MAKERS[name](rng, int(n_points), float(noise))


def two_d_table(name: str, n_points: int = 500, noise: float = 0.0, *, seed: int = 0) -> pd.DataFrame:
    """The set as a table: ``x1``, ``x2`` and ``label`` (``"blue"``/``"orange"``) or ``value``.

    Example:
        >>> two_d_table("xor", 4, seed=0).columns.tolist()
        ['x1', 'x2', 'label']
    """
    import pandas as pd

    xy, target = two_d_points(name, n_points, noise, np.random.default_rng(seed))
    table = pd.DataFrame({"x1": xy[:, 0], "x2": xy[:, 1]})
    if name in CLASSIFICATION_SETS:
        table["label"] = np.where(target, "blue", "orange")
    else:
        table["value"] = target
    return table
