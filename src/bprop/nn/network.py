"""Sequential network: forward through the layers, backward through them, parameters and gradients.

No training logic lives here; :mod:`bprop.training` drives it.
"""

from __future__ import annotations

import copy
import threading

import numpy as np

from ._blas import few_threads, restore_threads
from .checks import check_dtype, check_matrix, check_sample_weight, check_targets
from .dropout import Dropout
from .inference import Predictor, Predictors
from .layers import Dense, Layer, Momentum
from .losses import Loss, get_loss

# Guards giving a network unpickled from an older version its per-thread predictors.
_NEW_PREDICTORS = threading.Lock()


class Sequential:
    """A stack of layers applied in order.

    ``parameters()`` is the ordered flat list ``[W1, b1, W2, b2, …]`` and ``gradients()`` the parallel
    list of their gradient buffers (``None`` for frozen parameters), which is what optimisers take.

    Example:
        >>> import bprop
        >>> net = bprop.Sequential([bprop.Dense(2, 3, "tanh", rng=0), bprop.Dense(3, 1, "identity", rng=1)])
        >>> net.forward([[0.5, -1.0]]).shape
        (1, 1)
    """

    def __init__(self, layers: list[Layer]):
        layers = list(layers)
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for layer in layers:
            if not isinstance(layer, Layer):
                raise ValueError(f"Sequential takes bprop layers, got {type(layer).__name__}")
        sized = [layer for layer in layers if layer.n_outputs is not None]
        if not sized:
            raise ValueError("Sequential needs at least one Dense layer")
        for a, b in zip(sized, sized[1:]):
            if a.n_outputs != b.n_inputs:
                raise ValueError(f"layer sizes do not chain: {a!r} outputs {a.n_outputs}, {b!r} takes {b.n_inputs}")
        dtypes = {layer.dtype for layer in layers}
        if len(dtypes) != 1:
            raise ValueError(f"all layers must share one dtype, got {sorted(d.name for d in dtypes)}")
        if layers[-1].activation is None:
            raise ValueError(f"the last layer must be Dense, got {type(layers[-1]).__name__}")
        self.layers = layers
        self.dtype: np.dtype = sized[0].dtype
        self.n_inputs: int = sized[0].n_inputs
        self.n_outputs: int = sized[-1].n_outputs
        self._flat: tuple[np.ndarray, np.ndarray] | None = None
        self._predictors = Predictors()

    @property
    def fuses_descent(self) -> bool:
        """Whether every layer with parameters can apply plain gradient descent inside its backward pass."""
        return all(layer.fuses_descent or not layer.param_names for layer in self.layers)

    @property
    def fuses_momentum(self) -> bool:
        """Whether every layer with parameters can apply heavy-ball momentum inside its backward pass."""
        return all(layer.fuses_momentum or not layer.param_names for layer in self.layers)

    @property
    def output_activation(self) -> str:
        return self.layers[-1].activation.name

    # -- parameters ---------------------------------------------------------------------------
    def parameters(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.parameters()]

    def gradients(self) -> list[np.ndarray | None]:
        return [g for layer in self.layers for g in layer.gradients()]

    def parameter_names(self) -> list[str]:
        """Names parallel to ``parameters()``: ``W1, b1, W2, b2, …`` numbered by Dense layer."""
        names, k = [], 0
        for layer in self.layers:
            if layer.param_names:
                k += 1
            names += [f"{name}{k}" for name in layer.param_names]
        return names

    def flatten(self) -> tuple[np.ndarray, np.ndarray]:
        """Put every parameter in one contiguous array and every gradient buffer in another, the layers
        keeping views of them; returns ``(parameters, gradients)``, 1-D, in ``parameters()`` order.

        Values and results are unchanged; what one buffer allows is a single all-reduce of every gradient
        or one optimiser pass over all parameters. Calling it again returns the same buffers. A frozen
        parameter keeps a (unused) slot in the gradient buffer, so the two stay parallel.
        """
        if self._flat is not None and all(_is_view(p, self._flat[0]) for p in self.parameters()):
            return self._flat
        sizes = [p.size for p in self.parameters()]
        flat_params = np.empty(sum(sizes), dtype=self.dtype)
        flat_grads = np.zeros(sum(sizes), dtype=self.dtype)
        begin = 0
        for layer in self.layers:
            shapes = [p.shape for p in layer.parameters()]
            views = []
            for shape in shapes:
                end = begin + int(np.prod(shape))
                views.append((flat_params[begin:end].reshape(shape), flat_grads[begin:end].reshape(shape)))
                begin = end
            if views:
                layer.adopt([v[0] for v in views], [v[1] for v in views])
        self._flat = (flat_params, flat_grads)
        return self._flat

    def n_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters()))

    # -- computation --------------------------------------------------------------------------
    def check_X(self, X) -> np.ndarray:
        """Validate ``X`` and cast it once to the network's dtype."""
        return check_matrix("X", X, self.dtype, self.n_inputs)

    def check_Y(self, Y, n_rows: int) -> np.ndarray:
        return check_targets(Y, self.dtype, n_rows, self.n_outputs)

    def forward(self, X, *, training: bool = False) -> np.ndarray:
        """Outputs ``(n_samples, n_outputs)`` for inputs ``(n_samples, n_inputs)`` (a fresh array)."""
        return self.forward_unchecked(self.check_X(X), training=training).copy()

    __call__ = forward

    def predict(self, X) -> np.ndarray:
        """Outputs ``(n_samples, n_outputs)`` for inputs ``(n_samples, n_inputs)`` (a fresh array), by the lean
        inference path (:class:`~bprop.nn.inference.Predictor`): what ``forward(X)`` gives, without keeping
        anything for a backward pass (bit for bit with one BLAS thread, except one row of a large network,
        one compiled call; otherwise equal to rounding: BLAS's threads split products differently).
        Threads may share a network for predicting (each has its own buffers), but not with training or
        ``forward``, which reuse the layers' own."""
        predictors = self.__dict__.get("_predictors")
        if predictors is None:  # a network pickled before predictors were kept per thread
            with _NEW_PREDICTORS:
                predictors = self.__dict__.setdefault("_predictors", Predictors())
        predictor = predictors.predictor
        if predictor is None or predictor.dtype != self.dtype or not predictor.valid_for(self.layers):
            predictor = predictors.predictor = Predictor(self.layers, self.dtype)
        if not predictor.lean:  # a layer the lean path does not compute: a custom one, or its own forward
            return self.forward(X)
        return predictor.predict(X)

    @property
    def _predictor(self) -> Predictor | None:
        """The calling thread's predictor (None before its first :meth:`predict`)."""
        predictors = self.__dict__.get("_predictors")
        return None if predictors is None else predictors.predictor

    def forward_unchecked(self, X: np.ndarray, *, training: bool = False, logits: bool = False) -> np.ndarray:
        """Forward pass on already validated input; returns the last layer's internal buffer.

        With ``logits=True`` the last layer stops before its activation (for fused losses).
        """
        a = X
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if i == last:
                a = layer.forward(a, training=training, activate=not logits)
            else:
                a = layer.forward(a, training=training)
        return a

    def backward(
        self, dL_dout: np.ndarray, *, need_input_grad: bool = False, descend: float | None = None
    ) -> np.ndarray | None:
        """Back-propagate dL/d(output) (or dL/dz if the forward pass stopped at the logits).

        Fills every layer's gradient buffers; returns dL/dX when ``need_input_grad``. With ``descend=η``
        each Dense layer instead applies ``p ← p − η·g`` inside the products that form its gradients
        (see :meth:`train_step`).
        """
        grad = dL_dout
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            # The input gradient of the first layer is only needed when asked for: skip that GEMM.
            wanted = need_input_grad or i > 0
            grad = layer.backward(grad, need_input_grad=wanted, descend=descend)
        return grad

    def _loss_mode(self, loss: Loss) -> bool:
        """True when ``loss`` consumes logits of the output activation (the fused, stable pairing)."""
        if loss.fused_activation is None:
            return False
        if loss.fused_activation != self.output_activation:
            raise ValueError(
                f"loss {loss.name!r} needs a {loss.fused_activation!r} output layer, "
                f"but the network ends in {self.output_activation!r}; change output_activation"
            )
        return True

    def loss(self, X, Y, loss: str | Loss = "half_sse", sample_weight=None) -> float:
        """Value of ``loss`` on (X, Y), averaged over the batch as that loss documents."""
        loss = get_loss(loss)
        X = self.check_X(X)
        Y = self.check_Y(Y, X.shape[0])
        logits = self._loss_mode(loss)
        return loss.value(self.forward_unchecked(X, logits=logits), Y, check_sample_weight(sample_weight, X.shape[0]))

    def loss_and_gradients(
        self, X, Y, loss: str | Loss = "half_sse", sample_weight=None
    ) -> tuple[float, list[np.ndarray | None]]:
        """One forward and one backward pass: ``(loss value, gradients parallel to parameters())``.

        The gradient arrays are the layers' buffers, overwritten by the next backward pass.
        """
        loss = get_loss(loss)
        X = self.check_X(X)
        Y = self.check_Y(Y, X.shape[0])
        return self.loss_and_gradients_unchecked(X, Y, loss, check_sample_weight(sample_weight, X.shape[0]))

    def loss_and_gradients_unchecked(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        loss: Loss,
        sample_weight: np.ndarray | None = None,
        *,
        training: bool = True,
    ) -> tuple[float, list[np.ndarray | None]]:
        """As :meth:`loss_and_gradients` on validated arrays; ``training`` switches dropout on."""
        logits = self._loss_mode(loss)
        threads = few_threads(X.shape[0])
        try:
            out = self.forward_unchecked(X, training=training, logits=logits)
            value, dL_dout = loss.value_and_gradient(out, Y, sample_weight)
            self.backward(dL_dout)
        finally:
            restore_threads(threads)
        return value, self.gradients()

    def train_step(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        loss: Loss,
        optimizer,
        sample_weight: np.ndarray | None = None,
        *,
        training: bool = True,
    ) -> float:
        """One forward, backward and update step on validated arrays; returns the batch loss.

        When the optimiser's update is plain ``p ← p − η·g`` (its ``fused_rate()`` gives η), every Dense
        layer applies it inside the products that form its gradients, saving two passes over each
        weight matrix; with heavy-ball momentum (``fused_momentum()`` gives η and μ) the products go into
        the optimiser's velocities instead (``v ← μ·v + g``, then ``p −= η·v``). The gradient buffers
        are then left without gradients. Otherwise this is :meth:`loss_and_gradients_unchecked` followed
        by ``optimizer.step``.
        """
        rate = optimizer.fused_rate() if self.fuses_descent else None
        heavy = optimizer.fused_momentum() if rate is None and self.fuses_momentum else None
        if rate is None and heavy is None:
            value, grads = self.loss_and_gradients_unchecked(X, Y, loss, sample_weight, training=training)
            optimizer.step(self.parameters(), grads)
            return value
        threads = few_threads(X.shape[0])
        try:
            out = self.forward_unchecked(X, training=training, logits=self._loss_mode(loss))
            value, grad = loss.value_and_gradient(out, Y, sample_weight)
            if heavy is None:
                self.backward(grad, descend=rate)
            else:
                self._backward_momentum(grad, optimizer, *heavy)
        finally:
            restore_threads(threads)
        optimizer.iterations += 1  # what optimizer.step would have counted
        return value

    def _backward_momentum(self, dL_dout: np.ndarray, optimizer, rate: float, mu: float) -> None:
        """:meth:`backward` with each layer applying heavy-ball momentum in its products, into the
        optimiser's velocity buffers (the ones its ``step`` would use, so either path may follow the other)."""
        grad, position = dL_dout, len(self.parameters())
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            params = layer.parameters()
            position -= len(params)
            if not params:  # (a layer without parameters need not know the momentum keyword)
                grad = layer.backward(grad, need_input_grad=i > 0, descend=rate)
                continue
            velocity = tuple(
                None if g is None else optimizer.velocity(j, p)
                for j, (p, g) in enumerate(zip(params, layer.gradients()), start=position)
            )
            grad = layer.backward(grad, need_input_grad=i > 0, descend=rate, momentum=Momentum(mu, velocity))

    # -- copies -------------------------------------------------------------------------------
    def copy(self) -> Sequential:
        """An independent deep copy (weights, frozen flags, settings)."""
        return copy.deepcopy(self)

    def astype(self, dtype) -> Sequential:
        """A deep copy whose parameters and computations use ``dtype``."""
        dtype = check_dtype(dtype)
        new = self.copy()
        new.layers = [layer.astype(dtype) for layer in new.layers]
        new.dtype = dtype
        return new

    def config(self) -> dict:
        """JSON-able architecture (no weights)."""
        return {"type": "Sequential", "layers": [layer.config() for layer in self.layers], "dtype": self.dtype.name}

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner}\n])"


