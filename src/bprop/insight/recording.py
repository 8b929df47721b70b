"""Recording hooks: capture every intermediate array of the real forward and backward passes.

Used by :mod:`bprop.insight.explain` so that what a learner sees is what the engine computed, not a
re-derivation. Recording copies arrays, so keep it for small networks and single steps.
"""

from __future__ import annotations

import numpy as np

from ..nn.network import Sequential


class Trace:
    """Context manager that records ``(layer_index, key) → array`` for every recorded value.

    Keys recorded by :class:`~bprop.nn.layers.Dense`: ``x``, ``z`` (before the activation), ``out``,
    ``dL_dout``, ``dL_dz``, ``dW``, ``db``, ``dL_dx``. The latest value of each key is kept.

    Example:
        >>> import bprop
        >>> net = bprop.mlp([2, 2, 1], seed=0, dtype="float64")
        >>> with bprop.Trace(net) as trace:
        ...     _ = net.loss_and_gradients([[1.0, 2.0]], [[0.5]])
        >>> trace[0, "z"].shape
        (1, 2)
    """

    def __init__(self, net: Sequential):
        self.net = net
        self.values: dict[tuple[int, str], np.ndarray] = {}

    def __enter__(self) -> Trace:
        for index, layer in enumerate(self.net.layers):
            layer.recorder = self._recorder_for(index)
        return self

    def __exit__(self, *exc) -> None:
        for layer in self.net.layers:
            layer.recorder = None

    def _recorder_for(self, index: int):
        def record(key: str, value: np.ndarray) -> None:
            self.values[index, key] = np.array(value, copy=True)

        return record

    def __getitem__(self, key: tuple[int, str]) -> np.ndarray:
        return self.values[key]
