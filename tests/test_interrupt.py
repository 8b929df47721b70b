"""A real `bprop train` process stopped by a signal keeps its work, and resuming it ends bit-identical."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import bprop

ARGS = ["--layers", "32", "--epochs", "40", "--patience", "40", "--batch-size", "16", "--quiet", "--seed", "3"]


def bprop_cli(*args):
    return [sys.executable, "-m", "bprop.cli", *args]


def weights(path):
    return [p.tobytes() for p in bprop.load(path).net.parameters()]


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_checkpoint_and_model_then_resume_matches(tmp_path, sig, status):
    full = subprocess.run(
        bprop_cli("train", *ARGS, "--out", "full.safetensors"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert full.returncode == 0, full.stderr

    process = subprocess.Popen(
        bprop_cli("train", *ARGS, "--checkpoint", "ck", "--out", "cut.safetensors"),
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
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    assert "resume with: bprop train --resume ck" in stdout
    assert (tmp_path / "cut.safetensors").exists() and checkpoint.exists()
    cut_model = bprop.load(tmp_path / "cut.safetensors")
    assert all(np.isfinite(p).all() for p in cut_model.net.parameters())

    resumed = subprocess.run(
        bprop_cli("train", "--resume", "ck", "--quiet", "--out", "resumed.safetensors"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming the run in ck after epoch" in resumed.stdout
    assert weights(tmp_path / "resumed.safetensors") == weights(tmp_path / "full.safetensors")
