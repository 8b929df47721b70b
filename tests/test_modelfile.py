"""Model files: exact round trips, atomic writes, and a clear ValueError for every bad file."""

import hashlib
import json
import os
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("safetensors")
from safetensors.numpy import load as st_load  # noqa: E402
from safetensors.numpy import save as st_save  # noqa: E402

import bprop  # noqa: E402
from bprop import files as _files  # noqa: E402
from bprop.modelfile import FORMAT_VERSION, Model, UnverifiedMetadataWarning, load, read_metadata, save  # noqa: E402


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
    assert model.format_version == FORMAT_VERSION
    assert model.bprop_version == bprop.__version__
    meta = read_metadata(path)
    assert meta["format_version"] == FORMAT_VERSION == 2
    assert meta["architecture"] == model.net.config()


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


# -- refusals at save time -----------------------------------------------------------------------------
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


# -- atomic writes -------------------------------------------------------------------------------------
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


# -- bad files at load time ----------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "good.safetensors"
    save(make_net(np.float32), path, training={"epochs": 3})
    return path


def rewrite(path, change):
    """Re-save ``path`` as valid safetensors with its safetensors metadata replaced by ``change(document)``."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    tensors = st_load(data)
    metadata = change(json.loads(meta["bprop"]))
    path.write_bytes(st_save(tensors, metadata=metadata))


def canonical_sha256(value):
    """The documented checksum of a metadata section: SHA-256 of canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def rehash(document):
    """What someone re-hashing an edited file would do: recompute every metadata checksum."""
    header = {key: document.get(key) for key in ("format", "format_version", "bprop_version")}
    sums = {"header": canonical_sha256(header)}
    sums.update(
        {name: canonical_sha256(document.get(name)) for name in ("architecture", "preprocessing", "training", "extra")}
    )
    return {**document, "metadata_sha256": sums}


def edit(path, change, *, rehashed=False):
    """Change the bprop document of ``path`` in place (``change`` mutates it); optionally re-hash it."""

    def apply(document):
        change(document)
        return {"bprop": json.dumps(rehash(document) if rehashed else document)}

    rewrite(path, apply)


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
    with pytest.raises(
        ValueError, match=f"format version {FORMAT_VERSION + 1}, newer than this bprop .* upgrade bprop"
    ):
        load(saved)
    with pytest.raises(ValueError, match="upgrade bprop"):
        read_metadata(saved)


def _drop_layer(doc):
    doc["architecture"]["layers"] = doc["architecture"]["layers"][:2]


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda doc: doc.update(architecture={"layers": []}), "architecture lacks the key 'dtype'"),
        (
            lambda doc: doc["architecture"]["layers"][0].update(type="Conv"),
            r"layers\[0\].type is 'Conv', an unknown layer",
        ),
        (_drop_layer, "weights no layer uses"),
    ],
)
def test_inconsistent_metadata(saved, change, match):
    edit(saved, change, rehashed=True)
    with pytest.raises(ValueError, match=match):
        load(saved)


def test_corrupted_metadata_text(saved):
    rewrite(saved, lambda doc: {"bprop": "{not json"})
    with pytest.raises(ValueError, match="corrupted bprop metadata"):
        load(saved)


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc.update(format_version="1"),
        lambda doc: doc.pop("format_version"),
    ],
)
def test_missing_or_wrong_format_version(saved, change):
    edit(saved, change)
    with pytest.raises(ValueError, match="no valid format version"):
        load(saved)


# -- integrity of the metadata -------------------------------------------------------------------------
PREPROCESSING = {
    "features": {"columns": [{"name": "x", "kind": "numeric", "mean": 0.25, "scale": 2.0, "fill": 0.5}]},
    "target": {"task": "classification", "column": "kind", "classes": ["cat", "dog", "eel"]},
}


@pytest.fixture
def full(tmp_path):
    """A model file with every section filled in."""
    path = tmp_path / "full.safetensors"
    save(Model(make_net(np.float32), PREPROCESSING, {"epochs": 3}, {"note": "hi"}), path)
    return path


def _swap_classes(doc):
    classes = doc["preprocessing"]["target"]["classes"]
    classes[0], classes[1] = classes[1], classes[0]


