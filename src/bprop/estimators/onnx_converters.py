"""skl2onnx converters for :class:`MLPClassifier` and :class:`MLPRegressor`, so scikit-learn pipelines that
contain them convert with ``skl2onnx.to_onnx`` (after one call of :func:`register_skl2onnx`).

The network's nodes come from the same code as ``bprop.export_onnx`` (``bprop.export.network``), written into
skl2onnx's container through a small adapter. The weights take the precision of the pipeline's tensor at
that point (float32 for skl2onnx's usual ``FloatTensorType`` input, float64 for ``DoubleTensorType``).
Outputs follow skl2onnx's conventions: a classifier gives ``label`` and ``probabilities`` (a ZipMap of them
unless ``options={"zipmap": False}``), a regressor ``variable`` ``(N, n_outputs)``.
"""

from __future__ import annotations

import numpy as np

from ..export.graph import Builder
from ..export.network import network_nodes

__all__ = ["register_skl2onnx"]


class _ContainerBuilder(Builder):
    """The export's graph-builder interface over skl2onnx's scope (names) and container (nodes)."""

    def __init__(self, scope, container) -> None:
        self.scope, self.container = scope, container

    def fresh(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint.replace("/", "_"))

    def constant(self, hint: str, value: np.ndarray) -> str:
        from onnx import TensorProto, numpy_helper

        name, value = self.fresh(hint), np.asarray(value)
        if value.dtype == object:  # strings: skl2onnx builds the tensor from a list
            self.container.add_initializer(name, TensorProto.STRING, list(value.shape), [str(v) for v in value.ravel()])
        else:
            self.container.add_initializer(name, None, None, numpy_helper.from_array(value, name))
        return name

    def add(self, op_type: str, inputs: list[str], output: str, *, domain: str = "", **attributes) -> None:
        name = self.scope.get_unique_operator_name(op_type)
        self.container.add_node(op_type, inputs, [output], op_domain=domain, name=name, **attributes)


def _input_dtype(operator) -> np.dtype:
    from skl2onnx.common.data_types import DoubleTensorType

    return np.dtype(np.float64 if isinstance(operator.inputs[0].type, DoubleTensorType) else np.float32)


def _convert_classifier(scope, operator, container) -> None:
    estimator = operator.raw_operator
    graph = _ContainerBuilder(scope, container)
    dtype = _input_dtype(operator)
    out = network_nodes(graph, estimator.net_, operator.inputs[0].full_name, dtype)
    if estimator.out_activation_ != "softmax":
        if estimator.n_outputs_ != 1:
            raise ValueError("skl2onnx conversion of a multilabel bprop.MLPClassifier is not supported; use one label")
        # One sigmoid unit p for two classes: probabilities (1 - p, p), as predict_proba gives them.
        rest = graph.node("Sub", [graph.constant("one", np.ones((1, 1), dtype=dtype)), out], "p0")
        out = graph.node("Concat", [rest, out], "p", axis=1)
    graph.add("Identity", [out], operator.outputs[1].full_name)
    index = graph.node("ArgMax", [out], "class_index", axis=1, keepdims=0)
    classes = np.asarray(estimator.classes_)
    classes = classes.astype(np.int64) if classes.dtype.kind in "iub" else classes.astype(str).astype(object)
    graph.add("Gather", [graph.constant("classes", classes), index], operator.outputs[0].full_name, axis=0)


def _convert_regressor(scope, operator, container) -> None:
    graph = _ContainerBuilder(scope, container)
    out = network_nodes(graph, operator.raw_operator.net_, operator.inputs[0].full_name, _input_dtype(operator))
    graph.add("Identity", [out], operator.outputs[0].full_name)


def _regressor_shape(operator) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    kind = DoubleTensorType if _input_dtype(operator) == np.float64 else FloatTensorType
    batch = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = kind([batch, operator.raw_operator.n_outputs_])


def register_skl2onnx() -> None:
    """Register bprop's estimators with skl2onnx (idempotent); needs the skl2onnx package.

    Example::

        import bprop, skl2onnx
        bprop.register_skl2onnx()
        onx = skl2onnx.to_onnx(pipeline, X[:1].astype("float32"), options={"zipmap": False})
    """
    try:
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    except ImportError:
        raise ValueError("converting bprop estimators with skl2onnx needs it: pip install skl2onnx") from None
    from .mlp import MLPClassifier, MLPRegressor

    update_registered_converter(
        MLPClassifier, "BpropMLPClassifier", calculate_linear_classifier_output_shapes, _convert_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )  # fmt: skip
    update_registered_converter(MLPRegressor, "BpropMLPRegressor", _regressor_shape, _convert_regressor)
