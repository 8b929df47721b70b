"""Layers: each owns its parameters and their gradients, caches what backward needs, and nothing else.

A layer knows nothing of losses or optimisers. Its gradient buffers are allocated once and
overwritten by every backward pass; copy them if you need to keep them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ._blas import (
    BoundCalls,
    bind_affine,
    bind_descend_outer,
    bind_descend_sum,
    bind_input_gradient,
    bind_momentum_outer,
    bind_momentum_sum,
)
from .activations import Activation, get_activation
from .checks import check_dtype, check_positive_int
from .init import default_initializer, initialize

Recorder = Callable[[str, np.ndarray], None]


class Momentum(NamedTuple):
    """Heavy-ball momentum for a fused step (see :meth:`bprop.Sequential.train_step`): ``v ← μ·v + g``,
    then ``p ← p − η·v``. ``velocity`` is parallel to the layer's ``parameters()`` (None for a frozen one):
    the optimiser's own buffers, updated in place."""

    mu: float
    velocity: tuple[np.ndarray | None, ...]


class Layer:
    """The contract every layer keeps; the network, the trainer, explain, diagnostics, plots and model
    files rely on it and on nothing else.

    - ``forward(x, *, training=False)`` → output; ``backward(dL_dy, *, need_input_grad=True,
      descend=None, momentum=None)`` → dL/dx (or None), filling the gradient buffers. A layer whose
      ``fuses_descent`` is true applies ``p ← p − η·g`` itself inside its gradient products when given
      ``descend=η``, and one whose ``fuses_momentum`` is true applies heavy-ball momentum when also given
      ``momentum`` (a :class:`Momentum`); a layer without parameters ignores both.
    - ``param_names``, ``parameters()``, ``gradients()``: parallel lists (a gradient is None when its
      parameter is frozen); a layer with no parameters has empty ones.
    - ``n_inputs`` / ``n_outputs``: widths, or None for a layer that keeps its input's width.
    - ``activation``: the :class:`~bprop.nn.activations.Activation` applied last, or None.
    - ``output``: the result of the last forward pass (reused buffer), ``activated``: whether that pass
      applied the activation (False when the network stopped at the logits for a fused loss).
    - ``frozen``: names of parameters held fixed.
    - ``rng``: the layer's own random stream (e.g. dropout masks) or None; the trainer snapshots it.
    - ``recorder``: set by :class:`~bprop.insight.recording.Trace` to receive intermediate arrays, else None.
    - ``describe()``: a short label for diagrams and explain; ``config()`` / :func:`layer_from_config`:
      JSON-able architecture and back; ``astype(dtype)``: a copy computing in ``dtype``.
    """

    param_names: tuple[str, ...] = ()
    fuses_descent = False
    fuses_momentum = False
    n_inputs: int | None = None
    n_outputs: int | None = None
    activation: Activation | None = None
    rng: np.random.Generator | None = None
    recorder: Recorder | None = None
    output: np.ndarray | None = None
    activated: bool = True
    frozen: frozenset[str] | set[str] = frozenset()
    dtype: np.dtype

    def forward(self, x: np.ndarray, *, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(
        self,
        dL_dy: np.ndarray,
        *,
        need_input_grad: bool = True,
        descend: float | None = None,
        momentum: Momentum | None = None,
    ) -> np.ndarray | None:
        raise NotImplementedError

    def parameters(self) -> list[np.ndarray]:
        return []

    def gradients(self) -> list[np.ndarray | None]:
        return []

    def describe(self) -> str:
        raise NotImplementedError

    def config(self) -> dict:
        raise NotImplementedError

    def astype(self, dtype) -> Layer:
        """A copy computing in ``dtype``."""
        raise NotImplementedError

    def adopt(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Move the parameters and gradient buffers into the given arrays (same shapes and dtype, e.g.
        views of one network-wide buffer), values kept. A layer without parameters has nothing to move."""
        if self.param_names:
            raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict, params: list[np.ndarray], dtype) -> Layer:
        """The layer ``config()`` describes, with ``params`` (parallel to ``param_names``) as its values."""
        raise NotImplementedError


def plain(layer: Layer, *classes: type[Layer]) -> bool:
    """Whether ``layer`` is one of ``classes`` and computes as that class does: neither a subclass nor the
    object itself brings a ``forward`` of its own. What rebuilds a layer from its type name (a model
    file), re-expresses it (ONNX export) or computes it another way (the lean predict path) needs this."""
    if "forward" in getattr(layer, "__dict__", {}):
        return False
    return any(isinstance(layer, cls) and type(layer).forward is cls.forward for cls in classes)


def _buffer(current: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Reuse ``current`` when it has the right shape, so steps of one batch size allocate nothing."""
    if current is None or current.shape != shape:
        return np.empty(shape, dtype=dtype)
    return current


class Dense(Layer):
    """Fully connected layer ``y = activation(x @ W + b)``.

    Args:
        fan_in: number of inputs.
        fan_out: number of units.
        activation: name, config dict or :class:`~bprop.nn.activations.Activation`.
        dtype: float32 (default) or float64; fixed for the layer's lifetime.
        rng: ``numpy.random.Generator`` (or an int seed) used by the initialiser.
        init: initialiser name, callable or explicit ``(fan_in, fan_out)`` array; default He for the
            ReLU family and Glorot otherwise.
        bias_init: initial bias, a scalar or a ``(fan_out,)`` array.
        frozen: names of parameters held fixed (``"W"``, ``"b"``): their gradient is reported as
            ``None`` and optimisers leave them alone.

    Shape:
        x ``(n_samples, fan_in)`` → y ``(n_samples, fan_out)``; ``W`` ``(fan_in, fan_out)``, ``b`` ``(fan_out,)``.

    Backward takes dL/dy and fills ``dW = xᵀ · dL/dz`` and ``db = Σ_batch dL/dz`` (sums over the batch:
    the loss already carries the batch reduction) and returns ``dL/dx = dL/dz · Wᵀ``.
    """

    param_names = ("W", "b")
    fuses_descent = True
    fuses_momentum = True

    def __init__(
        self,
        fan_in: int,
        fan_out: int,
        activation: str | dict | Activation = "sigmoid",
        *,
        dtype=np.float32,
        rng: np.random.Generator | int | None = None,
        init=None,
        bias_init=0.0,
        frozen: tuple[str, ...] | list[str] = (),
    ):
        self.fan_in = check_positive_int("fan_in", fan_in)
        self.fan_out = check_positive_int("fan_out", fan_out)
        self.activation = get_activation(activation)
        self.dtype = check_dtype(dtype)
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        init = default_initializer(self.activation.name) if init is None else init
        self._W = initialize(init, (self.fan_in, self.fan_out), rng, self.dtype)
        self._b = np.zeros(self.fan_out, dtype=self.dtype)
        self.b = bias_init
        self.dW = np.zeros_like(self._W)
        self.db = np.zeros_like(self._b)
        self.frozen: set[str] = set()
        self.freeze(*frozen)
        self.recorder: Recorder | None = None
        self._x = self._out = self._z = self._dz = self._dx = None
        self._pad: tuple[np.ndarray, np.ndarray] | None = None
        self._activated = True
        self._calls = BoundCalls()

    @property
    def n_inputs(self) -> int:  # type: ignore[override]
        return self.fan_in

    @property
    def n_outputs(self) -> int:  # type: ignore[override]
        return self.fan_out

    @property
    def output(self) -> np.ndarray | None:  # type: ignore[override]
        return self._out

    @property
    def activated(self) -> bool:  # type: ignore[override]
        return self._activated

    def describe(self) -> str:
        return f"{self.fan_out} units, {self.activation.name}"

    # -- parameters ---------------------------------------------------------------------------
    @property
    def W(self) -> np.ndarray:
        return self._W

    @W.setter
    def W(self, values) -> None:
        self._assign(self._W, values, "W")

    @property
    def b(self) -> np.ndarray:
        return self._b

    @b.setter
    def b(self, values) -> None:
        self._assign(self._b, values, "b")

    def _assign(self, target: np.ndarray, values, name: str) -> None:
        # Copy into the existing array so optimiser state and outside references stay attached.
        arr = np.asarray(values, dtype=self.dtype)
        try:
            arr = np.broadcast_to(arr, target.shape)
        except ValueError:
            raise ValueError(f"{name} must have shape {target.shape}, got {arr.shape}") from None
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite; got NaN or infinite values")
        np.copyto(target, arr)

    def freeze(self, *names: str) -> None:
        for name in names:
            if name not in self.param_names:
                raise ValueError(f"cannot freeze {name!r}; a Dense layer has parameters {self.param_names}")
            self.frozen.add(name)

    def unfreeze(self, *names: str) -> None:
        self.frozen.difference_update(names or self.param_names)

    def parameters(self) -> list[np.ndarray]:
        return [self._W, self._b]

    def adopt(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        W, b = params
        dW, db = grads
        np.copyto(W, self._W)
        np.copyto(b, self._b)
        self._W, self._b, self.dW, self.db = W, b, dW, db
        self._calls = BoundCalls()  # the bound calls have the old buffers' addresses baked in

    def gradients(self) -> list[np.ndarray | None]:
        return [None if "W" in self.frozen else self.dW, None if "b" in self.frozen else self.db]

    # -- computation --------------------------------------------------------------------------
    def _record(self, key: str, value: np.ndarray | None) -> None:
        if self.recorder is not None and value is not None:
            self.recorder(key, value)

    def forward(self, x: np.ndarray, *, training: bool = False, activate: bool = True) -> np.ndarray:
        """Return the layer output; with ``activate=False`` return the pre-activation ``z`` (logits).

        The returned array is an internal buffer reused by the next call of the same batch size.
        """
        if x.ndim != 2 or x.shape[1] != self.fan_in:
            raise ValueError(f"Dense({self.fan_in}, {self.fan_out}) got input of shape {x.shape}")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        self._z = z = _buffer(self._z, (x.shape[0], self.fan_out), self.dtype)
        # _W and _b are never rebound (assignment copies into them), so x and z identify the call.
        self._calls.get("affine", (x, z), (), lambda: bind_affine(x, self._W, self._b, z))()
        if self.recorder is not None:
            self._record("x", x)
            self._record("z", z)
        # The activation overwrites z in place: backward needs only the output.
        out = self.activation.forward(z, out=z) if activate else z
        if self.recorder is not None:
            self._record("out", out)
        self._x, self._out, self._activated = x, out, activate
        return out

    def backward(
        self,
        dL_dy: np.ndarray,
        *,
        need_input_grad: bool = True,
        descend: float | None = None,
        momentum: Momentum | None = None,
    ) -> np.ndarray | None:
        """Fill ``dW``/``db`` from dL/dy (dL/dz if forward ran with ``activate=False``); return dL/dx.

        With ``descend=η`` the layer applies plain gradient descent ``W −= η·dW``, ``b −= η·db`` itself,
        inside the products that form the gradients (one pass over ``W`` instead of three), and leaves
        ``dW``/``db`` holding no gradient; with ``momentum`` too, heavy-ball momentum: the products go
        into the velocities (``V ← μ·V + dW``) and ``W −= η·V``. dL/dx is computed with the weights from
        before the update.
        """
        out = self._out
        if out is None:
            raise ValueError("backward() called before forward()")
        if dL_dy.shape != out.shape:
            raise ValueError(f"dL/dy has shape {dL_dy.shape}, the layer output has shape {out.shape}")
        if self._activated or descend is not None:
            self._dz = dz = _buffer(self._dz, out.shape, self.dtype)
            if self._activated:
                dL_dz = self.activation.backward(out, dL_dy, dz)
            else:
                # dL/dz is the caller's array (the loss's, fresh every step): copied into the layer's
                # buffer, the bound calls of the fused update work on the same memory step after step.
                np.copyto(dz, dL_dy)
                dL_dz = dz
        else:
            dL_dz = dL_dy
        if self.recorder is not None:
            self._record("dL_dout", dL_dy)
            self._record("dL_dz", dL_dz)
        if descend is not None:
            return self._descend(dL_dz, need_input_grad, descend, momentum)
        if "W" not in self.frozen:
            if self._x.shape[0] == 1:
                self._outer_product(dL_dz)
            else:
                np.matmul(self._x.T, dL_dz, out=self.dW)
            self._record("dW", self.dW)
        if "b" not in self.frozen:
            np.sum(dL_dz, axis=0, out=self.db)
            self._record("db", self.db)
        if not need_input_grad:
            return None
        self._dx = _buffer(self._dx, self._x.shape, self.dtype)
        np.matmul(dL_dz, self._W.T, out=self._dx)
        self._record("dL_dx", self._dx)
        return self._dx

    def _outer_product(self, dL_dz: np.ndarray) -> None:
        """dW = xᵀ·δ for one example. NumPy's matmul sends an inner dimension of 1 to a slow non-BLAS
        loop (~20× slower here); with a zero second row it is a BLAS product with the same exact result,
        since every added term is 0·0."""
        if self._pad is None:
            self._pad = (np.zeros((2, self.fan_in), self.dtype), np.zeros((2, self.fan_out), self.dtype))
        x2, dz2 = self._pad
        x2[0], dz2[0] = self._x[0], dL_dz[0]
        np.matmul(x2.T, dz2, out=self.dW)

    def _descend(
        self, dL_dz: np.ndarray, need_input_grad: bool, rate: float, momentum: Momentum | None
    ) -> np.ndarray | None:
        x = self._x
        dx = None
        if need_input_grad:
            self._dx = dx = _buffer(self._dx, x.shape, self.dtype)
        frozen = self.frozen
        mu, velocity = momentum if momentum is not None else (None, (None, None))
        scalars = (rate, mu, "W" in frozen, "b" in frozen)
        arrays = (x, dL_dz, dx, *velocity)
        for call in self._calls.get("descend", arrays, scalars, lambda: self._bind_descend(dL_dz, dx, rate, momentum)):
            call()
        if dx is not None:
            self._record("dL_dx", dx)
        return dx

    def _bind_descend(self, dL_dz: np.ndarray, dx: np.ndarray | None, rate: float, momentum: Momentum | None) -> tuple:
        """The bound calls of a fused step, in order: dL/dx first (it needs the weights the forward pass
        used), then the updates of the parameters not frozen."""
        W, b, x = self._W, self._b, self._x
        calls = [] if dx is None else [bind_input_gradient(dL_dz, W, dx)]
        if momentum is None:
            if "W" not in self.frozen:
                calls.append(bind_descend_outer(W, x, dL_dz, rate, self.dW))
            if "b" not in self.frozen:
                calls.append(bind_descend_sum(b, dL_dz, rate, self.db))
            return tuple(calls)
        mu, (vW, vb) = momentum
        if "W" not in self.frozen:
            calls.append(bind_momentum_outer(vW, W, x, dL_dz, mu, rate, self.dW))
        if "b" not in self.frozen:
            calls.append(bind_momentum_sum(vb, b, dL_dz, mu, rate, self.db))
        return tuple(calls)

    def astype(self, dtype) -> Dense:
        new = Dense(self.fan_in, self.fan_out, self.activation, dtype=dtype, init=self._W, bias_init=self._b)
        new.freeze(*self.frozen)
        return new

    @classmethod
    def from_config(cls, config: dict, params: list[np.ndarray], dtype) -> Dense:
        W, b = params
        activation, frozen = config["activation"], config.get("frozen", ())
        return cls(config["fan_in"], config["fan_out"], activation, dtype=dtype, init=W, bias_init=b, frozen=frozen)

    def config(self) -> dict:
        return {
            "type": "Dense",
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
            "activation": self.activation.config(),
            "frozen": sorted(self.frozen),
        }

    def __repr__(self) -> str:
        frozen = f", frozen={sorted(self.frozen)}" if self.frozen else ""
        return f"Dense({self.fan_in}, {self.fan_out}, activation={self.activation.name!r}{frozen})"
