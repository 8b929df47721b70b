"""``bprop train`` through its real entry point: the bundled digits and small CSVs."""

import os
import subprocess
import sys
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
    assert "bundled" in out
    assert "digits" in out
    assert "task: classification (10 classes)" in out
    rows = table_rows(out)
    assert set(rows) == {"train", "validation", "test"}
    assert rows["test"][1] >= 0.95
    assert "stopped: " in out
    assert "model written to model.safetensors" in out
    assert "%|" not in err  # captured stderr is no terminal: no progress bar without --progress
    assert "warning" not in err
    assert "error" not in err
    model = bprop.load(tmp_path / "model.safetensors")
    assert model.net.layers[0].fan_in == 64
    assert model.net.layers[-1].fan_out == 10
    summary = model.training["summary"]
    assert summary["scores"]["test"]["accuracy"] == pytest.approx(rows["test"][1], abs=5e-5)
    assert f"stopped: {summary['stop_reason']} after {summary['epochs']} epochs" in out


def test_train_quiet_plot_and_paths(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = write_csv(tmp_path / "pets.csv", mixed_table())
    (tmp_path / "out").mkdir()
    code, out, err = run(capsys, "train", data, *FAST, "--out", "out/pets.safetensors", "--plot", "out/curves.png")
    assert code == 0, err
    assert "%|" not in err
    assert "epoch/s" not in err  # --quiet: no progress bar
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
    assert "x2 (4)" in notices[0]
    assert "colour (3)" in notices[0]
    model = bprop.load(out_file)
    target = model.preprocessing["target"]
    assert target["classes"] == ["cat", "dog"]
    assert target["column"] == "kind"
    kinds = {c["name"]: c["kind"] for c in model.preprocessing["features"]["columns"]}
    assert kinds == {"x1": "numeric", "x2": "numeric", "colour": "categorical"}


def test_train_target_flag_chooses_another_column(tmp_path, capsys):
    text = "kind,x1,x2\n" + "".join(f"{'ab'[i % 2]},{i},{(i * 7) % 5}\n" for i in range(30))
    data = write_csv(tmp_path / "t.csv", text)
    code, out, err = run(capsys, "train", data, *FAST, "--target", "kind", "--out", tmp_path / "m.safetensors")
    assert code == 0, err
    assert "target 'kind'" in out
    assert "classification (2 classes)" in out
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
    assert code == 0
    assert "task: regression" in out
    assert bprop.load(out_file).preprocessing["target"]["task"] == "regression"


def test_train_overwrites_its_own_previous_model(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(gaps=False))
    out_file = tmp_path / "m.safetensors"
    out_file.write_bytes(b"old")
    code, _, err = run(capsys, "train", data, *FAST, "--out", out_file)
    assert code == 0
    assert err == ""
    assert bprop.load(out_file).preprocessing["target"]["column"] == "kind"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "pets.csv"]  # no temp file left


def test_train_divergence_writes_nothing_and_prints_one_line_messages(tmp_path, capsys):
    data = write_csv(tmp_path / "house.csv", regression_table())
    out_file = tmp_path / "m.safetensors"
    out_file.write_bytes(b"previous model")
    code, out, err = run(
        capsys, "train", data, "--epochs", "30", "--layers", "16", "--quiet", "--optimizer", "sgd",
        "--lr", "1e6", "--activation", "relu", "--batch-size", "32", "--val-split", "0.1", "--out", out_file,
    )  # fmt: skip
    assert "Traceback" not in err
    assert "RuntimeWarning" not in err
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
    assert (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "curves.png").exists()
    assert done.stderr.startswith("notice: imputed 7 missing value(s)")
    assert data.exists()


