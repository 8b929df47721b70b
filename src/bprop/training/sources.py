"""Batch sources: where the training loop's batches come from.

The protocol — the loop asks a source for batches and knows nothing of where they come from::

    n_rows: int                              # rows in one epoch
    order(rng: Generator | None) -> ndarray  # the epoch's row order (rng None: no shuffling); the
                                             # same generator state always gives the same order
    take(rows: ndarray) -> (X, Y, w | None)  # that batch, validated, in the network's dtype; the
                                             # arrays may be buffers reused by the next call

A batch is ``order[k·B : (k+1)·B]``, the last one partial. Because a batch is named by its rows, a
run can stop anywhere in an epoch and continue from the generator state and the position alone.
:class:`ArraySource` serves in-memory arrays; a source over a memory-mapped cache of a file larger than
memory, or one rank's slice of each global batch in a distributed run (all ranks draw the same order
from the same seed), implements the same three members and the loop does not change.
"""

from __future__ import annotations

import numpy as np

from .batches import BatchGatherer

__all__ = ["ArraySource", "source_chunks", "is_batch_source"]


class ArraySource:
    """In-memory ``X``, ``Y`` (and sample weights): the given rows, reshuffled every epoch."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None = None, rows: np.ndarray | None = None):
        self.rows = np.arange(X.shape[0]) if rows is None else rows
        self._gather = BatchGatherer(X, Y, weights)

    @property
    def n_rows(self) -> int:
        return int(self.rows.size)

    def order(self, rng: np.random.Generator | None) -> np.ndarray:
        return self.rows if rng is None else self.rows[rng.permutation(self.rows.size)]

    def take(self, rows: np.ndarray):
        return self._gather(rows)


def source_chunks(source, size: int = 8192, check=None):
    """The source's rows in order, ``size`` at a time, for a full pass (evaluation, not training);
    ``check(batch, n_rows)`` vets each batch of a source not known to be right."""
    rows = source.order(None)
    for begin in range(0, rows.size, size):
        batch = source.take(rows[begin : begin + size])
        if check is not None:
            check(batch, min(size, rows.size - begin))
        yield batch


def is_batch_source(obj) -> bool:
    """Whether ``obj`` implements the batch-source protocol (``n_rows``, ``order``, ``take``)."""
    return all(hasattr(obj, name) for name in ("n_rows", "order", "take"))
