"""One-pass element-wise updates for the optimisers with state (Adam/AdamW, RMSprop, momentum) and L2.

Written with NumPy's ufuncs, Adam is a dozen passes over every parameter (each ``out=`` ufunc reads
and writes a whole array); here each update is one loop that reads ``g`` and the state once and writes
the parameter and its state once, compiled by numba (~70 instead of ~300 µs for the reference network's
235,146 float32 parameters on 2 cores).

Every kernel performs exactly the operations of the optimiser's NumPy code, in the same order and in
the array's dtype (scalars are given in that dtype; numba's default IEEE semantics: no fused
multiply-add, no reassociation, correctly rounded ``sqrt`` and division), so both give the same bits
and the NumPy code stays the fallback: when numba is not installed, when an array is not C-contiguous,
when ``BPROP_NO_NUMBA`` is set, and for a network too small to pay for loading numba (:data:`MIN_SIZE`).
``error_model="numpy"`` lets a division by zero give inf/NaN as NumPy does (the trainer reports
divergence) instead of raising, and lets LLVM vectorise the loop.

Each kernel is compiled for a dtype the first time it is used (about half a second) and cached on disk
next to this file, or in the user's cache folder, when either is writable.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
import warnings

import numpy as np

_KERNELS: dict | None = None
_AHEAD: threading.Thread | None = None  # a thread compiling the kernels ahead of the first step

#: Parameters smaller than this do not make a process import numba (about 0.4 s with its kernels cached,
#: 1 s without): a 256 × 256 matrix saves ~60 µs a step, a small network's arrays a few µs.
MIN_SIZE = 65_536


def _define(numba) -> dict:
    def jit(fn):
        try:
            return numba.njit(error_model="numpy", cache=True)(fn)
        except Exception:  # no writable cache location: compile in every process instead
            return numba.njit(error_model="numpy")(fn)

    # Each kernel takes its scalars as one small array of the parameters' dtype (fewer arguments for the
    # dispatcher to type: about 0.3 instead of 0.8 µs a call), in the order of the optimiser's _scalars().
    @jit
    def adam(p, g, m, v, coefficients):  # pragma: no cover (compiled)
        b1, c1, b2, c2, eps_hat, step, decay = coefficients[:7]
        for i in range(p.size):
            gi = g[i]
            mi = m[i] * b1 + gi * c1
            vi = v[i] * b2 + (gi * gi) * c2
            m[i] = mi
            v[i] = vi
            p[i] = p[i] * decay - (mi / (math.sqrt(vi) + eps_hat)) * step

    @jit
    def rmsprop(p, g, v, coefficients):  # pragma: no cover (compiled)
        rho, c, eps, rate = coefficients[:4]
        for i in range(p.size):
            gi = g[i]
            vi = v[i] * rho + (gi * gi) * c
            v[i] = vi
            p[i] -= (gi / (math.sqrt(vi) + eps)) * rate

    @jit
    def momentum(p, g, velocity, coefficients):  # pragma: no cover (compiled)
        mu, rate, nesterov = coefficients[0], coefficients[1], coefficients[2] != 0
        for i in range(p.size):
            gi = g[i]
            vi = velocity[i] * mu + gi
            velocity[i] = vi
            if nesterov:
                p[i] -= (vi * mu + gi) * rate
            else:
                p[i] -= vi * rate

    @jit
    def add_scaled(g, p, coefficients):  # pragma: no cover (compiled)
        factor = coefficients[0]
        for i in range(g.size):
            g[i] += factor * p[i]

    return {"adam": adam, "rmsprop": rmsprop, "momentum": momentum, "add_scaled": add_scaled}


def worth_it(size: int) -> bool:
    """Whether an update of ``size`` elements should use the kernels: they are loaded (or loading), or
    the array is large enough to pay for loading them."""
    return size >= MIN_SIZE or _AHEAD is not None or bool(_KERNELS)


def available() -> bool:
    """Whether :func:`kernels` will have compiled kernels (without importing numba)."""
    if _KERNELS is not None:
        return bool(_KERNELS)
    return not os.environ.get("BPROP_NO_NUMBA") and importlib.util.find_spec("numba") is not None


def compiling_ahead(thread: threading.Thread) -> None:
    """Make the first use of the kernels wait for ``thread``, which is compiling them."""
    global _AHEAD
    _AHEAD = thread


def kernels() -> dict:
    """The compiled kernels by name, or an empty dict (use NumPy) without numba or with BPROP_NO_NUMBA.

    While a thread compiles them ahead (:func:`compiling_ahead`), other threads wait for it: run side by
    side, numba's compiler (Python, holding the GIL for its 5 ms switch intervals) and a training loop
    (which takes the GIL back after every BLAS call) slow each other down far more than they overlap.
    """
    global _KERNELS, _AHEAD
    ahead = _AHEAD
    if ahead is not None and ahead is not threading.current_thread():
        ahead.join()
        _AHEAD = None
    if _KERNELS is None:
        _KERNELS = {}
        if not os.environ.get("BPROP_NO_NUMBA"):
            try:
                import numba
            except ImportError:
                return _KERNELS
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numba's own deprecation notices are not the user's business
                _KERNELS = _define(numba)
    return _KERNELS


def flat(*arrays: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """1-D views of arrays of one float dtype that are all C-contiguous and of one size, else None."""
    first = arrays[0]
    for a in arrays:
        if not a.flags.c_contiguous or a.dtype != first.dtype or a.size != first.size:
            return None
    return tuple(a.reshape(-1) for a in arrays)


def add_scaled(g: np.ndarray, p: np.ndarray, factor: float) -> None:
    """``g ← g + factor·p`` in place, in one pass and without a temporary (L2's gradient term)."""
    kernel = kernels().get("add_scaled")
    views = flat(g, p) if kernel is not None else None
    if views is None:
        g += factor * p
        return
    kernel(views[0], views[1], np.array([factor], dtype=g.dtype))
