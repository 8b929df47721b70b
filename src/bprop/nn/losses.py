"""Losses: value and gradient, with the batch reduction stated in each docstring.

A loss sees either the network output ``out`` or, when it is *fused* with the output activation,
the pre-activation ``z`` (logits). Fusing is what keeps cross-entropy finite and cheap: for
sigmoid + binary cross-entropy and softmax + categorical cross-entropy the chain rule through the
activation collapses to ``dL/dz = p − y`` (scaled by the batch reduction), so the activation's own
derivative is never formed and ``log(p)`` of an underflowed ``p`` never appears.

``sample_weight`` (optional, ``(n,)``, non-negative): the batch average becomes Σ wᵢ·lᵢ / Σ wᵢ, so
a weight of 2 counts exactly like a duplicated row.
"""

from __future__ import annotations

import numpy as np

from .activations import Sigmoid, Softmax


def _row_scale(n: int, dtype: np.dtype, sample_weight: np.ndarray | None) -> np.ndarray | float:
    """Per-row factor of the batch average: the scalar 1/n, or wᵢ / Σw with shape (n, 1)."""
    if sample_weight is None:
        return 1.0 / n  # a Python scalar multiplies a float32 array without upcasting it
    total = sample_weight.sum()
    if total <= 0:
        raise ValueError("sample_weight sums to zero in this batch; give some samples a positive weight")
    return (sample_weight / total).astype(dtype, copy=False).reshape(n, 1)


def _batch_mean(rows: np.ndarray, sample_weight: np.ndarray | None) -> float:
    if sample_weight is None:
        return float(rows.mean(dtype=np.float64))
    return float(np.dot(rows, sample_weight) / sample_weight.sum())


