"""Draw a small network: units as circles holding their activations, weights on the edges."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..nn.network import Sequential

_DX = 2.5  # horizontal distance between layers, in unit-spacing lengths: room for the edge labels


def network_diagram(net: Sequential, x=None, *, max_units: int = 12) -> Figure:
    """A diagram of ``net``; with one input row ``x`` the units show their activations for it.

    Edge labels show the weights (line width grows with |w|, blue positive, red negative). Layers wider
    than ``max_units`` are refused: the picture is meant for teaching-sized networks.
    """
    dense = [layer for layer in net.layers if "W" in layer.param_names]
    sizes = [dense[0].n_inputs] + [layer.n_outputs for layer in dense]
    if max(sizes) > max_units:
        raise ValueError(f"the diagram draws layers of at most {max_units} units; this network has {sizes}")
    values = None
    if x is not None:
        values = [np.asarray(net.check_X(x))[0]]
        a = values[0][None, :]
        for layer in net.layers:
            a = layer.forward(a.astype(layer.dtype))
            if "W" in layer.param_names:
                values.append(np.array(a[0], dtype=np.float64))
    fig = Figure(figsize=(2.6 * len(sizes), 1.6 * max(sizes) + 1.2))
    ax = fig.subplots()
    ax.set_axis_off()
    positions = [[(col * _DX, (size - 1) / 2 - row) for row in range(size)] for col, size in enumerate(sizes)]
    w_max = max(float(np.abs(layer.W).max()) for layer in dense) or 1.0
    number = 1  # the article numbers weights layer by layer, destination unit by destination unit
    for k, layer in enumerate(dense):
        for j, (x1, y1) in enumerate(positions[k + 1]):
            for i, (x0, y0) in enumerate(positions[k]):
                w = float(layer.W[i, j])
                style = {"color": "tab:blue" if w >= 0 else "tab:red", "alpha": 0.7, "zorder": 1}
                ax.plot([x0, x1], [y0, y1], linewidth=0.5 + 2.5 * abs(w) / w_max, **style)
                # Alternate the label position along the edge so crossing edges keep their labels apart.
                t = 0.32 if j % 2 == 0 else 0.68
                box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"}
                at = (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
                ax.text(*at, f"w{number} = {w:.3g}", fontsize=8, ha="center", va="center", bbox=box, zorder=3)
                number += 1
    names = ["i"] + ["h"] * (len(sizes) - 2) + ["o"]
    for col, column in enumerate(positions):
        for row, (px, py) in enumerate(column):
            ax.add_patch(_circle(fig, px, py))
            label = f"{names[col]}{row + 1}"
            if values is not None:
                label += f"\n{values[col][row]:.4g}"
            ax.text(px, py, label, ha="center", va="center", fontsize=9, zorder=5)
        title = "input" if col == 0 else "output" if col == len(sizes) - 1 else f"hidden {col}"
        if col > 0:
            layer = dense[col - 1]
            title += f"\n({layer.activation.name})"
            if np.all(layer.b == layer.b[0]):  # a shared bias, as in the article, fits in the title
                title += f"\nbias {float(layer.b[0]):.3g}"
        ax.text(col * _DX, (max(sizes) - 1) / 2 + 0.8, title, ha="center", va="bottom", fontsize=10)
    ax.set_xlim(-0.6, (len(sizes) - 1) * _DX + 0.6)
    ax.set_ylim(-(max(sizes) - 1) / 2 - 0.6, (max(sizes) - 1) / 2 + 1.4)
    ax.set_aspect("equal")
    fig.suptitle("network: weights on the edges" + (", activations in the units" if values else ""))
    return fig


def _circle(fig: Figure, x: float, y: float):
    from matplotlib.patches import Circle

    return Circle((x, y), 0.28, facecolor="#f4f4f4", edgecolor="0.3", linewidth=1.2, zorder=4)
