"""BLAS calls for a Dense layer's step: fused gradient-descent updates and the affine forward product.

Fused updates ``p ← p − η·g`` (and heavy-ball momentum) where ``g`` is the product that defines the
gradient:

Plain SGD on a Dense layer computes ``dW = xᵀ·δ`` and then ``W −= η·dW``: three passes over a
(fan_in, fan_out) array per step. BLAS ``gemm`` computes ``C ← α·A·B + β·C``, so with α = −η and β = 1 it
updates ``W`` in the pass that forms the product; ``ger`` does the same for a batch of one (where NumPy's
``matmul`` takes a slow non-BLAS loop), ``gemv`` for the bias and ``axpy`` for a plain ``p −= η·g``.
Momentum ``v ← μ·v + g, p ← p − η·v`` takes β = μ into the velocity, then one ``axpy``: no gradient array
is written or read.

The routines are called through ctypes in the very OpenBLAS that NumPy loaded, never in a second BLAS
(SciPy ships its own OpenBLAS): two OpenBLAS thread pools alternating on few cores spin against each
other and made a training step 30-80× slower on a 2-core machine. When NumPy's BLAS cannot be found
(another platform, another build) every function falls back to NumPy with a scratch array.

A layer reuses its buffers from step to step, so it binds each call once (``bind_*`` and
:class:`BoundCalls`): converting a call's arguments to C types costs more than the call itself at
small sizes.
"""

from __future__ import annotations

import ctypes
import glob
import operator
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _numpy_openblas() -> tuple[ctypes.CDLL, str, str, type] | None:
    """NumPy's own OpenBLAS (already loaded by this process), its symbol prefix/suffix and int type."""
    root = Path(np.__file__).parent
    candidates = [
        *glob.glob(str(root.parent / "numpy.libs" / "*openblas*")),
        *glob.glob(str(root / ".libs" / "*openblas*")),
    ]
    try:
        with open("/proc/self/maps") as maps:
            loaded = maps.read()
    except OSError:
        return None  # cannot prove the library is NumPy's loaded copy: do not risk a second thread pool
    for path in candidates:
        if os.path.realpath(path) not in loaded:
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix, integer in (
            ("scipy_cblas_", "64_", ctypes.c_int64),
            ("cblas_", "64_", ctypes.c_int64),
            ("scipy_cblas_", "", ctypes.c_int32),
        ):
            if hasattr(lib, f"{prefix}sgemm{suffix}"):
                return lib, prefix, suffix, integer
    return None


def _load_routines() -> tuple[dict, object]:
    found = _numpy_openblas()
    if found is None:
        return {}, None
    lib, prefix, suffix, N = found
    P, E = ctypes.c_void_p, ctypes.c_int  # CBLAS enums stay C ints in ILP64 builds; N is the size type
    routines = {}
    for char, F in (("s", ctypes.c_float), ("d", ctypes.c_double)):
        signatures = {
            "gemm": [E, E, E, N, N, N, F, P, N, P, N, F, P, N],
            "ger": [E, N, N, F, P, N, P, N, P, N],
            "gemv": [E, E, N, N, F, P, N, P, N, F, P, N],
            "axpy": [N, F, P, N, P, N],
            "copy": [N, P, N, P, N],
            "dot": [N, P, N, P, N],
            "scal": [N, F, P, N],
        }
        for name, argtypes in signatures.items():
            fn = getattr(lib, f"{prefix}{char}{name}{suffix}")
            fn.argtypes, fn.restype = argtypes, F if name == "dot" else None
            routines[name, np.dtype(char.replace("s", "f"))] = fn
    set_threads = getattr(lib, "openblas_set_num_threads_local", None)  # OpenBLAS >= 0.3.27
    if set_threads is not None:
        set_threads.argtypes, set_threads.restype = [ctypes.c_int], ctypes.c_int
    return routines, set_threads


_ROUTINES, _SET_THREADS = _load_routines()
USE_BLAS = bool(_ROUTINES)
# Below this many rows every product of a step is a thin matrix-vector-like one, and waking a second
# BLAS thread costs more than it saves: one thread trained 1.7× faster at B=1 and 1.15× at B=8 (2 cores).
FEW_ROWS = 16


