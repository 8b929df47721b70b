"""Classification correctness of network outputs, shared by training metrics and stopping criteria."""

from __future__ import annotations

import numpy as np


def correct_rows(a: np.ndarray, Y: np.ndarray, output_activation: str, logits: bool, threshold: float) -> np.ndarray:
    """Boolean per row: is the example classified correctly?

    ``a`` is the network output, or the logits when ``logits`` (fused losses). Softmax outputs are
    judged by argmax; every other output unit by which side of ``threshold`` it falls on (the midpoint
    of the target range, e.g. 0.5 for 0/1 targets; 0 for sigmoid logits), all units of a row alike.
    """
    if output_activation == "softmax":
        return a.argmax(axis=1) == Y.argmax(axis=1)
    return (decide(a, output_activation, logits, threshold) == (Y > threshold)).all(axis=1)


def decide(a: np.ndarray, output_activation: str, logits: bool = False, threshold: float = 0.5) -> np.ndarray:
    """The class decision for outputs (or logits): the argmax index for softmax, else per unit
    ``a > threshold`` (``a > 0`` for sigmoid logits). Strictly greater, as scikit-learn decides: an
    output exactly at the threshold counts as the lower class."""
    if output_activation == "softmax":
        return a.argmax(axis=1)
    return a > (0.0 if logits else threshold)


def target_threshold(Y: np.ndarray) -> float:
    """Midpoint of the target range: the decision threshold for non-softmax outputs."""
    return float((Y.min() + Y.max()) / 2)
