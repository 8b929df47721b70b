"""Atomic file writes: the destination holds either its old content or the complete new one, never a mix.

The new content goes to a hidden temporary ``.<name>.<pid>.<random>.tmp`` next to the destination, locked
(``flock``) by its writer while it is written, then renamed over the destination. A writer killed with
``kill -9`` leaves its temporary behind; the next write to that folder removes it once the writer is
provably gone (its process no longer exists and its lock is free), never a live writer's file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# ``.<name>.<pid>.<random>.tmp``: mkstemp's random part is 8 characters of [a-z0-9_].
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>[0-9]+)\.[a-z0-9_]{8}\.tmp$")


def _check_destination(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; give a file name such as {str(path / 'model.safetensors')!r}")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"folder {str(folder)!r} does not exist; create it first or choose another path")
    return path


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):  # PermissionError: it exists, owned by someone else; or no valid pid
        return False
    return False


def _remove_if_abandoned(path: Path, pid: int) -> None:
    """Remove a temporary whose writer is gone: no such process, and nobody holds its lock.

    Both are required: a live process with that pid (even a reused one) keeps the file, and so does a
    lock still held (say, by a child that inherited the writer's descriptor)."""
    if pid == os.getpid() or not _process_is_gone(pid):
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # locked: a writer is still at it
    else:
        with contextlib.suppress(OSError):
            path.unlink()
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | os.PathLike) -> None:
    """Remove the temporaries of our own naming in ``folder`` left by writers that died mid-write."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match and entry.is_file(follow_symlinks=False):
            _remove_if_abandoned(Path(entry.path), int(match["pid"]))


@contextlib.contextmanager
def _temporary_sibling(path: Path) -> Iterator[Path]:
    """A locked temp file next to ``path`` (same filesystem, so ``os.replace`` is an atomic rename),
    removed on failure."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        # Held until the rename is done: tells a cleaner in another process that this file is live.
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield tmp
    except BaseException:
        # BaseException too: a Ctrl-C mid-write must not leave the temp file behind.
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


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
    """Call ``write(temp_path)`` to produce the file, then move it over ``path`` in one rename.

    A symbolic link is written through: its target gets the new content and the link stays a link.
    Returns ``path`` as given."""
    given = _check_destination(path)
    # Resolve first so the temp file sits next to the link's target and the rename replaces the target.
    target = Path(os.path.realpath(given))
    try:
        remove_stale_temporaries(target.parent)
        with _temporary_sibling(target) as tmp:
            write(tmp)
            # Flush to disk before the rename, or a crash could leave the new name pointing at empty blocks.
            _fsync(tmp)
            os.chmod(tmp, _final_mode(target))
            os.replace(tmp, target)
    except OSError as exc:
        raise ValueError(f"cannot write {str(given)!r}: {exc.strerror or exc}; choose a writable folder") from None
    return given


def file_digest(path: str | os.PathLike) -> tuple[int, str]:
    """``(size in bytes, SHA-256 hex digest)`` of a file, read in chunks."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        return f.tell(), digest
