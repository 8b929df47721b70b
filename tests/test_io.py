"""Model files: exact round trips, atomic writes, and a clear ValueError for every bad file."""

import json
import os
import pickle

import numpy as np
import pytest

pytest.importorskip("safetensors")
from safetensors.numpy import load as st_load  # noqa: E402
from safetensors.numpy import save as st_save  # noqa: E402

import bprop  # noqa: E402
from bprop import _files  # noqa: E402
from bprop.io import FORMAT_VERSION, Model, load, read_metadata, save  # noqa: E402


def make_net(dtype, seed=0):
    net = bprop.Sequential(
        [
            bprop.Dense(5, 7, {"name": "leaky_relu", "slope": 0.03}, dtype=dtype, rng=seed),
            bprop.Dense(7, 4, "tanh", dtype=dtype, rng=seed + 1, frozen=["b"]),
            bprop.Dense(4, 3, "softmax", dtype=dtype, rng=seed + 2),
        ]
    )
    for p in net.parameters():  # non-zero biases, so a lost bias would show
        p += np.random.default_rng(seed).normal(size=p.shape).astype(dtype)
    return net


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_predicts_bit_identically(tmp_path, dtype):
    net = make_net(dtype)
    X = np.random.default_rng(1).normal(size=(50, 5))
    before = net.forward(X)
    save(net, tmp_path / "m.safetensors")
    model = load(tmp_path / "m.safetensors")
    assert model.net.dtype == dtype
    assert model.net.config() == net.config()  # activations (with their settings) and frozen flags
    assert all(a.tobytes() == b.tobytes() for a, b in zip(net.parameters(), model.net.parameters()))
    assert model.net.forward(X).tobytes() == before.tobytes()


def test_sections_round_trip_and_top_level_api(tmp_path):
    preprocessing = {"features": {"columns": [{"name": "x", "mean": 0.1 + 0.2}]}, "target": {"classes": ["a", "b"]}}
    training = {"optimizer": "adam", "lr": 1e-3, "epochs": 12, "history": {"loss": [0.5, 0.25]}}
    extra = {"note": "ünïcödé", "flag": True, "nothing": None}
    path = bprop.save(bprop.Model(make_net(np.float32), preprocessing, training, extra), tmp_path / "model.safetensors")
    model = bprop.load(path)
    assert isinstance(model, Model)
    assert (model.preprocessing, model.training, model.extra) == (preprocessing, training, extra)
    assert model.format_version == FORMAT_VERSION and model.bprop_version == bprop.__version__
    meta = read_metadata(path)
    assert meta["format_version"] == 1 and meta["architecture"] == model.net.config()


def test_keyword_sections_replace_those_of_the_model(tmp_path):
    save(Model(make_net(np.float64), training={"old": 1}), tmp_path / "m.safetensors", training={"new": 2})
    assert load(tmp_path / "m.safetensors").training == {"new": 2}


def test_file_is_plain_safetensors_with_named_tensors(tmp_path):
    net = make_net(np.float32)
    save(net, tmp_path / "m.safetensors")
    tensors = st_load((tmp_path / "m.safetensors").read_bytes())
    assert sorted(tensors) == [f"layers.{i}.{p}" for i in range(3) for p in ("W", "b")]
    assert np.array_equal(tensors["layers.1.W"], net.layers[1].W)


def test_dropout_layers_round_trip(tmp_path):
    pytest.importorskip("bprop.dropout")
    net = bprop.Sequential([bprop.Dense(3, 4, "relu", rng=0), bprop.Dropout(0.25), bprop.Dense(4, 2, "softmax", rng=1)])
    save(net, tmp_path / "d.safetensors")
    again = load(tmp_path / "d.safetensors").net
    assert again.config() == net.config()
    X = np.ones((2, 3))
    assert np.array_equal(again.forward(X), net.forward(X))


def test_loading_never_unpickles(tmp_path, monkeypatch):
    save(make_net(np.float32), tmp_path / "m.safetensors")

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used while loading a model")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    load(tmp_path / "m.safetensors")


