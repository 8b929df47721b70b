"""Optimisers: take parallel lists of parameters and gradients and update the parameters in place.

They are never attached to a layer. State is kept per parameter position, so the same lists (in the
same order) must be passed at every step; ``None`` gradients (frozen parameters) are skipped.
"""

from __future__ import annotations

import math

import numpy as np


def _check_rate(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}; a typical value is 0.01")
    return value


class Optimizer:
    """Base class: ``step`` walks the (parameter, gradient) pairs; subclasses write ``_update``."""

    def __init__(self, learning_rate: float):
        self.learning_rate = _check_rate("learning_rate", learning_rate)
        self.iterations = 0
        self.state: dict[int, dict[str, np.ndarray]] = {}

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.learning_rate})"


class SGD(Optimizer):
    """Plain gradient descent: ``p ← p − η · g``.

    Args:
        learning_rate: η > 0.
    """

    def _update(self, i, p, g):
        scaled = self._buffer(i, "scaled", p)
        np.multiply(g, self.learning_rate, out=scaled)
        p -= scaled
