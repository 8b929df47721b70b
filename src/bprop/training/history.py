"""History: what happened in a training run, epoch by epoch, and why it stopped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class History:
    """Per-epoch records of :func:`bprop.fit` (lists are parallel, one entry per finished epoch).

    Attributes:
        loss: mean training loss over the epoch's batches (weighted by batch size), plus the L2
            penalty when there is one.
        val_loss: loss on the validation set after the epoch (empty without validation data).
        metric / val_metric: the metric (``metric_name``, e.g. accuracy) on training batches and on
            the validation set.
        lr: learning rate used in the epoch.
        time: seconds since training started, at the end of the epoch.
        stop_reason: which criterion ended training: ``max_epochs``, ``time_budget``, ``target_loss``,
            ``no_improvement``, ``all_correct``, ``callback``, ``diverged``, ``interrupted`` (Ctrl-C) or
            ``terminated`` (SIGTERM).
        best_epoch / best_value: the best epoch (1-based) of the ``monitor``-ed quantity.
        restored_best: whether the weights of ``best_epoch`` were put back at the end.
        diagnostics: one dict per epoch of per-layer gradient, update, dead-unit and saturation figures,
            recorded with ``fit(..., diagnostics=True)`` (see :mod:`bprop.training.diagnostics`); empty otherwise.
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    metric: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    metric_name: str | None = None
    monitor: str = "loss"
    stop_reason: str | None = None
    stop_message: str = ""
    best_epoch: int | None = None
    best_value: float | None = None
    restored_best: bool = False
    diagnostics: list[dict] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def monitored(self) -> list[float]:
        """The per-epoch values of the ``monitor``-ed quantity."""
        return {"val_loss": self.val_loss, "accuracy": self.metric, "val_accuracy": self.val_metric}.get(
            self.monitor, self.loss
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls(**data)

    def summary(self) -> str:
        if not self.loss:
            return "no epoch finished"
        parts = [f"{self.epochs} epochs", f"loss {self.loss[-1]:.4g}"]
        if self.val_loss:
            parts.append(f"val_loss {self.val_loss[-1]:.4g}")
        if self.metric_name and self.val_metric:
            parts.append(f"val_{self.metric_name} {self.val_metric[-1]:.4g}")
        elif self.metric_name and self.metric:
            parts.append(f"{self.metric_name} {self.metric[-1]:.4g}")
        parts.append(f"stopped: {self.stop_reason}")
        return ", ".join(parts)


def history_field(history: History | Mapping, name: str, default: Any = None) -> Any:
    """A field of a :class:`History` or of its ``to_dict()`` form (as stored in model files)."""
    if isinstance(history, Mapping):
        return history.get(name, default)
    return getattr(history, name, default)
