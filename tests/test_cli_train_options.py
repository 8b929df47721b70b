"""``bprop train``'s options for how the rows are used and how the run is regularised: ``--test FILE``,
``--test-split 0``, ``--val-split 0``, ``--patience 0``, ``--schedule`` and ``--weight-decay``."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bprop
from cli_support import FAST, mixed_table, regression_table, run, table_rows, write_csv


def _split_table(tmp_path, text: str, n_test: int = 20):
    """DATA and a separate test file, with the same header."""
    header, *rows = text.strip().splitlines()
    train = write_csv(tmp_path / "train.csv", "\n".join([header, *rows[:-n_test]]) + "\n")
    test = write_csv(tmp_path / "test.csv", "\n".join([header, *rows[-n_test:]]) + "\n")
    return train, test


def _train(capsys, *argv):
    code, out, err = run(capsys, "train", *argv)
    assert code == 0, err
    return out, err


def test_test_file_is_scored_as_evaluate_scores_it_and_no_rows_are_carved_from_data(tmp_path, capsys):
    train, test = _split_table(tmp_path, mixed_table(120), n_test=30)
    model = tmp_path / "m.safetensors"
    out, _ = _train(capsys, train, *FAST, "--test", test, "--out", model)
    assert f"test: 30 rows of {test}" in out
    summary = bprop.load(model).training["summary"]
    assert summary["rows"] == {"train": 81, "val": 9, "test": 30}  # 90 rows of DATA: 10 % validation
    code, evaluated, err = run(capsys, "evaluate", model, test, "--json")
    assert code == 0, err
    scores = json.loads(evaluated)
    assert scores["n_samples"] == 30
    assert summary["scores"]["test"]["accuracy"] == pytest.approx(scores["accuracy"], abs=1e-12)
    assert table_rows(out)["test"][1] == pytest.approx(scores["accuracy"], abs=5e-5)
    assert bprop.load(model).training["settings"]["test_file"] == str(test.resolve())


def test_test_file_of_a_regression_is_scored_in_the_target_units(tmp_path, capsys):
    train, test = _split_table(tmp_path, regression_table(100))
    model = tmp_path / "m.safetensors"
    _train(capsys, train, *FAST, "--test", test, "--out", model)
    code, evaluated, err = run(capsys, "evaluate", model, test, "--json")
    assert code == 0, err
    assert bprop.load(model).training["summary"]["scores"]["test"]["r2"] == pytest.approx(
        json.loads(evaluated)["r2"], abs=1e-12
    )


def test_test_file_needs_the_target_column_and_known_classes(tmp_path, capsys):
    train, _ = _split_table(tmp_path, mixed_table(80))
    no_target = write_csv(tmp_path / "nt.csv", "x1,x2,colour\n0.1,0.2,red\n")
    code, out, err = run(capsys, "train", train, *FAST, "--test", no_target, "--out", tmp_path / "a.safetensors")
    assert code == 2 and "no target column 'kind'" in err and "Traceback" not in err
    unseen = write_csv(tmp_path / "u.csv", "x1,x2,colour,kind\n0.1,0.2,red,cow\n")
    code, out, err = run(capsys, "train", train, *FAST, "--test", unseen, "--out", tmp_path / "b.safetensors")
    assert code == 2 and "--test" in err and "cow" in err
    assert not (tmp_path / "a.safetensors").exists() and not (tmp_path / "b.safetensors").exists()


def test_test_split_0_reports_on_the_validation_rows_and_says_so(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(100))
    model, report = tmp_path / "m.safetensors", tmp_path / "r.html"
    out, _ = _train(capsys, data, *FAST, "--test-split", "0", "--out", model, "--report", report)
    assert set(table_rows(out)) == {"train", "validation"}
    summary = bprop.load(model).training["summary"]
    assert summary["rows"] == {"train": 90, "val": 10, "test": 0}
    assert set(summary["scores"]) == {"train", "val"}
    html = report.read_text(encoding="utf-8")
    assert "the validation rows (no test rows: --test-split 0)" in html
    assert "held out from training" not in html


def test_val_split_0_trains_the_whole_budget_and_keeps_the_last_weights(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(100))
    model = tmp_path / "m.safetensors"
    out, _ = _train(capsys, data, "--quiet", "--layers", "4", "--epochs", "7", "--val-split", "0", "--out", model)
    assert set(table_rows(out)) == {"train", "test"}
    training = bprop.load(model).training
    assert training["summary"]["epochs"] == 7 and training["summary"]["stop_reason"] == "max_epochs"
    assert "restored" not in out
    assert training["summary"]["rows"]["val"] == 0


def test_patience_0_is_a_fixed_budget_that_restores_the_best_validation_epoch(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(200))
    model = tmp_path / "m.safetensors"
    flags = ["--quiet", "--layers", "16", "--epochs", "40", "--lr", "0.05", "--patience", "0", "--val-split", "0.1"]
    flags += ["--out", model]
    _train(capsys, data, *flags)
    training = bprop.load(model).training
    assert training["summary"]["epochs"] == 40 and training["summary"]["stop_reason"] == "max_epochs"
    val_loss = training["history"]["val_loss"]
    assert training["summary"]["best_epoch"] == int(np.argmin(val_loss)) + 1
    assert training["settings"]["patience"] is None


def test_schedule_cosine_decays_the_rate_to_zero_over_the_epochs(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(80))
    model = tmp_path / "m.safetensors"
    _train(capsys, data, "--quiet", "--layers", "4", "--epochs", "5", "--patience", "0", "--schedule", "cosine",
           "--lr", "0.01", "--out", model)  # fmt: skip
    training = bprop.load(model).training
    rates = training["history"]["lr"]
    expected = [0.005 * (1 + np.cos(np.pi * e / 5)) for e in range(5)]
    assert rates == pytest.approx(expected, rel=1e-12)
    assert training["settings"]["schedule"] == "cosine"


def test_weight_decay_reaches_adamw_and_shrinks_the_weights(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(80))
    norms = {}
    for decay in ("0", "20"):  # η·λ = 0.02: each step shrinks the parameters by 2 %
        model = tmp_path / f"m{decay}.safetensors"
        _train(capsys, data, "--quiet", "--layers", "8", "--epochs", "20", "--patience", "0", "--val-split", "0",
               "--optimizer", "adamw", "--weight-decay", decay, "--out", model)  # fmt: skip
        loaded = bprop.load(model)
        assert loaded.training["settings"]["weight_decay"] == float(decay)
        norms[decay] = sum(float((p.astype(np.float64) ** 2).sum()) for p in loaded.net.parameters())
    assert norms["20"] < 0.5 * norms["0"]


def test_resume_keeps_the_new_settings_and_refuses_a_changed_one(tmp_path, capsys):
    train, test = _split_table(tmp_path, mixed_table(100))
    ckpt = tmp_path / "run"
    flags = ["--quiet", "--layers", "4", "--epochs", "3", "--optimizer", "adamw", "--schedule", "cosine",
             "--weight-decay", "0.05", "--test", str(test), "--checkpoint", str(ckpt)]  # fmt: skip
    _train(capsys, train, *flags, "--out", tmp_path / "a.safetensors")
    changed = ["--weight-decay", "0.1", "--out", tmp_path / "b.safetensors"]
    code, out, err = run(capsys, "train", "--resume", ckpt, *changed)
    assert code == 2 and "--weight-decay 0.1 differs from the checkpoint's 0.05" in err


# -- the automatic defaults (chosen on benchmarks/quality.py) -------------------------------------------


def test_val_split_auto_holds_out_nothing_from_a_small_table_and_says_so(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(300))  # 10 % would be 30 rows: too few to pick by
    model = tmp_path / "m.safetensors"
    out, _ = _train(capsys, data, "--quiet", "--epochs", "6", "--out", model)
    assert "validation: none (300 rows give under 100 validation rows), so all 6 epochs train on every row" in out
    summary = bprop.load(model).training["summary"]
    assert summary["rows"] == {"train": 240, "val": 0, "test": 60}
    assert summary["epochs"] == 6 and summary["stop_reason"] == "max_epochs"


def test_val_split_auto_holds_out_a_tenth_of_a_large_table(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(1000))
    model = tmp_path / "m.safetensors"
    out, _ = _train(capsys, data, "--quiet", "--epochs", "3", "--out", model)
    assert "validation: none" not in out
    assert bprop.load(model).training["summary"]["rows"] == {"train": 700, "val": 100, "test": 200}


def test_a_monitor_keeps_the_validation_rows_of_a_small_table(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(300))
    model = tmp_path / "m.safetensors"
    _train(capsys, data, "--quiet", "--epochs", "3", "--monitor", "val_accuracy", "--out", model)
    assert bprop.load(model).training["summary"]["rows"]["val"] == 30


def test_automatic_batch_size(tmp_path, capsys, monkeypatch):
    from bprop.training import fit as fit_module

    seen = []
    real_fit = fit_module.fit

    def recording_fit(net, X, Y, **options):
        seen.append((len(X), options["batch_size"], options["learning_rate"], net.layers[0].activation.name))
        return real_fit(net, X, Y, **options)

    monkeypatch.setattr(fit_module, "fit", recording_fit)
    pets = write_csv(tmp_path / "pets.csv", mixed_table(1000))
    house = write_csv(tmp_path / "house.csv", regression_table(150))
    _train(capsys, pets, "--quiet", "--epochs", "1", "--out", tmp_path / "a.safetensors")
    _train(capsys, house, "--quiet", "--epochs", "1", "--out", tmp_path / "b.safetensors")
    _train(capsys, house, "--quiet", "--epochs", "1", "--batch-size", "7", "--out", tmp_path / "c.safetensors")
    assert seen == [(700, 200, None, "relu"), (120, 120, None, "relu"), (120, 7, None, "relu")]


def test_clip_is_stored_and_predict_applies_it(tmp_path, capsys):
    train, test = _split_table(tmp_path, regression_table(120))
    model = tmp_path / "m.safetensors"
    _train(capsys, train, *FAST, "--clip", "1.5", "--test", test, "--out", model)
    loaded = bprop.load(model)
    assert loaded.training["settings"]["clip"] == 1.5
    assert loaded.preprocessing["features"]["clip"] == 1.5
    code, evaluated, err = run(capsys, "evaluate", model, test, "--json")
    assert code == 0, err
    assert loaded.training["summary"]["scores"]["test"]["r2"] == pytest.approx(json.loads(evaluated)["r2"], abs=1e-12)
    code, out, err = run(capsys, "train", train, *FAST, "--clip", "-1", "--out", tmp_path / "x.safetensors")
    assert code == 2 and "--clip must be a finite number >= 0" in err


def test_init_flag_reaches_the_network(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(60))
    weights = {}
    for init in ("glorot_uniform", "he_uniform"):
        model = tmp_path / f"{init}.safetensors"
        # One epoch at a tiny rate: the weights are still essentially the initial ones.
        _train(capsys, data, "--quiet", "--epochs", "1", "--lr", "1e-9", "--activation", "relu", "--init", init,
               "--layers", "64", "--out", model)  # fmt: skip
        loaded = bprop.load(model)
        assert loaded.training["settings"]["init"] == init
        weights[init] = loaded.net.layers[0].W
    fan_in, fan_out = weights["he_uniform"].shape
    # Uniform limits: Glorot sqrt(6 / (fan_in + fan_out)), He sqrt(6 / fan_in).
    assert np.abs(weights["glorot_uniform"]).max() <= np.sqrt(6 / (fan_in + fan_out)) + 1e-6
    assert np.abs(weights["he_uniform"]).max() > np.sqrt(6 / (fan_in + fan_out))


def test_default_initial_weights_are_glorot_uniform(tmp_path, capsys):
    data = write_csv(tmp_path / "pets.csv", mixed_table(60))
    model = tmp_path / "m.safetensors"
    _train(capsys, data, "--quiet", "--epochs", "1", "--lr", "1e-9", "--layers", "64", "--out", model)
    W = bprop.load(model).net.layers[0].W
    assert bprop.load(model).training["settings"]["init"] == "glorot_uniform"
    assert np.abs(W).max() <= np.sqrt(6 / sum(W.shape)) + 1e-6  # He's limit, sqrt(6 / fan_in), is wider
    assert np.abs(W).max() > 0.8 * np.sqrt(6 / sum(W.shape))


def test_an_output_that_is_the_test_file_is_refused_and_the_test_file_survives(tmp_path, capsys):
    train, test = _split_table(tmp_path, mixed_table(80))
    rows = tmp_path / "rows.html"  # a CSV under a name an output may have, so only the same-file check stops it
    rows.write_bytes(test.read_bytes())
    code, out, err = run(capsys, "train", train, *FAST, "--test", rows, "--report", rows)
    assert code == 2 and err.count("\n") == 1
    assert f"--report {str(rows)!r} is the same file as --test" in err
    assert rows.read_bytes() == test.read_bytes()


def test_a_test_value_that_overflows_the_network_is_blamed_on_the_test_rows_not_on_training(tmp_path, capsys):
    train, test = _split_table(tmp_path, regression_table(100))
    header, first, *rest = test.read_text().splitlines()
    huge = write_csv(tmp_path / "huge.csv", "\n".join([header, "1e300," + first.split(",", 1)[1], *rest]) + "\n")
    model = tmp_path / "m.safetensors"
    code, out, err = run(capsys, "train", train, *FAST, "--dtype", "float64", "--test", huge, "--out", model)
    assert code == 2 and err.count("\n") == 1, err
    assert "outputs on the test rows are not finite: column 'a' reaches" in err
    assert "diverged" not in err and "--lr" not in err
    assert not model.exists()


def test_test_rows_may_come_from_a_pipe(tmp_path):
    train, test = _split_table(tmp_path, mixed_table(120), n_test=30)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    argv = [
        sys.executable,
        "-m",
        "bprop.cli",
        "train",
        str(train),
        *FAST,
        "--test",
        "/dev/stdin",
        "--out",
        "m.safetensors",
    ]
    done = subprocess.run(
        argv, input=test.read_text(), cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "test: 30 rows of /dev/stdin" in done.stdout
    assert bprop.load(tmp_path / "m.safetensors").training["summary"]["rows"]["test"] == 30
    argv += ["--checkpoint", "ck"]
    done = subprocess.run(
        argv, input=test.read_text(), cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2 and "--checkpoint needs --test to be a file" in done.stderr


def test_data_itself_as_the_test_file_is_refused(tmp_path, capsys):
    train, _ = _split_table(tmp_path, mixed_table(80))
    code, out, err = run(capsys, "train", train, *FAST, "--test", train, "--out", tmp_path / "m.safetensors")
    assert code == 2 and err.count("\n") == 1
    assert "is DATA itself, so its scores would be training scores" in err


def test_resume_refuses_a_test_file_edited_since_the_checkpoint(tmp_path, capsys):
    train, test = _split_table(tmp_path, mixed_table(100))
    ckpt = tmp_path / "run"
    _train(capsys, train, *FAST, "--test", test, "--checkpoint", ckpt, "--out", tmp_path / "a.safetensors")
    code, out, err = run(capsys, "train", "--resume", ckpt, "--epochs", "5", "--out", tmp_path / "b.safetensors")
    assert code == 0, err  # unchanged: the resume runs
    test.write_text("\n".join(test.read_text().splitlines()[:-3]) + "\n")
    code, out, err = run(capsys, "train", "--resume", ckpt, "--out", tmp_path / "c.safetensors")
    assert code == 2 and "the --test file" in err and "changed since the checkpoint was written" in err
