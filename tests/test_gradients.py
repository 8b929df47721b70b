"""Finite-difference checks of every activation × loss pairing, in both dtypes, on seeded random shapes."""

import numpy as np
import pytest

import bprop
from bprop.activations import Sigmoid

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu"]
# (output activation, loss) pairings that make sense; softmax + half_sse exercises softmax's Jacobian.
OUTPUTS = [
    ("identity", "half_sse"),
    ("identity", "mse"),
    ("identity", "half_mse"),
    ("sigmoid", "half_sse"),
    ("tanh", "mse"),
    ("sigmoid", "binary_cross_entropy"),
    ("softmax", "categorical_cross_entropy"),
    ("softmax", "half_sse"),
]
SHAPES = [  # (batch, sizes)
    (1, [3, 4, 2]),
    (7, [1, 1, 1]),
    (5, [4, 1, 3]),
    (16, [5, 6, 4, 3]),
]


def targets_for(loss, rng, n, k):
    if loss == "categorical_cross_entropy":
        return np.eye(k)[rng.integers(0, k, n)]
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, k)).astype(float)
    return rng.normal(size=(n, k))


def make_case(hidden, output, loss, batch, sizes, dtype, seed):
    rng = np.random.default_rng(seed)
    if output == "softmax" and sizes[-1] == 1:
        sizes = [*sizes[:-1], 2]
    net = bprop.mlp(sizes, activation=hidden, output_activation=output, seed=rng, dtype=dtype)
    for layer in net.layers:  # non-zero biases so their gradients are exercised
        layer.b = rng.normal(scale=0.5, size=layer.fan_out)
    X = rng.normal(size=(batch, sizes[0]))
    Y = targets_for(loss, rng, batch, sizes[-1])
    return net, X, Y


@pytest.mark.parametrize("output,loss", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("shape_index", range(len(SHAPES)))
def test_gradcheck_float64(hidden, output, loss, shape_index):
    batch, sizes = SHAPES[shape_index]
    net, X, Y = make_case(hidden, output, loss, batch, sizes, np.float64, seed=shape_index)
    result = bprop.gradcheck(net, X, Y, loss=loss)
    assert result.max_error < 1e-7, str(result)
    assert set(result.errors) == set(net.parameter_names())


@pytest.mark.parametrize("output,loss", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_float32_gradients_agree_with_float64(hidden, output, loss):
    net32, X, Y = make_case(hidden, output, loss, 9, [4, 5, 3], np.float32, seed=7)
    net64 = net32.astype(np.float64)
    loss32, grads32 = net32.loss_and_gradients(X, Y, loss=loss)
    loss64, grads64 = net64.loss_and_gradients(X, Y, loss=loss)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32
        scale = np.abs(g64).max()
        assert np.abs(g32 - g64).max() <= 1e-4 * scale + 1e-7


def test_gradcheck_with_sample_weights(rng):
    net = bprop.mlp([3, 4, 3], activation="tanh", output_activation="softmax", seed=1, dtype=np.float64)
    X = rng.normal(size=(6, 3))
    Y = np.eye(3)[rng.integers(0, 3, 6)]
    w = rng.uniform(0.1, 3.0, size=6)
    result = bprop.gradcheck(net, X, Y, loss="categorical_cross_entropy", sample_weight=w)
    assert result.passed, str(result)


def test_gradcheck_detects_a_wrong_backward_pass(monkeypatch, rng):
    net = bprop.mlp([3, 4, 2], activation="sigmoid", seed=0, dtype=np.float64)
    X, Y = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2))
    assert bprop.gradcheck(net, X, Y).passed
    # A classic bug: forgetting the (1 - σ) factor of the sigmoid derivative.
    monkeypatch.setattr(Sigmoid, "backward", lambda self, out, d, buf=None: np.multiply(d, out, out=buf))
    broken = bprop.gradcheck(net, X, Y)
    assert not broken.passed
    assert broken.max_error > 1e-2


def test_gradcheck_skips_frozen_parameters_and_leaves_the_net_alone(rng):
    net = bprop.mlp([2, 3, 1], activation="tanh", output_activation="identity", seed=0)
    net.layers[0].freeze("b")
    before = [p.copy() for p in net.parameters()]
    result = bprop.gradcheck(net, rng.normal(size=(4, 2)), rng.normal(size=(4, 1)))
    assert set(result.errors) == {"W1", "W2", "b2"}
    assert result.passed
    assert all(np.array_equal(a, b) for a, b in zip(before, net.parameters()))
    assert net.dtype == np.float32
