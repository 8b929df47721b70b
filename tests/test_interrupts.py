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
    assert (tmp_path / "cut.safetensors").exists()
    assert checkpoint.exists()
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


def wait_for(path, process, seconds=60):
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    assert process.poll() is None, "training ended before it could be interrupted"


def test_two_sigints_5_ms_apart_during_training_keep_the_model(tmp_path):
    process = subprocess.Popen(
        bprop_cli("train", *ARGS, "--checkpoint", "ck", "--out", "cut.safetensors"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(tmp_path / "ck" / "checkpoint.safetensors", process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert "error:" not in stderr, stderr
    assert "interrupted: the best model so far is in cut.safetensors" in stdout
    assert all(np.isfinite(p).all() for p in bprop.load(tmp_path / "cut.safetensors").net.parameters())


# Starts the console command the way its script does, with a Ctrl-C timed from before the entry point's import.
CONSOLE = """
import importlib, os, signal, sys, threading, time
from importlib.metadata import entry_points

(entry,) = entry_points(group="console_scripts", name="bprop")
threading.Thread(target=lambda: (time.sleep(float(sys.argv[1])), os.kill(os.getpid(), signal.SIGINT))).start()
command = getattr(importlib.import_module(entry.module), entry.attr)
sys.argv = ["bprop", *sys.argv[2:]]
sys.exit(command())
"""


@pytest.mark.parametrize("delay", [0.02, 0.1, 0.25, 0.4])
def test_ctrl_c_during_start_up_is_one_line_and_status_130(tmp_path, delay):
    # Big enough that imports, reading and preparing it all come before training starts.
    rng = np.random.default_rng(0)
    table = rng.normal(size=(300_000, 4)).round(4)
    np.savetxt(tmp_path / "data.csv", table, delimiter=",", header="a,b,c,y", comments="", fmt="%.4f")
    result = subprocess.run(
        [sys.executable, "-c", CONSOLE, str(delay), "train", "data.csv", "--quiet", "--out", "m.safetensors"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stderr) == (130, "error: interrupted\n"), result.stderr
    assert not (tmp_path / "m.safetensors").exists()


def test_ctrl_c_while_the_model_is_written_waits_until_it_is_on_disk(tmp_path, monkeypatch, capsys):
    import os

    from bprop import modelfile as io
    from bprop.cli import main

    real_save = io.save

    def save_interrupted(model, path):
        os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C arriving as the model is written
        os.kill(os.getpid(), signal.SIGINT)
        return real_save(model, path)

    monkeypatch.setattr(io, "save", save_interrupted)
    out = tmp_path / "m.safetensors"
    handler = signal.getsignal(signal.SIGINT)
    code = main(["train", "--layers", "4", "--epochs", "2", "--quiet", "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 130, stderr
    assert "interrupted: training had finished; the model is in" in stdout
    assert "error:" not in stderr
    assert bprop.load(out).net.n_parameters() > 0
    assert signal.getsignal(signal.SIGINT) is handler  # restored afterwards


def test_signal_hold_records_and_release_restores():
    import os

    from bprop.training.interrupts import SignalHold, signal_hold, stop_on_signals

    before = signal.getsignal(signal.SIGINT)
    with signal_hold() as hold:
        hold.hold()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # let the handler run: it must record, not raise
        requests = []
        with stop_on_signals(requests.append):  # a training run started inside the hold hears of it
            pass
        assert requests == ["interrupted"]
        assert hold.release() == [signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is before
    assert SignalHold().release() == []


def test_a_sigint_arriving_as_the_hold_is_released_is_the_holds(monkeypatch):
    """Python runs a handler some bytecodes after the signal arrived, by when release() may have put the
    default handler back: that SIGINT was sent to the hold and is returned, not raised."""
    from bprop.training import interrupts

    real = signal.signal
    raised = []

    def swapping_in_the_default_raises_once(sig, handler):
        previous = real(sig, handler)
        if sig == signal.SIGINT and handler is signal.default_int_handler and not raised:
            raised.append(sig)
            raise KeyboardInterrupt  # what the default handler does with the SIGINT just arrived
        return previous

    real(signal.SIGINT, signal.default_int_handler)
    hold = interrupts.SignalHold()
    hold.hold()
    monkeypatch.setattr(interrupts.signal, "signal", swapping_in_the_default_raises_once)
    try:
        released = hold.release()
    except KeyboardInterrupt:  # raised on, it would end the whole test session instead of this test
        pytest.fail("release() let the SIGINT through")
    assert released == [signal.SIGINT]
    assert raised == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("status", [0, 130])
def test_a_ctrl_c_after_an_interrupted_run_reported_is_not_an_error(monkeypatch, status):
    """`bprop train` stopped by Ctrl-C has saved and printed everything when a second press lands while it
    lets go of the checkpoint folder: it still ends with 130, quietly. After a run that ended on its own,
    that press interrupts as usual."""
    import argparse
    import contextlib

    from bprop.cli import train_command
    from bprop.training import checkpoint

    @contextlib.contextmanager
    def a_press_while_unlocking(folder):
        yield
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "lock_folder", a_press_while_unlocking)
    monkeypatch.setattr(train_command, "_run", lambda args, signals: status)
    args = argparse.Namespace(checkpoint=None, resume=None)
    if status:
        try:
            assert train_command.run(args) == status
        except KeyboardInterrupt:
            pytest.fail("the Ctrl-C after the interrupted run was raised")
    else:
        with pytest.raises(KeyboardInterrupt):
            train_command.run(args)


def test_a_repeated_sigint_is_the_same_request_but_a_late_one_forces_the_stop(monkeypatch):
    import os

    from bprop.training import interrupts

    requests = []
    with interrupts.stop_on_signals(requests.append):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # a double press: no KeyboardInterrupt
        time.sleep(0.01)
        assert requests == ["interrupted"]
        monkeypatch.setattr(interrupts, "REPEAT_SECONDS", 0.0)
        time.sleep(0.01)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)


def test_a_sigint_while_a_stopped_run_saves_does_not_abort_the_save(monkeypatch):
    """Once the batch has ended, a repeated Ctrl-C is the stop being honoured, even when its handler ran
    late (a slow fsync of the final checkpoint held it up past REPEAT_SECONDS: set to 0 here)."""
    import os

    from bprop.training import interrupts

    class Presses(bprop.Callback):
        saved = False

        def on_batch_end(self, state):
            if state.steps == 3:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)

        def on_train_end(self, state):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the handler runs here: it must not raise
            self.saved = True

    monkeypatch.setattr(interrupts, "REPEAT_SECONDS", 0.0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(64, 3)), rng.normal(size=(64, 1))
    presses = Presses()
    history = bprop.fit(bprop.mlp([3, 4, 1], seed=0), X, Y, epochs=5, batch_size=4, callbacks=[presses], seed=0)
    assert history.stop_reason == "interrupted"
    assert presses.saved
    assert history.epochs == 0  # the partial epoch is not recorded


def test_a_run_started_with_sigint_ignored_keeps_ignoring_it(tmp_path):
    """A background job of a shell script starts with SIGINT ignored (so Ctrl-C on the script leaves it
    running): bprop honours that throughout instead of taking SIGINT over once training starts."""
    process = subprocess.Popen(
        bprop_cli("train", *ARGS, "--epochs", "5", "--checkpoint", "ck", "--out", "m.safetensors"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    wait_for(tmp_path / "ck" / "checkpoint.safetensors", process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "stopped: max_epochs after 5 epochs" in stdout