EDITS = {
    "preprocessing": lambda doc: doc["preprocessing"]["features"]["columns"][0].update(mean=0.26),
    "classes": _swap_classes,
    "architecture": lambda doc: doc["architecture"]["layers"][1].update(activation={"name": "sigmoid"}),
    "training": lambda doc: doc["training"].update(epochs=4),
    "extra": lambda doc: doc["extra"].update(note="ho"),
    "header": lambda doc: doc.update(bprop_version="9.9.9"),
}
NAMED = {
    "preprocessing": "its preprocessing",
    "classes": "its preprocessing",
    "architecture": "its architecture",
    "training": "its training metadata",
    "extra": "its extra metadata",
    "header": "its header fields",
}


@pytest.mark.parametrize("what", EDITS)
def test_an_edited_section_is_refused_naming_it(full, what):
    # Before format 2 only the weights were checksummed: these files loaded and predicted other labels.
    edit(full, EDITS[what])
    for read in (load, read_metadata):
        with pytest.raises(
            ValueError, match=f"was edited or is corrupted: {NAMED[what]}.* does not match its checksum"
        ):
            read(full)


def test_every_edited_section_is_named(full):
    edit(full, lambda doc: (EDITS["training"](doc), EDITS["classes"](doc)))
    with pytest.raises(ValueError, match="its preprocessing .* and training metadata do not match their checksums"):
        load(full)


def test_checksums_are_over_canonical_json_so_layout_does_not_matter(full):
    # Re-serialised with other key order and spacing, the file is the same model and still loads.
    rewrite(full, lambda doc: {"bprop": json.dumps(dict(reversed(list(doc.items()))), indent=3)})
    model = load(full)
    assert model.preprocessing == PREPROCESSING
    assert model.extra == {"note": "hi"}


def test_a_re_hashed_edit_passes_the_check(full):
    # The limit the README states: the checksums are recomputable, so they stop accidents, not a forger.
    edit(full, EDITS["classes"], rehashed=True)
    assert load(full).preprocessing["target"]["classes"] == ["dog", "cat", "eel"]


def _as_version_1(doc):
    """The layout bprop wrote before format 2: no metadata checksums."""
    doc.pop("metadata_sha256")
    doc["format_version"] = 1


def test_a_version_1_file_loads_with_one_warning(full):
    edit(full, _as_version_1)
    with pytest.warns(
        UnverifiedMetadataWarning, match="version-1 model file: its checksum covers the weights only"
    ) as seen:
        model = load(full)
    assert len(seen) == 1
    assert model.format_version == 1
    assert model.preprocessing == PREPROCESSING
    with pytest.warns(UnverifiedMetadataWarning):
        assert read_metadata(full)["preprocessing"] == PREPROCESSING


