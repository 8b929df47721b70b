"""The Layer contract: what the network, trainer, explain, diagnostics, plots and model files rely on."""

import copy

import numpy as np
import pytest

import bprop
from bprop.nn.network import LAYER_TYPES, layer_from_config


def net_with_dropout(dtype=np.float32):
    return bprop.mlp([6, 5, 3], activation="relu", output_activation="softmax", seed=2, dropout=0.25, dtype=dtype)


def data(n=40):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)), np.eye(3)[rng.integers(0, 3, n)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flatten_gives_views_of_one_buffer_in_parameter_order(dtype):
    net = net_with_dropout(dtype)
    before = [p.copy() for p in net.parameters()]
    flat, _ = net.flatten()
    assert np.array_equal(flat, np.concatenate([p.ravel() for p in before]))
    assert all(np.shares_memory(p, flat) for p in net.parameters())
    assert flat.dtype == np.dtype(dtype)


def test_gradient_buffer_holds_the_gradients_of_a_backward_pass():
    net = net_with_dropout(np.float64)
    _, flat_grads = net.flatten()
    X, Y = data()
    _, grads = net.loss_and_gradients(X[:5], Y[:5], loss="categorical_cross_entropy")
    assert np.array_equal(flat_grads, np.concatenate([g.ravel() for g in grads]))


def test_flatten_twice_returns_the_same_buffers():
    net = net_with_dropout()
    first = net.flatten()
    second = net.flatten()
    assert first[0] is second[0]
    assert first[1] is second[1]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_a_flattened_network_changes_no_bit(optimizer):
    X, Y = data()
    plain, flat = net_with_dropout(), net_with_dropout()
    flat.flatten()
    options = dict(loss="categorical_cross_entropy", optimizer=optimizer, epochs=3, batch_size=8, seed=4, verbose=0)
    bprop.fit(plain, X, Y, **options)
    bprop.fit(flat, X, Y, **options)
    for p, q in zip(plain.parameters(), flat.parameters(), strict=True):
        assert np.array_equal(p, q)


def test_every_layer_type_rebuilds_from_its_config():
    net = net_with_dropout()
    rebuilt = bprop.Sequential(
        [layer_from_config(layer.config(), [p.copy() for p in layer.parameters()], net.dtype) for layer in net.layers]
    )
    assert {type(layer).__name__ for layer in net.layers} == set(LAYER_TYPES)
    X, _ = data()
    assert np.array_equal(rebuilt.forward(X), net.forward(X))


def test_an_unknown_layer_type_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="unknown layer type 'Conv2D'"):
        layer_from_config({"type": "Conv2D"}, [], np.float32)


def test_widths_activation_and_description_of_each_layer():
    dense, dropout, out = net_with_dropout().layers
    assert (dense.n_inputs, dense.n_outputs, dense.activation.name) == (6, 5, "relu")
    assert (dropout.n_inputs, dropout.n_outputs, dropout.activation) == (None, None, None)
    assert (dense.describe(), dropout.describe(), out.describe()) == (
        "5 units, relu",
        "dropout 0.25",
        "3 units, softmax",
    )


def test_only_layers_that_draw_random_numbers_own_a_generator():
    dense, dropout, _ = net_with_dropout().layers
    assert dense.rng is None
    assert isinstance(dropout.rng, np.random.Generator)


def test_the_fused_sgd_step_needs_every_layer_with_parameters_to_fuse():
    net = net_with_dropout()
    assert net.fuses_descent

    class Plain(bprop.Dense):
        fuses_descent = False

    other = copy.deepcopy(net)
    other.layers[0].__class__ = Plain
    assert not other.fuses_descent


def test_optimizers_say_themselves_whether_they_fuse():
    assert bprop.SGD(0.1).fused_rate() == 0.1
    assert bprop.SGD(0.1, momentum=0.9).fused_rate() is None
    assert bprop.Adam().fused_rate() is None


def test_numbers_are_checked_alike_everywhere():
    for make in (lambda: bprop.SGD("0.1"), lambda: bprop.SGD(0.1, momentum="0.5"), lambda: bprop.Dropout("0.2")):
        with pytest.raises(ValueError, match="must be a number"):
            make()
