"""Model files: one ``.safetensors`` file with every weight array and a JSON document in its header.

The document (metadata key ``"bprop"``) holds the header fields (format name, format version, bprop
version), the architecture (``net.config()``), the fitted preprocessing, the training settings and
summary, free-form extras, a SHA-256 of the weights and one SHA-256 per metadata section
(``metadata_sha256``: canonical JSON with sorted keys and compact separators). Loading verifies every
checksum and the schema of the architecture, so a file whose weights or metadata were corrupted or
edited is refused with a ValueError naming the part that does not match. The checksums are
recomputable: they catch corruption and careless edits, not a deliberate forger (see the README).

A version-1 file (written before the metadata was checksummed; only its weights are covered) still
loads, with one :class:`UnverifiedMetadataWarning`; re-saving it writes the current version.

Loading parses JSON and raw little-endian arrays only: no pickle, no code runs. Writes are atomic.
Needs the ``safetensors`` package (``cli`` extra).

Example:
    >>> import bprop, tempfile, os
    >>> net = bprop.mlp([3, 4, 2], seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> _ = bprop.save(net, path, training={"epochs": 0})
    >>> model = bprop.load(path)
    >>> model.training, model.net.config() == net.config()
    ({'epochs': 0}, True)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import reprlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes
from .nn.activations import computes_as_named, get_activation
from .nn.layers import Layer, plain
from .nn.network import LAYER_TYPES, Sequential, layer_from_config
from .version import __version__

__all__ = ["Model", "save", "to_bytes", "load", "read_metadata", "FORMAT_VERSION", "UnverifiedMetadataWarning"]

FORMAT_VERSION = 2
METADATA_KEY = "bprop"
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit; a larger length field means "not this format"
_HEADER_FIELDS = ("format", "format_version", "bprop_version")
_SECTIONS = ("architecture", "preprocessing", "training", "extra")
_CHECKED = ("header", *_SECTIONS)  # the keys of metadata_sha256
_REQUIRED_KEYS = {*_HEADER_FIELDS, *_SECTIONS, "weights_sha256"}  # version 1 has these only
_LABELS = {
    "header": "header fields (format, format_version, bprop_version)",
    "architecture": "architecture",
    "preprocessing": "preprocessing (feature statistics, categories, classes, target scaling)",
    "training": "training metadata",
    "extra": "extra metadata",
}
_AGAIN = "save or train the model again"


class UnverifiedMetadataWarning(UserWarning):
    """A version-1 model file was loaded: its checksum covers the weights only, not its metadata."""


class _SchemaError(ValueError):
    """A metadata field of the wrong shape; ``load`` adds the file name and what to do."""


@dataclass
class Model:
    """A network with everything needed to use it on raw data.

    Attributes:
        net: the :class:`~bprop.Sequential`.
        preprocessing: fitted preprocessing state (e.g. ``bprop.tables.TableEncoder.to_dict()``), or None.
        training: training settings and summary (any JSON-able dict), or None.
        extra: anything else JSON-able, or None.
        format_version: file format version the model was read from (``FORMAT_VERSION`` when written).
        bprop_version: version of bprop that wrote the file (None for a model not read from a file).
    """

    net: Sequential
    preprocessing: dict | None = None
    training: dict | None = None
    extra: dict | None = None
    format_version: int = FORMAT_VERSION
    bprop_version: str | None = None


# -- checksums ----------------------------------------------------------------------------------
def _tensor_key(layer_index: int, param_name: str) -> str:
    return f"layers.{layer_index}.{param_name}"


def _checksum(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 of the weights: every tensor's name and raw bytes, in name order."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(tensors[key]).tobytes())
    return digest.hexdigest()


def _json_sha256(value) -> str:
    # Canonical JSON: the same value always hashes the same, however the file's text was laid out.
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _metadata_checksums(document: dict) -> dict[str, str]:
    """One SHA-256 per metadata section, and one for the header fields together."""
    sums = {"header": _json_sha256({key: document.get(key) for key in _HEADER_FIELDS})}
    sums.update({name: _json_sha256(document.get(name)) for name in _SECTIONS})
    return sums


# -- save ---------------------------------------------------------------------------------------
def _model_path(path, function: str) -> Path:
    if isinstance(path, (str, os.PathLike)):
        try:
            return Path(path)
        except TypeError:  # an os.PathLike that gives bytes
            pass
    raise ValueError(
        f"{function} takes the path of a model file (a str or pathlib.Path), got {type(path).__name__}; "
        f"e.g. bprop.{function}(..., 'model.safetensors')"
    )


def _json_section(name: str, value) -> None:
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{name} must be a dict or None, got {type(value).__name__}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} cannot be stored in a model file: {exc}; use only dicts, lists, strings, "
            "finite numbers, booleans and None"
        ) from None


def _check_recordable(net: Sequential) -> None:
    """Refuse a layer or activation that would load back as another: the file records type names, and a
    subclass with a forward of its own (or an object given one) would come back as its plain parent."""
    for i, layer in enumerate(net.layers):
        if not plain(layer, *LAYER_TYPES.values()):
            raise ValueError(
                f"layer {i} ({layer!r}) is a {type(layer).__name__} computing a forward of its own; a model "
                f"file records bprop's {' and '.join(LAYER_TYPES)} layers only, and would load it as a plain "
                "one: keep such a network in Python (pickle) or rebuild it with bprop's layers"
            )
        activation = layer.activation
        if activation is not None and not computes_as_named(activation):
            raise ValueError(
                f"layer {i} ({layer!r}) uses {type(activation).__name__}, which a model file would load as "
                f"bprop's {activation.name!r}: it records bprop's own activations only"
            )


def _weight_tensors(net: Sequential) -> dict[str, np.ndarray]:
    _check_recordable(net)
    tensors = {}
    for i, layer in enumerate(net.layers):
        for name, array in zip(layer.param_names, layer.parameters()):
            if not np.isfinite(array).all():
                raise ValueError(
                    f"parameter {name} of layer {i} ({layer!r}) contains NaN or infinite values, so the model "
                    "is not saved; training diverged: lower the learning rate and train again"
                )
            tensors[_tensor_key(i, name)] = np.ascontiguousarray(array)
    return tensors


def save(
    model: Model | Sequential,
    path: str | os.PathLike,
    *,
    preprocessing: dict | None = None,
    training: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``model`` (a :class:`Model` or a bare ``Sequential``) to ``path`` atomically; returns the path.

    Keyword sections, when given, replace those of a :class:`Model`. Refuses NaN or infinite weights.
    """
    if not isinstance(model, Model | Sequential):
        raise ValueError(f"save takes a bprop.Model or bprop.Sequential, got {type(model).__name__}")
    path = _model_path(path, "save")
    data = to_bytes(model, preprocessing=preprocessing, training=training, extra=extra)
    return atomic_write_bytes(path, data)