def test_re_saving_a_version_1_file_protects_its_metadata(full, tmp_path):
    edit(full, _as_version_1)
    with pytest.warns(UnverifiedMetadataWarning):
        save(load(full), tmp_path / "again.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load(tmp_path / "again.safetensors").format_version == FORMAT_VERSION
    edit(tmp_path / "again.safetensors", EDITS["classes"])
    with pytest.raises(ValueError, match="its preprocessing"):
        load(tmp_path / "again.safetensors")


def test_a_version_1_file_still_gets_its_weights_and_schema_checked(full):
    edit(full, lambda doc: (_as_version_1(doc), doc["architecture"]["layers"][0].update(fan_in="5")))
    with (
        pytest.warns(UnverifiedMetadataWarning),
        pytest.raises(ValueError, match=r"layers\[0\].fan_in must be an integer"),
    ):
        load(full)


def test_a_version_2_file_without_its_checksums_is_refused(full):
    edit(full, lambda doc: doc.pop("metadata_sha256"))
    with pytest.raises(ValueError, match="lacks the key 'metadata_sha256'"):
        load(full)


# -- schema of the document ----------------------------------------------------------------------------
def _layer(i, **change):
    return lambda doc: doc["architecture"]["layers"][i].update(change)


SCHEMA_CASES = {
    "fan_in a string": (_layer(0, fan_in="5"), r"architecture.layers\[0\].fan_in must be an integer >= 1, got '5'"),
    "fan_in a bool": (_layer(0, fan_in=True), r"layers\[0\].fan_in must be an integer >= 1, got True"),
    "fan_in a float": (_layer(0, fan_in=5.0), r"fan_in must be an integer >= 1, got 5.0"),
    "fan_out zero": (_layer(2, fan_out=0), r"layers\[2\].fan_out must be an integer >= 1"),
    "fan_in does not chain": (_layer(1, fan_in=6), r"layers\[1\].fan_in is 6 but the Dense layer before it outputs 7"),
    "activation unknown": (_layer(1, activation={"name": "swish"}), r"layers\[1\].activation is not a valid .*'swish'"),
    "activation a string": (_layer(1, activation="tanh"), r"activation must be an object with an activation name"),
    "activation bad setting": (
        _layer(0, activation={"name": "relu", "alpha": 1}),
        r"layers\[0\].activation is not a valid",
    ),
    "activation setting as text": (
        _layer(0, activation={"name": "leaky_relu", "slope": "0.03"}),
        r"layers\[0\].activation must be",
    ),
    "frozen a string": (_layer(1, frozen="b"), r"layers\[1\].frozen must be a sorted list"),
    "frozen unknown name": (_layer(1, frozen=["bias"]), r"frozen must be a sorted list .* got \['bias'\]"),
    "layer a list": (lambda doc: doc["architecture"]["layers"].__setitem__(0, ["k"]), r"layers\[0\].type is None"),
    "layer missing key": (lambda doc: doc["architecture"]["layers"][0].pop("activation"), "lacks the key 'activation'"),
    "layer extra key": (_layer(0, units=3), "has an unexpected key 'units'"),
    "layers a dict": (lambda doc: doc["architecture"].update(layers={"0": 1}), "layers must be a non-empty list"),
    "dtype": (lambda doc: doc["architecture"].update(dtype="float16"), "dtype must be 'float32' or 'float64'"),
    "architecture a list": (lambda doc: doc.update(architecture=[1]), "architecture must be a JSON object, got a list"),
    "preprocessing a list": (
        lambda doc: doc.update(preprocessing=["k"]),
        "preprocessing must be a JSON object or null",
    ),
    "missing section": (lambda doc: doc.pop("training"), "the document lacks the key 'training'"),
    "unknown top-level key": (lambda doc: doc.update(sneaky=1), "unexpected key 'sneaky'"),
    "format": (lambda doc: doc.update(format="other"), "format must be 'bprop-model'"),
    "bprop_version a number": (lambda doc: doc.update(bprop_version=1), "bprop_version must be a string, got a number"),
    "weights_sha256 null": (lambda doc: doc.update(weights_sha256=None), "weights_sha256 must be a string, got null"),
}


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_tampered_shapes_are_one_line_errors_naming_the_field(saved, case):
    # Re-hashed, so the schema check itself is what stands between the edit and a traceback.
    change, match = SCHEMA_CASES[case]
    edit(saved, change, rehashed=True)
    for read in (load, read_metadata):
        with pytest.raises(ValueError, match=match) as caught:
            read(saved)
        assert type(caught.value) is ValueError
        assert "\n" not in str(caught.value)
        assert str(caught.value).endswith("save or train the model again")


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda doc: doc.update(metadata_sha256=["x"]), "metadata_sha256 must be a JSON object, got a list"),
        (lambda doc: doc["metadata_sha256"].pop("extra"), "metadata_sha256 lacks the key 'extra'"),
        (lambda doc: doc["metadata_sha256"].update(header=3), "metadata_sha256.header must be a string"),
    ],
)
def test_damaged_checksum_table(saved, change, match):
    edit(saved, change)
    with pytest.raises(ValueError, match=match):
        load(saved)


