"""``bprop.export_onnx``: a model file (or a network) as one ONNX graph, raw table columns in, labels out.

Graph (see the README's export section):

- inputs: one per feature column, named as the column, ``(N, 1)``, double for numeric and string for
  categorical columns (missing: NaN / ``""``); with ``preprocessing=False`` one input ``input``
  ``(N, n_inputs)`` of encoded values in the network's dtype;
- the preprocessing (:mod:`.features`), then the layers (:mod:`.network`), the batch dimension ``N`` free;
- outputs: ``label`` ``(N,)`` (strings, or int64 when the classes are integers) and ``probabilities``
  ``(N, n_classes)`` for classification, ``value`` ``(N,)`` float64 in the target's units for regression;
  ``output`` ``(N, n_outputs)`` with ``preprocessing=False``.

The weights keep the network's dtype (float32 → FLOAT, float64 → DOUBLE). Default-domain opset
:data:`OPSET` and ``ai.onnx.ml`` opset :data:`ML_OPSET` (``LabelEncoder``'s ``keys_strings``) are the lowest
that ``onnx.checker`` and onnxruntime accept for every operator used (``tests/test_onnx_export.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes
from ..modelfile import Model
from ..nn.network import Sequential
from ..tables.data import TableEncoder
from ..version import __version__
from .features import ML_DOMAIN, feature_nodes
from .graph import Graph, tensor_type
from .network import check_exportable, network_nodes

__all__ = ["OPSET", "ML_OPSET", "to_onnx", "export_onnx", "stored_encoder", "OUTPUTS"]

OPSET = 9
ML_OPSET = 2
OUTPUTS = ("label", "probabilities", "value")
_BATCH = "N"


def _needs_onnx():
    try:
        import onnx
    except ImportError:
        raise ValueError("ONNX export needs the onnx package: pip install 'bprop[onnx]'") from None
    return onnx


def _as_model(model) -> Model:
    if isinstance(model, (str, os.PathLike)):
        from ..modelfile import load

        return load(model)
    if isinstance(model, Sequential):
        return Model(model)
    if isinstance(model, Model):
        return model
    raise ValueError(
        f"export_onnx takes a bprop.Model, a bprop.Sequential or the path of a model file, got {type(model).__name__}"
    )


def stored_encoder(model: Model) -> TableEncoder:
    """The model's stored TableEncoder, checked against its network's widths."""
    try:
        encoder = TableEncoder.from_dict(model.preprocessing)
        widths = (encoder.features.n_outputs, encoder.target.n_outputs)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        raise ValueError(f"the model's stored preprocessing is damaged ({exc}); train the model again") from None
    if widths != (model.net.n_inputs, model.net.n_outputs):
        raise ValueError(
            f"the model is inconsistent: its preprocessing makes {widths[0]} inputs and reads {widths[1]} outputs, "
            f"but its network takes {model.net.n_inputs} and gives {model.net.n_outputs}; train the model again"
        )
    return encoder


def _check_input_names(encoder: TableEncoder) -> None:
    for name in encoder.features.feature_names:
        if name in OUTPUTS or name == "" or name.startswith("bprop/"):
            raise ValueError(
                f"feature column {name!r} cannot name an input of the ONNX graph (the names {list(OUTPUTS)} are its "
                "outputs, 'bprop/…' its internal tensors); rename the column and train again, or export the network "
                "alone (preprocessing=False, bprop export --no-preprocessing)"
            )


def _value_info(name: str, element_type: int, shape: list):
    from onnx import helper

    return helper.make_tensor_value_info(name, element_type, shape)


def _raw_inputs(encoder: TableEncoder) -> list:
    from onnx import TensorProto

    kinds = {"numeric": TensorProto.DOUBLE, "categorical": TensorProto.STRING}
    return [_value_info(spec["name"], kinds[spec["kind"]], [_BATCH, 1]) for spec in encoder.features.columns_]


def _outputs(graph: Graph, encoder: TableEncoder, out: str, dtype: np.dtype) -> list:
    """Name the network's output ``probabilities`` and add ``label``; or ``value`` for regression."""
    from onnx import TensorProto

    target = encoder.target
    if target.task_ == "regression":
        wide = out if dtype == np.float64 else graph.node("Cast", [out], "output64", to=TensorProto.DOUBLE)
        flat = graph.node("Reshape", [wide, graph.constant("flat", np.array([-1], dtype=np.int64))], "output_flat")
        scaled = graph.node("Mul", [flat, graph.constant("target/scale", np.array(target.scale_))], "scaled")
        graph.add("Add", [scaled, graph.constant("target/mean", np.array(target.mean_))], "value")
        return [_value_info("value", TensorProto.DOUBLE, [_BATCH])]
    graph.add("Identity", [out], "probabilities")
    index = graph.node("ArgMax", ["probabilities"], "class_index", axis=1, keepdims=0)
    classes = _class_array(target.classes_)
    graph.add("Gather", [graph.constant("classes", classes), index], "label", axis=0)
    return [
        _value_info("label", tensor_type(classes.dtype), [_BATCH]),
        _value_info("probabilities", tensor_type(dtype), [_BATCH, len(classes)]),
    ]


