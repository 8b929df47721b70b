"""Checkpoints: the full training state on disk after every epoch, for a bit-identical resume.

One file, ``<folder>/checkpoint.safetensors``: every array of a :func:`bprop.fit` snapshot (weights,
optimiser buffers, best weights) as tensors, and the rest (epoch, random-generator states, schedule
state, History, best-epoch bookkeeping, and any JSON-able ``extra`` such as the command-line settings)
as JSON in the header. Written atomically, so a crash mid-write leaves the previous checkpoint intact.
A SHA-256 checksum over every tensor and the JSON state is stored with them and checked on loading, so a
corrupted or edited checkpoint is refused (it catches accidents, not a deliberate forger, who can
recompute it). Loading runs no code. Needs the ``safetensors`` package (``cli`` extra).

:func:`lock_folder` keeps two runs from writing into the same checkpoint folder at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes
from .callbacks import Callback, TrainingState

FILE_NAME = "checkpoint.safetensors"
FORMAT = "bprop-checkpoint"
VERSION = 2  # 2: with a checksum
LOCK_NAME = ".lock"


def _split_arrays(snapshot: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Separate the arrays of a snapshot (to tensors) from the JSON-able rest."""
    tensors: dict[str, np.ndarray] = {}
    for i, p in enumerate(snapshot["params"]):
        tensors[f"params.{i}"] = p
    for i, p in enumerate(snapshot["best"] or []):
        tensors[f"best.{i}"] = p
    for i, p in enumerate(snapshot.get("last_good") or []):
        tensors[f"last_good.{i}"] = p
    optimizer = dict(snapshot["optimizer"])
    for i, slot in optimizer.pop("state").items():
        for key, value in slot.items():
            tensors[f"optimizer.{i}.{key}"] = value
    rest = {k: v for k, v in snapshot.items() if k not in ("params", "best", "last_good", "optimizer")}
    rest.update(optimizer=optimizer, n_params=len(snapshot["params"]), has_best=snapshot["best"] is not None)
    rest.update(has_last_good=snapshot.get("last_good") is not None)
    return {k: np.ascontiguousarray(v) for k, v in tensors.items()}, rest


def _checksum(tensors: dict[str, np.ndarray], document_json: str) -> str:
    """SHA-256 over every tensor (name, dtype, shape, bytes, in name order) and the JSON document."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.tobytes())
    digest.update(document_json.encode())
    return digest.hexdigest()


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
    document_json = json.dumps(document)
    metadata = {"bprop_checkpoint": document_json, "sha256": _checksum(tensors, document_json)}
    data = st_save(tensors, metadata=metadata)
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
        _check_document(path, document, metadata.get("sha256"), _checksum(tensors, metadata["bprop_checkpoint"]))
    except (SafetensorError, ValueError, KeyError, TypeError, AttributeError) as exc:
        detail = str(exc) if isinstance(exc, _RefusedError) else "corrupted or truncated"
        raise ValueError(f"{str(path)!r} is not a readable bprop checkpoint ({detail})") from None
    state = dict(document["state"])
    n_params, has_best, has_last_good = state.pop("n_params"), state.pop("has_best"), state.pop("has_last_good", False)
    snapshot = {
        **state,
        "params": [tensors[f"params.{i}"] for i in range(n_params)],
        "best": [tensors[f"best.{i}"] for i in range(n_params)] if has_best else None,
        "last_good": [tensors[f"last_good.{i}"] for i in range(n_params)] if has_last_good else None,
    }
    buffers: dict[int, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, i, name = key.split(".", 2)
            buffers.setdefault(int(i), {})[name] = value
    snapshot["optimizer"] = {**state["optimizer"], "state": buffers}
    return snapshot, document.get("extra")


class _RefusedError(ValueError):
    pass


def _check_document(path: Path, document: dict, stored: str | None, actual: str) -> None:
    if document.get("format") != FORMAT:
        raise _RefusedError("not a bprop checkpoint")
    version = document.get("version", 0)
    if version > VERSION:
        raise _RefusedError("written by a newer bprop; upgrade bprop to resume it")
    if stored is None:
        raise _RefusedError(f"format version {version} has no checksum; start the run again without --resume")
    if stored != actual:
        raise _RefusedError("its checksum does not match: it was corrupted or edited; start the run again")


@contextlib.contextmanager
def lock_folder(folder: str | os.PathLike | None) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if missing) while active; ``None`` locks nothing.

    A second run locking the same folder gets a ``ValueError`` naming it. The lock is an ``flock`` on
    ``folder/.lock``, so the system releases it however the process ends, ``kill -9`` included."""
    if folder is None:
        yield
        return
    folder = Path(folder)
    created = not folder.exists()
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the checkpoint folder {str(folder)!r}: {exc.strerror or exc}") from None
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ValueError(f"cannot use the checkpoint folder {str(folder)!r}: {exc.strerror or exc}") from None
    try:
        _take_lock(fd, folder)
        yield
    finally:
        if created and not (folder / FILE_NAME).exists():
            _remove_unused(folder)  # a run that failed before its first checkpoint leaves no folder behind
        os.close(fd)


def _take_lock(fd: int, folder: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip()
        by = f" (process {owner})" if owner.isdigit() else ""
        raise ValueError(
            f"the checkpoint folder {str(folder)!r} is in use by another bprop run{by}; "
            "wait for it to finish or choose another folder"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)  # for the message a second run gets


def _remove_unused(folder: Path) -> None:
    with contextlib.suppress(OSError):
        (folder / LOCK_NAME).unlink()
        folder.rmdir()


class Checkpoint(Callback):
    """Save a checkpoint into ``folder`` before training and at the end of every ``every``-th epoch
    (and of epoch ``epochs``), so even a run stopped in its first epoch can be resumed."""

    def __init__(self, folder: str | os.PathLike, *, every: int = 1, extra: dict | None = None, writes: bool = True):
        if int(every) < 1:
            raise ValueError(f"every must be >= 1, got {every!r}")
        self.folder, self.every, self.extra = Path(folder), int(every), extra
        # In a data-parallel run every rank takes the snapshot (it gathers their parts) and rank 0 writes it.
        self.writes = writes

    def _save(self, state: TrainingState) -> None:
        snapshot = state.snapshot()
        if self.writes:
            save_checkpoint(self.folder, snapshot, self.extra)

    def on_train_begin(self, state: TrainingState) -> None:
        self._save(state)

    def on_epoch_end(self, state: TrainingState) -> None:
        if state.epoch % self.every == 0 or state.epoch == state.epochs:
            self._save(state)
