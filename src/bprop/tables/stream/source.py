"""A batch source over a memory-mapped cache: raw rows gathered and encoded per batch.

:class:`CacheSource` implements the protocol of :mod:`bprop.training.sources` (``n_rows``, ``order``,
``take``), so the training loop runs on a file larger than memory unchanged. A batch is gathered from the
memory-mapped arrays (the operating system pages them in and out; they are not the process's anonymous
memory) and encoded into reused buffers with the same arithmetic as :meth:`Preprocessor.transform`
(:func:`~bprop.tables.preprocessing.scale_numbers`, one-hot by category), so a row encodes to the same
numbers whether it came from memory or from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import TableEncoder
from ..preprocessing import scale_numbers
from .cache import Cache
from .scan import NUMERIC

__all__ = ["CacheSource", "EncodingPlan", "cache_fits_in_memory"]


@dataclass
class EncodingPlan:
    """Where each cached column goes in the network's input, with its fitted statistics.

    ``lookup`` maps ``base[j] + code`` of text column j to its input column (-1: a label not seen in
    training, all zeros); code 0 (an empty cell) maps to the column's fill category.
    """

    width: int
    numeric_slots: np.ndarray
    numeric_out: np.ndarray
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    clip: float | None
    text_slots: np.ndarray
    base: np.ndarray
    lookup: np.ndarray
    target: dict

    def __post_init__(self) -> None:
        # Whether some cached label has no input column (it was not seen in training).
        self.unseen = bool((self.lookup < 0).any())

    @classmethod
    def of(cls, cache: Cache, encoder: TableEncoder) -> EncodingPlan:
        pre = encoder.features
        by_name = {c.name: c for c in cache.columns}
        numeric, text, lookups, base, position = [], [], [], [], 0
        for spec in pre.columns_:
            column = by_name[spec["name"]]
            if spec["kind"] == NUMERIC:
                numeric.append((column.slot, position, spec["fill"], spec["mean"], spec["scale"]))
                position += 1
                continue
            out = {label: position + i for i, label in enumerate(spec["categories"])}
            labels = cache.dictionaries[column.name]
            base.append(sum(len(t) for t in lookups))
            lookups.append([out[spec["fill"]], *(out.get(label, -1) for label in labels)])
            text.append(column.slot)
            position += len(out)
        slots, outs, fill, mean, scale = (np.array(v) for v in zip(*numeric)) if numeric else [np.zeros(0)] * 5
        target = encoder.target
        return cls(
            width=position,
            numeric_slots=slots.astype(np.intp),
            numeric_out=outs.astype(np.intp),
            fill=fill.astype(np.float64),
            mean=mean.astype(np.float64),
            scale=scale.astype(np.float64),
            clip=pre.clip,
            text_slots=np.array(text, np.intp),
            base=np.array(base, np.intp),
            lookup=np.array([i for t in lookups for i in t], np.intp),
            target={"task": target.task_, "n_outputs": target.n_outputs, "mean": target.mean_, "scale": target.scale_},
        )


# Windowed shuffling: blocks of this many consecutive rows, this many blocks to a window.
WINDOW_BLOCK, WINDOW_BLOCKS = 8192, 16
SHUFFLES = ("auto", "global", "window")


class CacheSource:
    """The cached ``rows`` (a part of the split), reshuffled every epoch, encoded per batch in ``dtype``.

    ``shuffle``: ``"global"`` draws every epoch's order exactly as :class:`~bprop.training.sources.ArraySource`
    does (the same rows in the same order as a run in memory); ``"window"`` shuffles the order of blocks of
    WINDOW_BLOCK consecutive rows and the rows within windows of WINDOW_BLOCKS blocks, so the batches of a
    window touch a few tens of MB of the cache, which the operating system keeps in memory, instead of
    a random row of the whole file each (a disk read per row once the cache is larger than memory);
    ``"auto"``: global when the cache fits in half the memory available, else windowed.
    """

    def __init__(
        self, cache: Cache, plan: EncodingPlan, rows: np.ndarray, dtype="float32", labels=None, shuffle: str = "auto"
    ):
        if shuffle not in SHUFFLES:
            raise ValueError(f"shuffle must be one of {SHUFFLES}, got {shuffle!r}")
        if shuffle == "auto":
            shuffle = "global" if cache_fits_in_memory(cache) else "window"
        self.shuffle = shuffle
        # int32 row numbers where they fit: a table of 8 M rows spends 8 bytes a row per epoch's order, not 16.
        index = np.int32 if cache.n_rows < 2**31 else np.int64
        self.cache, self.plan, self.rows = cache, plan, np.asarray(rows, index)
        self.dtype = np.dtype(dtype)
        # Plain ndarrays over the maps: np.memmap's subclass machinery costs microseconds a call.
        self._numeric = np.asarray(cache.numeric)
        self._codes = np.asarray(cache.codes)
        self._labels = labels
        self._values = None if labels is not None else np.asarray(cache.target_array)
        self._buffers: dict[int, _Buffers] = {}
        # Gathering a subset of the cached numeric columns costs a second copy; skip it when all are used.
        self._every_numeric = np.array_equal(plan.numeric_slots, np.arange(self._numeric.shape[1]))
        self._every_text = np.array_equal(plan.text_slots, np.arange(self._codes.shape[1]))

    @property
    def n_rows(self) -> int:
        return int(self.rows.size)

    def order(self, rng: np.random.Generator | None) -> np.ndarray:
        if rng is None:
            return self.rows
        if self.shuffle == "window":
            return self._window_order(rng)
        # The permutation ArraySource draws (rng.permutation(n) shuffles an arange the same way), in int32.
        shuffled = np.arange(self.rows.size, dtype=self.rows.dtype)
        rng.shuffle(shuffled)
        return self.rows[shuffled]

    def _window_order(self, rng: np.random.Generator) -> np.ndarray:
        n = self.rows.size
        blocks = rng.permutation(-(-n // WINDOW_BLOCK))
        order, filled = np.empty(n, self.rows.dtype), 0
        for begin in range(0, blocks.size, WINDOW_BLOCKS):
            positions = np.concatenate(
                [
                    np.arange(b * WINDOW_BLOCK, min(n, (b + 1) * WINDOW_BLOCK))
                    for b in blocks[begin : begin + WINDOW_BLOCKS]
                ]
            )
            rng.shuffle(positions)
            order[filled : filled + positions.size] = self.rows[positions]
            filled += positions.size
        return order

    def take(self, rows: np.ndarray):
        plan, n = self.plan, rows.size
        if n not in self._buffers:
            # One batch size at a time (the last, partial batch replaces the full one until the next epoch).
            self._buffers = {n: _Buffers(n, plan, self.dtype)}
        buffers = self._buffers[n]
        X, Y = buffers.X, buffers.Y
        if plan.text_slots.size:
            X.fill(0)
        if plan.numeric_slots.size:
            raw = self._numeric.take(rows, axis=0)  # float64, a fresh array: the work space of the scaling
            if not self._every_numeric:
                raw = raw[:, plan.numeric_slots]
            if buffers.numeric is not None:
                scale_numbers(raw, plan.fill, plan.mean, plan.scale, plan.clip, out=buffers.numeric, overwrite=True)
            else:
                X[:, plan.numeric_out] = scale_numbers(raw, plan.fill, plan.mean, plan.scale, plan.clip, overwrite=True)
        if plan.text_slots.size:
            codes = self._codes.take(rows, axis=0)
            if not self._every_text:
                codes = codes[:, plan.text_slots]
            out = plan.lookup[np.add(codes, plan.base, out=codes)]
            out += buffers.row_starts
            # A label unseen in training has no column (all zeros): its lookup is -1, below its row's start.
            X.reshape(-1)[out[out >= buffers.row_starts] if plan.unseen else out.reshape(-1)] = 1
        if self._labels is not None:
            Y.fill(0)
            Y[buffers.row_index, self._labels[rows]] = 1
        else:
            Y[:, 0] = (self._values[rows] - plan.target["mean"]) / plan.target["scale"]
        return X, Y, None


class _Buffers:
    """A batch size's reused arrays: the batch, the numeric block of X as a view when its columns are
    consecutive (the scaling then writes straight into X), and the row offsets of the one-hot scatter."""

    def __init__(self, n: int, plan: EncodingPlan, dtype: np.dtype):
        self.X = np.empty((n, plan.width), dtype)
        self.Y = np.empty((n, plan.target["n_outputs"]), dtype)
        out = plan.numeric_out
        consecutive = out.size and np.array_equal(out, np.arange(out[0], out[0] + out.size))
        self.numeric = self.X[:, out[0] : out[0] + out.size] if consecutive else None
        self.row_index = np.arange(n)
        self.row_starts = (self.row_index * plan.width)[:, None]


def cache_fits_in_memory(cache: Cache) -> bool:
    """Whether the cache's arrays take at most half the memory this process may still use."""
    from ...memory import available_bytes

    return cache.nbytes <= available_bytes() // 2
