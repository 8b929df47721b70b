"""Optimisers: take parallel lists of parameters and gradients and update the parameters in place.

They are never attached to a layer. State is kept per parameter position, so the same lists (in the
same order) must be passed at every step; ``None`` gradients (frozen parameters) are skipped.

The updates with state (momentum, Adam, AdamW, RMSprop) run as one compiled pass over each parameter
when numba is installed (:mod:`bprop.nn._updates`), else as NumPy ufuncs with ``out=`` buffers; both
perform the same operations in the same order and give the same bits.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from . import _updates
from ._blas import descend_axpy
from .checks import check_fraction, check_number


class Optimizer:
    """Base class: ``step`` walks the (parameter, gradient) pairs; subclasses write ``_update``."""

    def __init__(self, learning_rate: float):
        self.learning_rate = check_number("learning_rate", learning_rate, above=0)
        self.iterations = 0
        self.state: dict[int, dict[str, np.ndarray]] = {}
        self._views: dict[int, tuple] = {}  # per parameter: the arrays last seen and their 1-D views
        self._coefficients: tuple | None = None  # this step's scalars as an array of the parameters' dtype

    def step(self, params: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        if len(params) != len(grads):
            raise ValueError(f"got {len(params)} parameters but {len(grads)} gradients")
        self.iterations += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is not None:
                self._update(i, p, g)

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _buffer(self, i: int, key: str, like: np.ndarray) -> np.ndarray:
        slot = self.state.setdefault(i, {})
        if key not in slot:
            slot[key] = np.zeros_like(like)
        return slot[key]

    def _compiled(self, kernel: str, i: int, p: np.ndarray, g: np.ndarray, *keys: str) -> bool:
        """Update parameter ``i`` with the compiled ``kernel`` of :mod:`bprop.nn._updates`, given ``p``, ``g``,
        the state buffers named ``keys`` and this step's :meth:`_scalars`; False when it cannot (no numba,
        a strided array, a small network before anything loaded numba: see ``_updates.MIN_SIZE``), and the
        caller then runs its NumPy code, which gives the same bits."""
        if not _updates.worth_it(p.size):
            return False
        run = _updates.kernels().get(kernel)
        if run is None:
            return False
        arrays = (p, g, *(self._buffer(i, key, p) for key in keys))
        seen = self._views.get(i)
        if seen is None or any(a is not b for a, b in zip(seen[0], arrays)):
            seen = self._views[i] = (arrays, _updates.flat(*arrays))
        if seen[1] is None:
            return False
        key = (self.iterations, self.learning_rate, p.dtype)
        if self._coefficients is None or self._coefficients[0] != key:
            self._coefficients = (key, np.array(self._scalars(), dtype=p.dtype))
        run(*seen[1], self._coefficients[1])
        return True

    def _scalars(self) -> tuple[float, ...]:
        """This step's scalars, in the order the compiled kernel reads them."""
        raise NotImplementedError

    def __getstate__(self) -> dict:
        # The cached views would pickle as copies of every parameter: they are rebuilt at the next step.
        return {**self.__dict__, "_views": {}, "_coefficients": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"_views": {}, "_coefficients": None, **state})  # (also pickles from before the cache)

    def fused_rate(self) -> float | None:
        """η when this optimiser's update is exactly ``p ← p − η·g`` (which a layer may then apply inside
        the products that form ``g``: see :meth:`bprop.Sequential.train_step`), else None."""
        return None

    def fused_momentum(self) -> tuple[float, float] | None:
        """``(η, μ)`` when this optimiser's update is exactly heavy-ball momentum ``v ← μ·v + g``,
        ``p ← p − η·v`` with its velocities kept by :meth:`velocity` (a layer may then form ``v`` inside the
        products that form ``g``: see :meth:`bprop.Sequential.train_step`), else None."""
        return None

    def state_dict(self) -> dict:
        """Everything needed to continue bit-identically: rate, step count and per-parameter buffers."""
        return {
            "learning_rate": self.learning_rate,
            "iterations": self.iterations,
            "state": {i: {k: v.copy() for k, v in slot.items()} for i, slot in self.state.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.learning_rate = float(state["learning_rate"])
        self.iterations = int(state["iterations"])
        self.state = {
            int(i): {k: np.array(v, copy=True) for k, v in slot.items()} for i, slot in state["state"].items()
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.learning_rate})"


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum.

    With velocity ``v`` (zero at the start), momentum ``μ`` and learning rate ``η``::

        v ← μ·v + g
        p ← p − η·(g + μ·v)   if nesterov
        p ← p − η·v           otherwise

    With ``μ = 0`` this is plain ``p ← p − η·g``, the seed's update.

    Args:
        learning_rate: η > 0.
        momentum: μ in [0, 1).
        nesterov: use Nesterov's look-ahead form (needs μ > 0).
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum = check_fraction("momentum", momentum)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0, e.g. momentum=0.9")
        self.nesterov = bool(nesterov)

    def fused_rate(self) -> float | None:
        """η when the update is exactly ``p ← p − η·g``, which a layer may then fold into the product
        that forms ``g`` (see :meth:`bprop.Sequential.train_step`); ``None`` with momentum or a subclass."""
        if self.momentum == 0 and self._own_update():
            return self.learning_rate
        return None

    def fused_momentum(self) -> tuple[float, float] | None:
        """``(η, μ)`` with momentum and without Nesterov's look-ahead (whose update needs ``g`` itself), for
        SGD and not a subclass that changes its update; else None."""
        if self.momentum > 0 and not self.nesterov and self._own_update():
            return self.learning_rate, self.momentum
        return None

    def _own_update(self) -> bool:
        """Whether ``step`` is SGD's own (a subclass may change ``_update`` or ``step``): only then may a
        fused step stand in for it."""
        cls = type(self)
        return cls._update is SGD._update and cls.step is Optimizer.step

    def velocity(self, i: int, p: np.ndarray) -> np.ndarray:
        """Parameter ``i``'s velocity buffer (zeros before its first update), updated in place by either path.

        Raises ValueError when the buffer is of another shape than ``p`` (this optimiser's state is another
        network's), which the ordinary step refuses too: a fused step would write it through BLAS."""
        velocity = self._buffer(i, "velocity", p)
        if velocity.shape != p.shape:
            raise ValueError(
                f"the velocity of parameter {i} has shape {velocity.shape}, the parameter {p.shape}: this "
                "optimiser's state belongs to another network; give each network its own optimiser"
            )
        return velocity

    def _update(self, i, p, g):
        if self.momentum == 0:
            if not descend_axpy(p, g, self.learning_rate):  # one BLAS pass; else NumPy with a scratch buffer
                scaled = self._buffer(i, "scaled", p)
                np.multiply(g, self.learning_rate, out=scaled)
                p -= scaled
            return
        if self._compiled("momentum", i, p, g, "velocity"):
            return
        velocity = self._buffer(i, "velocity", p)
        scaled = self._buffer(i, "scaled", p)
        velocity *= self.momentum
        velocity += g
        if self.nesterov:
            np.multiply(velocity, self.momentum, out=scaled)
            scaled += g
            scaled *= self.learning_rate
        else:
            np.multiply(velocity, self.learning_rate, out=scaled)
        p -= scaled

    def _scalars(self):
        return (self.momentum, self.learning_rate, float(self.nesterov))


class Adam(Optimizer):
    """Adam (Kingma & Ba). At step t, with m, v zero at the start::

        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²
        p ← p − η · (m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + ε)

    Args:
        learning_rate: η > 0 (default 0.001).
        beta_1, beta_2: decay rates in [0, 1).
        epsilon: ε > 0, added to the denominator for stability.
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8):
        super().__init__(learning_rate)
        self.beta_1 = check_fraction("beta_1", beta_1)
        self.beta_2 = check_fraction("beta_2", beta_2)
        self.epsilon = check_number("epsilon", epsilon, above=0)

    def _update(self, i, p, g):
        if self._compiled("adam", i, p, g, "m", "v"):
            return
        m = self._buffer(i, "m", p)
        v = self._buffer(i, "v", p)
        step, eps_hat, decay = self._corrected()
        if decay != 1.0:
            p *= decay
        scratch = self._buffer(i, "scratch", p)
        m *= self.beta_1
        np.multiply(g, 1 - self.beta_1, out=scratch)  # into the scratch buffer: no temporary per step
        m += scratch
        v *= self.beta_2
        np.multiply(g, g, out=scratch)
        scratch *= 1 - self.beta_2
        v += scratch
        np.sqrt(v, out=scratch)
        scratch += eps_hat
        np.divide(m, scratch, out=scratch)
        scratch *= step
        p -= scratch

    def _corrected(self) -> tuple[float, float, float]:
        """``(step, ε̂, decay)``: η·m̂/(sqrt(v̂)+ε) rewritten as step·m/(sqrt(v)+ε̂), the bias corrections
        folded into step = η·sqrt(1−β₂ᵗ)/(1−β₁ᵗ) and ε̂ = ε·sqrt(1−β₂ᵗ); decay multiplies ``p`` first (AdamW)."""
        t = self.iterations
        step = self.learning_rate * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        return step, self.epsilon * math.sqrt(1 - self.beta_2**t), 1.0

    def _scalars(self):
        step, eps_hat, decay = self._corrected()
        return (self.beta_1, 1 - self.beta_1, self.beta_2, 1 - self.beta_2, eps_hat, step, decay)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter)::

        p ← p − η·λ·p, then the Adam update above.

    The decay applies to every parameter passed to ``step`` (as in PyTorch); pass only the weights to
    decay only them.

    Args:
        weight_decay: λ ≥ 0 (default 0.01), with η·λ < 1.
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon)
        self.weight_decay = check_number("weight_decay", weight_decay, minimum=0)
        if self.learning_rate * self.weight_decay >= 1:  # the factor 1 − η·λ would zero or flip every weight
            raise ValueError(
                f"weight_decay × learning_rate must be below 1, got {weight_decay} × {learning_rate}: each step "
                "multiplies the weights by 1 − learning_rate·weight_decay; 0.01 is typical"
            )

    def _corrected(self):
        step, eps_hat, _ = super()._corrected()
        return step, eps_hat, 1 - self.learning_rate * self.weight_decay


class RMSprop(Optimizer):
    """RMSprop (Hinton)::

        v ← ρ·v + (1 − ρ)·g²
        p ← p − η · g / (sqrt(v) + ε)

    Args:
        learning_rate: η > 0 (default 0.001).
        rho: ρ in [0, 1).
        epsilon: ε > 0.
    """

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, epsilon: float = 1e-8):
        super().__init__(learning_rate)
        self.rho = check_fraction("rho", rho)
        self.epsilon = check_number("epsilon", epsilon, above=0)

    def _update(self, i, p, g):
        if self._compiled("rmsprop", i, p, g, "v"):
            return
        v = self._buffer(i, "v", p)
        scratch = self._buffer(i, "scratch", p)
        v *= self.rho
        np.multiply(g, g, out=scratch)
        scratch *= 1 - self.rho
        v += scratch
        np.sqrt(v, out=scratch)
        scratch += self.epsilon
        np.divide(g, scratch, out=scratch)
        scratch *= self.learning_rate
        p -= scratch

    def _scalars(self):
        return (self.rho, 1 - self.rho, self.epsilon, self.learning_rate)


def add_l2(params: list[np.ndarray], grads: list[np.ndarray | None], l2: float, mask: list[bool]) -> None:
    """``g ← g + l2·p`` in place for every parameter whose ``mask`` entry is true and that has a gradient:
    the gradient of ``½·l2·‖p‖²`` added in one pass over each, without a temporary array."""
    for p, g, wanted in zip(params, grads, mask):
        if g is not None and wanted:
            _updates.add_scaled(g, p, l2)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def compile_ahead(name: str, dtype, l2: bool = False) -> threading.Thread | None:
    """Compile (or load from numba's cache) the kernels a run of optimizer ``name`` on ``dtype`` parameters
    will use, with L2's when ``l2``, on a daemon thread; returns the thread, or None without numba.

    numba's import and its first kernel take about a second; started before the data is read, that
    second overlaps the reading instead of lengthening the first epoch (the first step waits for what
    is left of it). Failures here are left to the first real step to report.
    """
    if not _updates.available():
        return None

    def compile_kernels() -> None:
        try:
            _updates.kernels()  # loaded first: the one-element step below is too small to load them itself
            p, g = np.zeros(1, dtype=dtype), np.zeros(1, dtype=dtype)
            get_optimizer(name).step([p], [g])
            if l2:
                add_l2([p], [g], 1.0, [True])
        except Exception:  # noqa: BLE001 (a bad name or dtype is reported where the run checks it)
            pass

    thread = threading.Thread(target=compile_kernels, name="bprop-compile", daemon=True)
    thread.start()
    _updates.compiling_ahead(thread)
    return thread


def get_optimizer(spec: str | Optimizer, **kwargs) -> Optimizer:
    """An optimiser from a name (keyword arguments go to its constructor) or an instance."""
    if isinstance(spec, Optimizer):
        return spec
    cls = OPTIMIZERS.get(spec) if isinstance(spec, str) else None
    if cls is None:
        raise ValueError(f"unknown optimizer {spec!r}; choose one of {sorted(OPTIMIZERS)}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad arguments for optimizer {spec!r}: {exc}") from None
