import math

import numpy as np
import pytest

import bprop
from bprop import schedules
from bprop.nn.init import INITIALIZERS, default_initializer, initialize


def test_schedule_formulas():
    assert [schedules.Constant().rate(e, 0.1) for e in (0, 5)] == [0.1, 0.1]
    assert [schedules.StepDecay(2, 0.5).rate(e, 1.0) for e in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert schedules.ExponentialDecay(0.9).rate(3, 2.0) == pytest.approx(2 * 0.9**3)
    cos = schedules.CosineDecay(10, min_rate=0.01)
    assert cos.rate(0, 1.0) == 1.0
    assert cos.rate(5, 1.0) == pytest.approx(0.01 + 0.5 * 0.99)
    assert cos.rate(10, 1.0) == pytest.approx(0.01)
    assert cos.rate(20, 1.0) == pytest.approx(0.01)


def test_reduce_on_plateau():
    plateau = schedules.ReduceOnPlateau(factor=0.5, patience=2, min_delta=0.0)
    rates = []
    for value in [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8]:
        rates.append(plateau.rate(0, 1.0))
        plateau.observe(value)
    assert rates == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    assert plateau.rate(0, 1.0) == 0.25


def test_fit_applies_the_schedule_each_epoch(rng):
    net = bprop.mlp([2, 3, 1], activation="tanh", output_activation="identity", seed=0)
    X, Y = rng.normal(size=(20, 2)), rng.normal(size=(20, 1))
    history = bprop.fit(net, X, Y, optimizer="sgd", learning_rate=0.1, epochs=4, schedule="step", verbose=0)
    assert history.lr == [0.1] * 4
    history = bprop.fit(net, X, Y, learning_rate=0.1, epochs=4, schedule=schedules.ExponentialDecay(0.5), verbose=0)
    assert history.lr == pytest.approx([0.1, 0.05, 0.025, 0.0125])


@pytest.mark.parametrize(
    "bad",
    [
        lambda: schedules.StepDecay(0),
        lambda: schedules.CosineDecay(0),
        lambda: schedules.ReduceOnPlateau(factor=1.5),
        lambda: schedules.get_schedule("warm"),
    ],
)
def test_schedule_errors(bad):
    with pytest.raises(ValueError):
        bad()


# -- initialisers ------------------------------------------------------------------------------


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
    assert W.dtype == np.float32 and W.shape == (300, 200)
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
    assert np.array_equal(layer.W, explicit) and layer.W is not explicit
    with pytest.raises(ValueError, match=r"initial values have shape \(3, 2\), the layer needs \(2, 3\)"):
        bprop.Dense(2, 3, init=explicit.T)
    assert {"xavier_uniform", "kaiming_normal"} <= set(INITIALIZERS)


# -- dropout -----------------------------------------------------------------------------------


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


# -- issue 12, bug 11: get_schedule by name --------------------------------------------------------


def test_get_schedule_gives_cosine_its_length_from_epochs():
    cosine = schedules.get_schedule("cosine", epochs=4)
    assert isinstance(cosine, schedules.CosineDecay) and cosine.total_epochs == 4
    assert schedules.get_schedule("cosine", epochs=4, total_epochs=9).total_epochs == 9  # explicit wins
    with pytest.raises(ValueError, match="schedule='cosine' needs its length"):
        schedules.get_schedule("cosine")


@pytest.mark.parametrize(
    "name, kwargs, fragment",
    [
        ("step", {"step_size": 0}, "step_size must be a whole number >= 1"),
        ("step", {"step_size": 2.5}, "step_size must be a whole number >= 1"),
        ("step", {"size": 3}, "unexpected keyword argument 'size'"),
        ("exponential", {"gamma": "0.9"}, "gamma must be in (0, 1]"),
        ("cosine", {"min_rate": math.nan}, "min_rate must be a finite number >= 0"),
        ("plateau", {"factor": 1.0}, "factor must be in (0, 1)"),
        ("plateau", {"min_delta": math.nan}, "min_delta must be a finite number >= 0"),
    ],
)
def test_get_schedule_turns_bad_parameters_into_a_value_error_naming_schedule(name, kwargs, fragment):
    with pytest.raises(ValueError) as caught:
        schedules.get_schedule(name, epochs=5, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"schedule={name!r}") and fragment in message and "Schedule instance" in message
