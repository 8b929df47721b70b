"""Finite-difference checks of every activation × loss pairing, in both dtypes, on seeded random shapes."""

import importlib
import sys

import numpy as np
import pytest

import bprop
from bprop.nn.activations import Sigmoid

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


# -- ReLU kinks and progress ---------------------------------------------------------------------------


def kink_case(activation):
    """A 2-3-1 net whose unit 1 has pre-activation 5e-5 on row 0 (eps = 1e-4 steps cross 0 there)."""
    net = bprop.mlp([2, 3, 1], activation=activation, output_activation="identity", seed=0, dtype=np.float64)
    X = np.array([[1.0, -0.5], [0.3, 0.8]])
    Y = np.array([[0.2], [-0.4]])
    z = X @ net.layers[0].W + net.layers[0].b
    bias = net.layers[0].b.copy()
    bias[0] -= z[0, 0] - 5e-5
    net.layers[0].b = bias
    return net, X, Y


def crossing_entries(net, X, eps=1e-4):
    """Which W1/b1 entries' steps (±eps, ±2eps) flip the sign of some first-layer pre-activation."""
    z = X @ net.layers[0].W + net.layers[0].b
    steps = np.array([-2, -1, 1, 2]) * eps
    # W1[i, j] moves z[:, j] by step·X[:, i]; b1[j] moves it by step.
    moved_w = z[None, :, None, :] + steps[:, None, None, None] * X[None, :, :, None]  # step, row, i, j
    flips_w = ((moved_w > 0) != (z[None, :, None, :] > 0)).any(axis=(0, 1))
    flips_b = ((z[None] + steps[:, None, None] > 0) != (z[None] > 0)).any(axis=(0, 1))
    return int(flips_w.sum()), int(flips_b.sum())


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_gradcheck_skips_entries_within_eps_of_a_kink(activation):
    net, X, Y = kink_case(activation)
    # The difference quotient straddles the kink: without the skip, a correct net FAILED (error ~3e-2).
    result = bprop.gradcheck(net, X, Y)
    assert result.passed, str(result)
    w_flips, b_flips = crossing_entries(net, X)
    assert (w_flips, b_flips) == (2, 1)  # the construction puts exactly these within reach of the kink
    assert result.skipped == {"W1": w_flips, "b1": b_flips, "W2": 0, "b2": 0}
    assert result.skip_note() == "3 entries skipped (within eps of a ReLU kink)"
    assert "3 entries skipped" in str(result)
    assert "(2 skipped)" in str(result)


def test_skipping_kinks_still_catches_a_wrong_relu_backward(monkeypatch):
    from bprop.nn.activations import ReLU

    net, X, Y = kink_case("relu")
    # A classic bug: passing the gradient through a ReLU unchanged, as if it were the identity.
    monkeypatch.setattr(ReLU, "backward", lambda self, out, d, buf=None: np.copyto(buf, d) or buf)
    broken = bprop.gradcheck(net, X, Y)
    assert not broken.passed
    assert broken.max_error > 1e-2


def test_a_check_with_every_entry_skipped_does_not_pass():
    # One ReLU unit sitting exactly on the kink: every W1/b1 step crosses it, and W2, b2 are frozen.
    net = bprop.mlp([1, 1, 1], activation="relu", output_activation="identity", seed=0, dtype=np.float64)
    net.layers[0].W, net.layers[0].b = [[1.0]], [-1.0]
    net.layers[1].freeze("W", "b")
    result = bprop.gradcheck(net, [[1.0]], [[0.5]])
    assert result.skipped == {"W1": 1, "b1": 1}
    assert result.checked == 0
    assert not result.passed
    assert result.skip_note().startswith("all 2 entries skipped")
    assert "nothing was checked" in str(result)


def test_gradcheck_progress_bar(capsys, monkeypatch):
    net = bprop.mlp([3, 4, 2], activation="tanh", seed=0, dtype=np.float64)
    X, Y = np.ones((2, 3)), np.zeros((2, 2))
    bprop.gradcheck(net, X, Y, progress=True)
    assert "gradcheck" in capsys.readouterr().err
    module = importlib.import_module("bprop.insight.gradcheck")  # bprop.gradcheck itself is the function
    monkeypatch.setattr(module, "PROGRESS_ENTRIES", 26)  # the 26 entries of W1, b1, W2, b2 count as "many"
    bprop.gradcheck(net, X, Y)
    assert capsys.readouterr().err == ""  # stderr is no terminal: no bar in logs
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bprop.gradcheck(net, X, Y)
    assert "gradcheck" in capsys.readouterr().err
    monkeypatch.setattr(module, "PROGRESS_ENTRIES", 27)  # one short of "many", on a terminal: no bar
    bprop.gradcheck(net, X, Y)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="progress must be True, False or 'auto'"):
        bprop.gradcheck(net, X, Y, progress="yes")


def test_a_barely_active_relu_unit_does_not_fail_a_correct_model():
    """A hidden unit active by 1e-9 gives the next layer's weights gradients of that size, below what
    finite differences of an O(1) loss can resolve: rounding, not a wrong gradient."""
    hidden = bprop.Dense(2, 2, "relu", dtype=np.float64, init=np.array([[1.0, -1.0], [1.0, 1.0]]), bias_init=1e-9)
    output = bprop.Dense(2, 2, "sigmoid", dtype=np.float64, init=np.array([[0.4, 0.5], [0.45, 0.55]]), bias_init=0.6)
    net = bprop.Sequential([hidden, output])
    result = bprop.gradcheck(net, [[0.5, -0.5]], [[0.01, 0.99]])
    assert result.passed, result.summary()


def test_the_rounding_floor_still_catches_a_wrong_small_gradient(monkeypatch):
    net = bprop.mlp([3, 4, 2], activation="tanh", seed=0, dtype=np.float64)
    X, Y = np.full((2, 3), 0.01), np.zeros((2, 2))
    assert bprop.gradcheck(net, X, Y).passed
    original = bprop.Dense.backward

    def off_by_ten_percent(self, *args, **kwargs):  # the output layer's dW (about 2e-4) 10 % too large
        out = original(self, *args, **kwargs)
        if self.fan_in == 4:
            self.dW *= 1.1
        return out

    monkeypatch.setattr(bprop.Dense, "backward", off_by_ten_percent)
    assert not bprop.gradcheck(net, X, Y).passed
