"""Training plots as matplotlib ``Figure`` objects (Agg canvas; pyplot's global state is never touched).

Needs matplotlib (``cli`` extra). Example::

    fig = loss_curves(history)          # a bprop.History, or a dict with the same lists
    save_figure(fig, "curves.png")      # atomic: an old file survives a failed write
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import atomic_write_with
from ..training.history import history_field
from .figures import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["loss_curves", "save_figure"]

_TRAIN_STYLE = {"color": "#1f77b4", "linewidth": 1.8}
_VAL_STYLE = {"color": "#d62728", "linewidth": 1.8, "linestyle": "--"}


def _series(history: Any, name: str) -> list[float]:
    values = history_field(history, name) or []
    try:
        return [math.nan if v is None else float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"history {name!r} must be a list of numbers, got {values!r}") from None


def _plot_pair(ax, epochs: list[int], train: list[float], val: list[float], label: str) -> None:
    ax.plot(epochs[: len(train)], train, label=f"training {label}", **_TRAIN_STYLE)
    if val:
        ax.plot(list(range(1, len(val) + 1)), val, label=f"validation {label}", **_VAL_STYLE)
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)
    ax.legend()
    # Whole epochs only: a fractional tick (2.5) would be meaningless.
    ax.xaxis.get_major_locator().set_params(integer=True)


def loss_curves(history: Any, *, title: str | None = None) -> Figure:
    """Training and validation loss per epoch; a second panel with the metric (e.g. accuracy) when recorded.

    Args:
        history: a :class:`bprop.History` or any object / dict with lists ``loss`` and optionally
            ``val_loss``, ``metric``, ``val_metric`` and a ``metric_name`` string; ``best_epoch`` (1-based),
            when present, is marked with a dotted line.
        title: figure title; default says how many epochs ran.

    Returns:
        A ``matplotlib.figure.Figure``; write it with :func:`save_figure`.
    """
    loss, val_loss = _series(history, "loss"), _series(history, "val_loss")
    if not loss and not val_loss:
        raise ValueError("history has no loss values to plot; train for at least one epoch first")
    metric, val_metric = _series(history, "metric"), _series(history, "val_metric")
    metric_name = history_field(history, "metric_name") or "metric"
    has_metric = any(math.isfinite(v) for v in metric + val_metric)

    fig = new_figure(2 if has_metric else 1)
    axes = fig.subplots(1, 2) if has_metric else [fig.subplots()]
    n_epochs = max(len(loss), len(val_loss))
    epochs = list(range(1, n_epochs + 1))

    _plot_pair(axes[0], epochs, loss, val_loss, "loss")
    axes[0].set_ylabel("loss")
    positive = [v for v in loss + val_loss if math.isfinite(v)]
    # A loss falling over orders of magnitude is unreadable on a linear axis.
    if positive and min(positive) > 0 and max(positive) / min(positive) > 50:
        axes[0].set_yscale("log")
        axes[0].set_ylabel("loss (log scale)")
    axes[0].set_title("loss")
    if has_metric:
        _plot_pair(axes[1], epochs, metric, val_metric, metric_name)
        axes[1].set_ylabel(metric_name)
        axes[1].set_title(metric_name)

    best = history_field(history, "best_epoch")
    if isinstance(best, int) and 1 <= best <= n_epochs:
        for ax in axes:
            ax.axvline(best, color="0.4", linestyle=":", linewidth=1.2, label=f"best epoch ({best})")
            ax.legend()
    fig.suptitle(title if title is not None else f"bprop training: {n_epochs} epoch{'s' if n_epochs != 1 else ''}")
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Write ``fig`` atomically; the format follows the suffix (``.png``, ``.svg``, ``.pdf``)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    allowed = ("png", "svg", "pdf")
    if fmt not in allowed:
        raise ValueError(f"plot file {str(path)!r} needs one of the suffixes {['.' + a for a in allowed]}")
    # The temp file's suffix is ".tmp", so the format must be named explicitly.
    return atomic_write_with(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
