"""The stored preprocessing as ONNX nodes, and raw table columns as the graph's inputs.

One graph input per feature column, ``(N, 1)``: double for numeric columns (the preprocessing computes in
float64, as :class:`~bprop.tables.Preprocessor` does, so a timestamp-sized value keeps its digits), string
for categorical ones. Missing values are NaN and the empty string. Numeric runs of adjacent columns are
encoded together: ``Where(IsNaN(x), fill, x)``, ``(x - mean) / scale``, the optional smooth clipping, then a
cast to the network's dtype. A categorical column goes through ``LabelEncoder`` (its categories → their
index, ``""`` → the index of the fill category, anything else → -1) and ``Equal`` against ``0 … K-1``:
an unseen category matches nothing, so its one-hot block is all zeros, as in bprop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..tables.preprocessing import CATEGORICAL, NUMERIC, Preprocessor, is_numeric_column, label_str, parse_numbers
from .graph import Builder, tensor_type

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["feature_nodes", "onnx_inputs", "ML_DOMAIN"]

ML_DOMAIN = "ai.onnx.ml"


def _runs(specs: list[dict]) -> list[list[dict]]:
    """The columns in order, adjacent numeric ones grouped (one set of vector operations per group)."""
    runs: list[list[dict]] = []
    for spec in specs:
        if spec["kind"] == NUMERIC and runs and runs[-1][0]["kind"] == NUMERIC:
            runs[-1].append(spec)
        else:
            runs.append([spec])
    return runs


def _smooth_clip(graph: Builder, z: str, clip: float) -> str:
    """``z / sqrt(1 + r²)`` with ``r = z / clip``, written as ``clip · sign(r) / sqrt(1 + 1/r²)`` where
    ``|r| > 1`` so that no square overflows (bprop uses ``hypot``, which ONNX lacks)."""
    one = graph.constant("one", np.array(1.0))
    bound = graph.constant("clip", np.array(clip))

    def norm(a: str) -> str:  # sqrt(1 + a²)
        square = graph.node("Mul", [a, a], "clip/sq")
        return graph.node("Sqrt", [graph.node("Add", [one, square], "clip/1+sq")], "clip/norm")

    r = graph.node("Div", [z, bound], "clip/r")
    near = graph.node("Div", [z, norm(r)], "clip/near")
    signed = graph.node("Mul", [bound, graph.node("Sign", [r], "clip/sign")], "clip/signed")
    far = graph.node("Div", [signed, norm(graph.node("Reciprocal", [r], "clip/inverse"))], "clip/far")
    beyond = graph.node("Greater", [graph.node("Abs", [r], "clip/abs"), one], "clip/beyond")
    return graph.node("Where", [beyond, far, near], "clip/z")


def _numeric(graph: Builder, specs: list[dict], clip: float | None, dtype: np.dtype) -> str:
    names = [spec["name"] for spec in specs]
    x = names[0] if len(names) == 1 else graph.node("Concat", names, "numeric/x", axis=1)

    def row(field: str) -> str:
        return graph.constant(f"numeric/{field}", np.array([[spec[field] for spec in specs]], dtype=np.float64))

    filled = graph.node("Where", [graph.node("IsNaN", [x], "numeric/missing"), row("fill"), x], "numeric/filled")
    z = graph.node("Div", [graph.node("Sub", [filled, row("mean")], "numeric/centred"), row("scale")], "numeric/z")
    if clip is not None:
        z = _smooth_clip(graph, z, float(clip))
    if dtype != np.float64:
        z = graph.node("Cast", [z], "numeric/cast", to=tensor_type(dtype))
    return z


def _categorical(graph: Builder, spec: dict, dtype: np.dtype) -> str:
    categories = list(spec["categories"])
    keys, codes = categories + [""], list(range(len(categories))) + [categories.index(spec["fill"])]
    if "" in categories:  # an empty category of its own (possible in Parquet): it keeps its code
        keys, codes = keys[:-1], codes[:-1]
    code = graph.node(
        "LabelEncoder", [spec["name"]], f"{spec['name']}/code", domain=ML_DOMAIN,
        keys_strings=keys, values_int64s=codes, default_int64=-1,
    )  # fmt: skip
    every = graph.constant(f"{spec['name']}/categories", np.arange(len(categories), dtype=np.int64).reshape(1, -1))
    hot = graph.node("Equal", [code, every], f"{spec['name']}/onehot")
    return graph.node("Cast", [hot], f"{spec['name']}/encoded", to=tensor_type(dtype))


def feature_nodes(graph: Builder, pre: Preprocessor, dtype: np.dtype) -> str:
    """Add the preprocessing's nodes reading the graph inputs named as ``pre``'s feature columns;
    returns the name of the encoded matrix ``(N, n_inputs)`` in ``dtype``."""
    blocks = []
    for run in _runs(pre.columns_):
        if run[0]["kind"] == NUMERIC:
            blocks.append(_numeric(graph, run, pre.clip, np.dtype(dtype)))
        else:
            blocks.append(_categorical(graph, run[0], np.dtype(dtype)))
    return blocks[0] if len(blocks) == 1 else graph.node("Concat", blocks, "encoded", axis=1)


def onnx_inputs(pre: Preprocessor, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """The raw columns of ``table`` as the exported graph's inputs: ``{column: (N, 1) array}``, float64 for
    numeric columns (NaN where missing), strings for categorical ones (``""`` where missing).

    ``table`` is read as ``bprop predict`` reads it (e.g. ``read_csv(path, **encoder.read_options())``).
    """
    missing = [name for name in pre.feature_names if name not in table.columns]
    if missing:
        raise ValueError(f"missing feature column(s) {missing}; the model was trained on columns {pre.feature_names}")
    feeds = {}
    for spec in pre.columns_:
        column = table[spec["name"]]
        if spec["kind"] == CATEGORICAL:
            present = column.notna().to_numpy()
            cells = [label_str(v) if ok else "" for v, ok in zip(column, present)]
            feeds[spec["name"]] = np.array(cells, dtype=object).reshape(-1, 1)
        elif is_numeric_column(column):
            feeds[spec["name"]] = column.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1)
        else:  # numbers read as text (a stray word): parsed as bprop parses them
            numbers = parse_numbers(column.astype(str).str.strip(), pre.decimal)
            feeds[spec["name"]] = numbers.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1)
    return feeds
