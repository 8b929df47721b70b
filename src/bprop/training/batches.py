"""Pieces of the training loop that stand on their own: batch gathering and evaluation in chunks."""

from __future__ import annotations

import numpy as np

from ..nn.checks import check_number, check_positive_int
from ..nn.losses import Loss, get_loss
from ..nn.metrics import correct_rows, target_threshold
from ..nn.network import Sequential


class BatchGatherer:
    """Copies the rows of a batch into buffers reused across steps (no allocation per batch)."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None):
        self.X, self.Y, self.weights = X, Y, weights
        self._buffers: dict[int, tuple] = {}

    def __call__(self, idx: np.ndarray):
        n = idx.size
        if n not in self._buffers:
            self._buffers[n] = (
                np.empty((n, self.X.shape[1]), self.X.dtype),
                np.empty((n, self.Y.shape[1]), self.Y.dtype),
                None if self.weights is None else np.empty(n, self.weights.dtype),
            )
        Xb, Yb, wb = self._buffers[n]
        # mode="clip" (the indices are valid anyway) spares NumPy a hidden temporary copy with out=; the
        # method skips np.take's dispatch wrapper (1.5 µs a call).
        self.X.take(idx, axis=0, out=Xb, mode="clip")
        self.Y.take(idx, axis=0, out=Yb, mode="clip")
        if wb is not None:
            self.weights.take(idx, out=wb, mode="clip")
        return Xb, Yb, wb


def evaluate(
    net: Sequential,
    X,
    Y,
    loss: str | Loss,
    metric: str | None = None,
    *,
    threshold: float | None = None,
    batch_size: int = 8192,
) -> tuple[float, float | None]:
    """``(mean loss, accuracy or None)`` of ``net`` on ``X``, ``Y``, in chunks of ``batch_size`` rows.

    The inputs are checked as :func:`bprop.fit` checks them; ``metric`` is ``"accuracy"`` or None.
    """
    if not isinstance(net, Sequential):
        raise ValueError(f"evaluate needs a bprop.Sequential network, got {type(net).__name__}")
    if metric not in (None, "accuracy"):
        raise ValueError(f"metric must be 'accuracy' or None, got {metric!r}")
    if threshold is not None:
        check_number("threshold", threshold)
    X = net.check_X(X)
    Y = net.check_Y(Y, X.shape[0])
    batch_size = check_positive_int("batch_size", batch_size)
    return evaluate_unchecked(net, X, Y, get_loss(loss), metric, threshold=threshold, batch_size=batch_size)


def evaluate_unchecked(
    net: Sequential,
    X: np.ndarray,
    Y: np.ndarray,
    loss: str | Loss,
    metric: str | None = None,
    *,
    threshold: float | None = None,
    batch_size: int = 8192,
) -> tuple[float, float | None]:
    """As :func:`evaluate` on arrays already validated (the training loop's per-epoch validation)."""
    threshold = target_threshold(Y) if threshold is None else threshold
    starts = range(0, X.shape[0], batch_size)
    chunks = ((X[begin : begin + batch_size], Y[begin : begin + batch_size]) for begin in starts)
    return evaluate_chunks(net, chunks, loss, metric, threshold=threshold)


def evaluate_chunks(
    net: Sequential, chunks, loss: str | Loss, metric: str | None = None, *, threshold: float = 0.5
) -> tuple[float, float | None]:
    """``(mean loss, accuracy or None)`` over ``(X, Y)`` chunks already validated (e.g. a batch source's)."""
    loss_fn = get_loss(loss)
    logits = net._loss_mode(loss_fn)
    total = correct = 0.0
    n = 0
    for Xb, Yb in chunks:
        a = net.forward_unchecked(Xb, logits=logits)
        total += float(loss_fn.per_sample(a, Yb).sum(dtype=np.float64))
        if metric:
            correct += float(correct_rows(a, Yb, net.output_activation, logits, threshold).sum())
        n += Xb.shape[0]
    return total / n, (correct / n if metric else None)
