"""``bprop train / evaluate / predict --stream``: the same model and scores as in memory, the cache reused,
predictions written block by block; and ``bprop.fit`` on the streamed batch sources."""

import json

import numpy as np
import pandas as pd
import pytest

import bprop
from bprop import modelfile
from bprop.tables.data import TableEncoder
from cli_support import FAST, mixed_table, regression_table, run, table_rows, write_csv
from stream_support import assert_same_encoder

pytest.importorskip("pyarrow")


def test_streamed_training_matches_the_in_memory_run(tmp_path, capsys):
    data = write_csv(tmp_path / "t.csv", mixed_table(400))
    flags = [*FAST, "--epochs", "20"]
    code, out, err = run(capsys, "train", data, *flags, "--stream", "--out", tmp_path / "s.safetensors")
    assert code == 0, err
    assert f"cache: wrote 400 rows to {str(tmp_path / 't.csv.bprop-cache')!r}" in out
    streamed = table_rows(out)
    code, out, err = run(capsys, "train", data, *flags, "--no-stream", "--out", tmp_path / "m.safetensors")
    assert code == 0, err
    in_memory = table_rows(out)
    assert abs(streamed["test"][1] - in_memory["test"][1]) <= 0.005
    a, b = modelfile.load(tmp_path / "s.safetensors"), modelfile.load(tmp_path / "m.safetensors")
    assert_same_encoder(TableEncoder.from_dict(a.preprocessing), TableEncoder.from_dict(b.preprocessing))
    assert a.training["summary"]["rows"] == b.training["summary"]["rows"]
    # The same rows, encoded alike and shuffled from the same seed: the same weights.
    for p, q in zip(a.net.parameters(), b.net.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)


def test_the_cache_is_reused_until_the_file_changes(tmp_path, capsys):
    data = write_csv(tmp_path / "t.csv", regression_table(200))
    cache = tmp_path / "c"
    argv = ["train", data, *FAST, "--stream", "--cache", cache, "--out", tmp_path / "m.safetensors"]
    assert run(capsys, *argv)[0] == 0
    written = (cache / "numeric.npy").stat().st_mtime_ns
    code, out, _ = run(capsys, *argv, "--seed", "3")
    assert code == 0 and "cache: reusing" in out
    assert (cache / "numeric.npy").stat().st_mtime_ns == written
    write_csv(data, regression_table(220))
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "cache: wrote 220 rows" in out


def test_streamed_evaluate_and_predict_match_in_memory(tmp_path, capsys):
    data = write_csv(tmp_path / "t.csv", mixed_table(300))
    new = write_csv(tmp_path / "new.csv", mixed_table(120, seed=4))
    model = tmp_path / "m.safetensors"
    assert run(capsys, "train", data, *FAST, "--out", model)[0] == 0
    results = []
    for flag in ("--stream", "--no-stream"):
        code, out, err = run(capsys, "evaluate", model, new, "--json", flag)
        assert code == 0, err
        results.append(json.loads(out))
    assert results[0].pop("task") == results[1].pop("task") == "classification"
    assert results[0] == pytest.approx(results[1], rel=1e-12)
    files = []
    for flag in ("--stream", "--no-stream"):
        out_file = tmp_path / f"p{flag}.csv"
        code, _, err = run(capsys, "predict", model, new, "--proba", flag, "--out", out_file)
        assert code == 0, err
        files.append(out_file.read_text())
    assert files[0] == files[1]
    code, out, _ = run(capsys, "predict", model, new, "--stream")
    assert code == 0 and out == pd.read_csv(tmp_path / "p--stream.csv")[["kind"]].to_csv(index=False)


def test_predict_streams_a_file_of_many_blocks(tmp_path, capsys, monkeypatch):
    from bprop.tables.stream import reader

    monkeypatch.setattr(reader, "_BLOCK_BYTES", 4096)  # a few hundred rows a block
    data = write_csv(tmp_path / "t.csv", regression_table(2000))
    model = tmp_path / "m.safetensors"
    assert run(capsys, "train", data, *FAST, "--out", model)[0] == 0
    out_file = tmp_path / "p.csv"
    code, _, err = run(capsys, "predict", model, data, "--stream", "--out", out_file)
    assert code == 0, err
    streamed = pd.read_csv(out_file)
    code, _, err = run(capsys, "predict", model, data, "--no-stream", "--out", tmp_path / "q.csv")
    assert len(streamed) == 2000
    np.testing.assert_allclose(streamed["price"], pd.read_csv(tmp_path / "q.csv")["price"], rtol=1e-12)
    code, out, _ = run(capsys, "evaluate", model, data, "--stream", "--json")
    streamed_scores = json.loads(out)
    code, out, _ = run(capsys, "evaluate", model, data, "--no-stream", "--json")
    in_memory = json.loads(out)
    assert streamed_scores.pop("task") == in_memory.pop("task") == "regression"
    assert streamed_scores == pytest.approx(in_memory, rel=1e-9)