class Loss:
    name: str = ""
    fused_activation: str | None = None  # name of the output activation this loss consumes logits of

    def per_sample(self, a: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Loss of each row, shape (n,)."""
        raise NotImplementedError

    def gradient(self, a: np.ndarray, Y: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
        """dL/da for the weighted batch mean, given each row's factor ``scale`` ((n, 1) or a scalar)."""
        raise NotImplementedError

    def value(self, a: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        return _batch_mean(self.per_sample(a, Y), sample_weight)

    def value_and_gradient(
        self, a: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        scale = _row_scale(a.shape[0], a.dtype, sample_weight)
        return self.value(a, Y, sample_weight), self.gradient(a, Y, scale)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class HalfSSE(Loss):
    """E = ½ Σₖ (yₖ − outₖ)², summed over outputs and averaged over the batch.

    For one example this is exactly the seed article's E_total; dE/d outₖ = outₖ − yₖ.
    """

    name = "half_sse"

    def per_sample(self, a, Y):
        # In float64: a float32 output of 1e20 has a square beyond float32's range.
        d = np.subtract(a, Y, dtype=np.float64)
        return 0.5 * np.einsum("ij,ij->i", d, d)

    def gradient(self, a, Y, scale):
        grad = np.subtract(a, Y)
        grad *= scale
        return grad


class MSE(Loss):
    """Mean squared error: (1/k) Σₖ (yₖ − outₖ)², averaged over outputs and over the batch."""

    name = "mse"

    def per_sample(self, a, Y):
        d = np.subtract(a, Y, dtype=np.float64)  # float64 for the same reason as HalfSSE
        return np.einsum("ij,ij->i", d, d) / a.shape[1]

    def gradient(self, a, Y, scale):
        grad = np.subtract(a, Y)
        grad *= scale * (2.0 / a.shape[1])
        return grad


class HalfMSE(MSE):
    """½ · mean over outputs of (y − out)², averaged over the batch: scikit-learn's ``squared_error``.

    Equal to ``half_sse`` for one output and ``half_sse / n_outputs`` for several, so ``alpha`` and
    ``tol`` mean what they mean in scikit-learn for multi-output regression too.
    """

    name = "half_mse"

    def per_sample(self, a, Y):
        return 0.5 * super().per_sample(a, Y)

    def gradient(self, a, Y, scale):
        return super().gradient(a, Y, 0.5 * scale)


class BinaryCrossEntropy(Loss):
    """−Σₖ [yₖ log σ(zₖ) + (1 − yₖ) log(1 − σ(zₖ))], summed over outputs, averaged over the batch.

    Fused with a sigmoid output and computed from the logits z as max(z, 0) − z·y + log(1 + e^{−|z|}),
    which never overflows. dL/dz = σ(z) − y.
    """

    name = "binary_cross_entropy"
    fused_activation = "sigmoid"

    def per_sample(self, z, Y):
        elem = np.maximum(z, 0) - z * Y + np.log1p(np.exp(-np.abs(z)))
        return elem.sum(axis=1)

    def gradient(self, z, Y, scale):
        grad = Sigmoid().forward(z)
        grad -= Y
        grad *= scale
        return grad


class CategoricalCrossEntropy(Loss):
    """−Σₖ yₖ log softmax(z)ₖ per row, averaged over the batch.

    Fused with a softmax output; log-softmax is z − logsumexp(z) with the row maximum shifted out.
    dL/dz = softmax(z)·Σₖyₖ − y, which is softmax(z) − y for one-hot targets.
    """

    name = "categorical_cross_entropy"
    fused_activation = "softmax"

    def per_sample(self, z, Y):
        shifted = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=1))
        return lse * Y.sum(axis=1) - np.einsum("ij,ij->i", shifted, Y)

    def gradient(self, z, Y, scale):
        grad = Softmax().forward(z)
        grad *= Y.sum(axis=1, keepdims=True)
        grad -= Y
        grad *= scale
        return grad

    def value_and_gradient(self, z, Y, sample_weight=None):
        # The value and the gradient share the shifted logits and their exponentials, so a step makes
        # about half the NumPy calls of per_sample + gradient (calls, not flops, dominate at small batches).
        # The work runs on transposed (k, n) copies: NumPy reduces and broadcasts along a short last axis
        # slowly (a row maximum of 128 × 10 float32 takes 6.6 µs, down the rows of the transpose half of
        # that). Each row's figures still depend on that row alone, summed in the same order (a weight of
        # 2 must equal a duplicated row); z itself is left alone, as fit reads the logits for the accuracy.
        n = z.shape[0]
        shifted = z.T.copy()
        shifted -= np.maximum.reduce(shifted, axis=0)
        grad = np.exp(shifted)
        total = np.add.reduce(grad, axis=0)  # (n,)
        Yt = Y.T.copy()
        y_sum = np.add.reduce(Yt, axis=0)
        rows = np.log(total)  # logsumexp · Σy − Σ shifted·y, as per_sample
        rows *= y_sum
        shifted *= Yt
        rows -= np.add.reduce(shifted, axis=0)
        grad /= total
        grad *= y_sum  # softmax · Σy
        grad -= Yt
        if sample_weight is None:
            grad *= 1.0 / n
            return float(np.add.reduce(rows, axis=None, dtype=np.float64)) / n, grad.T.copy()
        grad *= _row_scale(n, z.dtype, sample_weight).reshape(n)
        return _batch_mean(rows, sample_weight), grad.T.copy()


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (HalfSSE, MSE, HalfMSE, BinaryCrossEntropy, CategoricalCrossEntropy)
}
LOSSES.update({"bce": BinaryCrossEntropy, "cce": CategoricalCrossEntropy, "cross_entropy": CategoricalCrossEntropy})


def get_loss(spec: str | Loss) -> Loss:
    """Return a loss object from its name or an instance."""
    if isinstance(spec, Loss):
        return spec
    cls = LOSSES.get(spec) if isinstance(spec, str) else None
    if cls is None:
        raise ValueError(f"unknown loss {spec!r}; choose one of {sorted(LOSSES)}")
    return cls()
