"""Figures of the HTML report: architecture, gradient health, confusion matrix, regression fit, decision boundary.

Each returns a matplotlib ``Figure`` on an Agg canvas (pyplot's global state is never touched); they are
re-exported by :mod:`bprop.report`. Needs matplotlib (``cli`` extra).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..nn.metrics import decide
from ..training.history import history_field
from .figures import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..nn.network import Sequential

__all__ = ["architecture", "gradient_curves", "confusion_matrix", "predicted_vs_true", "decision_boundary"]


_LAYER_COLOURS = {"relu": "#4c9be8", "leaky_relu": "#4c9be8", "sigmoid": "#f0a04b", "tanh": "#e8c547"}


def architecture(net: Sequential) -> Figure:
    """Block diagram of ``net`` for any size: one box per layer, height growing with its width.

    Each Dense box names its units and activation; the arrow into it carries the weight-matrix shape.
    """
    from matplotlib.patches import FancyBboxPatch

    blocks: list[tuple[str, int, str]] = [(f"input\n{net.n_inputs}", net.n_inputs, "#d9d9d9")]
    for layer in net.layers:
        label = layer.describe().replace(", ", "\n")
        if layer.n_outputs is not None:
            colour = _LAYER_COLOURS.get(layer.activation.name, "#9ad09a")
            blocks.append((label, layer.n_outputs, colour))
        else:
            blocks.append((label, 0, "#ffffff"))
    fig = new_figure(1)
    fig.set_size_inches(max(4.0, 1.5 * len(blocks)), 2.4)
    ax = fig.subplots()
    ax.set_axis_off()
    widest = max(math.log2(size + 1) for _, size, _ in blocks)
    dense = iter(layer for layer in net.layers if layer.n_outputs is not None)
    for k, (label, size, colour) in enumerate(blocks):
        # log scale: a 784-wide input next to a 10-unit output would otherwise be a line and a dot.
        height = 0.35 + 0.65 * math.log2(size + 1) / widest if size else 0.5
        ax.add_patch(
            FancyBboxPatch(
                (k - 0.25, -height / 2), 0.5, height, boxstyle="round,pad=0.02", fc=colour, ec="0.25", lw=1.2
            )
        )
        ax.text(k, 0, label, ha="center", va="center", fontsize=10)
        if k:
            ax.annotate("", (k - 0.27, 0), (k - 0.73, 0), arrowprops={"arrowstyle": "->", "color": "0.3"})
            if size:  # a Dense layer: its weight matrix labels the arrow into it
                layer = next(dense)
                ax.text(k - 0.5, 0.08, f"{layer.n_inputs}×{layer.n_outputs}", ha="center", fontsize=8, color="0.3")
    ax.set_xlim(-0.5, len(blocks) - 0.5)
    ax.set_ylim(-0.65, 0.75)
    ax.set_title(f"{net.n_parameters():,} parameters, {np.dtype(net.dtype).name}", fontsize=10)
    return fig


def _per_layer(diagnostics: list[dict], key: str) -> list[list[float]]:
    """Per layer, one value per epoch (NaN where missing), from ``History.diagnostics``."""
    n = len(diagnostics[-1].get(key) or [])
    return [[math.nan if d[key][i] is None else float(d[key][i]) for d in diagnostics] for i in range(n)]


def gradient_curves(history: Any) -> Figure:
    """Per-layer gradient norm and update/weight ratio per epoch (log scale); a third panel with the
    dead-ReLU and saturated fractions when the network has such layers.

    Args:
        history: a :class:`bprop.History` (or its dict form) recorded with ``fit(..., diagnostics=True)``.
    """
    diagnostics = history_field(history, "diagnostics") or []
    if not diagnostics:
        raise ValueError("history has no diagnostics to plot; train with fit(..., diagnostics=True)")
    epochs = [d["epoch"] for d in diagnostics]
    activations = diagnostics[-1]["activation"]
    fractions = [
        (f"layer {i + 1} dead ({activations[i]})", values)
        for i, values in enumerate(_per_layer(diagnostics, "dead_fraction"))
        if any(math.isfinite(v) for v in values)
    ] + [
        (f"layer {i + 1} saturated ({activations[i]})", values)
        for i, values in enumerate(_per_layer(diagnostics, "saturated_fraction"))
        if any(math.isfinite(v) for v in values)
    ]
    n_panels = 3 if fractions else 2
    fig = new_figure(n_panels)
    fig.set_size_inches(4.4 * n_panels, 3.6)  # narrower than the loss curves: the report shows it at page width
    axes = fig.subplots(1, n_panels)
    panels = [("grad_norm", "gradient norm ‖∂L/∂W‖"), ("update_ratio", "update / weight ‖ΔW‖/‖W‖")]
    for ax, (key, title) in zip(axes, panels):
        for i, values in enumerate(_per_layer(diagnostics, key)):
            ax.plot(epochs, values, marker="o", markersize=3, label=f"layer {i + 1} ({activations[i]})")
        positive = [v for series in _per_layer(diagnostics, key) for v in series if v > 0]
        if positive:  # gradients of different layers differ by orders of magnitude
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if fractions:
        ax = axes[2]
        for label, values in fractions:
            ax.plot(epochs, [100 * v for v in values], marker="o", markersize=3, label=label)
        ax.set_ylim(-3, 103)
        ax.set_ylabel("% of units / outputs")
        kinds = {label.split(" ")[2] for label, _ in fractions}  # "dead" and/or "saturated"
        titles = {"dead": "dead ReLU units", "saturated": "saturated sigmoid/tanh outputs"}
        ax.set_title(" and ".join(titles[k] for k in sorted(kinds)))
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return fig


def confusion_matrix(y_true, y_pred, *, labels: list | None = None) -> Figure:
    """Counts of (true class, predicted class) with the per-class recall on the right.

    Args:
        y_true, y_pred: ``(n_samples,)`` class labels.
        labels: class order of the axes; default the sorted union of both.
    """
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {y_true.size} and {y_pred.size}")
    labels = list(np.unique(np.concatenate([y_true, y_pred]))) if labels is None else list(labels)
    index = {label: k for k, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        counts[index[t], index[p]] += 1
    fig = new_figure(1)
    side = min(6.0, 3.6 + 0.2 * len(labels))
    fig.set_size_inches(side + 1.2, side)
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8, label="examples")
    if len(labels) <= 20:  # beyond that the numbers would overlap
        for (i, j), c in np.ndenumerate(counts):
            ax.text(
                j, i, str(c), ha="center", va="center", fontsize=8, color="white" if c > counts.max() / 2 else "0.2"
            )
    names = [str(label) for label in labels]
    ax.set_xticks(range(len(labels)), names)
    ax.set_yticks(range(len(labels)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"accuracy {100 * accuracy:.1f} % on {counts.sum():,} examples")
    return fig


def predicted_vs_true(y_true, y_pred) -> Figure:
    """Scatter of predictions against targets (one colour per output) with the line ``y = x``."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    y_true, y_pred = y_true.reshape(len(y_true), -1), y_pred.reshape(len(y_pred), -1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    fig = new_figure(1)
    fig.set_size_inches(5.5, 5.0)
    ax = fig.subplots()
    for k in range(y_true.shape[1]):
        ax.scatter(
            y_true[:, k], y_pred[:, k], s=10, alpha=0.6, label=f"output {k + 1}" if y_true.shape[1] > 1 else None
        )
    low, high = float(np.nanmin([y_true.min(), y_pred.min()])), float(np.nanmax([y_true.max(), y_pred.max()]))
    ax.plot([low, high], [low, high], color="0.3", linestyle="--", linewidth=1, label="perfect prediction")
    residual = y_pred - y_true
    rmse = float(np.sqrt(np.mean(residual**2)))
    total = float(np.sum((y_true - y_true.mean(axis=0)) ** 2))
    r2 = 1 - float(np.sum(residual**2)) / total if total > 0 else math.nan
    ax.set_title(f"RMSE {rmse:.4g}, R² {r2:.3f}")
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def decision_boundary(
    net: Sequential,
    X,
    y,
    *,
    resolution: int = 200,
    feature_names: list[str] | None = None,
    class_names: list | None = None,
) -> Figure:
    """Predicted class over the plane of a 2-feature input, with the examples on top.

    Args:
        net: a classifier network taking 2 inputs (softmax, or one sigmoid output for two classes).
        X: ``(n_samples, 2)`` inputs as the network takes them; y: ``(n_samples,)`` class indices.
        resolution: grid points per axis.
        feature_names: axis labels; class_names: legend labels of the class indices.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2 or net.n_inputs != 2:
        raise ValueError(f"decision_boundary needs 2-feature data and network; got X {X.shape}, {net.n_inputs} inputs")
    y = np.asarray(y).ravel()
    margin = 0.08 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
    grid_classes = predict_classes(net, np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    n_classes = max(int(grid_classes.max()), int(y.max())) + 1
    fig = new_figure(1)
    fig.set_size_inches(6.0, 5.0)
    ax = fig.subplots()
    # A fixed colour per class index, the same for the regions and the dots.
    cmap, top = ("tab10", 9.5) if n_classes <= 10 else ("tab20", 19.5)
    levels = np.arange(n_classes + 1) - 0.5
    ax.contourf(gx, gy, grid_classes, levels=levels, cmap=cmap, alpha=0.25, vmin=-0.5, vmax=top)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=top, s=14, edgecolors="0.2", linewidths=0.4)
    if n_classes <= 20:  # a legend says which colour is which class
        from matplotlib.lines import Line2D

        colours = ax.collections[-1].cmap
        handles = [
            Line2D([], [], marker="o", linestyle="", markersize=6, markerfacecolor=colours((k + 0.5) / (top + 0.5)),
                   markeredgecolor="0.2", label=_class_label(class_names[k] if class_names is not None else k))
            for k in range(n_classes)
        ]  # fmt: skip
        ax.legend(handles=handles, fontsize=8, loc="best")
    names = feature_names or ["feature 1", "feature 2"]
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    accuracy = float(np.mean(predict_classes(net, X) == y))
    ax.set_title(f"regions: predicted class; dots: examples ({100 * accuracy:.1f} % right)", fontsize=10)
    return fig


def _class_label(name) -> str:
    return f"class {name}" if isinstance(name, int | np.integer) else str(name)


def predict_classes(net: Sequential, X) -> np.ndarray:
    """Class index per row: argmax of a softmax output, or ``output > 0.5`` for one sigmoid unit."""
    out = net.forward(X)
    decision = decide(out, "softmax" if out.shape[1] > 1 else net.output_activation)
    return decision[:, 0].astype(np.int64) if out.shape[1] == 1 else decision
