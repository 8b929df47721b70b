"""Metrics of a trained network on encoded data, in the target's own units (shared by train and evaluate)."""

from __future__ import annotations

import numpy as np

from ..nn.network import Sequential
from ..training.batches import evaluate_unchecked
from .common import CliError


def loss_for(task: str) -> str:
    return "categorical_cross_entropy" if task == "classification" else "mse"


def scores(net: Sequential, target, X: np.ndarray, Y: np.ndarray) -> dict[str, float]:
    """``accuracy`` and ``log_loss`` for classification; ``mse``, ``mae`` and ``r2`` (target units) for
    regression; plus ``loss``, the training loss on these rows."""
    return chunk_scores(net, target, array_chunks(X, Y))


def array_chunks(X, Y, size: int = 8192):
    """``(X, Y)`` in chunks of ``size`` rows (views, not copies)."""
    for begin in range(0, len(X), size):
        yield X[begin : begin + size], Y[begin : begin + size]


def chunk_scores(net: Sequential, target, chunks) -> dict[str, float]:
    """:func:`scores` over ``(X, Y)`` chunks of encoded rows: a table that is never in memory all at once."""
    tally = _Tally(net, target)
    for X, Y in chunks:
        X = net.check_X(X)
        tally.add(X, net.check_Y(Y, X.shape[0]))
    return tally.result()


class _Tally:
    """Sums over chunks: the loss and hits, or the errors and the target's mean and spread (Chan's merge)."""

    def __init__(self, net: Sequential, target):
        self.net, self.target = net, target
        self.classification = target.task_ == "classification"
        self.loss_name = "categorical_cross_entropy" if self.classification else "mse"
        self.n = 0
        self.loss = self.hits = self.squares = self.absolute = self.mean = self.spread = 0.0

    def add(self, X: np.ndarray, Y: np.ndarray) -> None:
        n = X.shape[0]
        if n == 0:
            return
        loss, accuracy = evaluate_unchecked(self.net, X, Y, self.loss_name, "accuracy" if self.classification else None)
        self.loss += loss * n
        if self.classification:
            self.hits += accuracy * n
        else:
            predicted = self.target.inverse_transform(self.net.forward(X)).astype(np.float64)
            true = self.target.inverse_transform(Y).astype(np.float64)
            error = predicted - true
            self.squares += float((error**2).sum())
            self.absolute += float(np.abs(error).sum())
            mean, spread = float(true.mean()), float(((true - true.mean()) ** 2).sum())
            total = self.n + n
            self.spread += spread + (mean - self.mean) ** 2 * self.n * n / total
            self.mean += (mean - self.mean) * n / total
        self.n += n

    def result(self) -> dict[str, float]:
        n = max(self.n, 1)
        if self.classification:
            return {"loss": self.loss / n, "accuracy": self.hits / n, "log_loss": self.loss / n}
        r2 = 1.0 - self.squares / self.spread if self.spread > 0 else float("nan")
        return {"loss": self.loss / n, "mse": self.squares / n, "mae": self.absolute / n, "r2": r2}


def checked_scores(net: Sequential, target, data) -> dict[str, dict[str, float]]:
    """Scores of a freshly trained network on the train / val / test parts of ``data`` (a run's
    :class:`~bprop.cli.train_data.RunData`) that have rows.

    Refuses (so that no model file is written) when the network's loss is not finite: training diverged.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        results = {
            part: chunk_scores(net, target, data.chunks(part, net.dtype))
            for part in ("train", "val", "test")
            if data.rows[part]
        }
    bad = [part for part, values in results.items() if not np.isfinite(values["loss"])]
    if bad == ["test"]:
        # Training went well (its own rows score finitely): a test value far outside them overflows the network.
        raise CliError(
            f"the trained network's outputs on the test rows are not finite: {_most_extreme(data)}, so no "
            "model was written; check the test rows for a mistyped value"
        )
    if bad:
        raise CliError(
            f"training diverged: the trained network's {bad[0]} loss is not finite, so no model was written; "
            "lower --lr (e.g. by 10x) or use --optimizer adam"
        )
    return results


def _most_extreme(data) -> str:
    """Where the test rows stand furthest outside the training values (in standardised units)."""
    spread = None
    with np.errstate(over="ignore", invalid="ignore"):
        for X, _ in data.chunks("test", np.float64):
            peak = np.abs(X).max(axis=0)
            spread = peak if spread is None else np.fmax(spread, peak)
    column = int(np.nanargmax(np.where(np.isfinite(spread), spread, np.inf)))
    name = data.encoder.features.output_names[column]
    return f"column {name!r} reaches {spread[column]:.3g} standard deviations from the training mean"


def headline(task: str) -> str:
    """The metric shown next to the loss in tables."""
    return "accuracy" if task == "classification" else "r2"
