"""Read a CSV or Parquet file as a stream of column chunks, never the whole table at once (needs pyarrow).

CSV cells arrive as text (``None`` where pandas would see a missing value), so that the column types can be
decided over the whole file by the rules of the in-memory reader (:func:`bprop.tables.data.read_csv`)
rather than guessed from the first block. Parquet columns keep the types stored in the file.

Every failure is a one-line ``ValueError`` naming the file: a missing or damaged file, a file that is
changed while it is read, a compression pyarrow cannot stream.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Chunk", "FileStamp", "TableFile", "open_table", "PARQUET_SUFFIXES"]

PARQUET_SUFFIXES = (".parquet", ".pq")
# Compressions pyarrow streams, by suffix (the in-memory reader also takes .xz and .zip).
_STREAM_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}
# What pandas.read_csv reads as a missing value by default; the streamed reader must agree.
PANDAS_MISSING = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
    "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
_BLOCK_BYTES = 1 << 20
_PARQUET_ROWS = 65_536
_HASH_BLOCK = 8 << 20


@dataclass(frozen=True)
class FileStamp:
    """Size and modification time of a file: a change between two stamps means it was written meanwhile."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        info = path.stat()
        return cls(info.st_size, info.st_mtime_ns, info.st_ino)


@dataclass
class Chunk:
    """Consecutive rows of the file: ``columns`` maps a column name to a pyarrow Array of those rows."""

    start: int
    n_rows: int
    columns: dict


