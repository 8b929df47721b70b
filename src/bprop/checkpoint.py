"""Checkpoints: the full training state on disk after every epoch, for a bit-identical resume.

One file, ``<folder>/checkpoint.safetensors``: every array of a :func:`bprop.fit` snapshot (weights,
optimiser buffers, best weights) as tensors, and the rest (epoch, random-generator states, schedule
state, History, best-epoch bookkeeping, and any JSON-able ``extra`` such as the command-line settings)
as JSON in the header. Written atomically, so a crash mid-write leaves the previous checkpoint intact.
Loading runs no code. Needs the ``safetensors`` package (``cli`` extra).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ._files import atomic_write_bytes
from .callbacks import Callback, TrainingState

FILE_NAME = "checkpoint.safetensors"
FORMAT = "bprop-checkpoint"
VERSION = 1


def _split_arrays(snapshot: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Separate the arrays of a snapshot (to tensors) from the JSON-able rest."""
    tensors: dict[str, np.ndarray] = {}
    for i, p in enumerate(snapshot["params"]):
        tensors[f"params.{i}"] = p
    for i, p in enumerate(snapshot["best"] or []):
        tensors[f"best.{i}"] = p
    optimizer = dict(snapshot["optimizer"])
    for i, slot in optimizer.pop("state").items():
        for key, value in slot.items():
            tensors[f"optimizer.{i}.{key}"] = value
    rest = {k: v for k, v in snapshot.items() if k not in ("params", "best", "optimizer")}
    rest.update(optimizer=optimizer, n_params=len(snapshot["params"]), has_best=snapshot["best"] is not None)
    return {k: np.ascontiguousarray(v) for k, v in tensors.items()}, rest


def save_checkpoint(folder: str | os.PathLike, snapshot: dict, extra: dict | None = None) -> Path:
    """Write ``snapshot`` (from ``TrainingState.snapshot()``) and ``extra`` into ``folder`` atomically."""
    from safetensors.numpy import save as st_save

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the checkpoint folder {str(folder)!r}: {exc.strerror or exc}") from None
    tensors, rest = _split_arrays(snapshot)
    document = {"format": FORMAT, "version": VERSION, "state": rest, "extra": extra}
    # JSON keeps Python floats exactly (repr round-trips) and big integers (random-generator states) whole.
    data = st_save(tensors, metadata={"bprop_checkpoint": json.dumps(document)})
    return atomic_write_bytes(folder / FILE_NAME, data)


def load_checkpoint(folder: str | os.PathLike) -> tuple[dict, dict | None]:
    """``(snapshot, extra)`` from a folder written by :func:`save_checkpoint`; pass the snapshot to
    ``bprop.fit(resume=...)``."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    path = Path(folder) / FILE_NAME
    if not path.is_file():
        raise ValueError(f"no checkpoint in {str(folder)!r} (expected {FILE_NAME}); check the folder")
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + header_len])["__metadata__"]
        document = json.loads(metadata["bprop_checkpoint"])
    except (SafetensorError, ValueError, KeyError, TypeError):
        raise ValueError(f"{str(path)!r} is not a readable bprop checkpoint (corrupted or truncated)") from None
    if document.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a bprop checkpoint")
    if document.get("version", 0) > VERSION:
        raise ValueError(f"{str(path)!r} was written by a newer bprop; upgrade bprop to resume it")
    state = dict(document["state"])
    n_params = state.pop("n_params")
    snapshot = {
        **state,
        "params": [tensors[f"params.{i}"] for i in range(n_params)],
        "best": [tensors[f"best.{i}"] for i in range(n_params)] if state.pop("has_best") else None,
    }
    buffers: dict[int, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, i, name = key.split(".", 2)
            buffers.setdefault(int(i), {})[name] = value
    snapshot["optimizer"] = {**state["optimizer"], "state": buffers}
    return snapshot, document.get("extra")


class Checkpoint(Callback):
    """Save a checkpoint into ``folder`` before training and at the end of every ``every``-th epoch
    (and of epoch ``epochs``), so even a run stopped in its first epoch can be resumed."""

    def __init__(self, folder: str | os.PathLike, *, every: int = 1, extra: dict | None = None):
        if int(every) < 1:
            raise ValueError(f"every must be >= 1, got {every!r}")
        self.folder, self.every, self.extra = Path(folder), int(every), extra

    def on_train_begin(self, state: TrainingState) -> None:
        save_checkpoint(self.folder, state.snapshot(), self.extra)

    def on_epoch_end(self, state: TrainingState) -> None:
        if state.epoch % self.every == 0 or state.epoch == state.epochs:
            save_checkpoint(self.folder, state.snapshot(), self.extra)
