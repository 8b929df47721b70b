"""Stopping rules and the best-weights tracker.

A rule is a :class:`~bprop.training.callbacks.Callback` like a user's: after each epoch it asks to stop (with
its reason) when its condition holds and nobody has asked before, so the first reason wins. The
trainer appends the rules after the user's callbacks in a fixed order — target loss, all examples
classified correctly, patience, time budget, maximum epochs — so a user's request comes first. A loss
or weight that stops being finite ends training at once as ``diverged`` (checked inside the step).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from .callbacks import Callback, TrainingState

__all__ = ["BestWeights", "StoppingRule", "TargetLoss", "AllCorrect", "Patience", "TimeBudget", "MaxEpochs"]


class BestWeights:
    """The best epoch of a monitored quantity and, with ``restore``, a copy of its weights.

    The one restore-best implementation (``fit``, the command line and the estimators). An epoch
    improves *significantly* when its value beats the best by more than ``min_delta`` (by at least
    ``min_delta`` when ``strict`` is off); ``wait`` counts the epochs since the last significant
    improvement (what patience rules read). The best value moves on significant improvements only,
    or with ``follow_every_minimum`` on any improvement, as scikit-learn's ``tol`` rule does.
    ``mode="max"`` monitors a score (higher is better).
    """

    def __init__(
        self,
        min_delta: float = 0.0,
        restore: bool = False,
        *,
        mode: str = "min",
        follow_every_minimum: bool = False,
        strict: bool = True,
    ):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.min_delta, self.restore = min_delta, restore
        self.follow_every_minimum, self.strict = follow_every_minimum, strict
        self._sign = 1.0 if mode == "min" else -1.0
        self.best_value, self.wait = self._sign * math.inf, 0
        self.best_tie = math.inf
        self.weights: list[np.ndarray] | None = None

    def update(self, value: float, params: list[np.ndarray], tie: float | None = None) -> bool:
        """Record an epoch's ``value``; True when it became the best. For a score (``mode="max"``, e.g.
        accuracy) ``tie`` breaks ties: an equal score with a lower ``tie`` (the loss) becomes the best,
        without counting as an improvement for ``wait``."""
        v, best = self._sign * value, self._sign * self.best_value
        significant = v < best - self.min_delta if self.strict else v <= best - self.min_delta
        self.wait = 0 if significant else self.wait + 1
        better = v < best if self.follow_every_minimum else significant
        broken_tie = tie is not None and self._sign < 0 and v == best and tie < self.best_tie
        if not (better or broken_tie):
            return False
        self.best_value, self.best_tie = value, math.inf if tie is None else tie
        if self.restore:
            if self.weights is None:
                self.weights = [p.copy() for p in params]
            for p, keep in zip(params, self.weights):
                np.copyto(keep, p)
        return True

    def put_back(self, params: list[np.ndarray]) -> bool:
        """Copy the best weights into ``params``; False when there are none."""
        if not self.restore or self.weights is None:
            return False
        for p, keep in zip(params, self.weights):
            np.copyto(p, keep)
        return True


class StoppingRule(Callback):
    """Stops training with ``reason`` after an epoch where :meth:`holds` is true."""

    reason = "callback"

    def holds(self, state: TrainingState) -> bool:
        raise NotImplementedError

    def on_epoch_end(self, state: TrainingState) -> None:
        if state.stop_requested is None and self.holds(state):
            state.stop(self.reason)


class TargetLoss(StoppingRule):
    """The epoch's training loss is at or below ``target``."""

    reason = "target_loss"

    def __init__(self, target: float):
        self.target = target

    def holds(self, state):
        return state.history.loss[-1] <= self.target


class AllCorrect(StoppingRule):
    """Every training example is classified correctly (the seed's criterion): ``accuracy()`` is 1."""

    reason = "all_correct"

    def __init__(self, accuracy: Callable[[], float]):
        self.accuracy = accuracy

    def holds(self, state):
        return self.accuracy() == 1.0


class Patience(StoppingRule):
    """``patience`` epochs in a row without an improvement of the monitored quantity (see :class:`BestWeights`)."""

    reason = "no_improvement"

    def __init__(self, patience: int, best: BestWeights):
        self.patience, self.best = patience, best

    def holds(self, state):
        return self.best.wait >= self.patience


class TimeBudget(StoppingRule):
    """Wall-clock ``seconds`` since training started; checked after every batch, so an epoch ends early."""

    reason = "time_budget"

    def __init__(self, seconds: float, clock: Callable[[], float] = time.perf_counter):
        self.seconds, self.clock = seconds, clock

    def on_batch_end(self, state):
        if self.holds(state):
            state.end_epoch = True

    def holds(self, state):
        return self.clock() - state.started_at >= self.seconds


class MaxEpochs(StoppingRule):
    """``epochs`` epochs are done."""

    reason = "max_epochs"

    def __init__(self, epochs: int):
        self.epochs = epochs

    def holds(self, state):
        return state.epoch >= self.epochs
