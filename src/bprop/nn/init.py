"""Weight initialisers. Each takes the shape ``(fan_in, fan_out)``, a ``numpy.random.Generator`` and a dtype.

Formulas (fan_in / fan_out of the weight matrix):

========================  ==============================================
``small_uniform``         U(-0.5, 0.5) · scale (the seed's "small random values", scale 1)
``glorot_uniform``        U(-a, a),  a = sqrt(6 / (fan_in + fan_out))
``glorot_normal``         N(0, σ²),  σ = sqrt(2 / (fan_in + fan_out))
``he_uniform``            U(-a, a),  a = sqrt(6 / fan_in)
``he_normal``             N(0, σ²),  σ = sqrt(2 / fan_in)
``lecun_uniform``         U(-a, a),  a = sqrt(3 / fan_in)
``lecun_normal``          N(0, σ²),  σ = sqrt(1 / fan_in)
``zeros``                 0
========================  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Initializer = Callable[[tuple[int, int], np.random.Generator, np.dtype], np.ndarray]


def _uniform(limit: float):
    def init(shape, rng, dtype):
        return rng.uniform(-limit, limit, size=shape).astype(dtype, copy=False)

    return init


def _normal(std: float):
    def init(shape, rng, dtype):
        return (rng.standard_normal(size=shape) * std).astype(dtype, copy=False)

    return init


def small_uniform(shape, rng, dtype, scale: float = 1.0):
    return _uniform(0.5 * scale)(shape, rng, dtype)


def glorot_uniform(shape, rng, dtype):
    return _uniform(np.sqrt(6.0 / (shape[0] + shape[1])))(shape, rng, dtype)


def glorot_normal(shape, rng, dtype):
    return _normal(np.sqrt(2.0 / (shape[0] + shape[1])))(shape, rng, dtype)


def he_uniform(shape, rng, dtype):
    return _uniform(np.sqrt(6.0 / shape[0]))(shape, rng, dtype)


def he_normal(shape, rng, dtype):
    return _normal(np.sqrt(2.0 / shape[0]))(shape, rng, dtype)


def lecun_uniform(shape, rng, dtype):
    return _uniform(np.sqrt(3.0 / shape[0]))(shape, rng, dtype)


def lecun_normal(shape, rng, dtype):
    return _normal(np.sqrt(1.0 / shape[0]))(shape, rng, dtype)


def zeros(shape, rng, dtype):
    return np.zeros(shape, dtype=dtype)


INITIALIZERS: dict[str, Initializer] = {
    f.__name__: f
    for f in (
        small_uniform,
        glorot_uniform,
        glorot_normal,
        he_uniform,
        he_normal,
        lecun_uniform,
        lecun_normal,
        zeros,
    )
}
INITIALIZERS["xavier_uniform"] = glorot_uniform
INITIALIZERS["xavier_normal"] = glorot_normal
INITIALIZERS["kaiming_uniform"] = he_uniform
INITIALIZERS["kaiming_normal"] = he_normal

# He keeps the variance of ReLU-family activations; Glorot suits the symmetric saturating ones.
_DEFAULT_FOR = {"relu": "he_uniform", "leaky_relu": "he_uniform"}


def default_initializer(activation_name: str) -> str:
    """Name of the sensible default initialiser for a layer with this activation."""
    return _DEFAULT_FOR.get(activation_name, "glorot_uniform")


def initialize(
    spec: str | Initializer | np.ndarray,
    shape: tuple[int, int],
    rng: np.random.Generator,
    dtype: np.dtype,
) -> np.ndarray:
    """Make a weight array of ``shape``: from a name, a callable, or an explicit array (copied)."""
    if isinstance(spec, str):
        if spec not in INITIALIZERS:
            raise ValueError(f"unknown initializer {spec!r}; choose one of {sorted(INITIALIZERS)}")
        return INITIALIZERS[spec](shape, rng, dtype)
    if callable(spec):
        values = spec(shape, rng, dtype)
    else:
        values = spec
    try:
        values = np.array(values, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"initial values must be numbers of shape {tuple(shape)}") from None
    if values.shape != tuple(shape):
        raise ValueError(f"initial values have shape {values.shape}, the layer needs {tuple(shape)}")
    if not np.isfinite(values).all():
        raise ValueError("initial weights contain NaN or infinite values; give finite numbers")
    return values
