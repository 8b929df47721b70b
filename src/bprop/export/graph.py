"""A small graph builder: unique names, constants and nodes, whatever collects them in the end.

The same layer code writes into a plain ONNX graph (:class:`Graph`, used by :func:`bprop.export_onnx`) and
into skl2onnx's container (``bprop.estimators.onnx``), so a network is translated in one place only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Builder", "Graph", "tensor_type"]


def tensor_type(dtype: np.dtype) -> int:
    """The ONNX element type of a NumPy dtype (float32 → FLOAT, float64 → DOUBLE, …)."""
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Builder:
    """What layer code may ask of a graph under construction (the skl2onnx adapter implements it too)."""

    def fresh(self, hint: str) -> str:
        """A tensor name not used yet, made from ``hint``."""
        raise NotImplementedError

    def constant(self, hint: str, value: np.ndarray) -> str:
        """Store ``value`` as an initializer; returns its name."""
        raise NotImplementedError

    def node(self, op_type: str, inputs: list[str], hint: str, *, domain: str = "", **attributes) -> str:
        """Add one node with a single output; returns the output's name."""
        output = self.fresh(hint)
        self.add(op_type, inputs, output, domain=domain, **attributes)
        return output

    def add(self, op_type: str, inputs: list[str], output: str, *, domain: str = "", **attributes) -> None:
        """Add one node writing to ``output``, a name the caller chose."""
        raise NotImplementedError


class Graph(Builder):
    """Collects nodes and initializers for ``onnx.helper.make_graph``.

    ``reserved`` names (the graph's inputs and outputs, chosen by the caller) are never handed out.
    Internal names start with ``bprop/`` so they cannot be mistaken for a table's columns.
    """

    def __init__(self, reserved: set[str] | None = None) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self._used: set[str] = set(reserved or ())

    def fresh(self, hint: str) -> str:
        base = f"bprop/{hint}"
        name, k = base, 1
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def constant(self, hint: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def add(self, op_type: str, inputs: list[str], output: str, *, domain: str = "", **attributes) -> None:
        """A node writing to a name chosen by the caller (a graph output)."""
        from onnx import helper

        self._used.add(output)
        name = f"bprop/{op_type}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=name, domain=domain, **attributes))
