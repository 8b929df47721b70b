"""Data-parallel training under ``mpiexec`` (MPICH from pip, installed by the test set-up): N ranks train to
the weights one process reaches with the same global batch, order and optimiser; only rank 0 prints and
writes; errors end every rank with one line."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import bprop
from cli_support import mixed_table, write_csv

MPIEXEC = Path(sys.executable).parent / "mpiexec"
JOB = Path(__file__).parent / "mpi" / "train_job.py"

pytestmark = pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec beside this Python (pip install mpich)")


def launch(n: int, *argv, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    command = [str(MPIEXEC), "-n", str(n), *map(str, argv)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def job(tmp_path, n: int, dtype: str, batch: int, extra: str = "") -> dict:
    out = tmp_path / f"{n}-{dtype}-{batch}-{extra}.npz"
    argv = [sys.executable, str(JOB), str(out), dtype, str(batch), extra]
    done = launch(n, *argv) if n > 1 else subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(np.load(out))


@pytest.mark.parametrize(
    ("n", "dtype", "batch", "extra", "tolerance"),
    [
        (2, "float32", 32, "", 1e-5),
        (2, "float64", 32, "validation", 1e-12),
        (3, "float64", 32, "", 1e-12),  # 32 rows a batch on 3 ranks: shares of 10 and 11 rows
        (3, "float32", 100, "validation", 1e-5),
        (3, "float64", 100, "frozen", 1e-12),  # 203 rows: the last batch of 3 leaves a rank 1 row
    ],
)
def test_ranks_train_to_the_weights_of_one_process(tmp_path, n, dtype, batch, extra, tolerance):
    alone, together = job(tmp_path, 1, dtype, batch, extra), job(tmp_path, n, dtype, batch, extra)
    parameters = [k for k in alone if k.startswith("p")]
    assert len(parameters) == 6
    for key in parameters:
        assert np.abs(alone[key] - together[key]).max() <= tolerance, key
    np.testing.assert_allclose(alone["loss"], together["loss"], rtol=1e-5)
    np.testing.assert_allclose(alone["val"], together["val"], rtol=1e-5)
    other = job(tmp_path, 1, dtype, batch + 1, extra)  # another batch size trains other weights: the test can fail
    assert not np.array_equal(alone["p5"], other["p5"])


def test_bprop_train_under_mpiexec(tmp_path):
    write_csv(tmp_path / "t.csv", mixed_table(600))
    flags = ["--layers", "16", "--epochs", "4", "--patience", "0", "--quiet", "--batch-size", "50"]
    command = [sys.executable, "-m", "bprop.cli", "train", "t.csv", *flags]
    done = launch(2, *command, "--out", "two.safetensors", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("model written to two.safetensors") == 1  # rank 0 alone prints
    alone = subprocess.run(
        [sys.executable, "-m", "bprop.cli", "train", "t.csv", *flags, "--out", "one.safetensors"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert alone.returncode == 0, alone.stderr
    for a, b in zip(*(bprop.load(tmp_path / f).net.parameters() for f in ("one.safetensors", "two.safetensors"))):
        assert np.abs(a - b).max() <= 1e-5


def test_a_setup_error_is_one_line_from_every_rank(tmp_path):
    done = launch(2, sys.executable, "-m", "bprop.cli", "train", "missing.csv", cwd=tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: DATA 'missing.csv' not found; check the path"], done.stderr
    assert "Traceback" not in done.stderr
    done = launch(2, sys.executable, "-m", "bprop.cli", "train", "--layers", "x", cwd=tmp_path)
    assert [line for line in done.stderr.splitlines() if line.startswith("error: ")] == [
        "error: --layers takes comma-separated whole numbers like 64,32; 'x' is not one"
    ], done.stderr


def test_killing_a_rank_ends_the_run_and_the_checkpoint_resumes_it(tmp_path):
    write_csv(tmp_path / "t.csv", mixed_table(3000))
    flags = ["--layers", "32", "--epochs", "40", "--patience", "40", "--batch-size", "8", "--quiet", "--seed", "5"]
    command = [sys.executable, "-m", "bprop.cli", "train", "t.csv", *flags]
    full = launch(2, *command, "--out", "full.safetensors", cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    (tmp_path / "model.safetensors").write_bytes(b"an older model")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    process = subprocess.Popen(
        [str(MPIEXEC), "-n", "2", *command, "--checkpoint", "ck"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    checkpoint = tmp_path / "ck" / "checkpoint.safetensors"
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # into training
    assert process.poll() is None, "training ended before a rank could be killed"
    children = _grandchildren(process.pid)
    assert len(children) == 2, children
    os.kill(children[-1], signal.SIGKILL)
    started = time.monotonic()
    process.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert process.returncode != 0
    assert (tmp_path / "model.safetensors").read_bytes() == b"an older model"  # untouched
    resumed = launch(2, sys.executable, "-m", "bprop.cli", "train", "--resume", "ck", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    saved = [bprop.load(tmp_path / f).net.parameters() for f in ("model.safetensors", "full.safetensors")]
    assert all(np.array_equal(a, b) for a, b in zip(*saved))


def _grandchildren(pid: int) -> list[int]:
    found = []
    for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split():
        found += [int(p) for p in subprocess.run(["pgrep", "-P", child], capture_output=True, text=True).stdout.split()]
    return found


def test_an_interrupted_run_resumes_under_mpiexec_bit_identical(tmp_path):
    write_csv(tmp_path / "t.csv", mixed_table(3000))
    flags = ["--layers", "32", "--epochs", "60", "--patience", "60", "--batch-size", "16", "--dropout", "0.1"]
    command = [sys.executable, "-m", "bprop.cli", "train", "t.csv", *flags, "--quiet", "--seed", "3"]
    full = launch(2, *command, "--out", "full.safetensors", cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    process = subprocess.Popen(
        [str(MPIEXEC), "-n", "2", *command, "--checkpoint", "ck", "--out", "cut.safetensors"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    checkpoint = tmp_path / "ck" / "checkpoint.safetensors"
    deadline = time.monotonic() + 60
    while (not checkpoint.exists() or checkpoint.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a few epochs in
    assert process.poll() is None, "training ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert "resume with: bprop train --resume ck" in out, err
    resumed = launch(
        2, sys.executable, "-m", "bprop.cli", "train", "--resume", "ck", "--quiet", "--out", "resumed.safetensors",
        cwd=tmp_path,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    saved = [bprop.load(tmp_path / f).net.parameters() for f in ("resumed.safetensors", "full.safetensors")]
    assert all(np.array_equal(a, b) for a, b in zip(*saved))
    alone = subprocess.run(
        [sys.executable, "-m", "bprop.cli", "train", "--resume", "ck", "--quiet"], cwd=tmp_path, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert alone.returncode == 2
    assert "a run on 2 rank(s), not 1; resume it with mpiexec -n 2" in alone.stderr
