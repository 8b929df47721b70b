"""Inverted dropout: at training time zero each input with probability ``rate`` and scale the
survivors by 1/(1 − rate), so inference needs no rescaling and is the identity."""

from __future__ import annotations

import numpy as np

from .checks import check_dtype, check_fraction
from .layers import Layer, Momentum


class Dropout(Layer):
    """Randomly drops units while training; passes inputs through unchanged at inference.

    Args:
        rate: probability of dropping each unit, in [0, 1).
        rng: ``numpy.random.Generator`` or int seed for the masks.
        dtype: float32 (default) or float64, matching the network.
    """

    def __init__(self, rate: float, *, rng: np.random.Generator | int | None = None, dtype=np.float32):
        self.rate = check_fraction("dropout rate", rate)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.dtype = check_dtype(dtype)
        self._mask: np.ndarray | None = None

    @property
    def mask(self) -> np.ndarray | None:
        """The factors (0 or 1/(1 − rate)) the last forward pass multiplied its input by, which backward
        multiplies ∂L/∂y by; None when that pass applied none (inference, or rate 0). Overwritten by the
        next forward pass: copy it to keep it."""
        return self._mask

    def forward(self, x: np.ndarray, *, training: bool = False) -> np.ndarray:
        if not training or self.rate == 0:
            self._mask = None
            return x
        mask = self.rng.random(x.shape, dtype=self.dtype)
        keep = mask >= self.rate
        np.multiply(keep, 1.0 / (1.0 - self.rate), out=mask)
        self._mask = mask
        return x * mask

    def backward(
        self,
        dL_dy: np.ndarray,
        *,
        need_input_grad: bool = True,
        descend: float | None = None,
        momentum: Momentum | None = None,
    ) -> np.ndarray | None:
        if not need_input_grad:
            return None
        return dL_dy if self._mask is None else dL_dy * self._mask

    def astype(self, dtype) -> Dropout:
        new = Dropout(self.rate, dtype=dtype)
        new.rng = np.random.Generator(type(self.rng.bit_generator)())
        new.rng.bit_generator.state = self.rng.bit_generator.state
        return new

    @classmethod
    def from_config(cls, config: dict, params: list[np.ndarray], dtype) -> Dropout:
        return cls(config["rate"], dtype=dtype)

    def describe(self) -> str:
        return f"dropout {self.rate:g}"

    def config(self) -> dict:
        return {"type": "Dropout", "rate": self.rate}

    def __repr__(self) -> str:
        return f"Dropout({self.rate})"
