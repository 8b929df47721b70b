import numpy as np
import pytest

import bprop
from bprop.nn import _blas


def test_mlp_shapes_names_and_default_dtype():
    net = bprop.mlp([4, 8, 3], activation="relu", output_activation="softmax", seed=0)
    assert net.dtype == np.float32
    assert [p.shape for p in net.parameters()] == [(4, 8), (8,), (8, 3), (3,)]
    assert net.parameter_names() == ["W1", "b1", "W2", "b2"]
    assert net.n_parameters() == 4 * 8 + 8 + 8 * 3 + 3
    assert net.forward(np.zeros((5, 4))).shape == (5, 3)


def test_same_seed_same_weights_different_seed_different_weights():
    a = bprop.mlp([5, 7, 2], seed=3)
    b = bprop.mlp([5, 7, 2], seed=3)
    c = bprop.mlp([5, 7, 2], seed=4)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a.parameters(), b.parameters()))
    assert not np.array_equal(a.parameters()[0], c.parameters()[0])


@pytest.mark.parametrize(
    "loss,output",
    [
        ("half_sse", "sigmoid"),
        ("categorical_cross_entropy", "softmax"),
        ("binary_cross_entropy", "sigmoid"),
        ("mse", "identity"),
    ],
)
def test_float32_stays_float32(loss, output, rng):
    net = bprop.mlp([3, 5, 2], activation="tanh", output_activation=output, seed=0, dtype=np.float32)
    X = rng.normal(size=(6, 3)).astype(np.float32)
    Y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 6)]
    assert net.forward(X).dtype == np.float32
    value, grads = net.loss_and_gradients(X, Y, loss=loss)
    assert isinstance(value, float)
    assert all(g.dtype == np.float32 for g in grads)
    assert all(p.dtype == np.float32 for p in net.parameters())
    # float64 input is cast once at the boundary, not computed in float64
    assert net.forward(X.astype(np.float64)).dtype == np.float32


def test_forward_returns_a_fresh_array(rng):
    net = bprop.mlp([2, 3, 1], seed=0)
    first = net.forward(rng.normal(size=(4, 2)))
    kept = first.copy()
    net.forward(rng.normal(size=(4, 2)))
    assert np.array_equal(first, kept)


def count_matrix_products(monkeypatch) -> list[str]:
    """Record every matrix product a step makes, whether through NumPy's matmul or a bound BLAS call."""
    calls = []
    real_matmul, real_bind = np.matmul, _blas._bind

    def counting_matmul(*args, **kwargs):
        calls.append("matmul")
        return real_matmul(*args, **kwargs)

    def counting_bind(name, dtype, *args):
        bound = real_bind(name, dtype, *args)
        if name not in ("gemm", "ger"):
            return bound

        def call():
            calls.append(name)
            bound()

        return call

    monkeypatch.setattr(np, "matmul", counting_matmul)
    monkeypatch.setattr(_blas, "_bind", counting_bind)
    return calls


@pytest.mark.parametrize("use_blas", [True, False], ids=["blas", "numpy-fallback"])
@pytest.mark.parametrize("fused", [False, True], ids=["gradients", "fused-step"])
def test_no_python_loop_over_samples(monkeypatch, rng, use_blas, fused):
    """The number of matrix products per step does not depend on the batch size."""
    if use_blas and not _blas.USE_BLAS:
        pytest.skip("NumPy's BLAS not found")
    monkeypatch.setattr(_blas, "USE_BLAS", use_blas)
    calls = count_matrix_products(monkeypatch)
    counts = []
    for n in (2, 500):
        net = bprop.mlp([6, 8, 8, 3], activation="relu", output_activation="softmax", seed=0)
        X = rng.normal(size=(n, 6)).astype(np.float32)
        Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
        loss = bprop.get_loss("categorical_cross_entropy")
        for _ in range(3):  # bound calls are made once and reused: every step must still count 8
            calls.clear()
            if fused:
                net.train_step(X, Y, loss, bprop.SGD(0.1))
            else:
                net.loss_and_gradients(X, Y, loss=loss)
            counts.append(len(calls))
    # 3 forward + 3 weight-gradient + 2 input-gradient products (the first layer's dL/dx is skipped)
    assert counts == [8] * 6


def test_frozen_parameters_are_not_updated(rng):
    net = bprop.mlp([2, 2, 1], activation="sigmoid", seed=0, dtype=np.float64)
    net.layers[0].freeze("W")
    net.layers[1].freeze("b")
    W1, b2 = net.layers[0].W.copy(), net.layers[1].b.copy()
    X, Y = rng.normal(size=(3, 2)), rng.uniform(size=(3, 1))
    _, grads = net.loss_and_gradients(X, Y)
    assert grads[0] is None
    assert grads[3] is None
    bprop.SGD(1.0).step(net.parameters(), grads)
    assert np.array_equal(net.layers[0].W, W1)
    assert np.array_equal(net.layers[1].b, b2)
    net.layers[0].unfreeze()
    assert net.gradients()[0] is not None


