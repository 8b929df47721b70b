"""The rows of a ``bprop train`` run: DATA (or the bundled digits) read, split and encoded, and the test rows
either carved from DATA (``--test-split``) or read from the user's own file (``--test``).

A run sees its rows through :class:`RunData`: what ``fit`` is given, the parts' sizes, and each part as
encoded chunks. :class:`ArrayData` holds them in memory; :class:`StreamedData` reads them from the
memory-mapped cache of a file larger than memory (``--stream``), so the rest of the run is the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .common import CliError, input_file, notice
from .scoring import array_chunks
from .streaming import cache_folder, wants_stream
from .train_flags import MIN_AUTO_VAL_ROWS, val_fraction

__all__ = ["read_and_prepare", "RunData", "ArrayData", "StreamedData"]

PARTS = ("train", "val", "test")
# Rows of a part the HTML report's confusion matrix or residual plot draws at most.
REPORT_ROWS = 20_000


class RunData:
    """The encoded rows of a run. ``rows``: rows per part; ``n_table_rows``: rows of DATA."""

    encoder = None
    source_path: Path | None = None
    n_table_rows = 0
    rows: dict[str, int]

    @property
    def n_inputs(self) -> int:
        return self.encoder.features.n_outputs

    def fit_arguments(self, dtype) -> dict:
        """The data arguments of :func:`bprop.fit`: arrays, or batch sources."""
        raise NotImplementedError

    def chunks(self, part: str, dtype) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(X, Y)`` of ``part`` a chunk at a time (the arrays may be reused by the next chunk)."""
        raise NotImplementedError

    def sample(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """Up to REPORT_ROWS rows of ``part`` as float64 arrays, for the report's figures."""
        X, Y = [], []
        taken = 0
        for Xc, Yc in self.chunks(part, np.float64):
            X.append(np.array(Xc[: REPORT_ROWS - taken]))
            Y.append(np.array(Yc[: REPORT_ROWS - taken]))
            taken += len(X[-1])
            if taken >= REPORT_ROWS:
                break
        return np.concatenate(X), np.concatenate(Y)


class ArrayData(RunData):
    """Rows held in memory as float64 arrays (:class:`bprop.tables.data.Prepared`)."""

    def __init__(self, prepared, source_path: Path, n_table_rows: int):
        self.prepared, self.encoder, self.report = prepared, prepared.encoder, prepared.report
        self.source_path, self.n_table_rows = source_path, n_table_rows
        self.rows = {part: len(getattr(prepared, f"X_{part}")) for part in PARTS}

    def arrays(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        return getattr(self.prepared, f"X_{part}"), getattr(self.prepared, f"Y_{part}")

    def fit_arguments(self, dtype) -> dict:
        validation = self.arrays("val") if self.rows["val"] else None
        return {"X": self.prepared.X_train, "Y": self.prepared.Y_train, "validation_data": validation}

    def chunks(self, part: str, dtype):
        return array_chunks(*self.arrays(part))

    def sample(self, part: str):
        return self.arrays(part)


class StreamedData(RunData):
    """Rows in the memory-mapped cache of DATA (:class:`bprop.tables.stream.StreamedPrepared`), encoded per
    batch; a ``--test`` file is streamed through the encoder whenever its rows are scored."""

    def __init__(self, prepared, source_path: Path, test_file: Path | None = None, shuffle: str = "auto"):
        self.prepared, self.encoder, self.report = prepared, prepared.encoder, prepared.report
        self.shuffle = shuffle
        self.source_path, self.n_table_rows, self.test_file = source_path, prepared.cache.n_rows, test_file
        self.rows = {part: prepared.n_rows(part) for part in PARTS}
        if test_file is not None:
            self.rows["test"] = sum(chunk.n_rows for chunk in self._test_chunks())

    def fit_arguments(self, dtype) -> dict:
        from ..tables.stream.source import WINDOW_BLOCK, WINDOW_BLOCKS

        train = self.prepared.source("train", dtype, shuffle=self.shuffle)
        if train.shuffle == "window":
            print(
                f"shuffling: blocks of {WINDOW_BLOCK:,} rows, and rows within windows of {WINDOW_BLOCKS} blocks, "
                f"because the cache ({self.prepared.cache.nbytes / 1e9:.3g} GB) is larger than half the memory "
                "available (the order then differs from an in-memory run's)"
            )
        validation = self.prepared.source("val", dtype) if self.rows["val"] else None
        return {"source": train, "validation_data": validation}

    def chunks(self, part: str, dtype):
        if part == "test" and self.test_file is not None:
            for chunk in self._test_chunks():
                yield chunk.X, chunk.Y
            return
        from ..training.sources import source_chunks

        for X, Y, _ in source_chunks(self.prepared.source(part, dtype)):
            yield X, Y

    def _test_chunks(self):
        from ..tables.stream.rows import encoded_chunks

        try:
            yield from encoded_chunks(self.test_file, self.encoder, need_target=True)
        except ValueError as exc:
            raise CliError(f"--test: {exc}") from None


def read_and_prepare(args, settings: dict) -> RunData:
    """The run's rows (the bundled digits by default), in memory or streamed (``--stream``)."""
    from ..tables.datasets import DIGITS_TARGET, digits_path

    if args.data is None:
        source, settings["target"] = digits_path(), settings["target"] or DIGITS_TARGET
        print("data: the bundled UCI 8x8 handwritten digits (1,797 images)")
    else:
        source = input_file("DATA", args.data)
    test_file = settings.get("test_file")  # checkpoints of older runs have no such setting
    test_source = None if test_file is None else input_file("--test", test_file)
    # A resumed run reads its rows as the checkpointed run did (streamed or not, and how batches were shuffled),
    # so that it continues with the same batches.
    stream = settings.get("stream")
    if stream is None:
        stream = wants_stream(args.stream, source, "DATA", args.data is None)
    if stream:
        return _streamed(args, settings, source, test_source)
    settings["stream"] = False
    return _in_memory(settings, source, test_source, test_file)


def _in_memory(settings: dict, source, test_source, test_file) -> ArrayData:
    from ..tables import data

    decimal = settings.get("decimal", ".")
    table = data.read_table(source, decimal=decimal)
    val = _val_fraction(settings, len(table))
    prepared = data.prepare(
        table,
        settings["target"],
        task=settings["task"],
        val_fraction=val,
        test_fraction=settings["test_split"],
        rng=np.random.default_rng(settings["seed"]),
        decimal=decimal,
        keep_high_cardinality=settings.get("keep_high_cardinality", False),
        clip=settings.get("clip"),  # checkpoints of older runs have no such setting: no clipping
    )
    _describe(prepared, len(table))
    if test_source is not None:
        prepared = _with_test_file(prepared, test_source, test_file)
    return ArrayData(prepared, source, len(table))


def _streamed(args, settings: dict, source, test_source) -> StreamedData:
    from ..tables.stream import open_streamed, prepare_streamed
    from ..tables.stream.source import cache_fits_in_memory
    from ..training.callbacks import wants_progress_bar

    # A resumed run finds the cache where the checkpointed run wrote it.
    folder = cache_folder(args.cache or settings.get("cache"), source, args.data is None)
    settings["cache"] = str(folder.resolve())
    cache = open_streamed(
        source,
        settings["target"],
        cache=folder,
        decimal=settings.get("decimal", "."),
        # As the training bar: on a terminal, or with --progress; never with --quiet.
        progress=wants_progress_bar(0 if args.quiet else 1 if args.progress else "auto"),
    )
    prepared = prepare_streamed(
        cache,
        task=settings["task"],
        val_fraction=_val_fraction(settings, cache.n_rows),
        test_fraction=settings["test_split"],
        rng=np.random.default_rng(settings["seed"]),
        keep_high_cardinality=settings.get("keep_high_cardinality", False),
        clip=settings.get("clip"),
    )
    _describe(prepared, cache.n_rows)
    settings["stream"] = True
    if settings.get("shuffle") is None:
        settings["shuffle"] = "global" if cache_fits_in_memory(cache) else "window"
    data = StreamedData(prepared, source, None if test_source is None else Path(test_source), settings["shuffle"])
    if test_source is not None:
        print(f"test: {data.rows['test']} rows of {settings['test_file']}")
    return data


def _val_fraction(settings: dict, n_rows: int) -> float:
    val = val_fraction(settings["val_split"], n_rows, wanted=settings.get("monitor") is not None)
    if settings["val_split"] == "auto" and val == 0:
        print(
            f"validation: none ({n_rows} rows give under {MIN_AUTO_VAL_ROWS} validation rows), so all "
            f"{settings['epochs']} epochs train on every row; --val-split 0.1 holds some out"
        )
    return val


def _describe(prepared, n_rows: int) -> None:
    target = prepared.encoder.target
    kind = f"{len(target.classes_)} classes" if target.task_ == "classification" else "numeric target"
    print(
        f"task: {target.task_} ({kind}) — target {target.name_!r}, {n_rows} rows, "
        f"{prepared.encoder.features.n_outputs} input features after encoding"
    )
    for line in prepared.report.notices():
        notice(line)


def _with_test_file(prepared, source, shown: str):
    """``prepared`` with its test rows read from ``source``: the types, statistics and classes of DATA."""
    from ..tables.data import read_table

    encoder = prepared.encoder
    try:
        table = read_table(source, **encoder.read_options())
    except ValueError as exc:  # already names the file; say which flag gave it
        raise CliError(f"--test: {exc}") from None
    name = encoder.target.name_
    if name not in table.columns:
        raise CliError(f"--test {shown!r} has no target column {name!r}; the test rows need their true values")
    if len(table) == 0:
        raise CliError(f"--test {shown!r} has no rows; give a file with test rows, or drop --test")
    try:
        X, Y, report = encoder.transform(table)
    except ValueError as exc:
        raise CliError(f"--test {shown!r}: {exc}") from None
    for line in report.notices():
        notice(f"test file: {line}")
    print(f"test: {len(table)} rows of {shown}")
    return dataclasses.replace(prepared, X_test=X, Y_test=Y)
