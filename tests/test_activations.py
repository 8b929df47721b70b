import numpy as np
import pytest

import bprop
from bprop.nn.activations import ACTIVATIONS, LeakyReLU, get_activation

ELEMENTWISE = ["identity", "sigmoid", "tanh", "relu", "leaky_relu"]


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"linear"}))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("magnitude", [1e4, 1e30])
def test_extreme_inputs_stay_finite_and_silent(name, dtype, magnitude):
    # pytest turns any RuntimeWarning (overflow, invalid) into an error.
    z = np.array([[-magnitude, -1.0, 0.0, 1.0, magnitude]], dtype=dtype)
    act = get_activation(name)
    out = act.forward(z.copy())
    assert out.dtype == dtype
    assert np.isfinite(out).all()
    dz = act.backward(out, np.ones_like(out))
    assert dz.dtype == dtype
    assert np.isfinite(dz).all()


def extreme_values(dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    return np.array([[-1e30, -1e4, -tiny, 0.0, tiny, 1e4, 1e30]], dtype=dtype)


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"linear"}))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subnormal_and_huge_inputs_keep_values_and_derivatives_finite(name, dtype):
    act = get_activation(name)
    z = extreme_values(dtype)
    out = act.forward(z.copy())
    assert out.dtype == dtype
    assert np.isfinite(out).all()
    grad = act.backward(out, np.ones_like(out))
    assert grad.dtype == dtype
    assert np.isfinite(grad).all()
    if act.elementwise:
        assert np.isfinite(act.derivative(out)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_limits_and_symmetry(dtype):
    act = get_activation("sigmoid")
    z = np.array([[-1e4, -30.0, 0.0, 30.0, 1e4]], dtype=dtype)
    out = act.forward(z)
    assert out[0, 0] == 0
    assert out[0, -1] == 1
    assert out[0, 2] == 0.5
    np.testing.assert_allclose(out + act.forward(-z), 1, rtol=1e-6)
    # The negative branch keeps relative precision where 1 - σ(30) would round to 0.
    assert out[0, 1] == pytest.approx(np.exp(-30.0), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_rows_sum_to_one_even_for_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [3.0, 3.0, 3.0]], dtype=dtype)
    p = get_activation("softmax").forward(z)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(p[0], [1, 0, 0])
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-6)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_differences(name, rng):
    act = get_activation(name)
    z = rng.normal(size=(4, 5))
    z[np.abs(z) < 1e-3] = 0.5  # keep away from the ReLU kink
    eps = 1e-6
    numeric = (act.forward(z + eps) - act.forward(z - eps)) / (2 * eps)
    analytic = act.derivative(act.forward(z.copy()))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


def test_softmax_backward_is_the_jacobian_transpose_product(rng):
    act = get_activation("softmax")
    z = rng.normal(size=(1, 4))
    v = rng.normal(size=(1, 4))
    s = act.forward(z.copy())[0]
    jacobian = np.diag(s) - np.outer(s, s)
    np.testing.assert_allclose(act.backward(s[None, :], v)[0], jacobian.T @ v[0], rtol=1e-12)


def test_leaky_relu_slope():
    act = LeakyReLU(0.1)
    out = act.forward(np.array([[-2.0, 3.0]]))
    np.testing.assert_allclose(out, [[-0.2, 3.0]])
    np.testing.assert_allclose(act.backward(out, np.ones_like(out)), [[0.1, 1.0]])
    assert get_activation({"name": "leaky_relu", "slope": 0.2}).slope == 0.2
    with pytest.raises(ValueError, match="slope must be in"):
        LeakyReLU(1.5)


def test_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown activation 'relux'.*sigmoid"):
        get_activation("relux")
    with pytest.raises(ValueError, match="unknown activation"):
        bprop.Dense(2, 2, activation="swishy")
