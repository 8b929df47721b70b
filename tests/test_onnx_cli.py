"""``bprop export``: --check, --no-preprocessing, and every bad input as one error line with nothing written."""

import numpy as np
import pytest

import bprop
from bprop.export import export_onnx, to_onnx
from bprop.nn.activations import Activation
from cli_support import assert_one_error, run, snapshot, train_model, write_csv
from onnx_support import table_text

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx_cli")
    return train_model(folder, "model", table_text(90, 11), "--layers", "4")


def test_check_reports_the_largest_difference(trained, tmp_path, capsys):
    model, data = trained
    code, out, err = run(capsys, "export", model, tmp_path / "m.onnx", "--check", data)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"ONNX model written to {tmp_path / 'm.onnx'} (opset 9)"
    assert lines[1].startswith("check passed on 90 rows: onnxruntime vs bprop predict: the same labels on every row")
    difference = float(lines[1].split("largest difference in probabilities ")[1].split()[0])
    assert 0 <= difference <= 1e-5


def test_no_preprocessing_checks_the_network(trained, tmp_path, capsys):
    model, data = trained
    code, out, err = run(capsys, "export", model, tmp_path / "net.onnx", "--no-preprocessing", "--check", data)
    assert code == 0, err
    assert "largest difference in outputs" in out.splitlines()[1]


def test_not_a_model(trained, tmp_path, capsys):
    _, data = trained
    code, out, err = run(capsys, "export", data, tmp_path / "m.onnx")
    assert_one_error(code, out, err, "not a bprop model file")
    assert snapshot(tmp_path) == {}


def test_tampered_model_and_an_existing_output_kept(trained, tmp_path, capsys):
    model, _ = trained
    raw = bytearray(model.read_bytes())
    raw[-3] ^= 0x40  # a bit of the last weight
    tampered = tmp_path / "tampered.safetensors"
    tampered.write_bytes(bytes(raw))
    (tmp_path / "m.onnx").write_bytes(b"old")
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "export", tampered, tmp_path / "m.onnx")
    assert_one_error(code, out, err, "corrupted")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(("out", "fragment"), [("missing/m.onnx", "does not exist"), ("m.txt", ".onnx"),
                                               ("data.csv/m.onnx", "is a file")])  # fmt: skip
def test_unwritable_outputs(out, fragment, trained, tmp_path, capsys):
    model, _ = trained
    write_csv(tmp_path / "data.csv", "a\n1\n")
    before = snapshot(tmp_path)
    code, stdout, err = run(capsys, "export", model, tmp_path / out)
    assert_one_error(code, stdout, err, fragment)
    assert snapshot(tmp_path) == before


def test_unwritable_path_in_python(trained):
    with pytest.raises(ValueError, match="cannot write"):
        export_onnx(bprop.load(trained[0]), "/proc/m.onnx")


def test_check_data_without_a_column_writes_nothing(trained, tmp_path, capsys):
    model, _ = trained
    data = write_csv(tmp_path / "rows.csv", "size,year,zip\n1.0,2000,007\n")
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "export", model, tmp_path / "m.onnx", "--check", data)
    assert_one_error(code, out, err, "missing feature column", "colour")
    assert snapshot(tmp_path) == before


def test_model_without_preprocessing(tmp_path, capsys):
    path = bprop.save(bprop.mlp([3, 4, 2], seed=0), tmp_path / "bare.safetensors")
    code, out, err = run(capsys, "export", path, tmp_path / "m.onnx")
    assert_one_error(code, out, err, "--no-preprocessing")
    code, out, err = run(capsys, "export", path, tmp_path / "m.onnx", "--no-preprocessing")
    assert code == 0, err


def test_without_onnx_installed(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    code, out, err = run(capsys, "export", trained[0], tmp_path / "m.onnx")
    assert_one_error(code, out, err, "pip install 'bprop[onnx]'")
    assert snapshot(tmp_path) == {}


class _Swish(Activation):
    name = "swish"

    def forward(self, z, out=None):
        return np.multiply(z, 1 / (1 + np.exp(-z)), out=out)


def test_an_activation_onnx_cannot_express_is_named():
    net = bprop.mlp([3, 4, 2], seed=0)
    net.layers[1].activation = _Swish()
    with pytest.raises(ValueError, match=r"layer 2 \(Dense\(4, 2, activation='swish'\)\) uses the activation 'swish'"):
        to_onnx(net)


class _ShiftedRelu(bprop.nn.activations.ReLU):  # named "relu", computing something else
    def forward(self, z, out=None):
        return super().forward(z - 1, out)


class _Scaled(bprop.Dropout):  # not the identity at inference
    def __init__(self):
        super().__init__(0.1, rng=0)

    def forward(self, x, *, training=False):
        return x * 2


class _Clipped(bprop.Dense):
    def forward(self, x, *, training=False, activate=True):
        return np.clip(super().forward(x, training=training, activate=activate), -1, 1)


def test_subclasses_with_a_forward_of_their_own_are_refused_not_exported_as_their_parents():
    net = bprop.mlp([3, 4, 2], seed=0)
    net.layers[0].activation = _ShiftedRelu()
    with pytest.raises(ValueError, match=r"layer 1 .* uses _ShiftedRelu, named 'relu' but computing a forward of"):
        to_onnx(net)
    clipped = bprop.Sequential([_Clipped(3, 4, "relu", rng=0), bprop.Dense(4, 2, "identity", rng=1)])
    with pytest.raises(ValueError, match=r"layer 1 \(.*\) has no ONNX counterpart"):
        to_onnx(clipped)
    scaled = bprop.Sequential([bprop.Dense(3, 4, "relu", rng=0), _Scaled(), bprop.Dense(4, 2, "identity", rng=1)])
    with pytest.raises(ValueError, match=r"layer 2 \(.*\) has no ONNX counterpart"):
        to_onnx(scaled)


def test_a_column_named_like_an_output(tmp_path):
    text = "label,y\n" + "".join(f"{v:.2f},{'a' if v > 0 else 'b'}\n" for v in np.linspace(-1, 1, 30))
    model, _ = train_model(tmp_path, "clash", text, "--layers", "3")
    with pytest.raises(ValueError, match="feature column 'label' cannot name an input"):
        to_onnx(bprop.load(model))
    assert to_onnx(bprop.load(model), preprocessing=False).graph.input[0].name == "input"


def test_a_failed_check_exits_1_and_says_so(trained, tmp_path, capsys, monkeypatch):
    import bprop.export.check as check

    monkeypatch.setattr(check, "TOLERANCE", -1.0)  # no difference can pass: the failing path, for real
    model, data = trained
    code, out, err = run(capsys, "export", model, tmp_path / "m.onnx", "--check", data)
    assert code == 1
    assert err.startswith("check FAILED on 90 rows") and "tolerance -1" in err
    assert (tmp_path / "m.onnx").exists()  # the export itself is written; the check reports on it


def test_check_of_a_float64_regressor_compares_values(tmp_path, capsys):
    flags = ("--task", "regression", "--dtype", "float64", "--layers", "4")
    model, data = train_model(tmp_path, "reg", table_text(60, 12, task="regression"), *flags)
    code, out, err = run(capsys, "export", model, tmp_path / "reg.onnx", "--check", data)
    assert code == 0, err
    line = out.splitlines()[1]
    assert line.startswith("check passed on 60 rows: onnxruntime vs bprop predict: largest difference in values")
    assert float(line.split("largest difference in values ")[1].split()[0]) <= 1e-9  # double all the way
