"""The optimised update paths agree with the plain reference update ``p ← p − η·g`` computed in float64."""

import numpy as np
import pytest

import bprop
from bprop.nn import _blas
from bprop.nn.losses import CategoricalCrossEntropy

CASES = [  # (hidden, output, loss, sizes)
    ("relu", "softmax", "categorical_cross_entropy", [6, 8, 5, 4]),
    ("sigmoid", "sigmoid", "half_sse", [3, 4, 2]),
    ("tanh", "sigmoid", "binary_cross_entropy", [5, 7, 3]),
    ("leaky_relu", "identity", "mse", [4, 6, 1]),
]
TOLERANCE = {np.float32: 2e-6, np.float64: 1e-13}


@pytest.fixture(params=[True, False], ids=["blas", "numpy-fallback"])
def blas_mode(request, monkeypatch):
    if request.param and not _blas.USE_BLAS:
        pytest.skip("NumPy's BLAS not found")
    monkeypatch.setattr(_blas, "USE_BLAS", request.param)
    return request.param


def make(case, batch, dtype, seed):
    hidden, output, loss, sizes = case
    rng = np.random.default_rng(seed)
    net = bprop.mlp(sizes, activation=hidden, output_activation=output, seed=rng, dtype=dtype)
    for layer in net.layers:
        layer.b = rng.normal(scale=0.5, size=layer.fan_out)
    X = rng.normal(size=(batch, sizes[0])).astype(dtype)
    if loss == "categorical_cross_entropy":
        Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], batch)]
    else:
        Y = rng.uniform(size=(batch, sizes[-1])).astype(dtype)
    return net, X, Y, bprop.get_loss(loss)


def reference_step(net, X, Y, loss, rate, sample_weight=None):
    """Loss and parameters after one plain step, the update done in float64 from the engine's gradients."""
    probe = net.copy()
    value, grads = probe.loss_and_gradients_unchecked(X, Y, loss, sample_weight)
    updated = [
        p.astype(np.float64) - (0.0 if g is None else rate * g.astype(np.float64))
        for p, g in zip(probe.parameters(), grads)
    ]
    return value, updated


def assert_close(params, expected, dtype):
    for p, e in zip(params, expected):
        assert p.dtype == dtype
        scale = max(1.0, np.abs(e).max())
        assert np.abs(p - e).max() <= TOLERANCE[dtype] * scale


