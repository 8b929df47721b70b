"""Pieces the scikit-learn estimators plug into :func:`bprop.fit` and ``scipy.optimize``.

- :class:`EstimatorRate`: the learning-rate schedule of one ``fit`` call (constant, invscaling, adaptive
  or a bprop schedule), continuing across warm starts and ``partial_fit`` calls.
- :class:`SklearnStopping`: scikit-learn's ``tol`` / ``n_iter_no_change`` rule as a callback, because
  its bookkeeping differs from ``fit``'s ``patience`` (see the class docstring).
- :func:`run_lbfgs`: full-batch L-BFGS on the flat parameter vector through the network's own
  ``loss_and_gradients``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..nn.losses import Loss
from ..nn.network import Sequential
from ..nn.schedules import Schedule
from ..training.callbacks import Callback, TrainingState
from ..training.stopping import BestWeights


class EstimatorRate(Schedule):
    """Rate of each epoch of one ``fit`` call, counted from the estimator's first epoch.

    ``invscaling`` (scikit-learn's, for ``sgd``): η₀ / (t + 1)^power_t with t the training samples seen
    before the epoch, except that the first epoch with a ``new_optimizer`` (any ``fit``, also a warm
    start) runs at η₀, as scikit-learn's freshly made optimiser does. Otherwise ``inner``'s rate at the
    global epoch number. Either way multiplied by ``scale``, which :class:`SklearnStopping` divides by 5
    for ``learning_rate='adaptive'``.
    """

    def __init__(
        self,
        inner: Schedule,
        *,
        epochs_before: int,
        samples_before: int,
        samples_per_epoch: int,
        power_t: float | None,
        new_optimizer: bool = True,
        scale: float = 1.0,
    ):
        self.inner, self.scale, self.new_optimizer = inner, scale, new_optimizer
        self.epochs_before, self.samples_before = epochs_before, samples_before
        self.samples_per_epoch, self.power_t = samples_per_epoch, power_t

    def rate(self, epoch, base_rate):
        if self.power_t is not None:
            if epoch == 0 and self.new_optimizer:
                return self.scale * base_rate
            t = self.samples_before + epoch * self.samples_per_epoch
            return self.scale * base_rate / (t + 1) ** self.power_t
        return self.scale * self.inner.rate(self.epochs_before + epoch, base_rate)

    def observe(self, value):
        self.inner.observe(value)


class SklearnStopping(Callback):
    """scikit-learn's convergence rule, with its state kept across warm starts and ``partial_fit``.

    Without a validation set an epoch counts as "no improvement" when its training loss is above
    ``best_loss − tol``, and ``best_loss`` follows *every* new minimum (even one smaller than ``tol``);
    with one, when the validation score is below ``best_score + tol``. After more than
    ``n_iter_no_change`` such epochs in a row training stops, or with ``adaptive`` the rate is divided by
    5 (stopping once it is at most 1e-6). Both are :class:`~bprop.training.stopping.BestWeights` trackers with
    scikit-learn's options (``follow_every_minimum``, non-strict ``tol``), which also keep and put back
    the best epoch's weights with ``keep_best``.
    """

    def __init__(self, tol: float, n_iter_no_change: float, *, adaptive: bool, keep_best: bool):
        self.tol, self.n_iter_no_change, self.adaptive = tol, n_iter_no_change, adaptive
        options = {"follow_every_minimum": True, "strict": False}
        self._loss = BestWeights(tol, keep_best, **options)
        self._score = BestWeights(tol, keep_best, mode="max", **options)
        self.scores: list[float] | None = None
        self.rate: EstimatorRate | None = None
        self.validation_score: Callable[[], float] | None = None
        self.message = ""

    @property
    def best_loss(self) -> float:
        return self._loss.best_value

    @property
    def best_score(self) -> float:
        return self._score.best_value

    def start_fit(self, keep_best: bool) -> None:
        """A new ``fit`` call: keep the bookkeeping, forget the weights kept by the last one."""
        for tracker in (self._loss, self._score):
            tracker.restore, tracker.weights = keep_best, None

    def on_epoch_end(self, state: TrainingState) -> None:
        params = state.net.parameters()
        if self.validation_score is not None:
            score = self.validation_score()
            self.scores = [] if self.scores is None else self.scores
            self.scores.append(score)
            tracker, what = self._score, "validation score"
            tracker.update(score, params)
        else:
            tracker, what = self._loss, "training loss"
            tracker.update(state.logs["loss"], params)
        if tracker.wait > self.n_iter_no_change:
            tracker.wait = 0
            lr = state.optimizer.learning_rate
            if self.adaptive and self.rate is not None and lr > 1e-6:
                self.rate.scale /= 5.0
                return
            self.message = f"{what} did not improve by more than tol={self.tol} for {self.n_iter_no_change + 1} epochs"
            state.stop("no_improvement")

    def on_train_end(self, state: TrainingState) -> None:
        tracker = self._score if self.validation_score is not None else self._loss
        tracker.put_back(state.net.parameters())


def run_lbfgs(
    net: Sequential,
    X: np.ndarray,
    Y: np.ndarray,
    loss: Loss,
    sample_weight: np.ndarray | None,
    *,
    alpha: float,
    max_iter: int,
    max_fun: int,
    tol: float,
):
    """Minimise loss + ½·alpha·Σ‖W‖²/Σw over all of ``net``'s parameters with L-BFGS-B (float64).

    ``net`` must be float64; its parameters end at the solution. Returns ``(scipy result, losses)``
    with the objective after each iteration. The gradient comes from ``net.loss_and_gradients_unchecked``,
    the same backward pass the stochastic solvers use.
    """
    import scipy.optimize

    params = net.parameters()
    is_weight = [name.startswith("W") for name in net.parameter_names()]
    bounds = np.cumsum([0] + [p.size for p in params])
    spans = list(zip(bounds[:-1], bounds[1:]))
    # As scikit-learn: the penalty is divided by the total sample weight, like the data term.
    penalty = alpha / (float(sample_weight.sum()) if sample_weight is not None else X.shape[0])

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        for p, (a, b) in zip(params, spans):
            np.copyto(p, flat[a:b].reshape(p.shape))
        value, grads = net.loss_and_gradients_unchecked(X, Y, loss, sample_weight, training=False)
        gradient = np.empty_like(flat)
        for p, g, weight, (a, b) in zip(params, grads, is_weight, spans):
            gradient[a:b] = g.reshape(-1)
            if weight and penalty:
                gradient[a:b] += penalty * p.reshape(-1)
                value += 0.5 * penalty * float(np.vdot(p, p))
        return value, gradient

    losses: list[float] = []

    def record(intermediate_result) -> None:
        losses.append(float(intermediate_result.fun))

    start = np.concatenate([p.reshape(-1) for p in params])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = scipy.optimize.minimize(
            objective,
            start,
            method="L-BFGS-B",
            jac=True,
            callback=record,
            options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol},
        )
    for p, (a, b) in zip(params, spans):
        np.copyto(p, result.x[a:b].reshape(p.shape))
    return result, losses