def few_threads(n_rows: int) -> int | None:
    """Switch NumPy's BLAS to one thread for a batch of fewer than ``FEW_ROWS`` rows.

    Returns the thread count to hand to :func:`restore_threads` afterwards (``None``: nothing changed).
    """
    if _SET_THREADS is None or n_rows >= FEW_ROWS:
        return None
    return _SET_THREADS(1)


def one_thread() -> int | None:
    """Switch NumPy's BLAS to one thread for the calling thread (OpenBLAS's per-thread setting), whatever the
    batch; returns the previous count for :func:`restore_threads` (None: the count cannot be set here)."""
    return None if _SET_THREADS is None else _SET_THREADS(1)


def restore_threads(previous: int | None) -> None:
    if previous is not None and previous != 1:
        _SET_THREADS(previous)


_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def _address(a: np.ndarray) -> int:
    """Address of the first element; 4× cheaper than ``a.ctypes.data``, which matters at batch size 1."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    except (TypeError, ValueError):  # read-only or empty buffers
        return a.ctypes.data


def _ready(*arrays: np.ndarray) -> bool:
    dtype = arrays[0].dtype
    return USE_BLAS and dtype.char in "fd" and all(a.dtype == dtype and a.flags.c_contiguous for a in arrays)


def _writable(*arrays: np.ndarray) -> bool:
    """Whether BLAS may write into ``arrays``: a read-only one (a read-only memory map) is left to NumPy,
    which refuses to write it as the ordinary update does (BLAS would write it, or crash on a real map)."""
    return all(a.flags.writeable for a in arrays)


def _bind(name: str, dtype: np.dtype, *args) -> Callable[[], None]:
    """``routine(*args)`` with every argument converted to its C type once, now.

    Converting fourteen Python arguments costs about 4 µs a call, four times the call itself: a bound
    call pays it once. Arrays are passed as addresses, so the caller must keep them alive (see
    :class:`BoundCalls`).
    """
    routine = _ROUTINES[name, dtype]
    return partial(routine, *(ctype(value) for ctype, value in zip(routine.argtypes, args, strict=True)))


def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    ones = _ONES.get((n, dtype))
    if ones is None:
        ones = _ONES[n, dtype] = np.ones(n, dtype=dtype)
    return ones


def bind_affine(x: np.ndarray, W: np.ndarray, b: np.ndarray, out: np.ndarray) -> Callable[[], None]:
    """A call setting ``out ← x·W + b`` for ``x`` (n, k), ``W`` (k, m), ``b`` (m,), ``out`` (n, m).

    BLAS adds the product into ``out`` already holding ``b`` (β = 1): filling ``out`` with ``b`` is
    2.5× faster than NumPy's broadcasting ``out += b`` (2.8 vs 7.3 µs at 128 × 256 float32).
    """
    if _ready(x, W, b, out):
        (n, k), m = x.shape, W.shape[1]
        if n == 1:  # a matrix-vector product: gemm with one row is several times slower than gemv
            product = _bind("gemv", W.dtype, _ROW_MAJOR, _TRANS, k, m, 1.0, _address(W), m, _address(x), 1, 1.0,
                            _address(out), 1)  # fmt: skip
            # One row: BLAS copies b into out in half the time of NumPy's broadcasting copyto (0.2 vs 0.4 µs).
            fill = _bind("copy", W.dtype, m, _address(b), 1, _address(out), 1)

            def affine_row() -> None:
                fill()
                product()

            return affine_row
        else:
            product = _bind("gemm", W.dtype, _ROW_MAJOR, _NO_TRANS, _NO_TRANS, n, m, k, 1.0, _address(x), k,
                            _address(W), m, 1.0, _address(out), m)  # fmt: skip

        def affine() -> None:
            np.copyto(out, b)
            product()

        return affine

    def affine_numpy() -> None:
        np.matmul(x, W, out=out)
        np.add(out, b, out=out)

    return affine_numpy


def bind_sum_of_squares(x: np.ndarray) -> Callable[[], float]:
    """A call returning ``Σ x²`` over a contiguous array: finite exactly when every entry is finite and
    not huge (an overflowing square is inf too), so one BLAS pass (0.3 µs for 784 values, a third of
    NumPy's sum) can clear an input of NaN and infinity."""
    if _ready(x):
        return _bind("dot", x.dtype, x.size, _address(x), 1, _address(x), 1)
    flat = x.reshape(-1)
    return partial(np.dot, flat, flat)


def bind_input_gradient(delta: np.ndarray, W: np.ndarray, out: np.ndarray) -> Callable[[], None]:
    """A call setting ``out ← delta·Wᵀ`` for ``delta`` (n, m), ``W`` (k, m), ``out`` (n, k)."""
    if _ready(delta, W, out):
        (n, m), k = delta.shape, W.shape[0]
        if n == 1:
            return _bind("gemv", W.dtype, _ROW_MAJOR, _NO_TRANS, k, m, 1.0, _address(W), m, _address(delta), 1, 0.0,
                         _address(out), 1)  # fmt: skip
        return _bind("gemm", W.dtype, _ROW_MAJOR, _NO_TRANS, _TRANS, n, k, m, 1.0, _address(delta), m,
                     _address(W), m, 0.0, _address(out), k)  # fmt: skip
    return partial(np.matmul, delta, W.T, out=out)


def bind_descend_outer(
    W: np.ndarray, x: np.ndarray, delta: np.ndarray, rate: float, scratch: np.ndarray
) -> Callable[[], None]:
    """A call applying ``W −= rate · xᵀ·delta`` for ``W`` (k, m), ``x`` (n, k), ``delta`` (n, m).

    ``scratch`` (k, m) is used by the NumPy fallback only; its contents are undefined afterwards.
    """
    (n, k), m = x.shape, delta.shape[1]
    if _ready(W, x, delta) and _writable(W):
        if n == 1:
            return _bind("ger", W.dtype, _ROW_MAJOR, k, m, -rate, _address(x), 1, _address(delta), 1, _address(W), m)
        return _bind("gemm", W.dtype, _ROW_MAJOR, _TRANS, _NO_TRANS, k, m, n, -rate, _address(x), k,
                     _address(delta), m, 1.0, _address(W), m)  # fmt: skip

    def descend_numpy() -> None:
        if n == 1:
            np.multiply(x.T, delta, out=scratch)  # matmul's outer product is a slow non-BLAS loop
        else:
            np.matmul(x.T, delta, out=scratch)
        np.multiply(scratch, rate, out=scratch)
        np.subtract(W, scratch, out=W)

    return descend_numpy


def bind_descend_sum(b: np.ndarray, delta: np.ndarray, rate: float, scratch: np.ndarray) -> Callable[[], None]:
    """A call applying ``b −= rate · Σ_rows delta`` for ``b`` (m,), ``delta`` (n, m)."""
    n, m = delta.shape
    if _ready(b, delta) and _writable(b):
        if n == 1:
            return _bind("axpy", b.dtype, m, -rate, _address(delta), 1, _address(b), 1)
        ones = _ones(n, b.dtype)  # kept alive by the module-level cache
        return _bind("gemv", b.dtype, _ROW_MAJOR, _TRANS, n, m, -rate, _address(delta), m, _address(ones), 1, 1.0,
                     _address(b), 1)  # fmt: skip

    def descend_numpy() -> None:
        np.sum(delta, axis=0, out=scratch)
        np.multiply(scratch, rate, out=scratch)
        np.subtract(b, scratch, out=b)

    return descend_numpy


def _in_order(calls: tuple[Callable[[], None], ...]) -> Callable[[], None]:
    def run() -> None:
        for call in calls:
            call()

    return run


def _heavy_ball(v: np.ndarray, p: np.ndarray, g: np.ndarray, mu: float, rate: float) -> None:
    """NumPy's ``v ← μ·v + g``, ``p ← p − rate·v``, reusing ``g``'s buffer for ``rate·v``."""
    np.multiply(v, mu, out=v)
    np.add(v, g, out=v)
    np.multiply(v, rate, out=g)
    np.subtract(p, g, out=p)


def bind_momentum_outer(
    V: np.ndarray, W: np.ndarray, x: np.ndarray, delta: np.ndarray, mu: float, rate: float, scratch: np.ndarray
) -> Callable[[], None]:
    """A call applying heavy-ball momentum to ``W`` (k, m) with velocity ``V``: ``V ← μ·V + xᵀ·delta``,
    then ``W ← W − rate·V``, for ``x`` (n, k), ``delta`` (n, m).

    ``gemm`` with β = μ forms the velocity in the pass that forms the product (no gradient array is
    written), and ``axpy`` applies it. ``scratch`` (k, m) is used by the NumPy fallback only.
    """
    (n, k), m = x.shape, delta.shape[1]
    if _ready(V, W, x, delta) and _writable(V, W):
        if n == 1:
            velocity = (_bind("scal", V.dtype, k * m, mu, _address(V), 1),
                        _bind("ger", V.dtype, _ROW_MAJOR, k, m, 1.0, _address(x), 1, _address(delta), 1,
                              _address(V), m))  # fmt: skip
        else:
            velocity = (_bind("gemm", V.dtype, _ROW_MAJOR, _TRANS, _NO_TRANS, k, m, n, 1.0, _address(x), k,
                              _address(delta), m, mu, _address(V), m),)  # fmt: skip
        return _in_order((*velocity, _bind("axpy", W.dtype, k * m, -rate, _address(V), 1, _address(W), 1)))

    def momentum_numpy() -> None:
        if n == 1:
            np.multiply(x.T, delta, out=scratch)  # matmul's outer product is a slow non-BLAS loop
        else:
            np.matmul(x.T, delta, out=scratch)
        _heavy_ball(V, W, scratch, mu, rate)

    return momentum_numpy


def bind_momentum_sum(
    v: np.ndarray, b: np.ndarray, delta: np.ndarray, mu: float, rate: float, scratch: np.ndarray
) -> Callable[[], None]:
    """A call applying heavy-ball momentum to ``b`` (m,) with velocity ``v``: ``v ← μ·v + Σ_rows delta``,
    then ``b ← b − rate·v``, for ``delta`` (n, m); ``scratch`` (m,) serves the NumPy fallback only."""
    n, m = delta.shape
    if _ready(v, b, delta) and _writable(v, b):
        if n == 1:
            velocity = (_bind("scal", v.dtype, m, mu, _address(v), 1),
                        _bind("axpy", v.dtype, m, 1.0, _address(delta), 1, _address(v), 1))  # fmt: skip
        else:
            ones = _ones(n, v.dtype)  # kept alive by the module-level cache
            velocity = (_bind("gemv", v.dtype, _ROW_MAJOR, _TRANS, n, m, 1.0, _address(delta), m, _address(ones), 1,
                              mu, _address(v), 1),)  # fmt: skip
        return _in_order((*velocity, _bind("axpy", b.dtype, m, -rate, _address(v), 1, _address(b), 1)))

    def momentum_numpy() -> None:
        np.sum(delta, axis=0, out=scratch)
        _heavy_ball(v, b, scratch, mu, rate)

    return momentum_numpy


def descend_axpy(p: np.ndarray, g: np.ndarray, rate: float) -> bool:
    """``p −= rate·g`` in one BLAS pass; returns False (doing nothing) when BLAS cannot take the arrays."""
    if not _ready(p, g) or not _writable(p) or p.shape != g.shape:
        return False
    _ROUTINES["axpy", p.dtype](p.size, -rate, _address(g), 1, _address(p), 1)
    return True


class BoundCalls:
    """One bound call per slot, rebound only when its scalars or the memory of its arrays change.

    A layer computing with the same buffers every step binds each BLAS call once. Arrays are compared
    by identity first, then (a new view of the same buffer, as ``buf[:n]`` makes every step) by address,
    shape, strides and dtype. The entry holds the arrays, which keeps alive the memory whose addresses
    the call has baked in, so an equal address can only be that same memory. Copies and pickles start
    empty: the addresses belong to the original's arrays.
    """

    __slots__ = ("_slots",)

    def __init__(self) -> None:
        self._slots: dict[str, tuple] = {}

    def get(self, slot: str, arrays: tuple, scalars: tuple, bind: Callable[[], Callable[[], None]]):
        entry = self._slots.get(slot)
        if entry is not None and entry[1] == scalars:
            if all(map(operator.is_, entry[0], arrays)):
                return entry[2]
            if all(map(_same_memory, entry[0], arrays)):
                self._slots[slot] = (arrays, scalars, entry[2])
                return entry[2]
        call = bind()
        self._slots[slot] = (arrays, scalars, call)
        return call

    def __deepcopy__(self, memo) -> BoundCalls:
        return BoundCalls()

    def __reduce__(self):
        return (BoundCalls, ())


def _same_memory(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    return a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype and _address(a) == _address(b)
