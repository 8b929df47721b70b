"""Shared fixtures-by-function of the training tests."""

import numpy as np

import bprop
from bprop.nn.losses import HalfSSE


def regression_data(rng, n=60):
    X = rng.normal(size=(n, 3))
    Y = np.tanh(X @ np.array([[0.5], [-1.0], [0.25]])) + 0.05 * rng.normal(size=(n, 1))
    return X, Y


def small_net(seed=0, dtype=np.float64, **kw):
    return bprop.mlp([3, 8, 1], activation="tanh", output_activation="identity", seed=seed, dtype=dtype, **kw)


class WeightRecorder(bprop.Callback):
    """Keeps a copy of the weights at the end of every epoch."""

    def __init__(self):
        self.snapshots = []

    def on_epoch_end(self, state):
        self.snapshots.append([p.copy() for p in state.net.parameters()])


class RecordingLoss(HalfSSE):
    """half_sse that remembers which rows (ids in the target column) each gradient call saw."""

    def __init__(self):
        self.seen = []

    def gradient(self, a, Y, scale):
        self.seen.append(Y[:, 0].copy())
        return super().gradient(a, Y, scale)
