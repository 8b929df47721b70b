"""Figures (matplotlib, each a function returning a figure) and the self-contained HTML report.
Needs the ``cli`` extra (matplotlib).
May import: nn, training, insight, files."""

from .curves import loss_curves as loss_curves
from .curves import save_figure as save_figure
from .diagnostics_plots import architecture as architecture
from .diagnostics_plots import confusion_matrix as confusion_matrix
from .diagnostics_plots import decision_boundary as decision_boundary
from .diagnostics_plots import gradient_curves as gradient_curves
from .diagnostics_plots import predicted_vs_true as predicted_vs_true
from .html import render_report as render_report
from .html import write_report as write_report
from .network_diagram import network_diagram as network_diagram
