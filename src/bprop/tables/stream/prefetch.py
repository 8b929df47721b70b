"""Encode the next batch while the current one trains.

A streamed batch costs its encoding (gather from the cache, scaling, one-hot) on top of the training
step. The trainer asks for its batches as consecutive slices of the epoch's order (in a data-parallel run,
slices a global batch apart), so the next one is known: :class:`Prefetcher` encodes it on a worker thread
into the second of two buffers while the caller trains on the first. NumPy releases the GIL in its
loops, and the step spends most of its time in BLAS, so on two cores the encoding mostly overlaps.

A prediction is only used when its rows equal the rows asked for; anything else (another order, a
resumed run, rows that are not a slice of the order) is encoded on the spot, with the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Prefetcher"]


@dataclass
class _Pending:
    position: int
    rows: np.ndarray
    buffers: Any
    future: Future


class Prefetcher:
    """Serves ``encode(rows, buffers)``-ed buffers, the expected next batch encoded ahead on a thread.

    ``make(n)`` creates the buffers for a batch of ``n`` rows; two are kept per batch size. The buffers
    returned by :meth:`take` stay untouched until the following call.
    """

    def __init__(self, encode: Callable[[np.ndarray, Any], None], make: Callable[[int], Any]):
        self._encode, self._make = encode, make
        self._pairs: dict[int, list] = {}
        self._order: np.ndarray | None = None
        self._pending: _Pending | None = None
        self._current: Any = None
        self._last_position: int | None = None
        self._pool: ThreadPoolExecutor | None = None

    def new_order(self, order: np.ndarray) -> None:
        """The order the next batches are sliced from (a new epoch, or a pass for evaluation)."""
        self._settle()
        self._order, self._last_position = order, None

    def take(self, rows: np.ndarray):
        rows = np.asarray(rows)
        pending, self._pending = self._pending, None
        if pending is not None and pending.rows.shape == rows.shape and np.array_equal(pending.rows, rows):
            pending.future.result()  # (re-raises what the encoding raised)
            buffers, position = pending.buffers, pending.position
        else:
            if pending is not None:
                pending.future.exception()  # a wrong guess: let it finish before its buffers are reused
            buffers = self._free_buffers(rows.size)
            self._encode(rows, buffers)
            position = self._position(rows)
        self._current = buffers
        if position is not None:
            last, self._last_position = self._last_position, position
            self._prefetch(
                position + (position - last if last is not None and position > last else rows.size), rows.size
            )
        return buffers

    def _prefetch(self, position: int, n: int) -> None:
        order = self._order
        if order is None or position >= order.size:
            return
        rows = order[position : position + n]
        buffers = self._free_buffers(rows.size)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="bprop-prefetch")
        self._pending = _Pending(position, rows.copy(), buffers, self._pool.submit(self._encode, rows, buffers))

    def _free_buffers(self, n: int):
        """Buffers for ``n`` rows that are neither being returned to the caller nor being filled ahead."""
        pair = self._pairs.get(n)
        if pair is None:
            if len(self._pairs) >= 3:  # a batch size, the epoch's last batch, an evaluation chunk
                self._pairs = {size: p for size, p in self._pairs.items() if self._current in p}
            pair = self._pairs[n] = [self._make(n), self._make(n)]
        return pair[1] if pair[0] is self._current else pair[0]

    def _position(self, rows: np.ndarray) -> int | None:
        """Where ``rows`` starts in the order, when it is a slice of it (as the trainer's batches are)."""
        order = self._order
        if order is None or not isinstance(rows, np.ndarray) or rows.dtype != order.dtype or rows.ndim != 1:
            return None
        offset = rows.__array_interface__["data"][0] - order.__array_interface__["data"][0]
        position, remainder = divmod(offset, order.itemsize)
        if remainder or rows.strides != order.strides or not 0 <= position <= order.size - rows.size:
            return None
        return position

    def _settle(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.future.exception()

    def close(self) -> None:
        """Wait for the batch being encoded ahead and stop the worker thread."""
        self._settle()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __getstate__(self) -> dict:  # a copy starts without the thread or the guess
        self._settle()
        return {**self.__dict__, "_pool": None, "_pending": None}