def _class_array(classes: list) -> np.ndarray:
    """Integer classes stay int64; any others (strings, booleans, fractional numbers) become their text."""
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return np.array(classes, dtype=np.int64)
    return np.array([str(c) for c in classes], dtype=object)


def _metadata(model: Model, encoder: TableEncoder | None, preprocessing: bool) -> dict[str, str]:
    net = model.net
    meta = {"bprop_version": __version__, "dtype": net.dtype.name, "preprocessing": json.dumps(preprocessing)}
    if encoder is not None:
        target = encoder.target
        meta["task"] = target.task_
        meta["target"] = target.name_
        if target.task_ == "classification":
            meta["classes"] = json.dumps(list(target.classes_))
        else:
            meta["target_mean"], meta["target_scale"] = repr(target.mean_), repr(target.scale_)
        features = [{"name": spec["name"], "type": spec["kind"]} for spec in encoder.features.columns_]
        meta["features"] = json.dumps(features)
        meta["encoded_inputs"] = json.dumps(encoder.features.output_names)
        meta["missing_values"] = "NaN in numeric inputs, empty string in categorical inputs"
    return meta


def to_onnx(model: Model | Sequential | str | os.PathLike, *, preprocessing: bool | None = None):
    """The ONNX ``ModelProto`` of ``model`` (see the module docstring), checked by ``onnx.checker``.

    Args:
        model: a :class:`~bprop.modelfile.Model` (e.g. ``bprop.load(path)``), a bare ``Sequential`` or a
            model file's path.
        preprocessing: include the stored preprocessing and decoding (raw columns in, labels or values out);
            ``False``: the network alone; ``None`` (default): whenever the model has stored preprocessing.

    Raises:
        ValueError: the model is damaged, a layer or activation has no ONNX counterpart (named), or a
            feature column's name clashes with an output.
    """
    onnx = _needs_onnx()
    from onnx import helper

    model = _as_model(model)
    check_exportable(model.net)
    if preprocessing is None:
        preprocessing = bool(model.preprocessing)
    if preprocessing and not model.preprocessing:
        raise ValueError("the model has no stored preprocessing (not written by bprop train); pass preprocessing=False")
    encoder = stored_encoder(model) if model.preprocessing else None
    dtype = model.net.dtype
    if preprocessing:
        _check_input_names(encoder)
        graph = Graph(reserved={*encoder.features.feature_names, *OUTPUTS})
        inputs = _raw_inputs(encoder)
        encoded = feature_nodes(graph, encoder.features, dtype)
        outputs = _outputs(graph, encoder, network_nodes(graph, model.net, encoded), dtype)
    else:
        graph = Graph(reserved={"input", "output"})
        inputs = [_value_info("input", tensor_type(dtype), [_BATCH, model.net.n_inputs])]
        graph.add("Identity", [network_nodes(graph, model.net, "input")], "output")
        outputs = [_value_info("output", tensor_type(dtype), [_BATCH, model.net.n_outputs])]
    opsets = [helper.make_opsetid("", OPSET)]
    if any(node.domain == ML_DOMAIN for node in graph.nodes):
        opsets.append(helper.make_opsetid(ML_DOMAIN, ML_OPSET))
    doc = "bprop MLP" + (" with its table preprocessing: raw columns in, predictions out" if preprocessing else "")
    proto = helper.make_model(
        helper.make_graph(graph.nodes, "bprop", inputs, outputs, graph.initializers, doc_string=doc),
        opset_imports=opsets,
        producer_name="bprop",
        producer_version=__version__,
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    helper.set_model_props(proto, _metadata(model, encoder, preprocessing))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(
    model: Model | Sequential | str | os.PathLike, path: str | os.PathLike, *, preprocessing: bool | None = None
) -> Path:
    """Write :func:`to_onnx`'s graph to ``path`` atomically (a temporary file renamed over it); returns the path.

    Nothing is written when the export fails. Needs the ``onnx`` extra (``pip install 'bprop[onnx]'``).

    Example:
        >>> import bprop, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
        >>> bprop.export_onnx(bprop.mlp([3, 4, 2], seed=0), path).name
        'net.onnx'
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"export_onnx writes to a path (a str or pathlib.Path), got {type(path).__name__}")
    proto = to_onnx(model, preprocessing=preprocessing)
    return atomic_write_bytes(path, proto.SerializeToString())
