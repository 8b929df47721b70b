"""The trainer's state: one object holding everything that changes while training, whose snapshot is its
serialisation, and the check that a snapshot fits the run it is resumed into."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from ..nn.schedules import Schedule
from .callbacks import TrainingState
from .history import History
from .stopping import BestWeights

__all__ = ["TrainerState", "check_snapshot"]


@dataclass
class TrainerState(TrainingState):
    """Everything that changes while training, in one place; :meth:`snapshot` is its serialisation.

    Besides what callbacks see (:class:`~bprop.training.callbacks.TrainingState`): ``steps`` (updates so far),
    the position inside the current epoch (``cursor``: rows done; ``epoch_open``), the epoch's running
    sums, the shuffling generator, the schedule, the best-weights tracker and the last finite weights.
    """

    schedule: Schedule | None = None
    shuffle_rng: np.random.Generator | None = None
    random_layers: list = field(default_factory=list)
    best: BestWeights = field(default_factory=BestWeights)
    base_rate: float = 0.0
    steps: int = 0
    cursor: int = 0
    epoch_open: bool = False
    epoch_rng_state: dict | None = None
    sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # loss·w, w, correct·w
    finished: bool = False
    end_epoch: bool = False
    last_good: list[np.ndarray] = field(default_factory=list)
    started_at: float = 0.0
    collective: object = None  # a data-parallel run's Collective: snapshots hold every rank's own part

    def snapshot(self) -> dict:  # type: ignore[override]
        """The state as plain values and array copies: enough to resume bit-identically.

        Taken after training has finished with restore-best, it holds the best epoch's weights with the
        last epoch's position and optimiser: resuming continues from those weights, which a longer run
        would not have done (checkpoints are taken before the best weights are put back).
        """
        return {
            "epoch": self.epoch - 1 if self.epoch_open else self.epoch,
            "params": [p.copy() for p in self.net.parameters()],
            "optimizer": self.optimizer.state_dict(),
            "base_rate": self.base_rate,
            "schedule": self.schedule.state_dict(),
            "optimizer_type": type(self.optimizer).__name__,
            "shuffle_rng": self.shuffle_rng.bit_generator.state,
            "layer_rngs": [layer.rng.bit_generator.state for layer in self.random_layers],
            "history": self.history.to_dict(),
            "best": None if self.best.weights is None else [b.copy() for b in self.best.weights],
            "best_value": self.best.best_value,
            "best_tie": self.best.best_tie,
            "wait": self.best.wait,
            "steps": self.steps,
            "in_epoch": self._open_epoch() if self.epoch_open else None,
            # Inside an epoch the weights of the last finished one differ from the current ones: a
            # divergence after resuming must go back to them, as the uninterrupted run would.
            "last_good": [p.copy() for p in self.last_good] if self.epoch_open else None,
            **self._ranks(),
        }

    def _ranks(self) -> dict:
        """In a data-parallel run, what differs between ranks: their dropout streams and the open epoch's
        sums of their shares (every rank takes the snapshot at the same point: this gathers them)."""
        if self.collective is None:
            return {}
        own = {"layer_rngs": [layer.rng.bit_generator.state for layer in self.random_layers], "sums": list(self.sums)}
        gathered = self.collective.comm.allgather(own)
        return {"ranks": {"size": self.collective.size, "parts": gathered}}

    def _open_epoch(self) -> dict:
        return {"cursor": self.cursor, "rng_state": self.epoch_rng_state, "sums": list(self.sums), "batch": self.batch}

    def restore(self, snapshot: dict) -> None:
        """Put back a :meth:`snapshot` (from this run or a checkpoint of it); the snapshot is not changed.

        A snapshot of another network (other shapes or dtype), optimiser or schedule, or of a run that
        monitored another quantity, is refused before anything is changed.
        """
        check_snapshot(snapshot, self)
        snapshot = copy.deepcopy(snapshot)
        params = self.net.parameters()
        for p, saved in zip(params, snapshot["params"], strict=True):
            np.copyto(p, saved)
        for keep, p in zip(self.last_good, snapshot.get("last_good") or params):
            np.copyto(keep, p)
        self.optimizer.load_state_dict(snapshot["optimizer"])
        self.base_rate = snapshot["base_rate"]
        self.schedule.load_state_dict(snapshot["schedule"])
        self.shuffle_rng.bit_generator.state = snapshot["shuffle_rng"]
        for layer, rng_state in zip(self.random_layers, snapshot["layer_rngs"], strict=True):
            layer.rng.bit_generator.state = rng_state
        self.history = History.from_dict({**snapshot["history"], "stop_reason": None})
        saved_best = snapshot["best"]
        self.best.weights = None if saved_best is None else [np.array(b, copy=True) for b in saved_best]
        self.best.best_value, self.best.wait = snapshot["best_value"], snapshot["wait"]
        self.best.best_tie = snapshot.get("best_tie", math.inf)
        self.epoch, self.steps = snapshot["epoch"], snapshot.get("steps", 0)
        self.finished, self.stop_requested = False, None
        self._restore_open_epoch(snapshot.get("in_epoch"))
        if self.collective is not None:
            part = snapshot["ranks"]["parts"][self.collective.rank]
            for layer, rng_state in zip(self.random_layers, part["layer_rngs"], strict=True):
                layer.rng.bit_generator.state = rng_state
            if self.epoch_open:
                self.sums = list(part["sums"])

    def _restore_open_epoch(self, open_epoch: dict | None) -> None:
        self.epoch_open = open_epoch is not None
        if open_epoch is None:
            self.cursor, self.sums, self.batch = 0, [0.0, 0.0, 0.0], 0
            return
        self.epoch += 1
        self.cursor, self.epoch_rng_state = open_epoch["cursor"], open_epoch["rng_state"]
        self.sums, self.batch = list(open_epoch["sums"]), open_epoch["batch"]


def check_snapshot(snapshot, state: TrainerState) -> None:
    """Refuse a snapshot that does not fit ``state``'s network, optimiser, schedule or monitor."""
    if not isinstance(snapshot, dict) or "params" not in snapshot:
        raise ValueError("resume takes a snapshot from TrainerState.snapshot() or load_checkpoint()")
    mine = state.net.parameters()
    theirs = [np.asarray(p) for p in snapshot["params"]]
    shapes = [(p.shape, p.dtype) for p in mine], [(p.shape, p.dtype) for p in theirs]
    if shapes[0] != shapes[1]:
        raise ValueError(
            f"the snapshot is of another network (parameters {shapes[1]}), not this one ({shapes[0]}); "
            "resume with the network and dtype the snapshot was taken from"
        )
    problems = []
    kind = snapshot.get("optimizer_type", type(state.optimizer).__name__)
    if kind != type(state.optimizer).__name__:
        problems.append(f"another optimiser ({kind}, this run: {type(state.optimizer).__name__})")
    if set(snapshot["schedule"]) != set(state.schedule.state_dict()):
        problems.append("another schedule")
    if snapshot["history"].get("monitor") != state.history.monitor:
        problems.append(f"a run monitoring {snapshot['history'].get('monitor')} (this one: {state.history.monitor})")
    if len(snapshot["layer_rngs"]) != len(state.random_layers):
        problems.append("another number of dropout layers")
    size = state.collective.size if state.collective is not None else 1
    saved = snapshot.get("ranks", {}).get("size", 1)
    if saved != size:
        problems.append(f"a run on {saved} rank(s), not {size}; resume it with mpiexec -n {saved}")
    if problems:
        raise ValueError(f"the snapshot is of {', '.join(problems)}; resume with the options it was taken with")
