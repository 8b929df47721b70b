"""Activation functions: each maps pre-activations ``z`` to outputs and back-propagates.

Every activation here can express its derivative through its *output* alone, so a layer only has
to keep its output for the backward pass and may compute the activation in place over ``z``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

__all__ = [
    "Activation",
    "Identity",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "Softmax",
    "get_activation",
    "bind_forward",
    "computes_as_named",
    "ACTIVATIONS",
]


class Activation:
    """Base class. ``forward`` may write into ``out`` (which may be ``z`` itself)."""

    name: str = ""
    elementwise: bool = True

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, out: np.ndarray) -> np.ndarray:
        """Elementwise d(out)/dz expressed through the output."""
        raise NotImplementedError

    def backward(self, out: np.ndarray, dL_dout: np.ndarray, dL_dz: np.ndarray | None = None) -> np.ndarray:
        """Return dL/dz from the layer output and dL/d(out); may write into ``dL_dz``."""
        return np.multiply(dL_dout, self.derivative(out), out=dL_dz)

    def bound_forward(self, z: np.ndarray) -> Callable[[], object] | None:
        """A call applying the activation to ``z`` in place, made once for a buffer that is used again and
        again (the lean predict path); None when there is nothing to do."""
        return partial(self.forward, z, out=z)

    def config(self) -> dict:
        """JSON-able description, enough to rebuild the activation with :func:`get_activation`."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(Activation):
    name = "identity"

    def forward(self, z, out=None):
        if out is None or out is z:
            return z
        np.copyto(out, z)
        return out

    def derivative(self, out):
        return np.ones_like(out)

    def backward(self, out, dL_dout, dL_dz=None):
        return dL_dout  # nothing to do; the caller's array is not modified downstream

    def bound_forward(self, z):
        return None


class Sigmoid(Activation):
    """σ(z) = 1 / (1 + e^{-z}); computed from e^{-|z|} so no exponent ever overflows."""

    name = "sigmoid"

    def forward(self, z, out=None):
        e = np.exp(-np.abs(z))
        # For z < 0 use e^{z} / (1 + e^{z}), which keeps full relative precision near 0.
        numerator = np.where(z >= 0, np.ones((), dtype=e.dtype), e)
        e += 1
        return np.divide(numerator, e, out=out)

    def derivative(self, out):
        return out * (1 - out)

    def backward(self, out, dL_dout, dL_dz=None):
        dL_dz = np.multiply(dL_dout, out, out=dL_dz)
        dL_dz *= 1 - out
        return dL_dz


class Tanh(Activation):
    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def derivative(self, out):
        return 1 - out * out

    def backward(self, out, dL_dout, dL_dz=None):
        one_minus_sq = np.multiply(out, out)
        np.subtract(1, one_minus_sq, out=one_minus_sq)
        return np.multiply(dL_dout, one_minus_sq, out=dL_dz)


# NumPy's ``maximum`` against a scalar 0 takes a slow broadcasting loop (16 µs for 128 × 256 float32
# here); against an array of zeros it runs its SIMD kernel (4.5 µs). One read-only zero array per dtype,
# viewed in the shape of ``z``, serves every ReLU up to this many elements; larger ``z`` take the scalar.
_ZERO_ELEMENTS = 1 << 18
_ZEROS: dict[np.dtype, np.ndarray] = {}
_ZERO_VIEWS: dict[tuple, np.ndarray] = {}  # (shape, dtype) → view: a step asks for the same shapes again


def _zeros_like(z: np.ndarray) -> np.ndarray | int:
    """A read-only array of zeros shaped like ``z``, or the scalar 0 when ``z`` is too large or unusual."""
    view = _ZERO_VIEWS.get((z.shape, z.dtype))
    if view is not None:
        return view
    if z.size > _ZERO_ELEMENTS or z.dtype.char not in "fd":
        return 0
    zeros = _ZEROS.get(z.dtype)
    if zeros is None:
        zeros = _ZEROS[z.dtype] = np.zeros(_ZERO_ELEMENTS, dtype=z.dtype)
        zeros.flags.writeable = False
    if len(_ZERO_VIEWS) > 64:  # many batch shapes (e.g. predict on many sizes): start over
        _ZERO_VIEWS.clear()
    view = _ZERO_VIEWS[z.shape, z.dtype] = zeros[: z.size].reshape(z.shape)
    return view