# -- refusals at save time ----------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_refused_and_nothing_is_written(tmp_path, bad):
    net = make_net(np.float32)
    net.layers[2].W[0, 0] = bad  # in place: the setter would refuse it
    with pytest.raises(ValueError, match="parameter W of layer 2 .* NaN or infinite .* lower the learning rate"):
        save(net, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"training": {"lr": np.array([1.0])}}, "training cannot be stored .*not JSON serializable"),
        ({"training": {"loss": float("nan")}}, "training cannot be stored"),
        ({"extra": {"s": {1, 2}}}, "extra cannot be stored"),
        ({"preprocessing": ["not", "a", "dict"]}, "preprocessing must be a dict or None, got list"),
    ],
)
def test_sections_must_be_json(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        save(make_net(np.float32), tmp_path / "m.safetensors", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_other_objects_and_bad_destinations(tmp_path):
    with pytest.raises(ValueError, match="save takes a bprop.Model or bprop.Sequential, got dict"):
        save({"W": 1}, tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="folder .* does not exist; create it first"):
        save(make_net(np.float32), tmp_path / "missing" / "m.safetensors")
    with pytest.raises(ValueError, match="is a folder; give a file name"):
        save(make_net(np.float32), tmp_path)


# -- atomic writes ------------------------------------------------------------------------------
@pytest.mark.parametrize("interruption", [OSError("disk full"), KeyboardInterrupt()])
def test_interrupted_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path, monkeypatch, interruption):
    path = tmp_path / "m.safetensors"
    save(make_net(np.float32, seed=0), path)
    good = path.read_bytes()

    def fail(_):
        raise interruption

    monkeypatch.setattr(_files, "_fsync", fail)
    # An OS error becomes a ValueError naming the file; a Ctrl-C stays a KeyboardInterrupt.
    expected = ValueError if isinstance(interruption, OSError) else type(interruption)
    with pytest.raises(expected):
        save(make_net(np.float32, seed=9), path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_new_files_get_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = save(make_net(np.float32), tmp_path / "m.safetensors")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# -- bad files at load time ---------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "good.safetensors"
    save(make_net(np.float32), path, training={"epochs": 3})
    return path


def rewrite(path, change):
    """Re-save ``path`` as valid safetensors with its bprop document passed through ``change``."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    tensors = st_load(data)
    metadata = change(json.loads(meta["bprop"]))
    path.write_bytes(st_save(tensors, metadata=metadata))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ValueError, match="model file .* not found; check the path"):
        load(tmp_path / "none.safetensors")
    with pytest.raises(ValueError, match="is a folder"):
        load(tmp_path)


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1, -100])
def test_truncated_files(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:keep])
    with pytest.raises(ValueError, match="truncated|corrupted"):
        load(saved)


def test_flipped_weight_byte_is_caught_by_the_checksum(saved):
    data = bytearray(saved.read_bytes())
    data[-3] ^= 0x40
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted: its weights do not match their checksum"):
        load(saved)


@pytest.mark.parametrize("content", [b"x,y\n1,2\n3,4\n", b"\x89PNG\r\n\x1a\n" + bytes(200), b'{"a": 1}' * 10])
def test_non_safetensors_files(tmp_path, content):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a bprop model file|truncated"):
        load(path)


def test_safetensors_without_bprop_metadata(tmp_path):
    path = tmp_path / "other.safetensors"
    path.write_bytes(st_save({"w": np.zeros(3, np.float32)}, metadata={"framework": "pt"}))
    with pytest.raises(ValueError, match="without bprop metadata .* only files written by bprop.save"):
        load(path)


def test_newer_format_version_asks_for_an_upgrade(saved):
    rewrite(saved, lambda doc: {"bprop": json.dumps({**doc, "format_version": FORMAT_VERSION + 1})})
    with pytest.raises(ValueError, match="format version 2, newer than this bprop .* upgrade bprop"):
        load(saved)
    with pytest.raises(ValueError, match="upgrade bprop"):
        read_metadata(saved)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda doc: {"bprop": "{not json"}, "corrupted bprop metadata"),
        (lambda doc: {"bprop": json.dumps({**doc, "format_version": "1"})}, "no valid format version"),
        (lambda doc: {"bprop": json.dumps({k: v for k, v in doc.items() if k != "format_version"})}, "no valid format"),
        (lambda doc: {"bprop": json.dumps({**doc, "architecture": {"layers": []}})}, "invalid architecture"),
        (
            lambda doc: {
                "bprop": json.dumps({**doc, "architecture": {**doc["architecture"], "layers": [{"type": "Conv"}]}})
            },
            "unknown layer type 'Conv'",
        ),
        (
            lambda doc: {
                "bprop": json.dumps(
                    {**doc, "architecture": {**doc["architecture"], "layers": doc["architecture"]["layers"][:2]}}
                )
            },
            "weights no layer uses",
        ),
    ],
)
def test_inconsistent_metadata(saved, change, match):
    rewrite(saved, change)
    with pytest.raises(ValueError, match=match):
        load(saved)