def test_backward_fills_summed_batch_gradients(rng):
    """dW of a batch equals the sum of the single-example dWs, each scaled by the batch mean."""
    net = bprop.mlp([3, 2], activation="identity", seed=0, dtype=np.float64)
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    _, grads = net.loss_and_gradients(X, Y)
    batch_dW = grads[0].copy()
    singles = []
    for i in range(4):
        _, g = net.loss_and_gradients(X[i : i + 1], Y[i : i + 1])
        singles.append(g[0].copy())
    np.testing.assert_allclose(batch_dW, np.mean(singles, axis=0), rtol=1e-12)


def test_sgd_update_formula():
    p = np.array([1.0, -2.0, 3.0])
    g = np.array([0.5, 0.5, -1.0])
    bprop.SGD(0.1).step([p], [g])
    np.testing.assert_allclose(p, [0.95, -2.05, 3.1])


# -- bad input -----------------------------------------------------------------------------------


@pytest.fixture
def net():
    return bprop.mlp([3, 4, 2], activation="tanh", output_activation="softmax", seed=0)


def test_shape_mismatch_is_named(net):
    with pytest.raises(ValueError, match="X has 5 columns, the network expects 3"):
        net.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"X must be 2-D.*reshape"):
        net.forward(np.zeros(3))
    with pytest.raises(ValueError, match=r"Y has shape \(2, 3\), expected \(2, 2\)"):
        net.loss_and_gradients(np.zeros((2, 3)), np.zeros((2, 3)), loss="categorical_cross_entropy")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(net, bad):
    X = np.zeros((2, 3))
    X[1, 2] = bad
    with pytest.raises(ValueError, match="X contains 1 NaN or infinite"):
        net.forward(X)
    Y = np.array([[0.0, 1.0], [bad, 0.0]])
    with pytest.raises(ValueError, match="Y contains 1 NaN or infinite"):
        net.loss_and_gradients(np.zeros((2, 3)), Y, loss="categorical_cross_entropy")


def test_unknown_loss_and_mismatched_fused_output(net):
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'.*half_sse"):
        net.loss_and_gradients(np.zeros((1, 3)), np.zeros((1, 2)), loss="hinge")
    with pytest.raises(ValueError, match="needs a 'sigmoid' output layer.*'softmax'"):
        net.loss(np.zeros((1, 3)), np.zeros((1, 2)), loss="binary_cross_entropy")


def test_construction_errors():
    with pytest.raises(ValueError, match="fan_in must be an integer >= 1, got 0"):
        bprop.Dense(0, 3)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        bprop.Dense(2, 3, dtype=np.int32)
    with pytest.raises(ValueError, match="do not chain"):
        bprop.Sequential([bprop.Dense(2, 3), bprop.Dense(4, 1)])
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        bprop.SGD(-0.1)
    with pytest.raises(ValueError, match=r"W must have shape \(2, 3\)"):
        bprop.Dense(2, 3).W = np.zeros((3, 2))
    with pytest.raises(ValueError, match="cannot freeze 'gamma'"):
        bprop.Dense(2, 3).freeze("gamma")
    with pytest.raises(ValueError, match="unknown initializer"):
        bprop.Dense(2, 3, init="magic")
    with pytest.raises(ValueError, match="non-numeric|numeric"):
        bprop.mlp([2, 1]).forward([["a", "b"]])


def test_finite_values_too_large_for_float32_are_reported_as_overflow():
    net = bprop.mlp([2, 3, 1], seed=0, dtype="float32")
    X = np.array([[1.0, 2.0], [1e39, -5e38]])
    with pytest.raises(
        ValueError, match=r"X contains 2 value\(s\) too large for float32 \(up to 1e\+39.*use dtype float64"
    ):
        net.check_X(X)
    Y = np.array([[1.0], [4e38]])
    with pytest.raises(
        ValueError, match=r"Y contains 1 value\(s\) too large for float32 .* or scale those columns down"
    ):
        net.check_Y(Y, 2)
    assert np.isfinite(bprop.mlp([2, 3, 1], seed=0, dtype="float64").check_X(X)).all()
    with pytest.raises(ValueError, match=r"X contains 1 NaN or infinite value\(s\)"):
        net.check_X(np.array([[1.0, np.inf]]))
