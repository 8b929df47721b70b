"""The article's first example: one weight, ``y = W·x`` on the examples (0, 0), (1, 2), (2, 4).

The article tries W = 3 (some error), then W = 4 (the error grows), then W = 2 (no error: the global
loss minimum), and then lets gradient descent walk from W = 3 to W = 2. Every number here comes from
:func:`~bprop.insight.explain.explain_step` on a one-unit identity network whose bias is held at 0, so
the model output, the error and ∂E/∂W are the engine's. The error is summed over the examples, as the
article sums it: ``E(W) = Σₙ ½·(yₙ − W·xₙ)²`` (half the total square error), ``∂E/∂W = Σₙ (W·xₙ − yₙ)·xₙ``.

Example:
    >>> report = one_weight_report(steps=3)
    >>> [t["total_square_error"] for t in report["tries"]]
    [5.0, 20.0, 0.0]
    >>> [round(s["W_next"], 6) for s in report["descent"]]
    [2.5, 2.25, 2.125]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.checks import check_number, check_positive_int
from ..nn.layers import Dense
from ..nn.network import Sequential
from .explain import explain_step

#: The article's examples ``(x, y)``, its tries of W, and the learning rate of the descent.
ONE_WEIGHT_DATA: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.0, 2.0), (2.0, 4.0))
ONE_WEIGHT_TRIES: tuple[float, ...] = (3.0, 4.0, 2.0)
ONE_WEIGHT_RATE = 0.1

__all__ = [
    "ONE_WEIGHT_DATA",
    "ONE_WEIGHT_TRIES",
    "one_weight_network",
    "one_weight_try",
    "one_weight_report",
    "one_weight_curve",
    "format_one_weight",
]


def one_weight_network(W: float) -> Sequential:
    """``y = W·x``: one identity unit, float64, its bias held at 0."""
    W = check_number("W", W)
    return Sequential([Dense(1, 1, "identity", dtype=np.float64, init=np.array([[W]]), frozen=("b",))])


def _arrays(data) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.asarray(data, dtype=np.float64)
    return pairs[:, :1], pairs[:, 1:]


def one_weight_try(W: float, *, learning_rate: float = ONE_WEIGHT_RATE, data=ONE_WEIGHT_DATA) -> dict[str, Any]:
    """The article's table for one value of W, from one real step of the engine.

    Returns ``W``; ``rows``: per example ``input``, ``desired``, ``output`` (the model's), ``absolute_error``
    and ``square_error``; ``total_square_error``; ``E`` (half of it); ``dE_dW``; ``W_next`` (one step of
    gradient descent at ``learning_rate``).
    """
    X, Y = _arrays(data)
    step = explain_step(one_weight_network(W), X, Y, loss="half_sse", learning_rate=learning_rate)
    examples = step.get("examples") or [step]
    rows = []
    for x, y, example in zip(X[:, 0], Y[:, 0], examples):
        output = example["forward"]["out_o1"]
        rows.append({"input": float(x), "desired": float(y), "output": output,
                     "absolute_error": abs(y - output), "square_error": float((y - output) ** 2)})  # fmt: skip
    return {
        "W": float(W),
        "rows": rows,
        "total_square_error": float(sum(r["square_error"] for r in rows)),
        "E": step["error"]["E_total"],
        "dE_dW": step["gradients"]["w1"],
        "W_next": step["updated"]["w1"],
    }


def one_weight_report(
    *, start: float = ONE_WEIGHT_TRIES[0], learning_rate: float = ONE_WEIGHT_RATE, steps: int = 10, points: int = 81
) -> dict[str, Any]:
    """The article's three tables, the descent from ``start`` and the curve E(W), all from the engine.

    ``tries``: :func:`one_weight_try` at W = 3, 4, 2; ``descent``: ``steps`` steps from ``start``, each
    ``{"step", "W", "E", "dE_dW", "W_next"}``, and ``end`` (W and E after them); ``curve``: ``points``
    values ``{"W": [...], "E": [...]}`` of E over a range of W holding the tries and the path (for a plot).
    """
    learning_rate = check_number("learning_rate", learning_rate, above=0)
    steps = check_positive_int("steps", steps)
    points = check_positive_int("points", points)
    tries = [one_weight_try(W, learning_rate=learning_rate) for W in ONE_WEIGHT_TRIES]
    descent, W = [], float(start)
    for k in range(1, steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below, by name
            table = one_weight_try(W, learning_rate=learning_rate)
        descent.append({"step": k, "W": W, "E": table["E"], "dE_dW": table["dE_dW"], "W_next": table["W_next"]})
        W = table["W_next"]
        if not (np.isfinite(W) and np.isfinite(table["E"])):
            raise ValueError(f"the descent diverged at step {k} (W = {W}); use a smaller learning rate")
    visited = [*ONE_WEIGHT_TRIES, *(s["W"] for s in descent), W]
    low, high = min(visited), max(visited)
    margin = max(0.5, 0.15 * (high - low))
    grid = np.linspace(low - margin, high + margin, points)
    X, Y = _arrays(ONE_WEIGHT_DATA)
    return {
        "example": "one-weight",
        "model": "y = W·x",
        "data": [list(pair) for pair in ONE_WEIGHT_DATA],
        "error": "E = Σ ½·(y − W·x)²",
        "learning_rate": learning_rate,
        "tries": tries,
        "descent": descent,
        "end": {"W": W, "E": one_weight_network(W).loss(X, Y, "half_sse") * X.shape[0]},
        "curve": one_weight_curve(grid),
    }


def one_weight_curve(W_values) -> dict[str, list[float]]:
    """``{"W": [...], "E": [...]}``: the summed error at each W, from the engine's forward pass."""
    X, Y = _arrays(ONE_WEIGHT_DATA)
    W_values = [float(w) for w in W_values]
    return {"W": W_values, "E": [one_weight_network(w).loss(X, Y, "half_sse") * X.shape[0] for w in W_values]}


def _fmt(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".") if value != 0 else "0"


def _caption(previous: dict | None, current: dict) -> str:
    if current["total_square_error"] == 0:
        return "the error is zero: the global loss minimum"
    if previous is None:
        return "a first guess"
    grew = current["total_square_error"] > previous["total_square_error"]
    return "the error grows" if grew else "the error shrinks"


def format_one_weight(report: dict[str, Any]) -> str:
    """The report as the article lays it out: a table per try, then the descent."""
    pairs = ", ".join(f"({_fmt(x)}, {_fmt(y)})" for x, y in report["data"])
    lines = [f"One weight: {report['model']} on the examples (x, y) = {pairs}", f"Error: {report['error']}"]
    header = ("input", "desired output", "model output", "absolute error", "square error")
    keys = ("input", "desired", "output", "absolute_error", "square_error")
    previous = None
    for table in report["tries"]:
        lines += ["", f"W = {_fmt(table['W'])}: {_caption(previous, table)}", "  " + "  ".join(header)]
        for row in table["rows"]:
            lines.append("  " + "  ".join(f"{_fmt(row[k]):>{len(h)}}" for k, h in zip(keys, header)))
        lines.append(
            f"  total square error = {_fmt(table['total_square_error'])};  E = {_fmt(table['E'])};"
            f"  ∂E/∂W = Σ (W·x − y)·x = {_fmt(table['dE_dW'])}"
        )
        previous = table
    eta = report["learning_rate"]
    first = report["descent"][0]["W"]
    lines += ["", f"Gradient descent from W = {_fmt(first)}, learning rate η = {eta:g}: W⁺ = W − η·∂E/∂W"]
    lines.append(f"  {'step':>4}  {'W':>12}  {'E':>12}  {'∂E/∂W':>12}  {'W⁺':>12}")
    for s in report["descent"]:
        numbers = "  ".join(f"{_fmt(s[k]):>12}" for k in ("W", "E", "dE_dW", "W_next"))
        lines.append(f"  {s['step']:>4}  {numbers}")
    last = report["descent"][-1]["W_next"]
    lines.append(f"After {len(report['descent'])} steps W = {_fmt(last)}, on its way to the minimum at W = 2")
    return "\n".join(lines)
