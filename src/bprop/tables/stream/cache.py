"""The on-disk cache of a streamed table: every row's numbers and category codes, memory-mapped for training.

Built in two passes over the source file (:func:`build_cache`): the first decides the column types
(:mod:`.scan`) and keeps the target; the second writes, row block by row block,

- ``numeric.npy``: ``(rows, numeric columns)`` float64, the raw values (NaN where a cell is empty);
- ``codes.npy``: ``(rows, text columns)`` int32, 1 + the index of the cell's label in the column's
  dictionary (labels in order of first appearance), 0 where a cell is empty;
- ``target.npy``: the target's float64 values, or int32 codes into its sorted labels;
- ``bprop-cache.json``: the manifest (source size and SHA-256, column kinds, dictionaries), written last.

Values stay raw: statistics depend on the split, and so on the seed, so they are taken per run from the
cache and applied per batch. A cache is reused when the source's size and SHA-256, the target and the
decimal separator match; a folder holding anything else is refused, never overwritten. Files are written
with plain sequential writes (not through a memory map, where a full disk is a crash, not an error) into a
hidden folder, moved into place, and the manifest comes last, so an interrupted build is never reused.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..preprocessing import NumberCounts
from .reader import TableFile
from .scan import (
    NUMERIC,
    ColumnScan,
    Scan,
    TargetCells,
    TargetValues,
    as_labels,
    as_numbers,
    column_problem,
    target_values,
)
from .scan import typed_kind as _typed_kind

__all__ = ["Cache", "CacheColumn", "build_cache", "default_cache_folder", "MAX_STREAM_CATEGORIES"]

FORMAT, VERSION = "bprop-stream-cache", 1
MANIFEST = "bprop-cache.json"
ARRAYS = ("numeric.npy", "codes.npy", "target.npy")
# Distinct labels kept per text column; a column with more is an identifier and is left out.
MAX_STREAM_CATEGORIES = 100_000


@dataclass
class CacheColumn:
    """One feature column in the cache: ``slot`` is its column in ``numeric.npy`` or ``codes.npy``."""

    name: str
    kind: str
    strip: bool
    slot: int
    n_missing: int
    overflow: bool = False  # more than MAX_STREAM_CATEGORIES labels: no codes kept


class Cache:
    """An opened cache: the arrays memory-mapped read-only, the manifest's columns and dictionaries."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder, self.manifest = folder, manifest
        self.n_rows: int = manifest["n_rows"]
        self.columns = [CacheColumn(**c) for c in manifest["columns"]]
        self.dictionaries: dict[str, list[str]] = manifest["dictionaries"]
        self.target = manifest["target"]
        self.target_counts = NumberCounts(**manifest["target_counts"])
        self.numeric = np.load(folder / "numeric.npy", mmap_mode="r")
        self.codes = np.load(folder / "codes.npy", mmap_mode="r")
        self.target_array = np.load(folder / "target.npy", mmap_mode="r")

    @property
    def nbytes(self) -> int:
        """Bytes of the cached arrays (what shuffled batches read from)."""
        return self.numeric.nbytes + self.codes.nbytes + self.target_array.nbytes

    @property
    def source(self) -> dict:
        return self.manifest["source"]


def default_cache_folder(data: Path) -> Path:
    """Next to the data: ``big.csv`` → ``big.csv.bprop-cache/``."""
    return data.with_name(data.name + ".bprop-cache")


