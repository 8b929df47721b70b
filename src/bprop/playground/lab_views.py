"""The lab's views, computed by the engine: every neuron's output over the plane, the points, the
confusion matrix and the misclassified digits.

Heatmaps are sent compactly: per neuron its lowest and highest value over the grid and the values
scaled to bytes 0–255 (row by row, the top row first), base64-encoded; the page maps a byte b back to
lo + b/255·(hi − lo). A 2-8-8-1 network's 50 × 50 maps are then about 60 kB a frame.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import numpy as np

from .datasets import TWO_D_SETS

if TYPE_CHECKING:
    import pandas as pd

    from ..nn.network import Sequential

__all__ = ["GRID", "grid_for", "heatmaps", "pack", "points_view", "confusion", "misclassified_images"]

#: Heatmap resolution (GRID × GRID points).
GRID = 50
#: Points of each part drawn on the plane at most.
POINTS_SHOWN = 1000
#: Misclassified digits shown at most.
IMAGES_SHOWN = 16


def grid_for(table: pd.DataFrame, encoder, data: str, extent: float) -> dict[str, Any] | None:
    """The plane's grid for data of exactly two numeric inputs (else None): raw ranges and encoded inputs."""
    import pandas as pd

    specs = encoder.features.columns_
    if encoder.features.n_outputs != 2 or len(specs) != 2 or any(s["kind"] != "numeric" for s in specs):
        return None
    names = [s["name"] for s in specs]
    if data in TWO_D_SETS:
        ranges = [(-extent, extent), (-extent, extent)]
    else:
        ranges = []
        for name in names:
            values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)
            lo, hi = np.nanmin(values), np.nanmax(values)
            pad = 0.05 * (hi - lo) if hi > lo else 1.0
            ranges.append((float(lo - pad), float(hi + pad)))
    xs = np.linspace(*ranges[0], GRID)
    ys = np.linspace(ranges[1][1], ranges[1][0], GRID)  # the top row is the highest x2
    gx, gy = np.meshgrid(xs, ys)
    frame = pd.DataFrame({names[0]: gx.ravel(), names[1]: gy.ravel()})
    return {"X": encoder.features.transform(frame), "x_range": list(ranges[0]), "y_range": list(ranges[1]),
            "columns": names}  # fmt: skip


def pack(values: np.ndarray) -> dict[str, Any]:
    """``{"lo", "hi", "data"}``: the values' range and the values scaled to bytes, base64."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return {"lo": None, "hi": None, "data": base64.b64encode(bytes(values.size)).decode()}
    lo, hi = float(values[finite].min()), float(values[finite].max())
    scaled = np.zeros(values.shape) if hi == lo else (np.where(finite, values, lo) - lo) * (255 / (hi - lo))
    return {"lo": lo, "hi": hi, "data": base64.b64encode(np.rint(scaled).astype(np.uint8).tobytes()).decode()}


def heatmaps(net: Sequential, grid: dict[str, Any], task: str, shown: list[list[int]]) -> dict[str, Any]:
    """Each input's and each drawn unit's (``shown``: per layer with weights) output over the grid (one
    forward pass of the engine's layers), and the output view: P(first class) − P(second) for two
    classes, the winning class for more, the value for regression."""
    a = grid["X"]
    layers = []
    with np.errstate(all="ignore"):
        for layer in net.layers:
            a = layer.forward(a, training=False)
            if "W" in layer.param_names:
                layers.append([pack(a[:, j]) for j in shown[len(layers)]])
    out = a
    if task == "regression":
        output = {"kind": "value", **pack(out[:, 0])}
    elif out.shape[1] == 2:
        output = {
            "kind": "two",
            "lo": -1.0,
            "hi": 1.0,
            "data": _fixed(np.clip(out[:, 0] - out[:, 1], -1, 1), -1.0, 1.0),
        }
    else:
        classes = np.argmax(out, axis=1).astype(np.uint8)
        output = {"kind": "classes", "lo": 0, "hi": 255, "data": base64.b64encode(classes.tobytes()).decode()}
    inputs = [pack(grid["X"][:, j]) for j in range(2)]
    return {"size": GRID, "x_range": grid["x_range"], "y_range": grid["y_range"], "columns": grid["columns"],
            "inputs": inputs, "layers": layers, "output": output}  # fmt: skip


def _fixed(values: np.ndarray, lo: float, hi: float) -> str:
    scaled = (np.nan_to_num(values, nan=lo) - lo) * (255 / (hi - lo))
    return base64.b64encode(np.rint(scaled).astype(np.uint8).tobytes()).decode()


def points_view(table: pd.DataFrame, prepared, grid: dict[str, Any] | None, task: str) -> dict[str, Any] | None:
    """The train and held-out points in the plane's raw coordinates, with their class (index) or target."""
    if grid is None:
        return None
    view = {}
    for part, rows, Y in (
        ("train", prepared.split.train, prepared.Y_train),
        ("test", prepared.split.val, prepared.Y_val),
    ):
        shown = slice(0, POINTS_SHOWN)
        xy = table[grid["columns"]].iloc[rows[shown]].to_numpy(dtype=np.float64)
        target = Y[shown].argmax(axis=1) if task == "classification" else Y[shown, 0]
        view[part] = {"xy": xy.tolist(), "target": target.tolist()}
    return view


def confusion(net: Sequential, X: np.ndarray, Y: np.ndarray, rows: np.ndarray) -> dict[str, Any] | None:
    """Counts of (true class, predicted class) on the held-out rows measured (rows: true, columns: predicted)."""
    if rows.size == 0:
        return None
    with np.errstate(all="ignore"):
        predicted = net.predict(X[rows]).argmax(axis=1)
    truth = Y[rows].argmax(axis=1)
    counts = np.zeros((Y.shape[1], Y.shape[1]), dtype=np.int64)
    np.add.at(counts, (truth, predicted), 1)
    return {"counts": counts.tolist(), "rows": int(rows.size)}


def misclassified_images(net: Sequential, prepared, table: pd.DataFrame, rows: np.ndarray) -> list[dict[str, Any]]:
    """Up to :data:`IMAGES_SHOWN` held-out digits the network gets wrong: their 64 pixels (0–16) and labels."""
    if rows.size == 0:
        return []
    with np.errstate(all="ignore"):
        predicted = net.predict(prepared.X_val[rows]).argmax(axis=1)
    truth = prepared.Y_val[rows].argmax(axis=1)
    wrong = np.flatnonzero(predicted != truth)[:IMAGES_SHOWN]
    classes = prepared.encoder.target.classes_
    pixels = table.drop(columns=[prepared.encoder.target.name_]).iloc[prepared.split.val[rows[wrong]]]
    return [{"pixels": p, "label": str(classes[t]), "predicted": str(classes[q])}
            for p, t, q in zip(pixels.to_numpy().astype(int).tolist(), truth[wrong], predicted[wrong])]  # fmt: skip
