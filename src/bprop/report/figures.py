"""The one way bprop makes a matplotlib figure: no pyplot, so no global state and no display needed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(n_panels: int) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * n_panels, 4.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself: drawing and savefig then work headless
    return fig