def to_bytes(
    model: Model | Sequential,
    *,
    preprocessing: dict | None = None,
    training: dict | None = None,
    extra: dict | None = None,
) -> bytes:
    """The bytes :func:`save` writes (a ``.safetensors`` model file), kept in memory."""
    if isinstance(model, Sequential):
        model = Model(model)
    if not isinstance(model, Model) or not isinstance(model.net, Sequential):
        raise ValueError(f"save takes a bprop.Model or bprop.Sequential, got {type(model).__name__}")
    sections = {
        "preprocessing": model.preprocessing if preprocessing is None else preprocessing,
        "training": model.training if training is None else training,
        "extra": model.extra if extra is None else extra,
    }
    for name, value in sections.items():
        _json_section(name, value)
    tensors = _weight_tensors(model.net)
    document = {
        "format": "bprop-model",
        "format_version": FORMAT_VERSION,
        "bprop_version": __version__,
        "architecture": model.net.config(),
        **sections,
        "weights_sha256": _checksum(tensors),
    }
    # Hash what load will read back (tuples become lists, int keys become strings), not the Python objects.
    document = json.loads(json.dumps(document, allow_nan=False))
    document["metadata_sha256"] = _metadata_checksums(document)
    from safetensors.numpy import save as st_save

    return st_save(tensors, metadata={METADATA_KEY: json.dumps(document, allow_nan=False)})


