"""Each optimiser's update recomputed from its formula on hand-sized steps."""

import math

import numpy as np
import pytest

import bprop
from bprop.nn.optimizers import get_optimizer

G1 = np.array([0.5, -1.0, 2.0])
G2 = np.array([-0.25, 0.5, 1.0])
P0 = np.array([1.0, 2.0, -3.0])


def run(opt, grads=(G1, G2)):
    p = P0.copy()
    for g in grads:
        opt.step([p], [g.copy()])
    return p


def test_plain_sgd():
    np.testing.assert_allclose(run(bprop.SGD(0.1)), P0 - 0.1 * G1 - 0.1 * G2)


def test_sgd_momentum():
    mu, lr = 0.9, 0.1
    v1 = G1
    v2 = mu * v1 + G2
    np.testing.assert_allclose(run(bprop.SGD(lr, momentum=mu)), P0 - lr * v1 - lr * v2)


def test_sgd_nesterov():
    mu, lr = 0.9, 0.1
    v1 = G1
    v2 = mu * v1 + G2
    expected = P0 - lr * (G1 + mu * v1) - lr * (G2 + mu * v2)
    np.testing.assert_allclose(run(bprop.SGD(lr, momentum=mu, nesterov=True)), expected)


def adam_reference(lr, b1, b2, eps, decay=0.0):
    p, m, v = P0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate((G1, G2), start=1):
        p = p - lr * decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def test_adam():
    np.testing.assert_allclose(run(bprop.Adam(0.01, 0.9, 0.999, 1e-8)), adam_reference(0.01, 0.9, 0.999, 1e-8))
    # A large epsilon makes its placement in the formula visible.
    np.testing.assert_allclose(run(bprop.Adam(0.01, 0.8, 0.99, 0.5)), adam_reference(0.01, 0.8, 0.99, 0.5))


def test_adamw_decouples_the_decay():
    got = run(bprop.AdamW(0.01, 0.9, 0.999, 1e-8, weight_decay=0.1))
    np.testing.assert_allclose(got, adam_reference(0.01, 0.9, 0.999, 1e-8, decay=0.1))
    assert not np.allclose(got, adam_reference(0.01, 0.9, 0.999, 1e-8))


def test_rmsprop():
    lr, rho, eps = 0.01, 0.9, 1e-3
    p, v = P0.copy(), np.zeros(3)
    for g in (G1, G2):
        v = rho * v + (1 - rho) * g * g
        p = p - lr * g / (np.sqrt(v) + eps)
    np.testing.assert_allclose(run(bprop.RMSprop(lr, rho, eps)), p)


def test_first_adam_step_moves_each_weight_by_the_learning_rate():
    # With bias correction, step 1 is lr·sign(g) (up to ε): a classic sanity check of Adam.
    p = run(bprop.Adam(0.01), grads=(G1,))
    np.testing.assert_allclose(P0 - p, 0.01 * np.sign(G1), rtol=1e-6)


def test_none_gradients_are_skipped_and_state_is_per_parameter():
    a, b = np.ones(2), np.ones(2)
    opt = bprop.SGD(0.1, momentum=0.5)
    opt.step([a, b], [np.ones(2), None])
    assert b.tolist() == [1.0, 1.0]
    assert a.tolist() == pytest.approx([0.9, 0.9])
    assert 1 not in opt.state


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: bprop.SGD(0), "learning_rate must be a finite number > 0"),
        (lambda: bprop.SGD(math.nan), "learning_rate must be a finite number, got nan"),
        (lambda: bprop.SGD(0.1, momentum=1.0), r"momentum must be in \[0, 1\)"),
        (lambda: bprop.SGD(0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda: bprop.Adam(0.1, beta_1=-0.1), r"beta_1 must be in \[0, 1\)"),
        (lambda: bprop.Adam(0.1, epsilon=0), "epsilon must be a finite number > 0"),
        (lambda: bprop.AdamW(0.1, weight_decay=-1), "weight_decay must be a finite number >= 0"),
        (lambda: bprop.RMSprop(0.1, rho=2), r"rho must be in \[0, 1\)"),
        (lambda: get_optimizer("adagrad"), r"unknown optimizer 'adagrad'.*adam"),
        (lambda: get_optimizer("adam", momentum=0.9), "bad arguments for optimizer 'adam'"),
    ],
)
def test_bad_hyper_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_float32_parameters_stay_float32():
    for opt in (bprop.SGD(0.1, momentum=0.9), bprop.Adam(), bprop.AdamW(), bprop.RMSprop()):
        p = np.ones(4, dtype=np.float32)
        opt.step([p], [np.full(4, 0.5, dtype=np.float32)])
        assert p.dtype == np.float32
        assert all(buf.dtype == np.float32 for buf in opt.state[0].values())


def test_adamw_refuses_a_decay_that_would_zero_or_flip_the_weights():
    with pytest.raises(ValueError, match=r"weight_decay × learning_rate must be below 1, got 1000 × 0.001"):
        bprop.AdamW(learning_rate=0.001, weight_decay=1000)
    bprop.AdamW(learning_rate=0.001, weight_decay=999)  # 0.999 < 1: allowed


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_subclass_that_overrides_step_is_not_fused_past(momentum, rng):
    # Sequential.train_step may replace SGD's step by updates inside the gradient products; a subclass
    # that changes step (here: it halves every gradient first) must keep its own step.
    class HalvingSGD(bprop.SGD):
        def step(self, params, grads):
            super().step(params, [None if g is None else g * 0.5 for g in grads])

    net = bprop.mlp([3, 4, 2], seed=0, dtype=np.float64)
    twin = net.copy()
    X, Y, loss = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2)), bprop.get_loss("half_sse")
    halving, reference = HalvingSGD(0.1, momentum=momentum), bprop.SGD(0.05, momentum=momentum)
    assert halving.fused_rate() is None and halving.fused_momentum() is None
    for _ in range(3):
        net.train_step(X, Y, loss, halving)
        reference.step(twin.parameters(), twin.loss_and_gradients(X, Y, loss)[1])
    for a, b in zip(net.parameters(), twin.parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
