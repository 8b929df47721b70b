"""A training run as ONE self-contained HTML file: findings, data, model, curves, gradients, evaluation.

Images are embedded as base64 PNG data URIs and the CSS is inline, so the file can be mailed, archived
or opened offline. Needs matplotlib (``cli`` extra). Example::

    history = bprop.fit(net, X, Y, ..., diagnostics=True)
    write_report("report.html", net=net, history=history, data_summary={"dataset": "digits"}, X=X, y=y)
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..files import atomic_write_bytes
from ..insight.findings import findings
from ..training.history import History
from . import curves as plot
from . import diagnostics_plots as plot_diagnostics

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..nn.network import Sequential

__all__ = ["write_report", "render_report"]

_TASKS = ("classification", "regression")

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0;
       background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e3e6ea; }
.sub { color: #666; margin: 0 0 12px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
td, th { padding: 4px 14px 4px 0; text-align: left; vertical-align: top; }
th { color: #555; font-weight: 600; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
ul.findings { list-style: none; padding: 0; }
ul.findings li { margin: 6px 0; padding: 8px 12px; border-left: 4px solid #d9822b; background: #fdf3e7; }
.ok { padding: 8px 12px; border-left: 4px solid #3b9c5a; background: #edf7f0; }
.note { color: #666; font-size: 13px; }
nav a { margin-right: 14px; }
table.layers td, table.layers th { padding-right: 22px; border-bottom: 1px solid #eceef1; }
table.layers caption { text-align: left; color: #666; font-size: 13px; }
"""


def write_report(path: str | os.PathLike, **options: Any) -> Path:
    """Write the HTML report of a run to ``path`` (a ``.html`` file whose folder exists) atomically;
    ``options`` are those of :func:`render_report`. Returns the path."""
    return atomic_write_bytes(path, render_report(**options).encode("utf-8"))


def render_report(
    *,
    net: Sequential,
    history: History | Mapping,
    data_summary: Mapping[str, Any],
    X=None,
    y=None,
    title: str = "bprop training report",
    settings: Mapping[str, Any] | None = None,
    task: str | None = None,
    class_names: Sequence | None = None,
    feature_names: Sequence[str] | None = None,
    evaluated_on: str = "the given rows",
) -> str:
    """The HTML report of a run as a string (one self-contained page).

    Args:
        net: the trained network.
        history: the run's :class:`~bprop.History` (or ``History.to_dict()``); per-layer curves and
            checks need it recorded with ``fit(..., diagnostics=True)``.
        data_summary: label → value rows for the data section, e.g. ``{"dataset": "digits",
            "samples": 1797, "features": 64, "classes": 10}``.
        X: ``(n_samples, n_inputs)`` inputs as the network takes them (after preprocessing), for the
            confusion matrix / predicted-vs-true plot and, with 2 features, the decision boundary.
        y: targets of ``X``: class indices ``(n_samples,)`` or one-hot rows for classification; network
            targets ``(n_samples,)`` or ``(n_samples, n_outputs)`` for regression.
        title: heading of the page.
        settings: label → value rows describing the training (optimiser, learning rate, batch size…).
        task: ``"classification"`` or ``"regression"``; default from the output layer (softmax, or one
            sigmoid unit with 0/1 targets, is classification).
        class_names: display names of the class indices, in output order.
        feature_names: names of the two axes of the decision boundary.
        evaluated_on: which rows ``X`` holds, as the evaluation section names them (e.g. ``"the
            validation rows"``); the row count is added.
    """
    if not isinstance(data_summary, Mapping):
        raise ValueError(f"data_summary must be a mapping of label → value, got {type(data_summary).__name__}")
    if (X is None) != (y is None):
        raise ValueError("give X and y together (the evaluation needs both), or neither")
    history_dict = history.to_dict() if isinstance(history, History) else dict(history)
    if not history_dict.get("loss"):
        raise ValueError("history has no finished epoch; train for at least one epoch before writing a report")
    # Checked before any figure is drawn, so a mistake costs no rendering time.
    evaluation = None if X is None else _check_evaluation(net, X, y, task, class_names)
    sections: list[tuple[str, str, str]] = []  # (id, heading, body)
    sections.append(("findings", "Findings", _findings_html(history_dict)))
    sections.append(("data", "Data", _table(data_summary)))
    model = _figure(plot_diagnostics.architecture(net), "architecture diagram") + _table(settings or {})
    sections.append(("model", "Model", model))
    curves = _figure(plot.loss_curves(history_dict, title=""), "loss and metric curves")
    sections.append(("training", "Training curves", curves))
    if history_dict.get("diagnostics"):
        gradients = _figure(plot_diagnostics.gradient_curves(history_dict), "per-layer gradient curves")
        note = "Measured on a few sampled steps per epoch (dead ReLU units on every step)."
        table = _layer_table(history_dict["diagnostics"][-1])
        sections.append(("gradients", "Gradients per layer", gradients + table + f'<p class="note">{note}</p>'))
    else:
        note = "Not recorded: train with <code>fit(..., diagnostics=True)</code> to see per-layer gradients."
        sections.append(("gradients", "Gradients per layer", f'<p class="note">{note}</p>'))
    if evaluation is not None:
        sections += _evaluation(net, X, *evaluation, feature_names, evaluated_on)
    nav = " ".join(f'<a href="#{sid}">{html.escape(heading)}</a>' for sid, heading, _ in sections)
    body = "\n".join(f'<section id="{sid}">\n<h2>{html.escape(h)}</h2>\n{b}\n</section>' for sid, h, b in sections)
    summary = html.escape(History.from_dict(history_dict).summary())
    stop = history_dict.get("stop_message") or ""
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<h1>{html.escape(title)}</h1>\n<p class="sub">{summary}'
        f"{'<br>' + html.escape(stop) if stop else ''}<br>written {stamp}</p>\n<nav>{nav}</nav>\n"
        f"{body}\n</main>\n</body>\n</html>\n"
    )