def test_streamed_training_with_a_test_file_and_parquet(tmp_path, capsys):
    table = pd.read_csv(write_csv(tmp_path / "t.csv", mixed_table(300)))
    table.to_parquet(tmp_path / "t.parquet", index=False)
    test = write_csv(tmp_path / "test.csv", mixed_table(80, seed=9))
    scores = []
    for flag in ("--stream", "--no-stream"):
        report = tmp_path / f"r{flag}.html"
        code, out, err = run(capsys, "train", tmp_path / "t.parquet", *FAST, "--test", test, flag, "--report", report)
        assert code == 0, err
        assert "test: 80 rows of" in out
        scores.append(table_rows(out)["test"])
        assert "the test rows of" in report.read_text()
    assert scores[0] == pytest.approx(scores[1], abs=0.005)


def test_fit_trains_on_streamed_sources(tmp_path):
    from bprop.tables.stream import open_streamed, prepare_streamed

    path = write_csv(tmp_path / "t.csv", mixed_table(400))
    cache = open_streamed(path, "kind", cache=tmp_path / "c", log=None)
    prepared = prepare_streamed(cache, rng=np.random.default_rng(0))
    net = bprop.mlp([prepared.encoder.features.n_outputs, 16, 2], output_activation="softmax", seed=0)
    history = bprop.fit(
        net,
        source=prepared.source("train", net.dtype),
        validation_data=prepared.source("val", net.dtype),
        loss="categorical_cross_entropy",
        optimizer="adam",
        epochs=30,
        batch_size=32,
        seed=0,
    )
    assert len(history.val_loss) == 30
    assert history.val_metric[-1] > 0.8
    assert history.loss[-1] < history.loss[0]


def test_streaming_switches_on_when_the_table_would_not_fit(tmp_path, capsys, monkeypatch):
    import bprop.memory

    data = write_csv(tmp_path / "t.csv", mixed_table(300))
    monkeypatch.setattr(bprop.memory, "available_bytes", lambda: 12_000)  # a 7 kB CSV needs ~6x in memory
    code, out, err = run(capsys, "train", data, *FAST)
    assert code == 0, err
    assert "streaming: reading DATA into memory would take about" in out
    assert "cache: wrote 300 rows" in out
    assert "shuffling: blocks of 8,192 rows" in out  # nor does the cache fit: windowed batches
    code, out, err = run(capsys, "train", data, *FAST, "--no-stream")
    assert "streaming" not in out and "cache:" not in out
    monkeypatch.setattr(bprop.memory, "available_bytes", lambda: 10**12)
    code, out, err = run(capsys, "train", data, *FAST)
    assert code == 0 and "cache:" not in out


def test_a_streamed_run_stopped_by_a_signal_resumes_bit_identical(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    write_csv(tmp_path / "t.csv", mixed_table(2000))
    args = ["t.csv", "--stream", "--layers", "32", "--epochs", "30", "--patience", "30", "--batch-size", "16"]
    args += ["--quiet", "--seed", "3"]

    def cli(*argv):
        return [sys.executable, "-m", "bprop.cli", *map(str, argv)]

    full = subprocess.run(cli("train", *args, "--out", "full.safetensors"), cwd=tmp_path, capture_output=True)
    assert full.returncode == 0, full.stderr
    process = subprocess.Popen(
        cli("train", *args, "--cache", "elsewhere", "--checkpoint", "ck", "--out", "cut.safetensors"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = tmp_path / "ck" / "checkpoint.safetensors"
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, "training ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    resumed = subprocess.run(
        cli("train", "--resume", "ck", "--quiet", "--out", "resumed.safetensors"), cwd=tmp_path, capture_output=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert b"cache: reusing" in resumed.stdout  # the checkpointed run's --cache folder, found again
    saved = [bprop.load(tmp_path / name).net.parameters() for name in ("resumed.safetensors", "full.safetensors")]
    assert all(np.array_equal(a, b) for a, b in zip(*saved))
