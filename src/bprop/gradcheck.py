"""Gradient check: central finite differences in float64 against the analytic backward pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import Loss, get_loss
from .network import Sequential


@dataclass
class GradcheckResult:
    """Outcome of :func:`gradcheck`.

    ``errors`` maps each parameter name (``W1``, ``b1``, …) to its relative error
    ``max|analytic − numeric| / max(max|analytic|, max|numeric|)`` over the array; frozen parameters
    are left out. ``max_error`` is the largest of them.
    """

    errors: dict[str, float]
    tolerance: float

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self) -> bool:
        return self.max_error < self.tolerance

    def __str__(self) -> str:
        rows = [f"{name:>6}  {err:.3e}" for name, err in self.errors.items()]
        verdict = "passed" if self.passed else "FAILED"
        return "\n".join(rows + [f"max relative error {self.max_error:.3e} ({verdict}, tolerance {self.tolerance:g})"])


def gradcheck(
    net: Sequential,
    X,
    Y,
    loss: str | Loss = "half_sse",
    *,
    eps: float = 1e-4,
    tolerance: float = 1e-7,
    sample_weight=None,
) -> GradcheckResult:
    """Compare ``net.loss_and_gradients`` with central differences for every parameter entry.

    The difference quotient is the fourth-order central one,
    (L(θ−2ε) − 8·L(θ−ε) + 8·L(θ+ε) − L(θ+2ε)) / 12ε, whose O(ε⁴) truncation error lets ε stay large
    enough (1e-4) that rounding in L does not swamp small gradients.

    The check runs on a float64 copy of ``net``, so a float32 network is checked through the same
    layers at full precision; ``net`` itself is not modified.
    """
    loss = get_loss(loss)
    probe = net.astype(np.float64)
    X = probe.check_X(X)
    Y = probe.check_Y(Y, X.shape[0])
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    # Dropout is off (inference mode) so that the loss is a deterministic function of the weights.
    _, grads = probe.loss_and_gradients_unchecked(X, Y, loss, weight, training=False)
    analytic = [None if g is None else g.copy() for g in grads]
    errors: dict[str, float] = {}
    for name, param, grad in zip(probe.parameter_names(), probe.parameters(), analytic):
        if grad is None:
            continue
        numeric = np.empty_like(param)
        flat, out = param.reshape(-1), numeric.reshape(-1)
        for j in range(flat.size):
            original = flat[j]
            at = []
            for step in (-2, -1, 1, 2):
                flat[j] = original + step * eps
                at.append(probe.loss(X, Y, loss, sample_weight))
            flat[j] = original
            out[j] = (8 * (at[2] - at[1]) - (at[3] - at[0])) / (12 * eps)
        scale = max(np.abs(grad).max(), np.abs(numeric).max(), np.finfo(np.float64).tiny)
        errors[name] = float(np.abs(grad - numeric).max() / scale)
    return GradcheckResult(errors, tolerance)
