"""Atomic file writes: the destination holds either its old content or the complete new one, never a mix."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def _check_destination(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; give a file name such as {str(path / 'model.safetensors')!r}")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"folder {str(folder)!r} does not exist; create it first or choose another path")
    return path


@contextlib.contextmanager
def _temporary_sibling(path: Path) -> Iterator[Path]:
    """A temp file next to ``path`` (same filesystem, so ``os.replace`` is an atomic rename), removed on failure."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
    except BaseException:
        # BaseException too: a Ctrl-C mid-write must not leave the temp file behind.
        tmp.unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _umask() -> int:
    # Read, not set-and-restore: os.umask() would briefly change it for every thread of the process.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _final_mode(path: Path) -> int:
    """Keep an overwritten file's permissions; give a new one the usual ones (mkstemp makes it 0600)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    return atomic_write_with(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_with(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(temp_path)`` to produce the file, then move it over ``path`` in one rename."""
    path = _check_destination(path)
    try:
        with _temporary_sibling(path) as tmp:
            write(tmp)
            # Flush to disk before the rename, or a crash could leave the new name pointing at empty blocks.
            _fsync(tmp)
            os.chmod(tmp, _final_mode(path))
            os.replace(tmp, path)
    except OSError as exc:
        raise ValueError(f"cannot write {str(path)!r}: {exc.strerror or exc}; choose a writable folder") from None
    return path
