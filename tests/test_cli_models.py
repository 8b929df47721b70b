"""``bprop evaluate``, ``predict`` and ``info`` on model files written by ``bprop train``."""

import io
import json

import numpy as np
import pandas as pd
import pytest

import bprop
import bprop.modelfile
from bprop.tables.data import TableEncoder
from cli_support import FAST, mixed_table, regression_table, run, run_process, train_model, write_csv


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    """A classifier on string labels, a string feature and gaps: (model file, its training CSV)."""
    return train_model(tmp_path_factory.mktemp("pets"), "pets", mixed_table(), "--epochs", "30")


@pytest.fixture(scope="module")
def house(tmp_path_factory):
    return train_model(tmp_path_factory.mktemp("house"), "house", regression_table(), "--task", "regression")


def _encoded(model_path, table):
    model = bprop.load(model_path)
    X, Y, _ = TableEncoder.from_dict(model.preprocessing).transform(table)
    return model, X, Y


def test_evaluate_classification_json(pets, tmp_path, capsys):
    model, _ = pets
    # Fresh rows from the same rule, with gaps and a string feature.
    data = write_csv(tmp_path / "new.csv", mixed_table(40, seed=7))
    code, out, err = run(capsys, "evaluate", model, data, "--json")
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"task", "n_samples", "accuracy", "log_loss"}
    assert report["task"] == "classification"
    assert report["n_samples"] == 40
    assert err.startswith("notice: imputed ")
    assert len(err.splitlines()) == 1
    # The accuracy is the share of predict's labels that are right; the log loss is the mean cross-entropy.
    code, predictions, _ = run(capsys, "predict", model, data, "--proba")
    assert code == 0
    predicted = pd.read_csv(io.StringIO(predictions))
    truth = pd.read_csv(data)["kind"]
    assert report["accuracy"] == pytest.approx(float((predicted["kind"] == truth).mean()), abs=1e-12)
    p_true = np.where(truth == "cat", predicted["proba_cat"], predicted["proba_dog"])
    assert report["log_loss"] == pytest.approx(float(-np.log(p_true).mean()), rel=1e-5)
    assert report["accuracy"] > 0.6  # better than guessing: the stored preprocessing is applied right


def test_evaluate_text_output(pets, capsys):
    model, data = pets
    code, out, err = run(capsys, "evaluate", model, data)
    assert code == 0
    assert out.splitlines()[0] == "classification on 60 rows"
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["accuracy", "log_loss"]


