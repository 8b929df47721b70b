"""Model files: one ``.safetensors`` file with every weight array and a JSON document in its header.

The document (metadata key ``"bprop"``) holds the format version, the architecture (``net.config()``),
the fitted preprocessing, the training settings and summary, free-form extras and a SHA-256 of the
weights. Loading parses JSON and raw little-endian arrays only: no pickle, no code runs. Writes are
atomic. Needs the ``safetensors`` package (``cli`` extra).

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
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from ._files import atomic_write_bytes
from .layers import Dense, Layer
from .network import Sequential

__all__ = ["Model", "save", "load", "read_metadata", "FORMAT_VERSION"]

FORMAT_VERSION = 1
METADATA_KEY = "bprop"
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit; a larger length field means "not this format"


@dataclass
class Model:
    """A network with everything needed to use it on raw data.

    Attributes:
        net: the :class:`~bprop.Sequential`.
        preprocessing: fitted preprocessing state (e.g. ``bprop.data.TableEncoder.to_dict()``), or None.
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


def _tensor_key(layer_index: int, param_name: str) -> str:
    return f"layers.{layer_index}.{param_name}"


def _checksum(tensors: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(tensors[key]).tobytes())
    return digest.hexdigest()


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
    net = model.net
    tensors = {}
    for i, layer in enumerate(net.layers):
        for name, array in zip(layer.param_names, layer.parameters()):
            if not np.isfinite(array).all():
                raise ValueError(
                    f"parameter {name} of layer {i} ({layer!r}) contains NaN or infinite values, so the model "
                    "is not saved; training diverged: lower the learning rate and train again"
                )
            tensors[_tensor_key(i, name)] = np.ascontiguousarray(array)
    document = {
        "format": "bprop-model",
        "format_version": FORMAT_VERSION,
        "bprop_version": __version__,
        "architecture": net.config(),
        **sections,
        "weights_sha256": _checksum(tensors),
    }
    from safetensors.numpy import save as st_save

    data = st_save(tensors, metadata={METADATA_KEY: json.dumps(document, allow_nan=False)})
    return atomic_write_bytes(path, data)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ValueError(f"model file {str(path)!r} not found; check the path")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; give the path of a .safetensors model file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read model file {str(path)!r}: {exc.strerror or exc}") from None


def _document(data: bytes, where: str) -> dict:
    """The bprop JSON document from a safetensors header, parsed by hand so each failure gets its own message."""
    not_model = f"{where} is not a bprop model file (not in safetensors format); give a file written by bprop"
    if len(data) < 8:
        raise ValueError(f"{where} is truncated or not a model file ({len(data)} bytes); save or train the model again")
    n = int.from_bytes(data[:8], "little")
    if n > _MAX_HEADER:
        raise ValueError(not_model)
    if 8 + n > len(data):
        raise ValueError(f"{where} is truncated (header cut off); save or train the model again")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(not_model) from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or METADATA_KEY not in metadata:
        raise ValueError(
            f"{where} is a safetensors file without bprop metadata (format version, architecture); "
            "only files written by bprop.save / bprop train can be loaded"
        )
    try:
        document = json.loads(metadata[METADATA_KEY])
    except (TypeError, json.JSONDecodeError):
        raise ValueError(f"{where} has corrupted bprop metadata; save or train the model again") from None
    version = document.get("format_version") if isinstance(document, dict) else None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{where} has no valid format version in its bprop metadata; save or train the model again")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{where} uses model format version {version}, newer than this bprop {__version__} reads "
            f"(up to {FORMAT_VERSION}); upgrade bprop (pip install -U bprop)"
        )
    return document


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON document of a model file, without building the network (for ``bprop info``)."""
    path = Path(path)
    return _document(_read_bytes(path), repr(str(path)))


def _build_layer(config: dict, index: int, tensors: dict[str, np.ndarray], dtype: str) -> Layer:
    kind = config.get("type")
    if kind == "Dense":
        W, b = tensors.pop(_tensor_key(index, "W")), tensors.pop(_tensor_key(index, "b"))
        return Dense(
            config["fan_in"],
            config["fan_out"],
            config["activation"],
            dtype=dtype,
            init=W,
            bias_init=b,
            frozen=config.get("frozen", ()),
        )
    if kind == "Dropout":
        from .dropout import Dropout

        return Dropout(config["rate"], dtype=dtype)
    raise ValueError(f"unknown layer type {kind!r}; the file needs a newer bprop (pip install -U bprop)")


def load(path: str | os.PathLike) -> Model:
    """Read a model file written by :func:`save`. Raises ``ValueError`` for anything but a sound model file."""
    path = Path(path)
    where = repr(str(path))
    data = _read_bytes(path)
    document = _document(data, where)
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    try:
        tensors = st_load(data)
    except SafetensorError as exc:
        raise ValueError(f"{where} is corrupted or truncated ({exc}); save or train the model again") from None
    if _checksum(tensors) != document.get("weights_sha256"):
        raise ValueError(
            f"{where} is corrupted: its weights do not match their checksum; save or train the model again"
        )
    architecture = document.get("architecture")
    try:
        dtype = architecture["dtype"]
        layers = [_build_layer(cfg, i, tensors, dtype) for i, cfg in enumerate(architecture["layers"])]
        net = Sequential(layers)
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{where} has an invalid architecture ({exc!r}); save or train the model again") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if tensors:
        raise ValueError(f"{where} holds weights no layer uses ({sorted(tensors)}); the file is inconsistent")
    return Model(
        net,
        preprocessing=document.get("preprocessing"),
        training=document.get("training"),
        extra=document.get("extra"),
        format_version=document["format_version"],
        bprop_version=document.get("bprop_version"),
    )
