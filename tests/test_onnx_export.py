"""ONNX export: onnxruntime on raw columns predicts what ``bprop predict`` predicts (labels equal,
probabilities and values within 1e-5), for every activation, both tasks, float32 and float64."""

import json

import numpy as np
import pandas as pd
import pytest

import bprop
from bprop.export import OPSET, onnx_inputs, to_onnx
from bprop.tables.data import TableEncoder, read_csv
from cli_support import run, train_model, write_csv
from onnx_support import bprop_predict, run_onnx, table_text

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def new_rows(folder):
    """Rows the models never saw: gaps, an unseen colour and zip code."""
    return {task: write_csv(folder / f"new_{task}.csv", table_text(41, 99, task=task, unseen=True))
            for task in ("classification", "regression")}  # fmt: skip


def _export(capsys, model, path, *flags):
    code, out, err = run(capsys, "export", model, path, *flags)
    assert code == 0, err
    assert f"written to {path}" in out
    return path


@pytest.mark.parametrize("activation", HIDDEN)
def test_classifier_labels_and_probabilities_match_bprop_predict(activation, folder, new_rows, capsys):
    model, _ = train_model(
        folder, f"cls_{activation}", table_text(120, 1), "--activation", activation, "--layers", "8,5"
    )
    path = _export(capsys, model, folder / f"cls_{activation}.onnx")
    got = run_onnx(path, model, new_rows["classification"])
    expected = bprop_predict(capsys, model, new_rows["classification"], "--proba")
    assert got["label"].tolist() == expected["target"].tolist()
    assert got["probabilities"].dtype == np.float32
    np.testing.assert_allclose(got["probabilities"], expected[["proba_hi", "proba_lo"]].to_numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize(("activation", "dtype"), [("tanh", "float32"), ("relu", "float64"), ("leaky_relu", "float32")])
def test_regressor_values_match_bprop_predict(activation, dtype, folder, new_rows, capsys):
    flags = ["--task", "regression", "--activation", activation, "--dtype", dtype, "--layers", "8"]
    model, _ = train_model(folder, f"reg_{activation}", table_text(120, 2, task="regression"), *flags)
    path = _export(capsys, model, folder / f"reg_{activation}.onnx")
    got = run_onnx(path, model, new_rows["regression"])
    expected = bprop_predict(capsys, model, new_rows["regression"])["target"].astype(float).to_numpy()
    assert got["value"].dtype == np.float64 and got["value"].shape == expected.shape
    np.testing.assert_allclose(got["value"], expected, rtol=0, atol=1e-5)


def _with_network(model_path, hidden: str, output: str, dtype="float32"):
    """The trained model's preprocessing around a fresh network of the same widths and given activations."""
    model = bprop.load(model_path)
    sizes = [model.net.n_inputs, 6, 4, model.net.n_outputs]
    model.net = bprop.mlp(sizes, activation=hidden, output_activation=output, seed=3, dtype=dtype)
    return model


@pytest.mark.parametrize(
    ("hidden", "output"), [("softmax", "sigmoid"), ("sigmoid", "softmax"), ("tanh", "identity"), ("leaky_relu", "relu")]
)
def test_every_activation_in_any_place(hidden, output, folder, new_rows):
    model_path, _ = train_model(folder, "base", table_text(80, 3), "--layers", "4")
    for dtype in ("float32", "float64"):
        model = _with_network(model_path, hidden, output, dtype)
        proto = to_onnx(model)
        encoder = TableEncoder.from_dict(model.preprocessing)
        table = read_csv(new_rows["classification"], **encoder.read_options())
        s = session_of(proto)
        got = dict(
            zip(["label", "probabilities"], s.run(["label", "probabilities"], onnx_inputs(encoder.features, table)))
        )
        outputs = model.net.forward(encoder.features.transform(table.drop(columns=["target"])))
        np.testing.assert_allclose(got["probabilities"], outputs, rtol=0, atol=1e-5)
        assert got["probabilities"].dtype == np.dtype(dtype)
        assert got["label"].tolist() == [str(c) for c in encoder.target.inverse_transform(outputs)]


def session_of(proto):
    import onnxruntime

    return onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def test_graph_inputs_outputs_metadata_and_checker(folder):
    model_path, _ = train_model(folder, "meta", table_text(80, 4), "--layers", "4")
    proto = to_onnx(bprop.load(model_path))
    onnx.checker.check_model(proto, full_check=True)
    inputs = {i.name: i.type.tensor_type for i in proto.graph.input}
    assert list(inputs) == ["size", "year", "colour", "zip"]
    kinds = {name: t.elem_type for name, t in inputs.items()}
    assert kinds == {"size": onnx.TensorProto.DOUBLE, "year": onnx.TensorProto.DOUBLE,
                     "colour": onnx.TensorProto.STRING, "zip": onnx.TensorProto.STRING}  # fmt: skip
    for t in inputs.values():  # a free batch dimension, one column
        assert [d.dim_param or d.dim_value for d in t.shape.dim] == ["N", 1]
    assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
    assert {op.domain or "": op.version for op in proto.opset_import} == {"": OPSET, "ai.onnx.ml": 2}
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["bprop_version"] == bprop.__version__
    assert json.loads(meta["classes"]) == ["hi", "lo"]
    assert json.loads(meta["features"]) == [{"name": "size", "type": "numeric"}, {"name": "year", "type": "numeric"},
                                            {"name": "colour", "type": "categorical"},
                                            {"name": "zip", "type": "categorical"}]  # fmt: skip
    assert {t.data_type for t in proto.graph.initializer if "layer" in t.name} == {onnx.TensorProto.FLOAT}
    model64 = _with_network(model_path, "relu", "softmax", "float64")
    weights = {t.data_type for t in to_onnx(model64).graph.initializer if "layer" in t.name}
    assert weights == {onnx.TensorProto.DOUBLE}


def test_the_stated_opset_is_the_lowest_that_works(folder, monkeypatch):
    import bprop.export.model as export_model

    model = bprop.load(train_model(folder, "opset", table_text(60, 5), "--layers", "4", "--clip", "3")[0])
    session_of(to_onnx(model))  # builds and runs at OPSET
    monkeypatch.setattr(export_model, "OPSET", OPSET - 1)
    with pytest.raises(Exception, match="IsNaN|Where|opset|domain_version"):
        session_of(to_onnx(model))


def test_batch_of_one_and_many(folder):
    model_path, data = train_model(folder, "batch", table_text(80, 6), "--layers", "4")
    model = bprop.load(model_path)
    encoder = TableEncoder.from_dict(model.preprocessing)
    table = read_csv(data, **encoder.read_options())
    s = session_of(to_onnx(model))
    whole = s.run(["probabilities"], onnx_inputs(encoder.features, table))[0]
    one = s.run(["probabilities"], onnx_inputs(encoder.features, table.iloc[[5]]))[0]
    assert whole.shape == (80, 2) and one.shape == (1, 2)
    np.testing.assert_array_equal(one[0], whole[5])


def test_missing_values_and_unseen_categories_encode_as_bprop_does(folder):
    """Gaps take the training fill, an unseen category is all zeros: the network's inputs are bprop's."""
    model_path, _ = train_model(folder, "enc", table_text(80, 7), "--layers", "4", "--clip", "2")
    model = _with_network(model_path, "relu", "softmax", "float64")
    encoder = TableEncoder.from_dict(model.preprocessing)
    proto = to_onnx(model)
    # The encoded matrix, an internal tensor, made an output of the graph for this test.
    proto.graph.output.append(onnx.helper.make_tensor_value_info("bprop/encoded", onnx.TensorProto.DOUBLE, None))
    table = pd.DataFrame({"size": [np.nan, 1e300, -3.0, 0.5], "year": [2000.0, np.nan, -1e200, 1995.0],
                          "colour": ["", "mauve", "red", "blue"], "zip": ["007", "", "999", "010"]})  # fmt: skip
    raw = table.replace("", np.nan)
    (encoded,) = session_of(proto).run(["bprop/encoded"], onnx_inputs(encoder.features, raw))
    expected = encoder.features.transform(raw)
    np.testing.assert_allclose(encoded, expected, rtol=1e-14, atol=1e-14)
    assert encoded[1, 2:6].tolist() == [0, 0, 0, 0]  # 'mauve' was never seen


def test_integer_and_boolean_classes(folder):
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    text = "x,digit\n" + "".join(f"{v:.3f},{int(v > 0) * 3 + 1}\n" for v in x)
    model = bprop.load(train_model(folder, "ints", text, "--layers", "4")[0])
    label = next(o for o in to_onnx(model).graph.output if o.name == "label")
    assert label.type.tensor_type.elem_type == onnx.TensorProto.INT64
    (labels,) = session_of(to_onnx(model)).run(["label"], {"x": x.reshape(-1, 1)})
    assert set(labels.tolist()) <= {1, 4}
    text = "x,flag\n" + "".join(f"{v:.3f},{v > 0}\n" for v in x)
    model = bprop.load(train_model(folder, "bools", text, "--layers", "4")[0])
    (labels,) = session_of(to_onnx(model)).run(["label"], {"x": x.reshape(-1, 1)})
    assert set(labels.tolist()) <= {"True", "False"}


def test_network_alone(folder):
    model = bprop.load(train_model(folder, "alone", table_text(60, 8), "--layers", "4")[0])
    proto = to_onnx(model, preprocessing=False)
    assert [i.name for i in proto.graph.input] == ["input"] and [o.name for o in proto.graph.output] == ["output"]
    X = np.random.default_rng(1).normal(size=(7, model.net.n_inputs)).astype(np.float32)
    (out,) = session_of(proto).run(["output"], {"input": X})
    np.testing.assert_allclose(out, model.net.forward(X), rtol=0, atol=1e-6)
    bare = to_onnx(bprop.mlp([3, 5, 2], activation="leaky_relu", seed=0, dropout=0.5))  # a bare network
    assert [i.name for i in bare.graph.input] == ["input"]


def test_column_names_with_spaces_and_other_characters():
    from bprop.tables.data import prepare

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"petal length (cm)": rng.normal(size=40), "größe/ß": rng.choice(["a", "b"], 40),
                          "y": rng.choice(["p", "q"], 40)})  # fmt: skip
    prepared = prepare(table, "y", rng=np.random.default_rng(0))
    net = bprop.mlp([prepared.encoder.features.n_outputs, 3, 2], output_activation="softmax", seed=0)
    model = bprop.Model(net, preprocessing=prepared.encoder.to_dict())
    proto = to_onnx(model)
    assert [i.name for i in proto.graph.input] == ["petal length (cm)", "größe/ß"]
    (probabilities,) = session_of(proto).run(["probabilities"], onnx_inputs(prepared.encoder.features, table))
    expected = net.forward(prepared.encoder.features.transform(table.drop(columns="y")))
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-6)