def test_progress_bar_only_on_a_terminal_unless_forced(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    quick = ["train", "--epochs", "2", "--layers", "4"]
    code, _, err = run(capsys, *quick)
    assert code == 0
    assert "%|" not in err
    assert "\r" not in err  # a CI log: no carriage-return lines
    code, _, err = run(capsys, *quick, "--progress")
    assert code == 0
    assert "%|" in err
    assert "2/2" in err
    code, _, err = run(capsys, *quick, "--progress", "--quiet")
    assert code == 0
    assert "%|" not in err  # --quiet wins
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(capsys, *quick)
    assert code == 0
    assert "%|" in err  # on a terminal the bar shows by itself


def test_train_finishes_and_writes_its_model_when_stdout_reader_goes_away(tmp_path):
    """``bprop train ... | true``: the printed results are lost, never the model."""
    write_csv(tmp_path / "pets.csv", mixed_table())
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before train prints its first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bprop.cli", "train", "pets.csv", *FAST, "--report", "r.html"],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "MPLBACKEND": "Agg"},
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    # Only the data's own notice: no "error: [Errno 32]", no "Exception ignored ... BrokenPipeError".
    assert all(line.startswith("notice: ") for line in done.stderr.splitlines()), done.stderr
    model = bprop.load(tmp_path / "model.safetensors")
    assert model.training["summary"]["epochs"] == 5
    assert (tmp_path / "r.html").stat().st_size > 0


# -- pipes, damaged archives, ID columns, numbers written as text --------------------------------------


def test_train_reads_a_pipe_whole(tmp_path):
    text = mixed_table(600, gaps=False)  # about 19 KiB: more than the 8 KiB the binary check reads
    env = {**os.environ, "MPLBACKEND": "Agg"}
    argv = [sys.executable, "-m", "bprop.cli", "train", "/dev/stdin", *FAST, "--out", "m.safetensors"]
    done = subprocess.run(argv, input=text, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "target 'kind', 600 rows" in done.stdout
    assert bprop.load(tmp_path / "m.safetensors").preprocessing["features"]["columns"][0]["name"] == "x1"


def test_train_on_a_damaged_archive_is_one_error_line(tmp_path, capsys):
    import lzma

    packed = lzma.compress(mixed_table().encode())
    (tmp_path / "d.csv.xz").write_bytes(packed[: len(packed) // 2])
    out = tmp_path / "m.safetensors"
    assert_one_error(*run(capsys, "train", tmp_path / "d.csv.xz", *FAST, "--out", out), "d.csv.xz' is damaged")
    assert not out.exists()


def test_train_leaves_out_an_id_column_unless_asked_to_keep_it(tmp_path, capsys):
    lines = mixed_table(60, gaps=False).splitlines()
    text = "\n".join(["id," + lines[0]] + [f"id{i:04d},{line}" for i, line in enumerate(lines[1:])]) + "\n"
    data = write_csv(tmp_path / "ids.csv", text)
    code, out, err = run(capsys, "train", data, *FAST, "--out", tmp_path / "a.safetensors")
    assert code == 0, err
    assert "5 input features after encoding" in out
    assert "left out 1 string column(s) with too many distinct values" in err
    assert "['id']" in err
    assert bprop.load(tmp_path / "a.safetensors").preprocessing["features"]["left_out"] == ["id"]
    rows = write_csv(tmp_path / "rows.csv", "x1,x2,colour\n0.1,0.2,red\n")  # no id column: not needed
    assert run(capsys, "predict", tmp_path / "a.safetensors", rows)[0] == 0
    flags = ("--keep-high-cardinality", "--out", tmp_path / "b.safetensors")
    code, out, err = run(capsys, "train", data, *FAST, *flags)
    assert code == 0
    assert "left out" not in err
    assert "47 input features after encoding" in out  # 5 + one per id of the 42 training rows
    assert bprop.load(tmp_path / "b.safetensors").training["settings"]["keep_high_cardinality"] is True


def test_train_refuses_numbers_written_as_text(tmp_path, capsys):
    lines = mixed_table(60, gaps=False).splitlines()
    lines[7] = lines[7].replace(lines[7].split(",")[1], "missing", 1)
    stray = write_csv(tmp_path / "stray.csv", "\n".join(lines) + "\n")
    assert_one_error(*run(capsys, "train", stray, *FAST), "column 'x2' looks numeric", "'missing'", "empty them")
    european = write_csv(tmp_path / "eu.csv", "a;b;y\n" + "".join(f"{i},5;{i % 3};{i % 2}\n" for i in range(40)))
    assert_one_error(*run(capsys, "train", european, *FAST), "column 'a'", "decimal comma", "--decimal ,")
    assert not (tmp_path / "model.safetensors").exists()


def checkpointed_run(tmp_path, capsys):
    """A finished 3-epoch run checkpointed in ``ck``: (its CSV, the checkpoint folder)."""
    data = write_csv(tmp_path / "pets.csv", mixed_table())
    ck = tmp_path / "ck"
    code, _, err = run(
        capsys, "train", data, *FAST, "--epochs", "3", "--checkpoint", ck, "--out", tmp_path / "a.safetensors"
    )
    assert code == 0, err
    return data, ck


def test_resume_refuses_flags_that_differ_from_the_stored_settings(tmp_path, capsys):
    from cli_support import snapshot

    data, ck = checkpointed_run(tmp_path, capsys)
    out = tmp_path / "b.safetensors"
    before = snapshot(tmp_path)
    for flags, named in [
        (["--epochs", "5"], "--epochs 5"),
        (["--epochs", "200"], "--epochs 200"),  # the default, typed: still a flag given, and it differs
        (["--lr", "0.5"], "--lr 0.5"),
        (["--layers", "4,4"], "--layers 4,4"),
        (["--seed", "7"], "--seed 7"),
    ]:
        message = assert_one_error(*run(capsys, "train", "--resume", ck, *flags, "--out", out), named)
        assert "checkpoint's" in message
        assert "without --resume" in message
    assert snapshot(tmp_path) == before
    # A flag equal to the stored value, and DATA naming the stored file, are accepted.
    code, stdout, err = run(
        capsys, "train", data, "--resume", ck, "--epochs", "3", "--layers", "4", "--quiet", "--out", out
    )
    assert code == 0, err
    assert "resuming the run in" in stdout
    assert out.exists()


def test_resume_refuses_another_data_file_or_an_edited_one(tmp_path, capsys):
    from cli_support import snapshot

    data, ck = checkpointed_run(tmp_path, capsys)
    other = write_csv(tmp_path / "other.csv", mixed_table(seed=1))
    out = tmp_path / "b.safetensors"
    assert_one_error(*run(capsys, "train", other, "--resume", ck, "--out", out), "DATA", "other.csv", "differs")
    text = data.read_text()
    changed = text.replace("0.", "1.", 1)  # one digit: same size, other content
    assert len(changed) == len(text)
    assert changed != text
    data.write_text(changed)
    before = snapshot(tmp_path)
    assert_one_error(*run(capsys, "train", "--resume", ck, "--out", out), "pets.csv", "changed since the checkpoint")
    data.write_text(text + "0.5,0.5,red,cat\n")
    assert_one_error(*run(capsys, "train", "--resume", ck, "--out", out), "changed since the checkpoint")
    assert snapshot(tmp_path) == {**before, "pets.csv": snapshot(tmp_path)["pets.csv"]}
    assert not out.exists()


def test_resume_refuses_a_corrupted_checkpoint(tmp_path, capsys):
    _, ck = checkpointed_run(tmp_path, capsys)
    path = ck / "checkpoint.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x10
    path.write_bytes(bytes(raw))
    assert_one_error(*run(capsys, "train", "--resume", ck, "--out", tmp_path / "b.safetensors"), "checksum")


def test_a_second_run_on_the_same_checkpoint_folder_is_refused(tmp_path, capsys):
    from bprop.training.checkpoint import lock_folder

    data = write_csv(tmp_path / "pets.csv", mixed_table())
    out = tmp_path / "m.safetensors"
    with lock_folder(tmp_path / "ck"):  # as another run holds it
        message = assert_one_error(*run(capsys, "train", data, *FAST, "--checkpoint", tmp_path / "ck", "--out", out))
        assert "'" + str(tmp_path / "ck") + "' is in use by another bprop run" in message
        assert_one_error(*run(capsys, "train", "--resume", tmp_path / "ck", "--out", out), "in use")
    assert not out.exists()
    code, _, err = run(capsys, "train", data, *FAST, "--checkpoint", tmp_path / "ck", "--out", out)
    assert code == 0, err  # released: the folder is free again


def test_train_refuses_an_output_that_is_the_data_file(tmp_path, capsys):
    from cli_support import snapshot

    data = write_csv(tmp_path / "table.safetensors", mixed_table())  # an odd name, but a CSV
    (tmp_path / "link.html").symlink_to(data)
    os.link(data, tmp_path / "hard.png")
    before = snapshot(tmp_path)
    assert_one_error(*run(capsys, "train", data, *FAST, "--out", data), "--out", "same file as DATA")
    assert_one_error(*run(capsys, "train", data, *FAST, "--report", tmp_path / "link.html"), "--report", "same file")
    assert_one_error(*run(capsys, "train", data, *FAST, "--plot", tmp_path / "hard.png"), "--plot", "same file")
    assert snapshot(tmp_path) == before


def test_train_keeps_its_model_when_the_reader_of_stdout_and_stderr_goes_away(tmp_path):
    """``bprop train ... 2>&1 | true``: the notices and results are lost, never the model."""
    write_csv(tmp_path / "pets.csv", mixed_table())  # its gaps make train write notices to stderr
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bprop.cli", "train", "pets.csv", *FAST],
            cwd=tmp_path,
            stdout=write_end,
            stderr=write_end,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert bprop.load(tmp_path / "model.safetensors").training["summary"]["epochs"] == 5


def test_an_output_inside_the_checkpoint_folder_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--quiet", "--checkpoint", "ck", "--out", "ck/checkpoint.safetensors")
    assert_one_error(code, out, err, "is inside the checkpoint folder 'ck'")
    assert not (tmp_path / "ck").exists()


def test_a_checkpoint_needs_data_that_can_be_read_again(tmp_path):
    write_csv(tmp_path / "pets.csv", mixed_table())
    with open(tmp_path / "pets.csv", "rb") as data:
        done = subprocess.run(
            f"cat | {sys.executable} -m bprop.cli train /dev/stdin --quiet --checkpoint ck",
            shell=True,
            cwd=tmp_path,
            stdin=data,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2
    assert done.stderr.startswith("error: --checkpoint needs DATA to be a file it can read again")
    assert not (tmp_path / "ck").exists()


def test_monitor_val_accuracy_restores_the_epoch_of_highest_validation_accuracy(tmp_path, capsys):
    write_csv(tmp_path / "pets.csv", mixed_table(200))
    out = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", str(tmp_path / "pets.csv"), "--quiet", "--monitor", "val_accuracy",
                       "--epochs", "30", "--out", str(out))  # fmt: skip
    assert code == 0, err
    training = bprop.load(out).training
    history = training["history"]
    assert training["settings"]["monitor"] == "val_accuracy"
    assert history["val_metric"][history["best_epoch"] - 1] == max(history["val_metric"])


def test_monitor_val_accuracy_needs_a_classification_target(tmp_path, capsys):
    write_csv(tmp_path / "reg.csv", regression_table())
    code, out, err = run(capsys, "train", str(tmp_path / "reg.csv"), "--quiet", "--monitor", "val_accuracy",
                         "--out", str(tmp_path / "m.safetensors"))  # fmt: skip
    assert_one_error(code, out, err, "--monitor val_accuracy needs a classification target")
    assert not (tmp_path / "m.safetensors").exists()
