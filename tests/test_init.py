"""Initialisers: the spread of each, their limits, the defaults per activation, explicit arrays."""

import math

import numpy as np
import pytest

import bprop
from bprop.nn.init import INITIALIZERS, default_initializer, initialize


@pytest.mark.parametrize(
    "name,std",
    [
        ("glorot_uniform", math.sqrt(2 / (300 + 200))),
        ("glorot_normal", math.sqrt(2 / (300 + 200))),
        ("he_uniform", math.sqrt(2 / 300)),
        ("he_normal", math.sqrt(2 / 300)),
        ("lecun_uniform", math.sqrt(1 / 300)),
        ("lecun_normal", math.sqrt(1 / 300)),
        ("small_uniform", 1 / math.sqrt(12)),
    ],
)
def test_initialiser_spread(name, std):
    W = initialize(name, (300, 200), np.random.default_rng(0), np.float32)
    assert W.dtype == np.float32
    assert W.shape == (300, 200)
    assert abs(W.mean()) < 0.05 * std + 1e-3
    assert W.std() == pytest.approx(std, rel=0.02)


def test_uniform_initialisers_stay_within_their_limit():
    W = initialize("he_uniform", (50, 40), np.random.default_rng(1), np.float64)
    assert np.abs(W).max() <= math.sqrt(6 / 50)
    assert np.abs(initialize("small_uniform", (50, 40), np.random.default_rng(1), np.float64)).max() <= 0.5


def test_defaults_zeros_and_explicit_arrays():
    assert default_initializer("relu") == "he_uniform"
    assert default_initializer("leaky_relu") == "he_uniform"
    assert default_initializer("tanh") == "glorot_uniform"
    assert default_initializer("sigmoid") == "glorot_uniform"
    assert not initialize("zeros", (3, 2), np.random.default_rng(0), np.float64).any()
    explicit = np.arange(6.0).reshape(2, 3)
    layer = bprop.Dense(2, 3, init=explicit, dtype=np.float64)
    assert np.array_equal(layer.W, explicit)
    assert layer.W is not explicit
    with pytest.raises(ValueError, match=r"initial values have shape \(3, 2\), the layer needs \(2, 3\)"):
        bprop.Dense(2, 3, init=explicit.T)
    assert {"xavier_uniform", "kaiming_normal"} <= set(INITIALIZERS)
