"""Shared helpers of the CLI commands: flag parsing, output paths, notices."""

from __future__ import annotations

import math
import sys
from pathlib import Path


class CliError(Exception):
    """A user mistake detected by the CLI itself (printed as one ``error:`` line, exit 2)."""


class UsageError(CliError):
    pass


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


def fraction(name: str, text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CliError(f"{name} must be a fraction between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise CliError(f"{name} must be between 0 and 1 (exclusive), got {text!r}; e.g. 0.2")
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
    if not path.parent.exists() and str(path.parent) != "":
        raise CliError(f"{flag} {text!r}: folder {str(path.parent)!r} does not exist; create it first")
    if path.is_dir():
        raise CliError(f"{flag} {text!r} is a folder; give a file name")
    return path


def input_file(flag: str, text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise CliError(f"{flag} {text!r} not found; check the path")
    if path.is_dir():
        raise CliError(f"{flag} {text!r} is a folder, not a file")
    return path
