"""Metrics of a trained network on encoded data, in the target's own units (shared by train and evaluate)."""

from __future__ import annotations

import numpy as np

from ..nn.network import Sequential
from ..training.batches import evaluate
from .common import CliError


def loss_for(task: str) -> str:
    return "categorical_cross_entropy" if task == "classification" else "mse"


def scores(net: Sequential, target, X: np.ndarray, Y: np.ndarray) -> dict[str, float]:
    """``accuracy`` and ``log_loss`` for classification; ``mse``, ``mae`` and ``r2`` (target units) for
    regression; plus ``loss``, the training loss on these rows."""
    X = net.check_X(X)
    Y = net.check_Y(Y, X.shape[0])
    if target.task_ == "classification":
        loss, accuracy = evaluate(net, X, Y, "categorical_cross_entropy", "accuracy")
        return {"loss": loss, "accuracy": accuracy, "log_loss": loss}
    loss, _ = evaluate(net, X, Y, "mse")
    predicted = target.inverse_transform(net.forward(X)).astype(np.float64)
    true = target.inverse_transform(Y).astype(np.float64)
    error = predicted - true
    total = float(((true - true.mean()) ** 2).sum())
    r2 = 1.0 - float((error**2).sum()) / total if total > 0 else float("nan")
    return {"loss": loss, "mse": float((error**2).mean()), "mae": float(np.abs(error).mean()), "r2": r2}


def checked_scores(net: Sequential, target, prepared) -> dict[str, dict[str, float]]:
    """Scores of a freshly trained network on the train / val / test parts of ``prepared`` that have rows.

    Refuses (so that no model file is written) when the network's loss is not finite: training diverged.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        results = {
            part: scores(net, target, getattr(prepared, f"X_{part}"), getattr(prepared, f"Y_{part}"))
            for part in ("train", "val", "test")
            if len(getattr(prepared, f"X_{part}"))
        }
    bad = [part for part, values in results.items() if not np.isfinite(values["loss"])]
    if bad == ["test"]:
        # Training went well (its own rows score finitely): a test value far outside them overflows the network.
        raise CliError(
            f"the trained network's outputs on the test rows are not finite: {_most_extreme(prepared)}, so no "
            "model was written; check the test rows for a mistyped value"
        )
    if bad:
        raise CliError(
            f"training diverged: the trained network's {bad[0]} loss is not finite, so no model was written; "
            "lower --lr (e.g. by 10x) or use --optimizer adam"
        )
    return results


def _most_extreme(prepared) -> str:
    """Where the test rows stand furthest outside the training values (in standardised units)."""
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.abs(prepared.X_test).max(axis=0)
    column = int(np.nanargmax(np.where(np.isfinite(spread), spread, np.inf)))
    name = prepared.encoder.features.output_names[column]
    return f"column {name!r} reaches {spread[column]:.3g} standard deviations from the training mean"


def headline(task: str) -> str:
    """The metric shown next to the loss in tables."""
    return "accuracy" if task == "classification" else "r2"