class ReLU(Activation):
    name = "relu"

    def forward(self, z, out=None):
        return np.maximum(z, _zeros_like(z), out=out)

    def bound_forward(self, z):
        return partial(np.maximum, z, _zeros_like(z), out=z)

    def derivative(self, out):
        return (out > 0).astype(out.dtype)

    def backward(self, out, dL_dout, dL_dz=None):
        # Multiplying by a boolean mask keeps the gradient's dtype and needs no temporary float array.
        return np.multiply(dL_dout, out > 0, out=dL_dz)


class LeakyReLU(Activation):
    """max(z, slope·z) for 0 ≤ slope < 1; the sign of the output equals the sign of ``z``."""

    name = "leaky_relu"

    def __init__(self, slope: float = 0.01):
        slope = float(slope)
        if not 0.0 <= slope < 1.0:
            raise ValueError(f"leaky_relu slope must be in [0, 1), got {slope!r}; a typical value is 0.01")
        self.slope = slope

    def forward(self, z, out=None):
        return np.maximum(z, z * np.asarray(self.slope, dtype=z.dtype), out=out)

    def derivative(self, out):
        return np.where(out > 0, 1, self.slope).astype(out.dtype)

    def backward(self, out, dL_dout, dL_dz=None):
        factor = np.where(out > 0, np.ones((), dtype=out.dtype), np.asarray(self.slope, dtype=out.dtype))
        return np.multiply(dL_dout, factor, out=dL_dz)

    def config(self):
        return {"name": self.name, "slope": self.slope}

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope})"


class Softmax(Activation):
    """Row-wise softmax, shifted by the row maximum so no exponent overflows."""

    name = "softmax"
    elementwise = False

    def forward(self, z, out=None):
        out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def bound_forward(self, z):
        # forward's arithmetic (z.max and z.sum are these reductions) with a scratch column of its own.
        top, total, subtract, exp, divide = np.maximum.reduce, np.add.reduce, np.subtract, np.exp, np.divide
        if z.shape[0] == 1:  # one row: whole-array reductions, a third cheaper than per-row ones
            flat = z.reshape(-1)
            s = np.empty((), dtype=z.dtype)  # reducing into a 0-d array makes no scalar object: 2.5 µs, not 3.2

            def softmax_row() -> None:
                top(flat, out=s)
                subtract(flat, s, out=flat)
                exp(flat, out=flat)
                total(flat, out=s)
                divide(flat, s, out=flat)

            return softmax_row
        s = np.empty((z.shape[0], 1), dtype=z.dtype)

        def softmax() -> None:  # direct calls: partials with keywords build a dict on every call
            top(z, axis=1, keepdims=True, out=s)
            subtract(z, s, out=z)
            exp(z, out=z)
            total(z, axis=1, keepdims=True, out=s)
            divide(z, s, out=z)

        return softmax

    def derivative(self, out):
        raise ValueError("softmax has a Jacobian, not an elementwise derivative; use backward()")

    def backward(self, out, dL_dout, dL_dz=None):
        # J^T v for J = diag(s) - s s^T:  s * (v - <v, s>)
        dot = np.einsum("ij,ij->i", dL_dout, out)[:, None]
        dL_dz = np.subtract(dL_dout, dot, out=dL_dz)
        dL_dz *= out
        return dL_dz


def computes_as_named(activation) -> bool:
    """Whether ``activation`` computes what its ``name`` says (what a model file records and ONNX export
    translates): the class registered under that name, or a subclass that leaves ``forward`` alone."""
    cls = ACTIVATIONS.get(getattr(activation, "name", None))
    if cls is None or "forward" in getattr(activation, "__dict__", {}):
        return False
    return isinstance(activation, cls) and type(activation).forward is cls.forward


def bind_forward(activation: Activation, z: np.ndarray) -> Callable[[], object] | None:
    """``activation.bound_forward(z)``, unless ``forward`` was overridden below the class that wrote that
    ``bound_forward`` (a subclass of ReLU computing something else inherits ReLU's ``np.maximum``): then
    a call of its own ``forward``, so the predict path never computes another function than ``forward``."""
    mro = type(activation).__mro__
    binder = next((cls for cls in mro if "bound_forward" in cls.__dict__), None)
    computer = next((cls for cls in mro if "forward" in cls.__dict__), None)
    if binder is not None and computer in binder.__mro__:
        return activation.bound_forward(z)
    return partial(activation.forward, z, out=z)  # also an object with a forward of its own, duck-typed


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax)
}
ACTIVATIONS["linear"] = Identity


def get_activation(spec: str | dict | Activation) -> Activation:
    """Return an activation object from a name (``"relu"``), a config dict or an instance."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", None)
    else:
        name, params = spec, {}
    cls = ACTIVATIONS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return cls(**params)