def build_cache(table: TableFile, target: str | None, folder: Path, *, progress: bool = False, log=print) -> Cache:
    """The cache of ``table`` with ``target`` in ``folder``: reused when it matches, else built (two passes)."""
    target = table.names[-1] if target is None else target
    if target not in table.names:
        raise ValueError(f"unknown target column {target!r}; the columns are: {', '.join(table.names)}")
    if len(table.names) < 2:
        raise ValueError(f"the table needs at least one feature column and a target column, got {table.names}")
    key = {"decimal": table.decimal, "target": target}
    existing = _existing_manifest(folder)
    log(f"cache: checking {table.where} ({_size(table.stamp.size)}) against {str(folder)!r}")
    _import_pandas_meanwhile()
    source = {"name": table.path.name, "kind": table.kind, "size": table.stamp.size, "sha256": table.sha256()}
    if existing is not None and existing.get("source") == source and existing.get("read") == key:
        cache = _open(folder, existing)
        log(f"cache: reusing {str(folder)!r} ({cache.n_rows:,} rows)")
        return cache
    scan = _first_pass(table, target, progress)
    created = not folder.exists()
    building = _building_folder(folder)
    try:
        manifest = _second_pass(table, scan, building, progress)
        manifest |= {"format": FORMAT, "version": VERSION, "source": source, "read": key}
        table.check_unchanged()
        _put_in_place(building, folder, manifest)
    except OSError as exc:
        raise ValueError(_write_error(folder, exc)) from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # a failed first build leaves no empty folder behind
    log(f"cache: wrote {scan.n_rows:,} rows to {str(folder)!r}")
    return _open(folder, manifest)


def _import_pandas_meanwhile() -> None:
    """Import pandas on a thread while the file is hashed: pyarrow's ``to_numpy`` imports it at its first
    call, which would otherwise add a third of a second to the first pass (a quarter of it on 100 MB)."""
    import importlib.util
    import sys
    import threading

    if "pandas" not in sys.modules and importlib.util.find_spec("pandas") is not None:
        threading.Thread(target=importlib.import_module, args=("pandas",), name="bprop-import").start()


# -- pass 1 -----------------------------------------------------------------------------------------
def _first_pass(table: TableFile, target: str, progress: bool) -> Scan:
    typed = _parquet_kinds(table) if table.kind == "parquet" else {}
    scans = {name: ColumnScan(name, typed.get(name)) for name in table.names}
    scans[target].track_ints = True
    target_cells, n_rows = TargetCells(), 0
    # pyarrow and numpy release the GIL, so the columns of a block are scanned on every core while the
    # next block is read; a block's scans finish before the next block's begin (they add up in order).
    pending: list = []
    with _Bar(table, "pass 1/2: column types", progress) as advance, ThreadPoolExecutor(os.cpu_count()) as pool:
        for chunk in table.chunks(progress=advance):
            for future in pending:
                future.result()
            pending = [pool.submit(scans[name].add, cells, table.decimal) for name, cells in chunk.columns.items()]
            target_cells.add(chunk.columns[target])
            n_rows += chunk.n_rows
        for future in pending:
            future.result()
    features = [scans[name] for name in table.names if name != target]
    for scan in features:
        problem = column_problem(scan, table.decimal)
        if problem:
            raise ValueError(problem)
    values = target_values(target, scans[target], target_cells, table.decimal)
    del target_cells
    _release_arrow_memory()
    return Scan(n_rows, features, values, scans[target].counts)


def _release_arrow_memory() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _parquet_kinds(table: TableFile) -> dict[str, str]:
    schema = table._parquet().schema_arrow
    return {name: _typed_kind(schema.field(name).type, name, table.where) for name in table.names}