@pytest.mark.parametrize("case", CASES, ids=[c[0] + "-" + c[2] for c in CASES])
@pytest.mark.parametrize("batch", [1, 2, 17])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_train_step_matches_the_reference_update(case, batch, dtype, blas_mode):
    net, X, Y, loss = make(case, batch, dtype, seed=batch)
    expected_value, expected = reference_step(net, X, Y, loss, rate=0.1)
    sgd = bprop.SGD(0.1)
    assert sgd.fused_rate() == 0.1
    value = net.train_step(X, Y, loss, sgd)
    assert value == pytest.approx(expected_value, rel=1e-6)
    assert sgd.iterations == 1
    assert_close(net.parameters(), expected, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_step_matches_the_reference_update(dtype, blas_mode, rng):
    net, X, Y, loss = make(CASES[0], 9, dtype, seed=3)
    _, expected = reference_step(net, X, Y, loss, rate=0.05)
    _, grads = net.loss_and_gradients_unchecked(X, Y, loss)
    bprop.SGD(0.05).step(net.parameters(), grads)
    assert_close(net.parameters(), expected, dtype)


def frozen_case(rng):
    """A float64 case of 6 rows with W1 and b3 frozen, and sample weights for its rows."""
    net, X, Y, loss = make(CASES[0], 6, np.float64, seed=5)
    net.layers[0].freeze("W")
    net.layers[2].freeze("b")
    return net, X, Y, loss, rng.uniform(0.1, 2.0, size=6)


def test_fused_step_with_sample_weights_and_frozen_parameters(blas_mode, rng):
    net, X, Y, loss, w = frozen_case(rng)
    frozen = net.layers[0].W.copy(), net.layers[2].b.copy()
    _, expected = reference_step(net, X, Y, loss, 0.2, w)
    net.train_step(X, Y, loss, bprop.SGD(0.2), w)
    assert_close(net.parameters(), expected, np.float64)
    assert np.array_equal(net.layers[0].W, frozen[0])
    assert np.array_equal(net.layers[2].b, frozen[1])


@pytest.mark.parametrize(
    "make_optimizer", [lambda: bprop.SGD(0.1, momentum=0.9, nesterov=True), lambda: bprop.Adam(0.01)]
)
def test_optimizers_that_cannot_fuse_take_the_ordinary_path(make_optimizer):
    net, X, Y, loss = make(CASES[1], 4, np.float64, seed=1)
    twin = net.copy()
    optimizer, reference = make_optimizer(), make_optimizer()
    assert optimizer.fused_rate() is None and optimizer.fused_momentum() is None
    for _ in range(3):
        net.train_step(X, Y, loss, optimizer)
        _, grads = twin.loss_and_gradients_unchecked(X, Y, loss)
        reference.step(twin.parameters(), grads)
    assert all(np.array_equal(a, b) for a, b in zip(net.parameters(), twin.parameters()))


def momentum_reference(net, optimizer, X, Y, loss, sample_weight=None):
    """Parameters and velocities after one heavy-ball step from the net's and optimiser's current state,
    in float64 from the engine's gradients: v ← μ·v + g, p ← p − η·v."""
    rate, mu = optimizer.fused_momentum()
    probe = net.copy()
    _, grads = probe.loss_and_gradients_unchecked(X, Y, loss, sample_weight)
    params, velocities = [], []
    for i, (p, g) in enumerate(zip(probe.parameters(), grads)):
        if g is None:
            params.append(p.astype(np.float64))
            velocities.append(None)
            continue
        v = mu * optimizer.velocity(i, p).astype(np.float64) + g.astype(np.float64)
        params.append(p.astype(np.float64) - rate * v)
        velocities.append(v)
    return params, velocities


@pytest.mark.parametrize("case", CASES, ids=[c[0] + "-" + c[2] for c in CASES])
@pytest.mark.parametrize("batch", [1, 2, 17])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_momentum_matches_the_reference_update_step_by_step(case, batch, dtype, blas_mode):
    net, X, Y, loss = make(case, batch, dtype, seed=batch)
    sgd = bprop.SGD(0.1, momentum=0.9)
    assert sgd.fused_rate() is None and sgd.fused_momentum() == (0.1, 0.9)
    for step in range(1, 4):
        expected, velocities = momentum_reference(net, sgd, X, Y, loss)
        net.train_step(X, Y, loss, sgd)
        assert sgd.iterations == step
        assert_close(net.parameters(), expected, dtype)
        got = [sgd.velocity(i, p) for i, p in enumerate(net.parameters())]
        assert_close(got, velocities, dtype)


def test_fused_momentum_with_sample_weights_and_frozen_parameters(blas_mode, rng):
    net, X, Y, loss, w = frozen_case(rng)
    frozen = net.layers[0].W.copy(), net.layers[2].b.copy()
    sgd = bprop.SGD(0.2, momentum=0.5)
    for _ in range(2):
        expected, _ = momentum_reference(net, sgd, X, Y, loss, w)
        net.train_step(X, Y, loss, sgd, w)
        assert_close(net.parameters(), expected, np.float64)
    assert np.array_equal(net.layers[0].W, frozen[0])
    assert np.array_equal(net.layers[2].b, frozen[1])
    assert 0 not in sgd.state and 5 not in sgd.state  # no velocity for the frozen W1 and b3


def test_fused_and_ordinary_momentum_share_the_velocities(rng):
    # The fused path writes the optimiser's own velocity buffers, so the ordinary step may take over
    # mid-run (a checkpoint, a gradient hook added) and continue the same trajectory.
    net, X, Y, loss = make(CASES[0], 8, np.float64, seed=2)
    twin = net.copy()
    fused, ordinary = bprop.SGD(0.05, momentum=0.9), bprop.SGD(0.05, momentum=0.9)
    for step in range(4):
        net.train_step(X, Y, loss, fused) if step % 2 == 0 else fused.step(
            net.parameters(), net.loss_and_gradients(X, Y, loss)[1]
        )
        ordinary.step(twin.parameters(), twin.loss_and_gradients(X, Y, loss)[1])
    for a, b in zip(net.parameters(), twin.parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert fused.state_dict()["state"].keys() == ordinary.state_dict()["state"].keys()


def test_fused_step_reproduces_the_worked_example(worked_example):
    from bprop.insight.explain import ARTICLE_SPEC, network_from_spec

    ref = worked_example
    net, X, Y, learning_rate, loss = network_from_spec(ARTICLE_SPEC)
    E_total = net.train_step(X, Y, bprop.get_loss(loss), bprop.SGD(learning_rate))
    assert E_total == pytest.approx(ref["error"]["E_total"], abs=1e-9)
    hidden, output = net.layers
    updated = [*hidden.W.T.ravel(), *output.W.T.ravel()]
    for name, value in zip(["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"], updated):
        assert value == pytest.approx(ref["updated"][name], abs=1e-9), name


@pytest.mark.parametrize("weighted", [False, True])
def test_fused_cross_entropy_equals_value_plus_gradient(weighted, rng):
    z = rng.normal(scale=5, size=(7, 4))
    Y = rng.uniform(size=(7, 4))  # soft, unnormalised targets exercise the Σy factor
    w = rng.uniform(0.1, 2.0, size=7) if weighted else None
    cce = CategoricalCrossEntropy()
    scale = (w / w.sum()).reshape(-1, 1) if weighted else np.full((7, 1), 1 / 7)
    value, grad = cce.value_and_gradient(z, Y, w)
    assert value == pytest.approx(cce.value(z, Y, w), rel=1e-14)
    np.testing.assert_allclose(grad, cce.gradient(z, Y, scale), rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_single_example_weight_gradient_is_the_exact_outer_product(dtype, rng):
    layer = bprop.Dense(5, 3, "tanh", dtype=dtype, rng=0)
    x = rng.normal(size=(1, 5)).astype(dtype)
    out = layer.forward(x, training=True).copy()
    dL_dy = rng.normal(size=(1, 3)).astype(dtype)
    layer.backward(dL_dy)
    dL_dz = dL_dy * (1 - out * out)
    assert np.array_equal(layer.dW, np.outer(x[0], dL_dz[0]))


def test_small_batches_leave_the_blas_thread_count_as_it_was(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def counts():
        return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]

    before = counts()
    net, X, Y, loss = make(CASES[0], 1, np.float32, seed=0)
    net.train_step(X, Y, loss, bprop.SGD(0.1))
    net.loss_and_gradients_unchecked(X, Y, loss)
    assert counts() == before


def test_fused_step_through_dropout_matches_the_reference_update(blas_mode, rng):
    net = bprop.mlp([5, 8, 6, 3], activation="relu", output_activation="softmax", seed=2, dtype=np.float64, dropout=0.3)
    X = rng.normal(size=(7, 5))
    Y = np.eye(3)[rng.integers(0, 3, 7)]
    loss = bprop.get_loss("categorical_cross_entropy")
    _, expected = reference_step(net, X, Y, loss, 0.1)  # the copy draws the same dropout masks
    net.train_step(X, Y, loss, bprop.SGD(0.1))
    assert_close(net.parameters(), expected, np.float64)


def reference_forward(layer, x):
    """``activation(x·W + b)`` in float64, independent of the layer's bound calls."""
    return layer.activation.forward(x.astype(np.float64) @ layer.W.astype(np.float64) + layer.b)


def test_bound_calls_follow_the_memory_they_were_given(blas_mode, rng):
    """A bound call is reused for the same memory and rebound for any other, however the array is made."""
    layer = bprop.Dense(6, 4, "tanh", dtype=np.float64, rng=0, bias_init=0.3)
    buffer = rng.normal(size=(10, 6))
    inputs = [
        buffer[:5],  # a view,
        buffer[:5],  # a new view object of the same memory, whose contents change below,
        buffer[5:],  # the same shape and strides at another address,
        rng.normal(size=(5, 6)),  # another array,
        rng.normal(size=(3, 6)),  # another batch size,
        rng.normal(size=(1, 6)),  # one example (a matrix-vector product),
        np.asfortranarray(rng.normal(size=(5, 6))),  # a layout BLAS is not given (NumPy computes it).
    ]
    for i, x in enumerate(inputs):
        if i == 1:
            buffer[:5] = rng.normal(size=(5, 6))
        np.testing.assert_allclose(layer.forward(x), reference_forward(layer, x), rtol=1e-13, atol=1e-13)
        dL_dy = rng.normal(size=(x.shape[0], 4))
        dL_dz = dL_dy * (1 - layer.forward(x) ** 2)
        for descend in (None, 0.0):  # the plain backward and the fused one (a zero step leaves W alone)
            dL_dx = layer.backward(dL_dy, descend=descend)
            np.testing.assert_allclose(dL_dx, dL_dz @ layer.W.T, rtol=1e-13, atol=1e-13)


def test_bound_updates_follow_a_changed_learning_rate(blas_mode):
    net, X, Y, loss = make(CASES[0], 5, np.float64, seed=7)
    sgd = bprop.SGD(0.1)
    net.train_step(X, Y, loss, sgd)
    sgd.learning_rate = 0.02  # as a schedule does between epochs
    _, expected = reference_step(net, X, Y, loss, rate=0.02)
    net.train_step(X, Y, loss, sgd)
    assert_close(net.parameters(), expected, np.float64)


def test_copies_and_pickles_do_not_share_bound_calls(blas_mode):
    import pickle

    net, X, Y, loss = make(CASES[0], 5, np.float64, seed=8)
    net.train_step(X, Y, loss, bprop.SGD(0.1))  # binds calls to net's own arrays
    for twin in (net.copy(), pickle.loads(pickle.dumps(net))):
        before = [p.copy() for p in net.parameters()]
        _, expected = reference_step(twin, X, Y, loss, rate=0.1)
        twin.train_step(X, Y, loss, bprop.SGD(0.1))
        assert_close(twin.parameters(), expected, np.float64)
        assert all(np.array_equal(a, b) for a, b in zip(net.parameters(), before))  # the original is untouched


def test_fused_momentum_through_dropout(blas_mode):
    # A layer without parameters (Dropout) sits between fused layers; its mask is the copy's own.
    rng = np.random.default_rng(4)
    net = bprop.mlp([5, 7, 3], activation="relu", output_activation="softmax", seed=1, dropout=0.3, dtype=np.float64)
    X = rng.normal(size=(9, 5))
    Y = np.eye(3)[rng.integers(0, 3, 9)]
    loss, sgd = bprop.get_loss("categorical_cross_entropy"), bprop.SGD(0.1, momentum=0.8)
    assert net.fuses_momentum and any(not layer.param_names for layer in net.layers)
    for _ in range(3):
        expected, _ = momentum_reference(net, sgd, X, Y, loss)
        net.train_step(X, Y, loss, sgd)
        assert_close(net.parameters(), expected, np.float64)


def test_fused_momentum_refuses_the_velocities_of_another_network(blas_mode, rng):
    # An optimiser's state is kept per parameter position. Handed to a network of other shapes, the
    # ordinary step refuses it (the velocity cannot take the gradient); the fused step must not write
    # a velocity of another shape, which BLAS would do silently (or past the buffer's end).
    loss, sgd = bprop.get_loss("half_sse"), bprop.SGD(0.1, momentum=0.9)
    first = bprop.mlp([4, 6, 2], seed=0, dtype=np.float64)
    other = bprop.mlp([6, 4, 3], seed=1, dtype=np.float64)  # W1 6×4 and W2 4×3: the sizes of 4×6 and 6×2
    for net in (first, other):
        for layer in net.layers:
            layer.freeze("b")
    first.train_step(rng.normal(size=(5, 4)), rng.uniform(size=(5, 2)), loss, sgd)
    velocities = [slot["velocity"].copy() for slot in sgd.state.values()]
    with pytest.raises(ValueError, match="shape"):
        other.train_step(rng.normal(size=(5, 6)), rng.uniform(size=(5, 3)), loss, sgd)
    assert all(np.array_equal(slot["velocity"], v) for slot, v in zip(sgd.state.values(), velocities))


@pytest.mark.parametrize(("read_only", "momentum"), [("weights", 0.0), ("weights", 0.9), ("velocity", 0.9)])
def test_fused_steps_do_not_write_into_read_only_arrays(read_only, momentum, blas_mode):
    # Arrays from a read-only memory map (joblib.load(..., mmap_mode="r")): the ordinary step refuses to
    # write into them; the fused one must too, not write through BLAS (a crash on a real read-only map).
    net, X, Y, loss = make(CASES[0], 6, np.float64, seed=3)
    sgd = bprop.SGD(0.1, momentum=momentum)
    if read_only == "weights":
        arrays = net.parameters()
    else:
        sgd.state = {i: {"velocity": np.zeros_like(p)} for i, p in enumerate(net.parameters())}
        arrays = [slot["velocity"] for slot in sgd.state.values()]
    before = [a.copy() for a in arrays]
    for a in arrays:
        a.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        net.train_step(X, Y, loss, sgd)
    assert all(np.array_equal(a, b) for a, b in zip(arrays, before))
