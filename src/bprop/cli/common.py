"""Shared helpers of the CLI commands: flag parsing, output paths, notices."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
from pathlib import Path


class CliError(Exception):
    """A user mistake detected by the CLI itself (printed as one ``error:`` line, exit 2)."""


class UsageError(CliError):
    pass


def silence_stdout(stream=None) -> None:
    """Point stdout's file descriptor at /dev/null once its reader has gone (as the Python docs advise
    after a BrokenPipeError), so the interpreter's last flush at exit does not report the broken pipe."""
    stream = sys.stdout if stream is None else stream
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream (tests): nothing to redirect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


class _DropsOutputOnceClosed:
    """stdout whose writes are dropped, instead of raising, once its reader has gone away."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            silence_stdout(self._stream)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            silence_stdout(self._stream)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def outliving_stdout(enabled: bool = True):
    """While ``enabled``, the work inside goes on when the reader of stdout or stderr goes away
    (``| head -1``, ``2>&1 | true``): what ``train`` prints is lost, never the model it writes."""
    if not enabled:
        yield
        return
    originals = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _DropsOutputOnceClosed(originals[0]), _DropsOutputOnceClosed(originals[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = originals
        for stream in originals:
            try:
                stream.flush()
            except BrokenPipeError:
                silence_stdout(stream)


def notice(message: str) -> None:
    print(f"notice: {message}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"warning: {' '.join(message.split())}", file=sys.stderr)


def json_safe(value):
    """``value`` with every NaN or infinite float replaced by None (model files hold strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise CliError(f"{name} must be a whole number, got {text!r}") from None
    if value < 1:
        raise CliError(f"{name} must be at least 1, got {value}")
    return value


def number(name: str, text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise CliError(f"{name} must be a number, got {text!r}") from None


def positive_float(name: str, text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CliError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise CliError(f"{name} must be a number above 0, got {text!r}")
    return value


def fraction(name: str, text: str, *, zero: bool = False) -> float:
    """A fraction in (0, 1), or [0, 1) with ``zero``."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CliError(f"{name} must be a fraction between 0 and 1, got {text!r}") from None
    if not (0 <= value < 1 if zero else 0 < value < 1):
        low = "0 (inclusive)" if zero else "0"
        raise CliError(f"{name} must be between {low} and 1 (exclusive), got {text!r}; e.g. 0.2")
    return value


def layer_sizes(text: str) -> list[int]:
    """``"64,32"`` → ``[64, 32]``; an empty string means no hidden layer."""
    if text.strip() == "":
        return []
    sizes = []
    for part in text.split(","):
        try:
            size = int(part)
        except ValueError:
            raise CliError(
                f"--layers takes comma-separated whole numbers like 64,32; {part.strip()!r} is not one"
            ) from None
        if size < 1:
            raise CliError(f"--layers sizes must be at least 1, got {size}")
        sizes.append(size)
    return sizes


def output_path(flag: str, text: str | None, suffixes: tuple[str, ...]) -> Path | None:
    """Check an output path before any work: its folder exists and the suffix is one we can write."""
    if text is None:
        return None
    path = Path(text)
    if path.suffix.lower() not in suffixes:
        raise CliError(f"{flag} {text!r} needs one of the suffixes {', '.join(suffixes)}")
    check_parent_folder(flag, text, path)
    if path.is_dir():
        raise CliError(f"{flag} {text!r} is a folder; give a file name")
    return path


def check_parent_folder(flag: str, text: str, path: Path) -> None:
    """The folder that will hold ``path`` exists, is a folder and can be written to."""
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise CliError(f"{flag} {text!r}: {str(parent)!r} is a file, not a folder; give a path inside a folder")
    if not parent.exists():
        raise CliError(f"{flag} {text!r}: folder {str(parent)!r} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK) or not _can_create_in(parent):
        raise CliError(f"{flag} {text!r}: folder {str(parent)!r} is not writable; choose another folder")


def _can_create_in(folder: Path) -> bool:
    """Whether a file can really be made there: os.access says yes to root even on /proc or /sys."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".bprop-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def input_file(flag: str, text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise CliError(f"{flag} {text!r} not found; check the path")
    if path.is_dir():
        raise CliError(f"{flag} {text!r} is a folder, not a file")
    return path


def refuse_same_file(flag: str, output: Path | None, **inputs: Path | str | None) -> None:
    """An output that is the same file as an input (same path, a link to it, a hard link) is refused:
    writing it would destroy the input. ``inputs``: name for the message → path (None: no such input)."""
    if output is None or not output.exists():
        return
    for name, source in inputs.items():
        if source is not None and Path(source).exists() and os.path.samefile(output, source):
            raise CliError(
                f"{flag} {str(output)!r} is the same file as {name} {str(source)!r}; "
                "writing it would overwrite the input, so choose another output path"
            )