# -- pass 2 -----------------------------------------------------------------------------------------
def _second_pass(table: TableFile, scan: Scan, building: Path, progress: bool) -> dict:
    columns, numeric_names, text_names = [], [], []
    for column in scan.columns:
        kind, strip = column.kind()
        names = numeric_names if kind == NUMERIC else text_names
        columns.append(CacheColumn(column.name, kind, strip, len(names), column.n_missing))
        names.append(column.name)
    dictionaries: dict[str, dict[str, int]] = {name: {} for name in text_names}
    n = scan.n_rows

    def fill(column: CacheColumn, cells, block_numbers: np.ndarray, block_codes: np.ndarray) -> None:
        if column.kind == NUMERIC:
            block_numbers[:, column.slot] = _numbers(cells, column, table.decimal)
        else:
            block_codes[:, column.slot] = _codes(cells, column, dictionaries[column.name])

    def encode(chunk) -> tuple:
        """Start encoding a block's columns on the pool: (numbers, codes, futures)."""
        blocks = np.empty((chunk.n_rows, len(numeric_names))), np.empty((chunk.n_rows, len(text_names)), np.int32)
        futures = [pool.submit(fill, column, chunk.columns[column.name], *blocks) for column in columns]
        return (*blocks, futures)

    def write(encoded: tuple) -> None:
        block_numbers, block_codes, futures = encoded
        for future in futures:
            future.result()
        numeric.write(block_numbers)
        codes.write(block_codes)

    # As in the first pass: a block's columns are encoded on every core while the next block is read. A
    # block is finished before the next one starts, so each column's labels get codes in file order.
    with (
        _ArrayWriter(building / "numeric.npy", np.float64, (n, len(numeric_names))) as numeric,
        _ArrayWriter(building / "codes.npy", np.int32, (n, len(text_names))) as codes,
        _Bar(table, "pass 2/2: cache", progress) as advance,
        ThreadPoolExecutor(os.cpu_count()) as pool,
    ):
        chunks = table.chunks([c.name for c in columns], progress=advance)
        encoded = None
        for chunk in chunks:
            if encoded is not None:
                write(encoded)
            encoded = encode(chunk)
        if encoded is not None:
            write(encoded)
        if numeric.rows != n:
            table.check_unchanged()
            raise ValueError(f"{table.where} changed while it was being read; run again")
    _write_target(building / "target.npy", scan.target)
    return {
        "n_rows": n,
        "columns": [asdict(c) for c in columns],
        "dictionaries": {name: list(d) for name, d in dictionaries.items()},
        "target": {k: v for k, v in asdict(scan.target).items() if k not in ("values", "codes")},
        "target_counts": asdict(scan.target_counts),
    }


def _numbers(cells, column: CacheColumn, decimal: str) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(cells.type) or pa.types.is_large_string(cells.type):
        return as_numbers(cells, decimal)[0]
    return pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)


def _codes(cells, column: CacheColumn, dictionary: dict[str, int]) -> np.ndarray:
    """1 + each cell's index in ``dictionary`` (grown with new labels), 0 for an empty cell."""
    import pyarrow.compute as pc

    if column.overflow:
        return np.zeros(len(cells), np.int32)
    encoded = pc.dictionary_encode(as_labels(cells, column.kind, column.strip))
    if hasattr(encoded, "combine_chunks"):
        encoded = encoded.combine_chunks()
    lookup = np.array([dictionary.setdefault(label, len(dictionary) + 1) for label in encoded.dictionary.to_pylist()])
    if len(dictionary) > MAX_STREAM_CATEGORIES:
        column.overflow = True
        dictionary.clear()
        return np.zeros(len(cells), np.int32)
    index = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    lookup = np.append(lookup, 0).astype(np.int32)  # index -1 (an empty cell) reads the appended 0
    return lookup[index]


def _write_target(path: Path, target: TargetValues) -> None:
    values = target.values if target.kind == NUMERIC else target.codes
    with _ArrayWriter(path, values.dtype, values.shape) as writer:
        writer.write(values)


