"""A network's layers as ONNX nodes: ``MatMul`` + ``Add`` + the activation per Dense layer.

Dropout is the identity at inference, so it adds nothing. A layer or activation without an ONNX
counterpart is refused by name before anything is written.
"""

from __future__ import annotations

import numpy as np

from ..nn.activations import computes_as_named
from ..nn.dropout import Dropout
from ..nn.layers import Dense, plain
from ..nn.network import Sequential
from .graph import Builder

__all__ = ["ACTIVATION_OPS", "check_exportable", "network_nodes"]

#: bprop activation name → ONNX operator. Softmax over axis 1 of a 2-D tensor means the same in every
#: opset (opset 13 only changed how tensors of more dimensions are read).
ACTIVATION_OPS = {
    "identity": None,
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "relu": "Relu",
    "leaky_relu": "LeakyRelu",
    "softmax": "Softmax",
}


def check_exportable(net: Sequential) -> None:
    """Raise ``ValueError`` naming the first layer that ONNX export cannot express."""
    if not isinstance(net, Sequential):
        raise ValueError(f"ONNX export takes a bprop model or Sequential, got {type(net).__name__}")
    for i, layer in enumerate(net.layers, start=1):
        if plain(layer, Dropout):
            continue
        # A subclass with a forward of its own computes something the operators below do not.
        if not plain(layer, Dense):
            raise ValueError(
                f"layer {i} ({layer!r}) has no ONNX counterpart: export knows Dense and Dropout layers only"
            )
        name = layer.activation.name
        if name in ACTIVATION_OPS and not computes_as_named(layer.activation):
            raise ValueError(
                f"layer {i} ({layer!r}) uses {type(layer.activation).__name__}, named {name!r} but computing "
                f"a forward of its own, which has no ONNX counterpart: export knows bprop's own activations"
            )
        if name not in ACTIVATION_OPS:
            raise ValueError(
                f"layer {i} ({layer!r}) uses the activation {name!r}, which has no ONNX counterpart here; "
                f"export knows {sorted(ACTIVATION_OPS)}: retrain with one of them"
            )


def _activation(graph: Builder, layer: Dense, z: str, index: int, dtype: np.dtype) -> str:
    op = ACTIVATION_OPS[layer.activation.name]
    if op is None:
        return z
    attributes = {}
    if op == "LeakyRelu" and dtype != np.float32:
        # onnxruntime has LeakyRelu for float only: max(z, slope·z) is the same function (0 ≤ slope < 1)
        slope = graph.constant(f"layer{index}/slope", np.array(layer.activation.slope, dtype=dtype))
        return graph.node("Max", [z, graph.node("Mul", [z, slope], f"layer{index}/slope_z")], f"layer{index}/out")
    if op == "LeakyRelu":
        attributes["alpha"] = float(layer.activation.slope)
    elif op == "Softmax":
        attributes["axis"] = 1
    return graph.node(op, [z], f"layer{index}/out", **attributes)


def network_nodes(graph: Builder, net: Sequential, x: str, dtype: np.dtype | None = None) -> str:
    """Add the network's nodes reading ``x`` ``(N, n_inputs)``; returns the name of its output.

    ``dtype``: the precision of the weights in the graph (default the network's own).
    """
    check_exportable(net)
    dtype = net.dtype if dtype is None else np.dtype(dtype)
    a = x
    dense = [layer for layer in net.layers if isinstance(layer, Dense)]
    for index, layer in enumerate(dense, start=1):
        W = graph.constant(f"layer{index}/W", layer.W.astype(dtype))
        b = graph.constant(f"layer{index}/b", layer.b.astype(dtype))
        product = graph.node("MatMul", [a, W], f"layer{index}/xW")
        z = graph.node("Add", [product, b], f"layer{index}/z")
        a = _activation(graph, layer, z, index, dtype)
    return a
