"""Tables larger than memory: a CSV or Parquet file read in passes into a memory-mapped cache, then trained
on batch by batch.

``open_streamed(path, target, cache=...)`` reads (or reuses) the cache; :func:`prepare_streamed` splits it and
fits the preprocessing on the training rows; ``prepared.source("train")`` is a batch source for
:class:`~bprop.training.trainer.Trainer` and :func:`bprop.fit`. Needs pyarrow and pandas (the ``stream``
extra).

Example:
    >>> import numpy as np, bprop
    >>> from bprop.tables.datasets import digits_path
    >>> import tempfile, pathlib
    >>> cache = open_streamed(digits_path(), "label", cache=pathlib.Path(tempfile.mkdtemp()), log=None)
    >>> prepared = prepare_streamed(cache, rng=np.random.default_rng(0))
    >>> prepared.n_rows("train"), prepared.encoder.features.n_outputs
    (1258, 64)
"""

from __future__ import annotations

import os
from pathlib import Path

from .cache import Cache, build_cache, default_cache_folder
from .prepare import StreamedPrepared, prepare_streamed
from .reader import TableFile
from .source import CacheSource

__all__ = ["open_streamed", "prepare_streamed", "Cache", "CacheSource", "StreamedPrepared", "TableFile"]


def open_streamed(
    path: str | os.PathLike,
    target: str | None = None,
    *,
    cache: str | os.PathLike | None = None,
    decimal: str = ".",
    progress: bool = False,
    log=print,
) -> Cache:
    """The cache of the table at ``path`` (built in two passes, or reused when the file is unchanged).

    Args:
        target: the target column (default: the last).
        cache: the cache folder (default: ``<file>.bprop-cache`` next to it).
        decimal: the decimal separator of the numbers in a CSV file.
        progress: show a progress bar on each pass.
        log: where one-line progress notes go (``None``: nowhere).
    """
    table = TableFile(path, decimal=decimal)
    folder = default_cache_folder(table.path) if cache is None else Path(cache)
    return build_cache(table, target, folder, progress=progress, log=log or (lambda *_: None))