# -- reading the document -----------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ValueError(f"model file {str(path)!r} not found; check the path")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; give the path of a .safetensors model file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read model file {str(path)!r}: {exc.strerror or exc}") from None


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} overflows a float")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _strict_json(text: str):
    """``json.loads`` refusing NaN/Infinity and overflowing numbers (they cannot be hashed canonically)."""
    return json.loads(text, parse_float=_finite_float, parse_constant=_refuse_constant)


def _safetensors_metadata(data: bytes, where: str) -> dict:
    not_model = f"{where} is not a bprop model file (not in safetensors format); give a file written by bprop"
    if len(data) < 8:
        raise ValueError(f"{where} is truncated or not a model file ({len(data)} bytes); {_AGAIN}")
    n = int.from_bytes(data[:8], "little")
    if n > _MAX_HEADER:
        raise ValueError(not_model)
    if 8 + n > len(data):
        raise ValueError(f"{where} is truncated (header cut off); {_AGAIN}")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError(not_model) from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or METADATA_KEY not in metadata:
        raise ValueError(
            f"{where} is a safetensors file without bprop metadata (format version, architecture); "
            "only files written by bprop.save / bprop train can be loaded"
        )
    return metadata


def _document(data: bytes, where: str) -> dict:
    """The bprop JSON document from a safetensors header, parsed by hand so each failure gets its own message."""
    text = _safetensors_metadata(data, where)[METADATA_KEY]
    try:
        document = _strict_json(text)
    except (TypeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else " ".join(str(exc).split())[:80]
        raise ValueError(f"{where} has corrupted bprop metadata ({reason}); {_AGAIN}") from None
    version = document.get("format_version") if isinstance(document, dict) else None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{where} has no valid format version in its bprop metadata; {_AGAIN}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{where} uses model format version {version}, newer than this bprop {__version__} reads "
            f"(up to {FORMAT_VERSION}); upgrade bprop (pip install -U bprop)"
        )
    return document


# -- schema -------------------------------------------------------------------------------------
def _shown(value) -> str:
    return reprlib.repr(value)  # bounded length and depth, whatever the file holds


def _kind(value) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number"}
    return "null" if value is None else kinds.get(type(value), "a number")


def _check_object(value, field: str, keys: set[str], optional: set[str] = frozenset()) -> None:
    if not isinstance(value, dict):
        raise _SchemaError(f"{field} must be a JSON object, got {_kind(value)}")
    missing = sorted(keys - value.keys())
    if missing:
        raise _SchemaError(f"{field} lacks the key {missing[0]!r}")
    unexpected = sorted(value.keys() - keys - optional)
    if unexpected:
        raise _SchemaError(f"{field} has an unexpected key {_shown(unexpected[0])}")


