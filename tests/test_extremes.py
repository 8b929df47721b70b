"""Numerical extremes: every activation and loss at ±1e4, ±1e30 and subnormal inputs, in both dtypes,
gives finite values and finite gradients without a single warning (pytest turns warnings into errors)."""

import numpy as np
import pytest

from bprop.nn.activations import ACTIVATIONS, get_activation
from bprop.nn.losses import LOSSES, get_loss

DTYPES = [np.float32, np.float64]


def extreme_values(dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    return np.array([[-1e30, -1e4, -tiny, 0.0, tiny, 1e4, 1e30]], dtype=dtype)


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"linear"}))
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_extremes(name, dtype):
    act = get_activation(name)
    z = extreme_values(dtype)
    out = act.forward(z.copy())
    assert out.dtype == dtype and np.isfinite(out).all()
    grad = act.backward(out, np.ones_like(out))
    assert grad.dtype == dtype and np.isfinite(grad).all()
    if act.elementwise:
        assert np.isfinite(act.derivative(out)).all()


@pytest.mark.parametrize("name", ["half_sse", "mse", "half_mse", "binary_cross_entropy", "categorical_cross_entropy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_extremes(name, dtype):
    loss = get_loss(name)
    a = np.vstack([extreme_values(dtype), -extreme_values(dtype)])
    k = a.shape[1]
    if name == "categorical_cross_entropy":
        Y = np.zeros_like(a)
        Y[0, 0] = Y[1, -1] = 1  # the target class has the most negative logit: the worst case
    else:
        Y = np.tile(np.arange(k) % 2, (2, 1)).astype(dtype)
    value, grad = loss.value_and_gradient(a, Y)
    assert np.isfinite(value)
    assert grad.dtype == dtype and np.isfinite(grad).all()
    weighted, _ = loss.value_and_gradient(a, Y, np.array([1.0, 3.0]))
    assert np.isfinite(weighted)


def test_registry_is_covered():
    assert {cls.name for cls in LOSSES.values()} == {
        "half_sse",
        "mse",
        "half_mse",
        "binary_cross_entropy",
        "categorical_cross_entropy",
    }


# -- issue 12: finite values beyond the dtype are named as such, not as "NaN or infinite" --------------


def test_finite_values_too_large_for_float32_are_reported_as_overflow():
    import bprop

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
