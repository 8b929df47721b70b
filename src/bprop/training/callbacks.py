"""Callbacks: hooks into the training loop that can log, inspect and stop training.

A callback overrides any of the methods below; each receives the :class:`TrainingState`, whose
``stop(reason)`` ends training after the current batch (``on_batch_end``) or epoch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..nn.network import Sequential
    from ..nn.optimizers import Optimizer
    from .history import History


@dataclass
class TrainingState:
    """What callbacks see: the network, optimiser, history so far and the position in training."""

    net: Sequential
    optimizer: Optimizer
    history: History
    epochs: int
    epoch: int = 0  # 1-based number of the current epoch
    batch: int = 0  # 1-based number of the current batch in the epoch
    stop_requested: str | None = None
    logs: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict:
        """The full training state, for ``fit(resume=...)`` (given by the trainer's own state)."""
        raise NotImplementedError("this training state cannot be snapshotted; it does not come from a Trainer")

    def stop(self, reason: str = "callback") -> None:
        """Ask training to stop; ``reason`` is recorded as ``History.stop_reason``."""
        self.stop_requested = reason


class Callback:
    """Base class with no-op hooks."""

    def on_train_begin(self, state: TrainingState) -> None:
        pass

    def on_epoch_begin(self, state: TrainingState) -> None:
        pass

    def on_batch_end(self, state: TrainingState) -> None:
        """Called after each optimiser step; ``state.logs['batch_loss']`` holds the batch loss."""

    def on_epoch_end(self, state: TrainingState) -> None:
        """``state.logs`` holds the epoch's ``loss``, ``val_loss``, metric and ``lr``."""

    def on_train_end(self, state: TrainingState) -> None:
        pass


class ProgressBar(Callback):
    """A tqdm bar over epochs showing loss, validation loss, metric and the ETA."""

    def __init__(self, file=None, leave: bool = True):
        self.file, self.leave, self._bar = file, leave, None

    def on_train_begin(self, state):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=state.epochs, unit="epoch", file=self.file or sys.stderr, leave=self.leave)

    def on_epoch_end(self, state):
        shown = {k: f"{v:.4g}" for k, v in state.logs.items() if isinstance(v, float) and k != "time"}
        self._bar.set_postfix(shown, refresh=False)
        self._bar.update(1)

    def on_train_end(self, state):
        if self._bar is not None:
            self._bar.close()


def wants_progress_bar(verbose: int | str) -> bool:
    """``verbose="auto"`` shows the bar only when stderr is an interactive terminal."""
    if verbose == "auto":
        return sys.stderr.isatty()
    return bool(verbose)