def _check_count(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _SchemaError(f"{field} must be an integer >= 1, got {_shown(value)}")
    return value


def _check_activation(spec, field: str) -> None:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise _SchemaError(f"{field} must be an object with an activation name, got {_shown(spec)}")
    try:
        config = get_activation(spec).config()
    except (TypeError, ValueError) as exc:  # an unknown name or setting
        raise _SchemaError(f"{field} is not a valid activation: {' '.join(str(exc).split())}") from None
    if config != spec:  # e.g. a setting given as a string
        raise _SchemaError(f"{field} must be {_shown(config)}, got {_shown(spec)}")


def _check_dense(config: dict, field: str, fan_out_before: int | None) -> int:
    _check_object(config, field, {"type", "fan_in", "fan_out", "activation", "frozen"})
    fan_in = _check_count(config["fan_in"], f"{field}.fan_in")
    fan_out = _check_count(config["fan_out"], f"{field}.fan_out")
    if fan_out_before is not None and fan_in != fan_out_before:
        raise _SchemaError(f"{field}.fan_in is {fan_in} but the Dense layer before it outputs {fan_out_before}")
    _check_activation(config["activation"], f"{field}.activation")
    frozen = config["frozen"]
    if frozen not in ([], ["W"], ["b"], ["W", "b"]):
        raise _SchemaError(
            f"{field}.frozen must be a sorted list of parameter names from ['W', 'b'], got {_shown(frozen)}"
        )
    return fan_out


def _check_dropout(config: dict, field: str) -> None:
    _check_object(config, field, {"type", "rate"})
    rate = config["rate"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise _SchemaError(f"{field}.rate must be a number in [0, 1), got {_shown(rate)}")


def _check_architecture(architecture) -> None:
    _check_object(architecture, "architecture", {"type", "layers", "dtype"})
    if architecture["type"] != "Sequential":
        raise _SchemaError(f"architecture.type must be 'Sequential', got {_shown(architecture['type'])}")
    if architecture["dtype"] not in ("float32", "float64"):
        raise _SchemaError(f"architecture.dtype must be 'float32' or 'float64', got {_shown(architecture['dtype'])}")
    layers = architecture["layers"]
    if not isinstance(layers, list) or not layers:
        raise _SchemaError(f"architecture.layers must be a non-empty list, got {_shown(layers)}")
    fan_out = None
    for i, config in enumerate(layers):
        field = f"architecture.layers[{i}]"
        kind = config.get("type") if isinstance(config, dict) else None
        if kind == "Dense":
            fan_out = _check_dense(config, field, fan_out)
        elif kind == "Dropout":
            _check_dropout(config, field)
        else:
            raise _SchemaError(
                f"{field}.type is {_shown(kind)}, an unknown layer type (this bprop knows 'Dense' and 'Dropout'); "
                "if a newer bprop wrote the file, upgrade bprop (pip install -U bprop)"
            )
    if layers[-1]["type"] != "Dense":
        raise _SchemaError(f"architecture.layers[{len(layers) - 1}] must be a Dense layer (the output layer)")


def _check_header(document: dict) -> None:
    """The top-level keys and their types (the sections' own schema is checked elsewhere)."""
    _check_object(document, "the document", _REQUIRED_KEYS, optional={"metadata_sha256"})
    if document["format_version"] >= 2 and "metadata_sha256" not in document:
        raise _SchemaError("the document lacks the key 'metadata_sha256'")
    if "metadata_sha256" in document:
        sums = document["metadata_sha256"]
        _check_object(sums, "metadata_sha256", set(_CHECKED))
        for name in _CHECKED:
            if not isinstance(sums[name], str):
                raise _SchemaError(f"metadata_sha256.{name} must be a string, got {_kind(sums[name])}")


def _check_sections(document: dict) -> None:
    if document["format"] != "bprop-model":
        raise _SchemaError(f"format must be 'bprop-model', got {_shown(document['format'])}")
    for key in ("bprop_version", "weights_sha256"):
        if not isinstance(document[key], str):
            raise _SchemaError(f"{key} must be a string, got {_kind(document[key])}")
    for name in ("preprocessing", "training", "extra"):
        if document[name] is not None and not isinstance(document[name], dict):
            raise _SchemaError(f"{name} must be a JSON object or null, got {_kind(document[name])}")
    _check_architecture(document["architecture"])


def _verify_metadata(document: dict, where: str) -> None:
    """Compare every section with its checksum; a version-1 file has none, so say so once."""
    stored = document.get("metadata_sha256")
    if stored is None:
        warnings.warn(
            f"{where} is a version-1 model file: its checksum covers the weights only, so an edit to its "
            "architecture, preprocessing or training metadata would go unnoticed; if you trust the file, "
            "re-save it (bprop.save(bprop.load(path), path)) or train again to protect all of it",
            UnverifiedMetadataWarning,
            stacklevel=2,  # one place in this module, so the "default" filter shows it once per file
        )
        return
    actual = _metadata_checksums(document)
    wrong = [_LABELS[name] for name in _CHECKED if actual[name] != stored[name]]
    if wrong:
        verb = "does not match its checksum" if len(wrong) == 1 else "do not match their checksums"
        raise ValueError(f"{where} was edited or is corrupted: its {' and '.join(wrong)} {verb}; {_AGAIN}")


def _checked_document(data: bytes, where: str) -> dict:
    document = _document(data, where)
    try:
        _check_header(document)
        _verify_metadata(document, where)
        _check_sections(document)
    except _SchemaError as exc:
        raise ValueError(f"{where} has invalid metadata: {exc}; {_AGAIN}") from None
    except RecursionError:
        raise ValueError(f"{where} has invalid metadata: it is nested too deeply; {_AGAIN}") from None
    return document


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON document of a model file, without building the network (for ``bprop info``).

    Verifies the metadata checksums and the architecture's schema (the weights are checked by :func:`load`).
    """
    path = _model_path(path, "read_metadata")
    return _checked_document(_read_bytes(path), repr(str(path)))


# -- load ---------------------------------------------------------------------------------------
def _layer_weights(tensors: dict[str, np.ndarray], index: int, config: dict, dtype: str) -> list[np.ndarray]:
    """W and b of Dense layer ``index``, after checking they are there with the shapes the architecture says."""
    expected = {"W": (config["fan_in"], config["fan_out"]), "b": (config["fan_out"],)}
    arrays = []
    for name, shape in expected.items():
        key = _tensor_key(index, name)
        array = tensors.pop(key, None)
        if array is None:
            raise ValueError(f"the weights {key!r} of layer {index} are missing")
        if array.shape != shape or array.dtype != np.dtype(dtype):
            raise ValueError(
                f"the weights {key!r} have shape {array.shape} and dtype {array.dtype}, "
                f"but the architecture says {shape} and {dtype}"
            )
        arrays.append(array)
    return arrays


def _build_layer(config: dict, index: int, tensors: dict[str, np.ndarray], dtype: str) -> Layer:
    params = _layer_weights(tensors, index, config, dtype) if config["type"] == "Dense" else []
    return layer_from_config(config, params, dtype)


def _network(architecture: dict, tensors: dict[str, np.ndarray], where: str) -> Sequential:
    """The network of a schema-checked architecture, with the file's weights."""
    dtype = architecture["dtype"]
    try:
        net = Sequential([_build_layer(cfg, i, tensors, dtype) for i, cfg in enumerate(architecture["layers"])])
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}; the file is inconsistent; {_AGAIN}") from None
    if tensors:
        raise ValueError(f"{where} holds weights no layer uses ({sorted(tensors)}); the file is inconsistent")
    return net


def load(path: str | os.PathLike) -> Model:
    """Read a model file written by :func:`save`. Raises ``ValueError`` for anything but a sound model file.

    Every checksum is verified (weights, architecture, preprocessing, training, extra, header fields); a
    version-1 file, whose metadata has no checksum, loads with an :class:`UnverifiedMetadataWarning`.
    """
    path = _model_path(path, "load")
    where = repr(str(path))
    data = _read_bytes(path)
    document = _checked_document(data, where)
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    try:
        tensors = st_load(data)
    except SafetensorError as exc:
        raise ValueError(f"{where} is corrupted or truncated ({exc}); {_AGAIN}") from None
    if _checksum(tensors) != document["weights_sha256"]:
        raise ValueError(f"{where} is corrupted: its weights do not match their checksum; {_AGAIN}")
    return Model(
        _network(document["architecture"], tensors, where),
        preprocessing=document["preprocessing"],
        training=document["training"],
        extra=document["extra"],
        format_version=document["format_version"],
        bprop_version=document["bprop_version"],
    )