def _findings_html(history: dict) -> str:
    found = findings(history)
    if not history.get("diagnostics"):
        skipped = '<p class="note">Per-layer checks skipped: the run was trained without diagnostics.</p>'
    else:
        skipped = ""
    if not found:
        return '<p class="ok">No problems found: gradients, updates, units and the loss curves look healthy.</p>' + (
            skipped
        )
    items = "\n".join(f"<li>{html.escape(f.message)}</li>" for f in found)
    return f'<ul class="findings">\n{items}\n</ul>{skipped}'


def _layer_table(last: dict) -> str:
    """The last epoch's per-layer figures, for readers who want the numbers behind the curves."""

    def cell(value, pct: bool = False) -> str:
        if value is None:
            return "–"
        return f"{100 * value:.0f} %" if pct else f"{value:.3g}"

    head = "<tr><th>layer</th><th>activation</th><th>gradient norm</th><th>update / weight</th>"
    head += "<th>dead ReLU units</th><th>saturated outputs</th></tr>"
    rows = [
        f"<tr><td>{i + 1}</td><td>{html.escape(str(act))}</td><td>{cell(last['grad_norm'][i])}</td>"
        f"<td>{cell(last['update_ratio'][i])}</td><td>{cell(last['dead_fraction'][i], True)}</td>"
        f"<td>{cell(last['saturated_fraction'][i], True)}</td></tr>"
        for i, act in enumerate(last["activation"])
    ]
    caption = f"<caption>epoch {last['epoch']}</caption>"
    return f'<table class="layers">{caption}\n{head}\n' + "\n".join(rows) + "\n</table>"


def _table(rows: Mapping[str, Any]) -> str:
    if not rows:
        return ""
    cells = "\n".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows.items()
    )
    return f"<table>\n{cells}\n</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _figure(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _resolve_task(net: Sequential, y: np.ndarray, task: str | None) -> str:
    if task is not None:
        if task not in _TASKS:
            raise ValueError(f"task must be one of {_TASKS} or None, got {task!r}")
        return task
    if net.output_activation == "softmax":
        return "classification"
    if net.output_activation == "sigmoid" and net.n_outputs == 1 and np.isin(y, (0, 1)).all():
        return "classification"
    return "regression"


def _check_evaluation(net, X, y, task, class_names) -> tuple[str, np.ndarray, list]:
    """(task, targets or class indices, class names) after checking that they fit ``X`` and ``net``."""
    y = np.asarray(y)
    if y.shape[0] != np.shape(X)[0]:
        raise ValueError(f"X has {np.shape(X)[0]} rows but y has {y.shape[0]}; give the targets of X")
    task = _resolve_task(net, y, task)
    if task == "regression":
        return task, y, []
    labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.ravel().astype(np.int64)
    n_classes = max(net.n_outputs, 2)
    names = list(class_names) if class_names is not None else list(range(n_classes))
    if len(names) != n_classes:
        raise ValueError(f"class_names has {len(names)} names but the network predicts {n_classes} classes")
    if labels.size and not (0 <= labels.min() and labels.max() < n_classes):
        raise ValueError(f"y must hold class indices 0…{n_classes - 1} (or one-hot rows) for classification")
    return task, labels, names


def _evaluation(net, X, task, y, names, feature_names, evaluated_on) -> list[tuple[str, str, str]]:
    def where(kind: str) -> str:
        # Which rows a figure shows decides what it proves: held-out rows measure generalisation.
        return f'<p class="note">{kind} on {html.escape(evaluated_on)} ({y.shape[0]:,} rows).</p>'

    if task == "regression":
        fig = plot_diagnostics.predicted_vs_true(y, net.forward(X))
        note = where("Predicted vs true values")
        return [("evaluation", "Predicted vs true", _figure(fig, "predicted vs true values") + note)]
    predicted = plot_diagnostics.predict_classes(net, X)
    fig = plot_diagnostics.confusion_matrix([names[i] for i in y], [names[i] for i in predicted], labels=names)
    sections = [("evaluation", "Confusion matrix", _figure(fig, "confusion matrix") + where("Confusion matrix"))]
    if net.n_inputs == 2:
        names2 = list(feature_names) if feature_names is not None else None
        boundary = plot_diagnostics.decision_boundary(net, X, y, feature_names=names2, class_names=names)
        note = where("Decision boundary with the points")
        sections.append(("boundary", "Decision boundary", _figure(boundary, "decision boundary") + note))
    return sections
