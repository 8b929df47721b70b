"""``bprop train`` through its real entry point: the bundled digits and small CSVs."""

import time

import pytest

import bprop
from cli_support import FAST, assert_one_error, mixed_table, regression_table, run, run_process, table_rows, write_csv


def test_train_with_no_arguments_learns_the_bundled_digits(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    code, out, err = run(capsys, "train")
    assert time.perf_counter() - started < 60
    assert code == 0, err
    assert "bundled" in out and "digits" in out
    assert "task: classification (10 classes)" in out
    rows = table_rows(out)
    assert set(rows) == {"train", "validation", "test"}
    assert rows["test"][1] >= 0.95
    assert "stopped: " in out
    assert "model written to model.safetensors" in out
    assert "%|" in err  # the progress bar
    assert "warning" not in err and "error" not in err
    model = bprop.load(tmp_path / "model.safetensors")
    assert model.net.layers[0].fan_in == 64 and model.net.layers[-1].fan_out == 10
    summary = model.training["summary"]
    assert summary["scores"]["test"]["accuracy"] == pytest.approx(rows["test"][1], abs=5e-5)
    assert f"stopped: {summary['stop_reason']} after {summary['epochs']} epochs" in out


def test_train_quiet_plot_and_paths(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = write_csv(tmp_path / "pets.csv", mixed_table())
    (tmp_path / "out").mkdir()
    code, out, err = run(capsys, "train", data, *FAST, "--out", "out/pets.safetensors", "--plot", "out/curves.png")
    assert code == 0, err
    assert "%|" not in err and "epoch/s" not in err  # --quiet: no progress bar
    assert "model written to out/pets.safetensors" in out
    assert "plot written to out/curves.png" in out
    assert (tmp_path / "out" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["curves.png", "pets.safetensors"]
    assert not (tmp_path / "model.safetensors").exists()


def test_train_string_labels_categorical_features_and_imputation_notice(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table())
    out_file = tmp_path / "m.safetensors"
    code, out, err = run(capsys, "train", data, *FAST, "--out", out_file)
    assert code == 0, err
    # The target defaults to the last column; string labels make it classification.
    assert "task: classification (2 classes) — target 'kind', 60 rows" in out
    # x1, x2 and three one-hot colours.
    assert "5 input features after encoding" in out
    notices = [line for line in err.splitlines() if line.startswith("notice: ")]
    assert len(notices) == 1
    # mixed_table leaves 4 gaps in x2 (rows 3, 20, 37, 54) and 3 in colour (rows 5, 24, 43).
    assert notices[0].startswith("notice: imputed 7 missing value(s)")
    assert "x2 (4)" in notices[0] and "colour (3)" in notices[0]
    model = bprop.load(out_file)
    target = model.preprocessing["target"]
    assert target["classes"] == ["cat", "dog"] and target["column"] == "kind"
    kinds = {c["name"]: c["kind"] for c in model.preprocessing["features"]["columns"]}
    assert kinds == {"x1": "numeric", "x2": "numeric", "colour": "categorical"}


def test_train_target_flag_chooses_another_column(tmp_path, capsys):
    text = "kind,x1,x2\n" + "".join(f"{'ab'[i % 2]},{i},{(i * 7) % 5}\n" for i in range(30))
    data = write_csv(tmp_path / "t.csv", text)
    code, out, err = run(capsys, "train", data, *FAST, "--target", "kind", "--out", tmp_path / "m.safetensors")
    assert code == 0, err
    assert "target 'kind'" in out and "classification (2 classes)" in out
    assert bprop.load(tmp_path / "m.safetensors").preprocessing["features"]["columns"][1]["name"] == "x2"


def test_train_regression(tmp_path, capsys):
    data = write_csv(tmp_path / "house.csv", regression_table())
    out_file = tmp_path / "m.safetensors"
    code, out, err = run(capsys, "train", data, *FAST, "--task", "regression", "--out", out_file)
    assert code == 0, err
    assert "task: regression (numeric target) — target 'price'" in out
    rows = table_rows(out)
    assert set(rows) == {"train", "validation", "test"}
    assert "r2" in out.split("train")[0]  # the table's metric column
    assert err == ""
    # auto-detection reaches the same task for a non-integer numeric target
    code, out, _ = run(capsys, "train", data, *FAST, "--out", out_file)
    assert code == 0 and "task: regression" in out
    assert bprop.load(out_file).preprocessing["target"]["task"] == "regression"


def test_train_overwrites_its_own_previous_model(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(gaps=False))
    out_file = tmp_path / "m.safetensors"
    out_file.write_bytes(b"old")
    code, _, err = run(capsys, "train", data, *FAST, "--out", out_file)
    assert code == 0 and err == ""
    assert bprop.load(out_file).preprocessing["target"]["column"] == "kind"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "pets.csv"]  # no temp file left


def test_train_divergence_writes_nothing_and_prints_one_line_messages(tmp_path, capsys):
    data = write_csv(tmp_path / "house.csv", regression_table())
    out_file = tmp_path / "m.safetensors"
    out_file.write_bytes(b"previous model")
    code, out, err = run(
        capsys, "train", data, "--epochs", "30", "--layers", "16", "--quiet", "--optimizer", "sgd",
        "--lr", "1e6", "--out", out_file,
    )  # fmt: skip
    assert "Traceback" not in err and "RuntimeWarning" not in err
    assert all(line.startswith(("error: ", "warning: ", "notice: ")) for line in err.splitlines()), err
    assert "warning: training diverged in epoch" in err
    assert_one_error(code, out, err, "diverged", "no model was written", "--lr", alone=False)
    assert out_file.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["house.csv", "m.safetensors"]


def test_train_tiny_regression_stores_undefined_r2_as_null(tmp_path, capsys):
    # 8 rows: the validation part holds one row, where r2 is undefined (NaN).
    data = write_csv(tmp_path / "tiny.csv", "a,y\n" + "".join(f"{i},{i * 1.5 + 0.25}\n" for i in range(8)))
    out_file = tmp_path / "m.safetensors"
    code, out, err = run(capsys, "train", data, *FAST, "--out", out_file)
    assert code == 0, err
    val_r2 = table_rows(out)["validation"][1]
    assert val_r2 != val_r2  # printed as nan
    assert bprop.load(out_file).training["summary"]["scores"]["val"]["r2"] is None
    code, out, err = run(capsys, "info", out_file)
    assert code == 0, err
    assert "r2 n/a" in out


def test_console_script_trains_in_a_real_process(tmp_path):
    data = write_csv(tmp_path / "pets.csv", mixed_table())
    done = run_process("train", "pets.csv", *FAST, "--plot", "curves.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "model written to model.safetensors" in done.stdout
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "curves.png").exists()
    assert done.stderr.startswith("notice: imputed 7 missing value(s)")
    assert data.exists()