def _is_view(array: np.ndarray, buffer: np.ndarray) -> bool:
    return array.base is buffer or (array.base is not None and array.base.base is buffer)


#: Layer classes by the ``type`` their ``config()`` gives, for rebuilding networks from model files.
LAYER_TYPES: dict[str, type[Layer]] = {"Dense": Dense, "Dropout": Dropout}


def layer_from_config(config: dict, params: list[np.ndarray], dtype) -> Layer:
    """The layer a ``config()`` describes (see :data:`LAYER_TYPES`), holding ``params``."""
    kind = config.get("type")
    if kind not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {kind!r}; this bprop knows {sorted(LAYER_TYPES)}")
    return LAYER_TYPES[kind].from_config(config, params, dtype)


def mlp(
    sizes: list[int] | tuple[int, ...],
    activation: str = "sigmoid",
    output_activation: str | None = None,
    *,
    seed: int | np.random.Generator | None = None,
    dtype=np.float32,
    init=None,
    dropout: float = 0.0,
) -> Sequential:
    """Build a multi-layer perceptron from layer sizes.

    Args:
        sizes: ``[n_inputs, hidden_1, …, n_outputs]``, at least two entries.
        activation: activation of the hidden layers.
        output_activation: activation of the output layer; ``None`` uses ``activation`` (the classic
            all-sigmoid network). Use ``"softmax"`` with categorical cross-entropy, ``"sigmoid"`` with
            binary cross-entropy and ``"identity"`` for regression.
        seed: int seed or ``numpy.random.Generator`` for the initial weights.
        dtype: float32 (default) or float64.
        init: initialiser name for every layer; default per activation (He for ReLU, else Glorot).
        dropout: if > 0, a :class:`~bprop.nn.dropout.Dropout` of this rate after every hidden layer.

    Example:
        >>> net = mlp([2, 2, 2], activation="sigmoid", seed=0, dtype="float64")
        >>> [p.shape for p in net.parameters()]
        [(2, 2), (2,), (2, 2), (2,)]
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output size, got {sizes!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    output_activation = activation if output_activation is None else output_activation
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        act = output_activation if i == len(sizes) - 2 else activation
        layers.append(Dense(fan_in, fan_out, act, dtype=dtype, rng=rng, init=init))
        if dropout and i < len(sizes) - 2:
            layers.append(Dropout(dropout, rng=rng.spawn(1)[0], dtype=dtype))
    return Sequential(layers)
