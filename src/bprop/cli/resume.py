"""``bprop train --resume``: which flags were typed, and refusing a resume whose flags or data differ from
what the checkpoint stored (settings, DATA path, the data file's size and SHA-256)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import CliError, input_file

__all__ = ["RESUMED_FLAGS", "mark_defaults", "given_flags", "resume_settings", "data_identity"]


class _Default(str):
    """A flag's default, told apart from the same text typed on the command line (see given_flags)."""


# The flags whose values a checkpoint stores (its "settings"), and the setting each one becomes.
RESUMED_FLAGS = {
    **dict.fromkeys(["layers", "activation", "optimizer", "epochs", "batch_size", "val_split", "test_split"]),
    **dict.fromkeys(["patience", "dropout", "l2", "dtype", "seed", "task", "target"]),
    **dict.fromkeys(["decimal", "keep_high_cardinality", "monitor", "schedule", "weight_decay", "clip", "init"]),
    "lr": "learning_rate",
    "test": "test_file",
}


def mark_defaults(parser) -> None:
    for dest in RESUMED_FLAGS:
        default = parser.get_default(dest)
        if isinstance(default, str):
            parser.set_defaults(**{dest: _Default(default)})


def given_flags(args) -> list[str]:
    """The settings flags given on the command line; their values become plain strings again."""
    given = []
    for dest in RESUMED_FLAGS:
        value = getattr(args, dest)
        if isinstance(value, _Default):
            setattr(args, dest, str(value))
        elif value is not None:
            given.append(dest)
    return given


def resume_settings(args, given: list[str], settings_of: Callable[[Any], dict]) -> tuple[dict, dict]:
    """The snapshot and settings of the checkpoint in ``--resume``, once the command line and the data
    file are known to agree with it."""
    from ..training.checkpoint import load_checkpoint

    snapshot, stored = load_checkpoint(args.resume)
    if not stored or "settings" not in stored:
        raise CliError(f"the checkpoint in {args.resume!r} was not written by 'bprop train'; resume it from Python")
    settings = stored["settings"]
    _refuse_changed_flags(args, given, settings_of, settings)
    _refuse_changed_data(args.data, stored)
    args.data = stored["data"]
    print(f"resuming the run in {args.resume} after epoch {snapshot['epoch']}, with its stored settings")
    return snapshot, settings


def _refuse_changed_flags(args, given: list[str], settings_of: Callable[[Any], dict], stored: dict) -> None:
    now = settings_of(args) if given else {}
    for dest in given:
        key = RESUMED_FLAGS[dest] or dest
        if now[key] != stored.get(key):
            flag = "--" + dest.replace("_", "-")
            raise CliError(
                f"{flag} {getattr(args, dest)} differs from the checkpoint's {stored.get(key)!r}; a resumed run "
                f"keeps its stored settings: drop {flag}, or start a new run without --resume"
            )


def _refuse_changed_data(data: str | None, stored: dict) -> None:
    """DATA, if given, must be the stored file; and that file must hold what it held (size and SHA-256)."""
    path = stored.get("data")
    if data is not None and (path is None or not _same_file(data, path)):
        raise CliError(
            f"DATA {data!r} differs from the checkpoint's {path or 'bundled digits'!r}; a resumed run reads its "
            "stored data: drop DATA, or start a new run without --resume"
        )
    if path is not None:
        _refuse_edited(path, "DATA", "data", stored)
    test = stored.get("settings", {}).get("test_file")
    if test is not None:
        _refuse_edited(test, "--test", "test", stored)


def _refuse_edited(path: str, name: str, key: str, stored: dict) -> None:
    if f"{key}_sha256" not in stored:
        return  # a pipe, or a checkpoint of an older run
    if data_identity(input_file(name, path), key) != {k: stored[k] for k in (f"{key}_size", f"{key}_sha256")}:
        raise CliError(
            f"the {name} file {path!r} changed since the checkpoint was written (its size or SHA-256 differs); "
            "restore it, or start a new run without --resume"
        )


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def data_identity(source, key: str = "data") -> dict:
    """Size and SHA-256 of a data file (DATA, or ``key="test"`` for the ``--test`` file), stored with a
    checkpoint to detect an edited file on resume."""
    from ..files import file_digest

    if source is None or not Path(source).is_file():
        return {}  # the bundled data set, or a pipe that cannot be read twice
    size, digest = file_digest(source)
    return {f"{key}_size": size, f"{key}_sha256": digest}
