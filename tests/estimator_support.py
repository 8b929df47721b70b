"""Helpers shared by the estimator tests (the iris and regression fixtures are in conftest.py)."""

from numpy.testing import assert_allclose


def small(cls, **params):
    return cls(hidden_layer_sizes=(8,), random_state=0, dtype="float64", **params)


def weights_of(est):
    return [p.copy() for p in est.net_.parameters()]


def assert_same_weights(a, b, rtol=1e-10, atol=1e-12):
    for p, q in zip(a, b):
        assert_allclose(p, q, rtol=rtol, atol=atol)
