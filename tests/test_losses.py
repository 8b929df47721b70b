"""Losses at numerical extremes: ±1e4, ±1e30 and subnormal outputs, in both dtypes, give finite values and
finite gradients without a single warning (pytest turns warnings into errors)."""

import numpy as np
import pytest

from bprop.nn.losses import LOSSES, get_loss


def extreme_values(dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    return np.array([[-1e30, -1e4, -tiny, 0.0, tiny, 1e4, 1e30]], dtype=dtype)


@pytest.mark.parametrize("name", ["half_sse", "mse", "half_mse", "binary_cross_entropy", "categorical_cross_entropy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
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
    assert grad.dtype == dtype
    assert np.isfinite(grad).all()
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