class TableFile:
    """A CSV or Parquet file to stream. ``names``: its columns in file order; ``kind``: "csv" or "parquet"."""

    def __init__(self, path: str | os.PathLike, *, decimal: str = "."):
        self.path = Path(path)
        self.decimal = decimal
        self.where = repr(str(self.path))
        if not self.path.is_file():
            what = "a folder" if self.path.is_dir() else "not found"
            raise ValueError(f"file {self.where} is {what}; give the path of a .csv or .parquet file")
        suffix = self.path.suffix.lower()
        self.kind = "parquet" if suffix in PARQUET_SUFFIXES else "csv"
        self.compression = _STREAM_COMPRESSION.get(suffix) if self.kind == "csv" else None
        if self.kind == "csv" and suffix in (".xz", ".zip"):
            raise ValueError(
                f"{self.where} is {suffix[1:]}-compressed, which cannot be streamed; decompress it (or gzip it), "
                "or read it into memory with --no-stream"
            )
        self.stamp = FileStamp.of(self.path)
        self.names, self.separator = self._header()

    # -- header ---------------------------------------------------------------------------------
    def _header(self) -> tuple[list[str], str]:
        if self.kind == "parquet":
            return self._parquet_names(), ""
        line = self._first_line()
        # As the in-memory reader: a header without commas but with semicolons (tabs) is such a file.
        separator = ";" if "," not in line and ";" in line else "\t" if "," not in line and "\t" in line else ","
        names = self._csv_names(separator)
        if not names:
            raise ValueError(f"{self.where} is empty; a CSV needs a header line and at least one data row")
        return _pandas_names(names), separator

    def _parquet_names(self) -> list[str]:
        """The table's columns, without those pandas stores its index in (read back as the index, not data)."""
        schema = self._parquet().schema_arrow
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        return [name for name in schema.names if name not in index]

    def _csv_names(self, separator: str) -> list[str]:
        """The header row as pyarrow's parser reads it (quoted names, BOM, blank lines before it)."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        try:
            with self._open_stream() as stream:  # to count the columns
                n_columns = len(pcsv.open_csv(stream, **self._csv_options(separator)).schema)
            with self._open_stream() as stream:  # the first row, as text
                reader = pcsv.open_csv(stream, **self._csv_options(separator, n_columns))
                batch = reader.read_next_batch()
        except StopIteration:
            return []
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return []
            raise ValueError(f"{self.where} is not valid CSV ({_detail(exc)}); check the file") from None
        except (OSError, pa.ArrowException) as exc:
            raise ValueError(f"cannot read {self.where}: {_detail(exc)}; check the file") from None
        return [column[0].as_py() or "" for column in batch.columns] if batch.num_rows else []

    def _csv_options(self, separator: str, n_columns: int | None = None, columns: list[str] | None = None) -> dict:
        """Options of pyarrow's CSV reader: columns named f0, f1, … (the header is the first row), all text."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        convert = {}
        if n_columns is not None:
            generated = [f"f{i}" for i in range(n_columns)]
            convert = {
                "column_types": dict.fromkeys(generated, pa.string()),
                "null_values": PANDAS_MISSING,
                "strings_can_be_null": True,
            }
            if columns is not None:
                convert["include_columns"] = [generated[self.names.index(c)] for c in columns]
        return {
            "read_options": pcsv.ReadOptions(block_size=_BLOCK_BYTES, use_threads=True, autogenerate_column_names=True),
            "parse_options": pcsv.ParseOptions(delimiter=separator),
            "convert_options": pcsv.ConvertOptions(**convert),
        }

    def _first_line(self) -> str:
        """The first non-blank line (for the separator), after checking the file is UTF-8 text."""
        import pyarrow as pa

        try:
            with self._open_stream() as stream:
                head = stream.read(1 << 16)
        except (OSError, pa.ArrowException) as exc:
            raise ValueError(f"cannot read {self.where}: {_detail(exc)}; check the file") from None
        if b"\x00" in head:
            raise ValueError(f"{self.where} is not a CSV file (it contains binary data); export the table as CSV")
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not merely a character cut by the end of the sample
                raise ValueError(
                    f"{self.where} is not a CSV text file (not UTF-8 text); save it as UTF-8 CSV"
                ) from None
            text = head[: exc.start].decode("utf-8")
        lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
        if not lines:
            raise ValueError(f"{self.where} is empty; a CSV needs a header line and at least one data row")
        return lines[0]

    def _open_stream(self):
        return self._wrap(self._open_raw())

    def _open_raw(self):
        import pyarrow as pa

        return pa.OSFile(str(self.path), "rb")

    def _wrap(self, raw):
        import pyarrow as pa

        return pa.CompressedInputStream(raw, self.compression) if self.compression else raw

    def _parquet(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(str(self.path))
        except (OSError, pa.ArrowException) as exc:
            raise ValueError(
                f"{self.where} is not a complete Parquet file ({_detail(exc)}); write or download it again"
            ) from None

    # -- rows -----------------------------------------------------------------------------------
    def chunks(self, columns: list[str] | None = None, progress=None) -> Iterator[Chunk]:
        """The rows in order, a block at a time; ``progress(bytes or rows)`` is called after each block.

        Raises ``ValueError`` if the file is damaged or changes while it is read.
        """
        import pyarrow as pa

        columns = self.names if columns is None else columns
        start = 0
        try:
            batches = self._parquet_batches(columns) if self.kind == "parquet" else self._csv_batches(columns)
            for batch, position in batches:
                n = batch.num_rows
                yield Chunk(start, n, dict(zip(columns, batch.columns)))
                del batch
                pa.default_memory_pool().release_unused()
                start += n
                if progress is not None:
                    progress(position)
        except pa.ArrowInvalid as exc:
            self.check_unchanged()
            kind = self.kind.upper() if self.kind == "csv" else "Parquet"
            raise ValueError(f"{self.where} is not valid {kind} ({_detail(exc)}); check the file") from None
        except (OSError, pa.ArrowException) as exc:
            self.check_unchanged()
            raise ValueError(f"cannot read {self.where}: {_detail(exc)}; check the file") from None
        finally:
            # pyarrow's allocator keeps freed blocks for reuse; hand them back after a pass (tens of MB).
            pa.default_memory_pool().release_unused()
        self.check_unchanged()
        if start == 0:
            raise ValueError(f"{self.where} has a header but no data rows; add at least one row")

    def _csv_batches(self, columns: list[str]):
        import pyarrow.csv as pcsv

        raw = self._open_raw()
        stream = self._wrap(raw)
        reader = pcsv.open_csv(stream, **self._csv_options(self.separator, len(self.names), columns))
        header = True
        with raw, reader:
            for batch in reader:
                if header:  # the header row, read as the first row of data
                    batch, header = batch.slice(1), False
                yield batch, raw.tell()

    def _parquet_batches(self, columns: list[str]):
        import pyarrow as pa

        rows = 0
        for batch in self._parquet().iter_batches(batch_size=_PARQUET_ROWS, columns=columns):
            rows += batch.num_rows
            # A pandas category column is stored dictionary-encoded: its values are what pandas reads.
            decoded = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in batch.columns]
            yield pa.RecordBatch.from_arrays(decoded, names=batch.schema.names), rows

    @property
    def progress_total(self) -> int:
        """What :meth:`chunks` reports progress against: bytes of a CSV, rows of a Parquet file."""
        return self._parquet().metadata.num_rows if self.kind == "parquet" else self.stamp.size

    def check_unchanged(self) -> None:
        """Refuse to go on with a file written to since it was opened (its rows would not match)."""
        try:
            now = FileStamp.of(self.path)
        except OSError:
            now = None
        if now != self.stamp:
            raise ValueError(
                f"{self.where} changed while it was being read; wait until it is completely written, then run again"
            )

    def sha256(self) -> str:
        """SHA-256 of the file's bytes (about 1.5 GB/s), checked against the stamp taken when it was opened."""
        digest = hashlib.sha256()
        try:
            with open(self.path, "rb") as f:
                while block := f.read(_HASH_BLOCK):
                    digest.update(block)
        except OSError as exc:
            raise ValueError(f"cannot read {self.where}: {exc.strerror or exc}; check the file") from None
        self.check_unchanged()
        return digest.hexdigest()


def open_table(path: str | os.PathLike, *, decimal: str = ".") -> TableFile:
    return TableFile(path, decimal=decimal)


def _pandas_names(names: list[str]) -> list[str]:
    """Header names as pandas.read_csv makes them: an empty name is ``Unnamed: i``, a repeated one ``x.1``."""
    named = [name if name != "" else f"Unnamed: {i}" for i, name in enumerate(names)]
    seen: dict[str, int] = {}
    result = []
    for name in named:
        if name in seen:
            count = seen[name]
            while f"{name}.{count}" in seen or f"{name}.{count}" in named:
                count += 1
            seen[name] = count + 1
            name = f"{name}.{count}"
        seen.setdefault(name, 1)
        result.append(name)
    return result


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."
