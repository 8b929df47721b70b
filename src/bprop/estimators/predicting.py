"""The network an estimator predicts with: a float64 twin of its fitted network, one per thread.

Estimators predict in float64 (see ``BaseMLP._forward``) through ``forward``, which keeps its values in
the layers' buffers. Predicting through the fitted network itself would share those buffers with other
threads predicting and with training in progress (``partial_fit`` in another thread read back rows of
the training batch as predictions). Each thread gets a twin instead: a float64 copy of the network, made
once, sharing its activation objects, into which the current weights are copied on every call (about
0.1 ms for the reference network's 235,146 weights, against 0.4 ms for a fresh deep copy).
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from ..nn.network import Sequential

_TWINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network → threading.local
_TWINS_GUARD = threading.Lock()


def _identity(net: Sequential) -> list:
    return [(layer, layer.activation) for layer in net.layers]


def float64_twin(net: Sequential) -> Sequential:
    """A float64 network of the calling thread computing what ``net`` computes now (its current weights)."""
    with _TWINS_GUARD:
        local = _TWINS.get(net)
        if local is None:
            local = _TWINS[net] = threading.local()
    made = getattr(local, "made", None)
    key = _identity(net)
    if made is None or len(made[0]) != len(key) or any(a is not b for k, m in zip(key, made[0]) for a, b in zip(k, m)):
        twin = net.astype(np.float64)
        for mine, theirs in zip(twin.layers, net.layers):
            mine.activation = theirs.activation  # shared, so a changed slope is followed
        made = local.made = (key, twin)
    twin = made[1]
    for target, source in zip(twin.parameters(), net.parameters()):
        np.copyto(target, source)
    return twin
