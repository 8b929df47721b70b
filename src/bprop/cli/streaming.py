"""``--stream`` / ``--no-stream`` and ``--cache``: when a command reads its table in passes instead of into memory."""

from __future__ import annotations

from pathlib import Path

from .common import CliError

__all__ = ["add_stream_flags", "wants_stream", "cache_folder", "memory_estimate"]

# Anonymous memory the in-memory path takes per byte of a plain CSV file: pandas' columns (object columns
# of Python strings cost most), the encoded float64 matrix and the copy in the network's dtype.
_BYTES_PER_CSV_BYTE = 6
# ... and per byte of a compressed CSV or Parquet file, which expands several times when decoded.
_BYTES_PER_PACKED_BYTE = 30


def add_stream_flags(p, *, cache: bool) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--stream",
        dest="stream",
        action="store_const",
        const=True,
        default=None,
        help="read the table in passes instead of into memory (default: when it would not fit in memory)",
    )
    group.add_argument("--no-stream", dest="stream", action="store_const", const=False, help="read it into memory")
    if cache:
        p.add_argument(
            "--cache",
            metavar="DIR",
            help="folder of the streamed table's cache (default: DATA.bprop-cache next to DATA); reused while "
            "DATA is unchanged",
        )


def memory_estimate(path: Path) -> int:
    """Bytes of memory reading ``path`` into memory would take, roughly."""
    size = path.stat().st_size
    packed = path.suffix.lower() in (".gz", ".bz2", ".xz", ".zip", ".zst", ".parquet", ".pq")
    return size * (_BYTES_PER_PACKED_BYTE if packed else _BYTES_PER_CSV_BYTE)


def wants_stream(flag: bool | None, path, name: str, bundled: bool = False) -> bool:
    """Whether to stream the table at ``path`` (the flag, or automatically when it would not fit)."""
    from ..memory import available_bytes, format_gb

    path = Path(path)
    if flag is not None:
        if flag and not path.is_file():
            raise CliError(
                f"--stream reads {name} in passes, so it must be a file, not a pipe; save it to a file first"
            )
        return flag
    if bundled or not path.is_file():
        return False
    need, free = memory_estimate(path), available_bytes()
    if need <= free:
        return False
    print(
        f"streaming: reading {name} into memory would take about {format_gb(need)}, more than the "
        f"{format_gb(free)} available, so it is read in passes (--no-stream to read it into memory anyway)"
    )
    return True


def cache_folder(given: str | None, data: Path, bundled: bool) -> Path:
    """``--cache DIR``, else the folder next to DATA."""
    from ..tables.stream.cache import default_cache_folder

    if given is not None:
        return Path(given)
    if bundled:
        raise CliError("--stream on the bundled digits needs --cache DIR (the package folder is not yours to write)")
    return default_cache_folder(Path(data))
