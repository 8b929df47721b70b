"""The one-weight example's picture: the error E(W) against the weight, with the descent's path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .figures import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["error_curve"]


def error_curve(report: dict[str, Any]) -> Figure:
    """E against W from :func:`bprop.insight.one_weight.one_weight_report`: the curve, the article's
    tries (W = 3, 4, 2), the gradient-descent path from W = 3, and the global minimum marked."""
    fig = new_figure(1)
    ax = fig.subplots()
    curve = report["curve"]
    ax.plot(curve["W"], curve["E"], color="#1f77b4", linewidth=1.8, label=report["error"])
    tries = report["tries"]
    ax.scatter([t["W"] for t in tries], [t["E"] for t in tries], color="#444444", zorder=3, label="the article's tries")
    path = report["descent"]
    xs = [s["W"] for s in path] + [report["end"]["W"]]
    ys = [s["E"] for s in path] + [report["end"]["E"]]
    eta = report["learning_rate"]
    ax.plot(xs, ys, "o-", color="#d62728", markersize=4, linewidth=1, zorder=4, label=f"gradient descent, η = {eta:g}")
    best = min(tries, key=lambda t: t["E"])
    ax.annotate(
        "global loss minimum", (best["W"], best["E"]), xytext=(0, 28), textcoords="offset points",
        ha="center", arrowprops={"arrowstyle": "->"},
    )  # fmt: skip
    ax.set_xlabel("W")
    ax.set_ylabel("E(W)")
    ax.set_title(f"{report['model']}: the error against the weight")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig
