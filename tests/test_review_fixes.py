"""Edge cases found in review: unwritable outputs, NaN in files, zero weights, empty hold-outs, strict JSON."""

import json

import numpy as np
import pytest

import bprop
from bprop import modelfile as io
from cli_support import run


def test_unwritable_output_is_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--quiet", "--epochs", "1", "--out", "/proc/model.safetensors")
    assert code == 2 and err.startswith("error: cannot write '/proc/model.safetensors'")
    assert err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run(capsys, "train", "--quiet", "--epochs", "1", "--checkpoint", "/proc/ck")
    assert code == 2 and err.startswith("error: cannot create the checkpoint folder")
    assert not (tmp_path / "model.safetensors").exists()


def test_a_model_file_with_nan_weights_is_refused(tmp_path):
    from safetensors.numpy import save as st_save

    path = tmp_path / "m.safetensors"
    io.save(bprop.mlp([2, 3, 1], seed=0), path)
    from safetensors.numpy import load as st_load

    data = path.read_bytes()
    tensors = st_load(data)
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])["__metadata__"]
    tensors["layers.0.W"][0, 0] = np.nan
    document = json.loads(header["bprop"])
    document["weights_sha256"] = io._checksum(tensors)  # a crafted file passes the checksum
    path.write_bytes(st_save(tensors, metadata={"bprop": json.dumps(document)}))
    with pytest.raises(ValueError, match="NaN or infinite"):
        io.load(path)


def test_zero_sample_weights_are_left_out_of_training(rng):
    X = rng.normal(size=(20, 3))
    Y = np.eye(2)[rng.integers(0, 2, 20)]
    weights = np.r_[np.zeros(10), np.ones(10)]
    net = bprop.mlp([3, 4, 2], activation="tanh", output_activation="softmax", seed=0)
    history = bprop.fit(net, X, Y, loss="cce", batch_size=2, epochs=2, sample_weight=weights, seed=0, verbose=0)
    assert history.epochs == 2
    same = bprop.mlp([3, 4, 2], activation="tanh", output_activation="softmax", seed=0)
    bprop.fit(same, X[10:], Y[10:], loss="cce", batch_size=2, epochs=2, seed=0, verbose=0)
    for a, b in zip(net.parameters(), same.parameters()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="every training row has sample_weight 0"):
        bprop.fit(net, X, Y, loss="cce", sample_weight=np.zeros(20), verbose=0)


def test_a_hold_out_that_would_be_empty_is_a_clear_error():
    X = np.arange(6.0).reshape(3, 2)
    Y = np.eye(3)  # three classes of one row each: stratification keeps them all for training
    net = bprop.mlp([2, 3, 3], activation="tanh", output_activation="softmax", seed=0)
    with pytest.raises(ValueError, match="leaves no validation rows"):
        bprop.fit(net, X, Y, loss="cce", validation_split=0.3, verbose=0)


def test_evaluate_json_stays_strict_when_r2_is_undefined(tmp_path, capsys):
    rows = "\n".join(f"{i},{2 * i + 1}" for i in range(30))
    (tmp_path / "train.csv").write_text("x,y\n" + rows + "\n")
    model = tmp_path / "m.safetensors"
    code, _, err = run(
        capsys,
        "train",
        tmp_path / "train.csv",
        "--task",
        "regression",
        "--quiet",
        "--epochs",
        "2",
        "--layers",
        "4",
        "--out",
        model,
    )
    assert code == 0, err
    (tmp_path / "one.csv").write_text("x,y\n3,7\n")
    code, out, err = run(capsys, "evaluate", model, tmp_path / "one.csv", "--json")
    assert code == 0, err
    result = json.loads(out)  # strict JSON: no NaN token
    assert result["r2"] is None and result["n_samples"] == 1


def test_damaged_preprocessing_metadata_is_one_error_line(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", "--quiet", "--epochs", "1", "--layers", "4", "--out", model)
    assert code == 0, err
    loaded = io.load(model)
    loaded.preprocessing["features"]["columns"] = 5
    io.save(loaded, model)
    for command in ("info", "predict"):
        argv = [command, model] + ([tmp_path / "x.csv"] if command == "predict" else [])
        (tmp_path / "x.csv").write_text("a\n1\n")
        code, _, err = run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), (command, err)
