"""Dropout: identity at inference, inverted dropout in training, and a network that contains it."""

import numpy as np
import pytest

import bprop


def test_dropout_is_identity_at_inference_and_inverted_in_training():
    drop = bprop.Dropout(0.25, rng=0)
    x = np.ones((400, 50), dtype=np.float32)
    assert drop.forward(x, training=False) is x
    y = drop.forward(x, training=True)
    assert y.dtype == np.float32
    kept = y != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    grad = drop.backward(np.ones_like(x))
    assert np.array_equal(grad != 0, kept)  # the same mask on the way back
    with pytest.raises(ValueError, match=r"dropout rate must be in \[0, 1\)"):
        bprop.Dropout(1.0)


def test_network_with_dropout_predicts_deterministically_and_gradchecks(rng):
    net = bprop.mlp([4, 16, 3], activation="relu", output_activation="softmax", dropout=0.5, seed=0, dtype=np.float64)
    assert any(isinstance(layer, bprop.Dropout) for layer in net.layers)
    X = rng.normal(size=(8, 4))
    assert np.array_equal(net.forward(X), net.forward(X))
    Y = np.eye(3)[rng.integers(0, 3, 8)]
    assert bprop.gradcheck(net, X, Y, loss="categorical_cross_entropy").passed
    # In training mode two passes drop different units.
    a = net.forward(X, training=True)
    b = net.forward(X, training=True)
    assert not np.array_equal(a, b)