class _ArrayWriter:
    """A ``.npy`` file written row block by row block with ordinary writes (a full disk raises OSError)."""

    def __init__(self, path: Path, dtype, shape: tuple[int, ...]):
        self.path, self.dtype, self.shape, self.rows = path, np.dtype(dtype), shape, 0

    def __enter__(self) -> _ArrayWriter:
        self.file = open(self.path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_1_0(self.file, header)
        return self

    def write(self, block: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += block.shape[0]

    def __exit__(self, *exc) -> None:
        self.file.close()


# -- the folder -------------------------------------------------------------------------------------
def _existing_manifest(folder: Path) -> dict | None:
    """The manifest of a cache of ours in ``folder``; None for a missing or empty folder, or one holding only
    our arrays (a build interrupted while moving them in: rebuilt); a ValueError for a folder holding anything
    else (never overwritten) or an unreadable manifest."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"cache {str(folder)!r} is a file, not a folder; give --cache a folder")
    if not folder.exists():
        return None
    entries = [p.name for p in folder.iterdir() if not p.name.startswith(".bprop-building")]
    foreign = sorted(set(entries) - {MANIFEST, *ARRAYS})
    if foreign:
        raise ValueError(
            f"{str(folder)!r} holds files that are not a bprop cache ({', '.join(foreign[:3])}); "
            "give --cache an empty or new folder"
        )
    if MANIFEST not in entries:
        return None
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _damaged(folder, "its manifest is not readable")
    if manifest.get("version") != VERSION:
        return None  # ours, from another version: rebuilt
    return manifest


def _damaged(folder: Path, why: str) -> ValueError:
    return ValueError(f"the cache in {str(folder)!r} is damaged ({why}); delete the folder and run again to rebuild it")


def _open(folder: Path, manifest: dict) -> Cache:
    """The cache in ``folder``, every part checked against the manifest (a ValueError names what is wrong)."""
    try:
        cache = Cache(folder, manifest)
        _check(cache)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, OSError) as exc:
        raise _damaged(folder, str(exc) if isinstance(exc, ValueError) else repr(exc)) from None
    return cache


def _check(cache: Cache) -> None:
    n = cache.n_rows
    text = [c for c in cache.columns if c.kind != NUMERIC]
    shapes = {
        "numeric.npy": (cache.numeric.shape, (n, len(cache.columns) - len(text))),
        "codes.npy": (cache.codes.shape, (n, len(text))),
        "target.npy": (cache.target_array.shape, (n,)),
    }
    for name, (got, want) in shapes.items():
        if got != want:
            raise ValueError(f"{name} has shape {got}, the manifest says {want}")
    # Codes index the dictionaries: one out of range would pick another column's input (or crash).
    sizes = np.array([0 if c.overflow else len(cache.dictionaries[c.name]) for c in text])
    for begin in range(0, n, 1 << 20):
        block = np.asarray(cache.codes[begin : begin + (1 << 20)])
        if block.size and ((block < 0).any() or (block.max(axis=0) > sizes).any()):
            raise ValueError("codes.npy holds codes outside its dictionaries")
    labels = cache.target.get("labels")
    if labels is not None and n and not (0 <= cache.target_array.min() and cache.target_array.max() < len(labels)):
        raise ValueError("target.npy holds codes outside its labels")


def _building_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".bprop-building-", dir=folder))
    except OSError as exc:
        raise ValueError(
            f"cannot write the cache to {str(folder)!r} ({exc.strerror or exc}); choose a writable folder with "
            "--cache DIR"
        ) from None


def _put_in_place(building: Path, folder: Path, manifest: dict) -> None:
    """Old manifest out first, arrays moved in, the new manifest last: a half-moved cache is never valid."""
    (folder / MANIFEST).unlink(missing_ok=True)
    for name in ARRAYS:
        os.replace(building / name, folder / name)
    staged = building / MANIFEST
    staged.write_text(json.dumps(manifest))
    os.replace(staged, folder / MANIFEST)


def _size(n_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes} bytes"


def _write_error(folder: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"the disk holding {str(folder)!r} is full, so the cache was not written; free space or use --cache DIR"
    return f"cannot write the cache to {str(folder)!r} ({exc.strerror or exc}); choose another folder with --cache DIR"


class _Bar:
    """A tqdm bar over a pass (bytes of a CSV, rows of a Parquet file), or nothing."""

    def __init__(self, table: TableFile, what: str, show: bool):
        self.table, self.what, self.show = table, what, show

    def __enter__(self):
        if not self.show:
            return None
        from tqdm.auto import tqdm

        unit = "B" if self.table.kind == "csv" else " rows"
        self.tqdm = tqdm(total=self.table.progress_total, desc=self.what, unit=unit, unit_scale=True, leave=False)
        self.done = 0

        def advance(position: int) -> None:
            self.tqdm.update(position - self.done)
            self.done = position

        return advance

    def __exit__(self, *exc) -> None:
        if self.show:
            self.tqdm.close()