@pytest.mark.parametrize(
    "key,array,match",
    [
        (
            "layers.1.W",
            np.zeros((7, 4)),
            r"'layers.1.W' have shape \(7, 4\) and dtype float64, but the architecture says",
        ),
        (
            "layers.1.b",
            np.zeros(5, np.float32),
            r"'layers.1.b' have shape \(5,\) .* architecture says \(4,\) and float32",
        ),
    ],
)
def test_weights_that_disagree_with_the_architecture(saved, key, array, match):
    # Weights and their checksum replaced consistently: only the shape check can catch the mismatch.
    def replace_weights(document):
        tensors[key] = array
        document["weights_sha256"] = bprop.modelfile._checksum(tensors)
        return {"bprop": json.dumps(document)}

    tensors = st_load(saved.read_bytes())
    metadata = replace_weights(json.loads(read_document_text(saved)))
    saved.write_bytes(st_save(tensors, metadata=metadata))
    with pytest.raises(ValueError, match=match):
        load(saved)


def read_document_text(path):
    data = path.read_bytes()
    return json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])["__metadata__"]["bprop"]


@pytest.mark.parametrize(
    "text,match",
    [
        ('{"format_version": NaN}', "NaN is not a number JSON allows"),
        ('{"format_version": 2, "x": 1e999}', "overflows a float"),
        ('{"format_version": 2, "x": ' + "9" * 5000 + "}", "corrupted bprop metadata"),
        ('{"format_version": 2, "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
)
def test_metadata_json_that_cannot_be_hashed_canonically(saved, text, match):
    rewrite(saved, lambda doc: {"bprop": text})
    with pytest.raises(ValueError, match=match):
        load(saved)


@pytest.mark.parametrize("function", [load, read_metadata])
@pytest.mark.parametrize("argument", [None, 3, b"m.safetensors", ["m.safetensors"]])
def test_a_path_that_is_not_a_path(function, argument):
    name = function.__name__
    with pytest.raises(ValueError, match=f"{name} takes the path of a model file .* got {type(argument).__name__}"):
        function(argument)


def test_save_to_a_path_that_is_not_a_path():
    with pytest.raises(ValueError, match="save takes the path of a model file .* got NoneType"):
        save(make_net(np.float32), None)


def test_a_model_file_with_nan_weights_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save(bprop.mlp([2, 3, 1], seed=0), path)
    data = path.read_bytes()
    tensors = st_load(data)
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])["__metadata__"]
    tensors["layers.0.W"][0, 0] = np.nan
    document = json.loads(header["bprop"])
    document["weights_sha256"] = bprop.modelfile._checksum(tensors)  # a crafted file passes the checksum
    path.write_bytes(st_save(tensors, metadata={"bprop": json.dumps(document)}))
    with pytest.raises(ValueError, match="NaN or infinite"):
        load(path)


class _Clipped(bprop.Dense):
    def forward(self, x, *, training=False, activate=True):
        return np.clip(super().forward(x, training=training, activate=activate), -0.1, 0.1)


class _Doubled(bprop.Dropout):
    def forward(self, x, *, training=False):
        return x * 2


class _ShiftedTanh(bprop.nn.activations.Tanh):
    def forward(self, z, out=None):
        return super().forward(z + 1, out)


def _with(middle=None, activation="tanh"):
    layers = [bprop.Dense(3, 4, activation, rng=0)] + ([middle] if middle else []) + [bprop.Dense(4, 2, rng=1)]
    return bprop.Sequential(layers)


def test_layers_that_would_load_as_another_are_refused(tmp_path):
    """A model file records type names: a subclass computing a forward of its own would load back as its
    plain parent and predict something else, so save refuses it and writes nothing."""
    given = bprop.Dense(4, 4, "relu", rng=2)
    given.forward = lambda x, *, training=False, activate=True: x
    cases = [
        (_with(_Clipped(4, 4, "relu", rng=2)), r"layer 1 .* is a _Clipped computing a forward of its own"),
        (_with(_Doubled(0.1, rng=0)), r"layer 1 .* is a _Doubled computing a forward of its own"),
        (_with(given), r"layer 1 .* is a Dense computing a forward of its own"),
        (_with(activation=_ShiftedTanh()), r"layer 0 .* uses _ShiftedTanh, which a model file would load as"),
    ]
    for net, message in cases:
        with pytest.raises(ValueError, match=message):
            bprop.save(net, tmp_path / "m.safetensors")
        assert not (tmp_path / "m.safetensors").exists()
    bprop.save(_with(bprop.Dropout(0.1, rng=0)), tmp_path / "m.safetensors")  # bprop's own: saved