def test_evaluate_and_predict_regression(house, tmp_path, capsys):
    model, _ = house
    data = write_csv(tmp_path / "new.csv", regression_table(30, seed=5))
    code, out, err = run(capsys, "evaluate", model, data, "--json")
    assert code == 0
    assert err == ""
    report = json.loads(out)
    assert set(report) == {"task", "n_samples", "mse", "mae", "r2"}
    assert report["task"] == "regression"
    assert report["n_samples"] == 30
    code, out, _ = run(capsys, "predict", model, data)
    predicted = pd.read_csv(io.StringIO(out))["price"].to_numpy()
    truth = pd.read_csv(data)["price"].to_numpy()
    assert report["mse"] == pytest.approx(float(((predicted - truth) ** 2).mean()), rel=1e-6)
    assert report["mae"] == pytest.approx(float(np.abs(predicted - truth).mean()), rel=1e-6)
    r2 = 1 - ((predicted - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum()
    assert report["r2"] == pytest.approx(float(r2), rel=1e-6)
    code, _, err = run(capsys, "predict", model, data, "--proba")
    assert code == 2
    assert err.startswith("error: --proba needs a classification model")


def test_predict_writes_original_labels_to_stdout_or_file(pets, tmp_path, capsys):
    model, _ = pets
    # No target column, columns in another order: prediction needs only the features, matched by name.
    rows = pd.read_csv(io.StringIO(mixed_table(12, seed=3)))[["colour", "x2", "x1"]]
    data = tmp_path / "rows.csv"
    rows.to_csv(data, index=False)
    code, out, err = run(capsys, "predict", model, data)
    assert code == 0
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == ["kind"]
    assert len(frame) == 12
    assert set(frame["kind"]) <= {"cat", "dog"}

    target = tmp_path / "preds.csv"
    code, out2, err = run(capsys, "predict", model, data, "--out", target, "--proba")
    assert code == 0
    assert out2 == ""
    assert err.splitlines()[-1] == f"12 predictions written to {target}"
    written = pd.read_csv(target)
    assert list(written.columns) == ["kind", "proba_cat", "proba_dog"]
    assert written["kind"].tolist() == frame["kind"].tolist()
    np.testing.assert_allclose(written[["proba_cat", "proba_dog"]].sum(axis=1), 1.0, atol=1e-6)
    best = np.where(written["proba_cat"] >= written["proba_dog"], "cat", "dog")
    assert written["kind"].tolist() == best.tolist()


def test_predict_ignores_extra_columns_with_a_notice(pets, tmp_path, capsys):
    model, data = pets
    table = pd.read_csv(data)
    table["comment"] = "x"
    extra = tmp_path / "extra.csv"
    table.to_csv(extra, index=False)
    code, with_extra, err = run(capsys, "predict", model, extra)
    assert code == 0
    assert "notice: ignored 1 column(s) not used by the model: ['comment']" in err.splitlines()
    _, plain, _ = run(capsys, "predict", model, data)
    assert with_extra == plain


def test_round_trip_train_save_load_predict(tmp_path, monkeypatch, capsys):
    """predict on the saved file gives exactly what the network in memory gave before it was saved."""
    saved = []
    real_save = bprop.modelfile.save

    def capture(model, path, **kw):
        saved.append(model)  # the trained network in memory, as it is handed to save
        return real_save(model, path, **kw)

    monkeypatch.setattr(bprop.modelfile, "save", capture)
    data = write_csv(tmp_path / "pets.csv", mixed_table())
    model_file = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", data, *FAST, "--layers", "6", "--out", model_file)
    assert code == 0, err
    (model_obj,) = saved
    net = model_obj.net
    table = pd.read_csv(data)
    encoder = TableEncoder.from_dict(model_obj.preprocessing)
    X, _, _ = encoder.transform(table)
    before = net.forward(X).copy()

    loaded = bprop.load(model_file)
    assert np.array_equal(loaded.net.forward(X), before)  # bit-identical

    code, out, _ = run(capsys, "predict", model_file, data, "--proba")
    assert code == 0
    frame = pd.read_csv(io.StringIO(out))
    assert frame["kind"].tolist() == encoder.target.inverse_transform(before).tolist()
    # The CSV holds float64 text that reads back to the very same numbers.
    assert np.array_equal(frame[["proba_cat", "proba_dog"]].to_numpy(), before.astype(np.float64))


def test_info_shows_architecture_preprocessing_summary_and_version(pets, capsys):
    model, _ = pets
    code, out, err = run(capsys, "info", model)
    assert code == 0
    assert err == ""
    stored = bprop.load(model)
    summary = stored.training["summary"]
    assert f"format version {bprop.modelfile.FORMAT_VERSION}, written by bprop {bprop.__version__}" in out
    assert f"network: {stored.net.n_parameters():,} parameters, float32" in out
    assert "Dense(5, 8" in out
    assert "Dense(8, 2" in out
    assert "target: 'kind', classification, classes ['cat', 'dog']" in out
    assert "features: 3 columns → 5 inputs" in out
    assert "training settings: " in out
    assert "layers=[8]" in out
    assert "epochs=30" in out
    assert f"training: {summary['epochs']} epochs, stopped by {summary['stop_reason']}" in out
    assert f"accuracy {summary['scores']['test']['accuracy']:.4f}" in out


def test_gradcheck_of_a_model_on_its_data(pets, capsys):
    model, data = pets
    code, out, err = run(capsys, "gradcheck", model, data, "--rows", "8")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("layer 1: max relative error ")
    assert lines[1].startswith("layer 2: max relative error ")
    assert lines[-1].startswith("gradient check passed")
    for line in lines[:2]:
        assert float(line.rsplit(" ", 1)[1]) < 1e-4


def test_predict_and_info_in_real_processes(pets, tmp_path):
    model, data = pets
    done = run_process("predict", model, data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "kind"
    assert len(done.stdout.splitlines()) == 61
    done = run_process("info", model, cwd=tmp_path)
    assert done.returncode == 0
    assert "format version" in done.stdout
    assert list(tmp_path.iterdir()) == []


# -- new files read with the training types, empty batch columns, damaged archives ---------------------


def _codes_csv(n: int = 80) -> str:
    """The label follows a code column; codes have leading zeros, and one of them is not a number."""
    codes = {"007": "yes", "042": "yes", "105": "no", "A13": "no"}
    rows = ["code,x,label"] + [f"{list(codes)[i % 4]},{i % 5},{list(codes.values())[i % 4]}" for i in range(n)]
    return "\n".join(rows) + "\n"


def test_codes_are_read_as_codes_by_evaluate_and_predict(tmp_path, capsys):
    model, _ = train_model(tmp_path, "codes", _codes_csv(), "--epochs", "60", "--lr", "0.05")
    numeric_looking = "code,x,label\n" + "".join(
        f"{c},{i % 5},{lab}\n" for i, (c, lab) in enumerate([("007", "yes"), ("042", "yes"), ("105", "no")] * 10)
    )
    new = write_csv(tmp_path / "new.csv", numeric_looking)
    with_text_code = write_csv(tmp_path / "mixed.csv", numeric_looking + "A13,1,no\n")
    code, out, err = run(capsys, "evaluate", model, new, "--json")
    assert code == 0, err
    assert "unseen" not in err, err
    assert json.loads(out)["accuracy"] == 1.0
    _, alone, err = run(capsys, "predict", model, new)
    _, among_text, _ = run(capsys, "predict", model, with_text_code)
    assert "unseen" not in err
    assert alone.splitlines() == among_text.splitlines()[:-1]  # the same rows get the same labels


def test_predict_imputes_a_column_empty_in_the_batch_and_ignores_an_empty_extra_one(pets, tmp_path, capsys):
    model, _ = pets
    batch = write_csv(tmp_path / "one.csv", "x1,x2,colour,spare\n0.5,,red,\n")
    code, out, err = run(capsys, "predict", model, batch)
    assert code == 0, err
    assert out.splitlines()[0] == "kind"
    assert out.splitlines()[1] in ("cat", "dog")
    assert "notice: imputed 1 missing value(s) (median / most frequent) in: x2 (1)" in err
    assert "notice: ignored 1 column(s) not used by the model: ['spare']" in err
    filled = write_csv(tmp_path / "filled.csv", f"x1,x2,colour\n0.5,{_x2_median(model)!r},red\n")
    assert run(capsys, "predict", model, filled)[1] == out  # imputed with the training median


def _x2_median(model_path) -> float:
    spec = bprop.load(model_path).preprocessing["features"]["columns"][1]
    assert spec["name"] == "x2"
    return spec["fill"]


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_damaged_archives_are_one_error_line(pets, tmp_path, capsys, command):
    import gzip

    from cli_support import assert_one_error

    model, data = pets
    packed = gzip.compress(data.read_bytes())
    broken = tmp_path / "rows.csv.gz"
    broken.write_bytes(packed[: len(packed) // 2])
    assert_one_error(*run(capsys, command, model, broken), "rows.csv.gz' is damaged", "compress it again")


def test_predict_reads_decimal_commas_as_the_model_was_trained(tmp_path, capsys):
    rng = np.random.default_rng(4)
    values = rng.normal(size=(60, 2))
    lines = [f"{a:.3f};{b:.3f};{'hi' if a > 0 else 'lo'}".replace(".", ",") for a, b in values]
    model, data = train_model(tmp_path, "eu", "a;b;level\n" + "\n".join(lines) + "\n", "--decimal", ",")
    assert bprop.load(model).preprocessing["features"]["decimal"] == ","
    code, european, err = run(capsys, "predict", model, data)
    assert code == 0, err
    dotted = write_csv(tmp_path / "dotted.csv", "a,b\n" + "".join(f"{a:.3f},{b:.3f}\n" for a, b in values))
    trained_on_dots, _ = train_model(tmp_path, "dots", pd.read_csv(data, sep=";", decimal=",").to_csv(index=False))
    assert run(capsys, "predict", trained_on_dots, dotted)[1] == european


def test_predict_refuses_an_output_that_is_an_input(tmp_path, capsys):
    from cli_support import assert_one_error, snapshot

    model, data = train_model(tmp_path, "pets", mixed_table())
    renamed = tmp_path / "model.csv"  # a model file under a .csv name: still an input
    renamed.write_bytes(model.read_bytes())
    (tmp_path / "alias.csv").symlink_to(data)
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "predict", model, data, "--out", data)
    assert_one_error(code, out, err, "--out", "same file as DATA")
    code, out, err = run(capsys, "predict", model, data, "--out", tmp_path / "alias.csv")
    assert_one_error(code, out, err, "same file as DATA")
    code, out, err = run(capsys, "predict", renamed, data, "--out", renamed)
    assert_one_error(code, out, err, "same file as MODEL")
    assert snapshot(tmp_path) == before


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
    assert result["r2"] is None
    assert result["n_samples"] == 1


def test_class_labels_written_with_leading_zeros_are_predicted_as_written(tmp_path, capsys):
    rows = [f"{x:.2f},{'01' if x < 0.5 else '02'}" for x in np.linspace(0, 1, 60)]
    model, data = train_model(tmp_path, "codes.csv", "x,label\n" + "\n".join(rows) + "\n", "--layers", "8")
    code, out, err = run(capsys, "predict", str(model), str(data))
    assert code == 0, err
    assert set(out.splitlines()[1:]) <= {"01", "02"}
    assert "02" in out.splitlines()[1:]


def test_info_reads_a_piped_model_once(tmp_path, capsys):
    import subprocess
    import sys

    model, _ = train_model(tmp_path, "pets.csv", mixed_table(), "--layers", "4")
    done = subprocess.run(
        f"cat {model} | {sys.executable} -m bprop.cli info /dev/stdin",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "features: " in done.stdout


def test_info_names_the_columns_left_out_at_training(tmp_path, capsys):
    rows = [f"id{i:05d},{i % 7}.5,{'a' if i % 2 else 'b'}" for i in range(60)]
    model, _ = train_model(tmp_path, "ids.csv", "id,x,label\n" + "\n".join(rows) + "\n", "--layers", "4")
    code, out, err = run(capsys, "info", str(model))
    assert code == 0, err
    assert "left out at training (too many distinct values): id" in out


def test_proba_columns_that_would_overwrite_the_target_are_refused(tmp_path, capsys):
    text = mixed_table(40).replace(",kind\n", ",proba_dog\n", 1)  # the target named like a --proba column
    model, data = train_model(tmp_path, "named", text)
    code, out, err = run(capsys, "predict", model, data, "--proba", "--no-stream")
    assert code == 2 and out == ""
    last = err.splitlines()[-1]  # after the notice about imputed cells
    assert last.startswith("error: --proba would name its columns ['proba_cat', 'proba_dog'], which clash")
    code, out, _ = run(capsys, "predict", model, data, "--no-stream")  # the labels alone are fine
    assert code == 0 and set(pd.read_csv(io.StringIO(out))["proba_dog"]) <= {"cat", "dog"}
