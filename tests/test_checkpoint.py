import os

import numpy as np
import pytest

import bprop
from bprop.training.checkpoint import FILE_NAME, Checkpoint, load_checkpoint, save_checkpoint


def data(rng):
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, np.eye(2)[y]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop", "sgd"])
def test_resume_from_disk_is_bit_identical(tmp_path, dtype, optimizer, rng):
    X, Y = data(rng)

    def run(**extra):
        net = bprop.mlp([4, 6, 2], activation="relu", output_activation="softmax", seed=2, dtype=dtype, dropout=0.2)
        kwargs = {"learning_rate": 0.05, "momentum": 0.9} if optimizer == "sgd" else {}
        opt = bprop.get_optimizer(optimizer, **kwargs)
        history = bprop.fit(
            net,
            X,
            Y,
            loss="categorical_cross_entropy",
            optimizer=opt,
            epochs=6,
            batch_size=10,
            validation_split=0.25,
            seed=1,
            restore_best_weights=True,
            verbose=0,
            **extra,
        )
        return net, history

    full, full_history = run()

    class StopAfter(bprop.Callback):
        def on_epoch_end(self, state):
            if state.epoch == 3:
                state.stop("test")

    run(callbacks=[Checkpoint(tmp_path, extra={"note": "hi"}), StopAfter()])
    snapshot, extra = load_checkpoint(tmp_path)
    assert extra == {"note": "hi"}
    assert snapshot["epoch"] == 3
    resumed, history = run(resume=snapshot)
    assert [p.tobytes() for p in resumed.parameters()] == [p.tobytes() for p in full.parameters()]
    assert history.loss == full_history.loss
    assert history.val_loss == full_history.val_loss


def test_checkpoint_every_and_atomic_overwrite(tmp_path, rng):
    X, Y = data(rng)
    net = bprop.mlp([4, 3, 2], activation="tanh", output_activation="softmax", seed=0)
    bprop.fit(net, X, Y, loss="cce", epochs=5, callbacks=[Checkpoint(tmp_path, every=2)], verbose=0)
    snapshot, _ = load_checkpoint(tmp_path)
    assert snapshot["epoch"] == 5  # every 2nd epoch and the last
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]  # no temp files left behind


def test_bad_checkpoints_give_clear_errors(tmp_path, rng):
    with pytest.raises(ValueError, match="no checkpoint in"):
        load_checkpoint(tmp_path)
    (tmp_path / FILE_NAME).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="not a readable bprop checkpoint"):
        load_checkpoint(tmp_path)
    X, Y = data(rng)
    snap = {}

    class Grab(bprop.Callback):
        def on_epoch_end(self, state):
            snap.update(state.snapshot())

    bprop.fit(
        bprop.mlp([4, 3, 2], output_activation="softmax", seed=0),
        X,
        Y,
        loss="cce",
        epochs=1,
        callbacks=[Grab()],
        verbose=0,
    )
    path = save_checkpoint(tmp_path, snap)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="not a readable bprop checkpoint"):
        load_checkpoint(tmp_path)


def test_a_run_stopped_in_its_first_epoch_resumes_from_the_start(tmp_path, rng):
    import os
    import signal

    X, Y = data(rng)

    def make():
        return bprop.mlp([4, 5, 2], activation="relu", output_activation="softmax", seed=4)

    options = dict(loss="cce", optimizer="adam", epochs=3, batch_size=8, seed=2, verbose=0)
    full = make()
    bprop.fit(full, X, Y, **options)

    class InterruptEarly(bprop.Callback):
        def on_batch_end(self, state):
            if state.epoch == 1 and state.batch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    cut = make()
    history = bprop.fit(cut, X, Y, callbacks=[Checkpoint(tmp_path), InterruptEarly()], **options)
    assert history.stop_reason == "interrupted"
    assert history.epochs == 0
    snapshot, _ = load_checkpoint(tmp_path)
    assert snapshot["epoch"] == 0
    resumed = make()
    bprop.fit(resumed, X, Y, resume=snapshot, **options)
    assert [p.tobytes() for p in resumed.parameters()] == [p.tobytes() for p in full.parameters()]


def saved_checkpoint(folder, rng):
    X, Y = data(rng)
    bprop.fit(
        bprop.mlp([4, 3, 2], output_activation="softmax", seed=0),
        X,
        Y,
        loss="cce",
        epochs=2,
        callbacks=[Checkpoint(folder, extra={"settings": {"epochs": 2}})],
        verbose=0,
    )
    return folder / FILE_NAME


def test_a_flipped_bit_in_a_tensor_is_refused(tmp_path, rng):
    path = saved_checkpoint(tmp_path, rng)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01  # inside the last tensor: safetensors itself reads it without complaint
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum does not match"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: doc["state"].update(epoch=1),
        lambda doc: doc["state"].update(best_value=doc["state"]["best_value"] / 2),
        lambda doc: doc["extra"]["settings"].update(epochs=50),
    ],
    ids=["epoch", "best value", "stored settings"],
)
def test_an_edited_json_state_is_refused(tmp_path, rng, edit):
    import json

    from safetensors.numpy import load, save

    path = saved_checkpoint(tmp_path, rng)
    raw = path.read_bytes()
    metadata = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])["__metadata__"]
    document = json.loads(metadata["bprop_checkpoint"])
    edit(document)
    metadata["bprop_checkpoint"] = json.dumps(document)  # a careful edit: still a valid file, old checksum kept
    path.write_bytes(save(load(raw), metadata=metadata))
    with pytest.raises(ValueError, match="checksum does not match: it was corrupted or edited"):
        load_checkpoint(tmp_path)


def test_a_checkpoint_without_checksum_is_refused(tmp_path, rng):
    import json

    from safetensors.numpy import load, save

    path = saved_checkpoint(tmp_path, rng)
    raw = path.read_bytes()
    metadata = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])["__metadata__"]
    del metadata["sha256"]
    path.write_bytes(save(load(raw), metadata=metadata))
    with pytest.raises(ValueError, match="has no checksum"):
        load_checkpoint(tmp_path)


def test_lock_folder_refuses_a_second_holder_until_released(tmp_path):
    from bprop.training.checkpoint import lock_folder

    folder = tmp_path / "ck"
    with lock_folder(folder):
        with pytest.raises(ValueError, match=rf"{folder}.* is in use by another bprop run \(process {os.getpid()}\)"):
            with lock_folder(folder):
                pass
    with lock_folder(folder):  # released
        pass
    assert not folder.exists()  # created for a run that never checkpointed: removed again


def test_lock_of_a_killed_run_is_released(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from bprop.training.checkpoint import lock_folder

    folder = tmp_path / "ck"
    folder.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from bprop.training.checkpoint import lock_folder\n"
            "with lock_folder(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(ValueError, match="in use by another bprop run"):
        with lock_folder(folder):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    time.sleep(0.05)
    with lock_folder(folder):
        pass
    assert folder.is_dir()  # not created by this run: left in place
