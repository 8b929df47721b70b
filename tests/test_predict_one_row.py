"""One row of a large network goes through one compiled call (``nn._one_row``): its outputs agree with a
float64 forward pass to rounding, and it refuses and follows what the BLAS plan refuses and follows."""

import numpy as np
import pytest

import bprop
from bprop.nn import _one_row
from bprop.nn.activations import ACTIVATIONS, ReLU

# 300 × 256 weights: above the size from which the compiled kernels are used.
SIZES = [300, 256, 40, 3]
HIDDEN = sorted(set(ACTIVATIONS) - {"linear"})
PAIRS = [(hidden, output) for hidden in HIDDEN for output in ("softmax", "identity", "sigmoid")]


def pair(hidden, output, dtype):
    """A network and a float64 twin holding exactly its weights (the reference)."""
    net = bprop.mlp(SIZES, activation=hidden, output_activation=output, seed=4, dtype=dtype, dropout=0.1)
    exact = bprop.mlp(SIZES, activation=hidden, output_activation=output, seed=4, dtype="float64", dropout=0.1)
    for mine, theirs in zip(net.parameters(), exact.parameters()):
        theirs[...] = mine
    return net, exact


def assert_close(got, expected, dtype):
    scale = max(1.0, float(np.abs(expected).max()))
    tolerance = (2e-5 if dtype == "float32" else 1e-12) * scale
    np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)


@pytest.mark.parametrize(("hidden", "output"), PAIRS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_row_matches_a_float64_forward_pass(hidden, output, dtype):
    net, exact = pair(hidden, output, dtype)
    rng = np.random.default_rng(1)
    for _ in range(3):  # new rows through the same buffers
        X = (rng.normal(size=(1, SIZES[0])) * 3).astype(dtype)
        got = net.predict(X)
        assert isinstance(net._predictor._one_row, _one_row.RowPlan)
        assert got.shape == (1, SIZES[-1]) and got.dtype == np.dtype(dtype)
        assert_close(got, exact.forward(X.astype(np.float64)), dtype)
        assert_close(got, net.forward(X), dtype)


def test_float64_and_strided_rows_are_converted_like_forward():
    net, exact = pair("relu", "softmax", "float32")
    wide = np.random.default_rng(2).normal(size=(1, 2 * SIZES[0]))
    X = wide[:, ::2]  # float64, not contiguous
    assert_close(net.predict(X), exact.forward(X.astype(np.float32).astype(np.float64)), "float32")
    assert_close(net.predict(np.ones((1, SIZES[0]), dtype=np.int64)), exact.forward(np.ones((1, SIZES[0]))), "float32")


@pytest.mark.parametrize(
    ("value", "message"),
    [(np.nan, "1 NaN or infinite"), (np.inf, "1 NaN or infinite"), (1e39, "too large for float32")],
)
def test_a_bad_value_is_refused_by_name(value, message):
    net, _ = pair("tanh", "softmax", "float32")
    X = np.zeros((1, SIZES[0]))
    X[0, 123] = value
    with pytest.raises(ValueError, match=message):
        net.predict(X)
    assert np.isfinite(net.predict(np.zeros((1, SIZES[0])))).all()  # and the next row is served


def test_changed_weights_and_slopes_are_followed():
    net, exact = pair("leaky_relu", "identity", "float32")
    X = np.random.default_rng(3).normal(size=(1, SIZES[0])).astype(np.float32)
    before = net.predict(X)
    net.layers[0].W *= 2  # in place
    net.layers[0].activation.slope = 0.3
    for mine, theirs in zip(net.parameters(), exact.parameters()):
        theirs[...] = mine
    exact.layers[0].activation.slope = 0.3
    after = net.predict(X)
    assert not np.allclose(after, before)
    assert_close(after, exact.forward(X.astype(np.float64)), "float32")


def test_weights_made_read_only_after_the_first_row_still_serve():
    net, exact = pair("relu", "softmax", "float32")
    X = np.random.default_rng(6).normal(size=(1, SIZES[0]))
    net.predict(X)
    net.layers[0].W.flags.writeable = False  # e.g. frozen by the caller: the same array, its flags changed
    assert_close(net.predict(X), exact.forward(X.astype(np.float32).astype(np.float64)), "float32")


def test_what_the_kernel_does_not_compute_keeps_the_blas_plan():
    class Shifted(ReLU):  # a subclass may compute something else: never taken for ReLU
        def forward(self, z, out=None):
            return super().forward(z - 1, out)

    net = bprop.mlp(SIZES, activation=Shifted(), seed=0)
    X = np.random.default_rng(4).normal(size=(1, SIZES[0]))
    np.testing.assert_array_equal(net.predict(X), net.forward(X))
    assert net._predictor._one_row is None
    rows = np.random.default_rng(5).normal(size=(40, SIZES[0]))  # the BLAS plan calls forward too
    np.testing.assert_array_equal(net.predict(rows), net.forward(rows))
    small = bprop.mlp([8, 16, 2], seed=0)  # too small to load numba for
    small.predict(np.ones((1, 8)))
    assert small._predictor._one_row is None


def test_leaky_relu_with_slope_0_turns_an_infinite_pre_activation_into_nan_as_forward_does():
    leaky = bprop.get_activation({"name": "leaky_relu", "slope": 0.0})
    net = bprop.mlp(SIZES, activation=leaky, output_activation="identity", seed=0)
    net.layers[0].W[:, 0] = 1e38  # the first hidden unit's pre-activation overflows to inf: inf·0 is NaN
    net.layers[1].W[0] = 1.0  # kept inf, it would make every unit after it +inf ...
    net.layers[2].W[...] = np.abs(net.layers[2].W)  # ... and the outputs +inf instead of NaN
    X = np.ones((1, SIZES[0]), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = net.forward(X)
    assert np.isnan(expected).all()
    np.testing.assert_array_equal(net.predict(X), expected)
    assert isinstance(net._predictor._one_row, _one_row.RowPlan)


def test_an_activation_that_only_has_forward_serves_as_in_forward():
    class Cube:  # duck-typed: no Activation base class
        name = "cube"

        def forward(self, z, out=None):
            return np.power(z, 3, out=out)

    net = bprop.mlp([4, 5, 2], seed=0)
    net.layers[0].activation = Cube()
    X = np.random.default_rng(7).normal(size=(3, 4))
    for rows in (X[:1], X):
        np.testing.assert_array_equal(net.predict(rows), net.forward(rows))


def test_copies_in_threads_all_take_the_kernel(monkeypatch):
    """Threads that ask while the kernel is loading wait for it instead of taking the BLAS plan for good."""
    import sys
    import threading

    monkeypatch.setattr(_one_row, "_KERNEL", None)
    monkeypatch.delitem(sys.modules, "bprop.nn._one_row_kernel")  # imported afresh: a wide window
    nets = [pair("relu", "softmax", "float32")[0] for _ in range(4)]
    X = np.ones((1, SIZES[0]), dtype=np.float32)
    start = threading.Barrier(len(nets))
    results, kernels = [None] * len(nets), [None] * len(nets)

    def serve(i):
        start.wait()
        results[i] = nets[i].predict(X)
        kernels[i] = isinstance(nets[i]._predictor._one_row, _one_row.RowPlan)  # this thread's predictor

    threads = [threading.Thread(target=serve, args=(i,)) for i in range(len(nets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(kernels)
    assert all(np.array_equal(result, results[0]) for result in results)


def test_an_unusable_numba_leaves_the_blas_plan(monkeypatch):
    import sys

    monkeypatch.setattr(_one_row, "_KERNEL", None)
    monkeypatch.setitem(sys.modules, "bprop.nn._one_row_kernel", None)  # its import raises ImportError
    net, _ = pair("relu", "softmax", "float32")
    X = np.ones((1, SIZES[0]))
    np.testing.assert_array_equal(net.predict(X), net.forward(X))
    assert net._predictor._one_row is None


def test_a_kernel_that_fails_is_reported_once_and_the_blas_plan_serves(monkeypatch):
    def damaged(*arguments):  # what a damaged numba cache file does: every call raises
        raise EOFError("pickle data was truncated")

    monkeypatch.setattr(_one_row, "_KERNEL", damaged)
    net, _ = pair("relu", "softmax", "float32")
    X = np.ones((1, SIZES[0]))
    with pytest.warns(RuntimeWarning, match="one-row predict is unavailable.*truncated"):
        first = net.predict(X)
    np.testing.assert_array_equal(first, net.forward(X))
    np.testing.assert_array_equal(net.predict(X), net.forward(X))  # no second warning (errors here)


def test_read_only_or_unaligned_rows_are_copied_not_compiled_for():
    net, exact = pair("tanh", "identity", "float32")
    X = np.random.default_rng(8).normal(size=(1, SIZES[0])).astype(np.float32)
    net.predict(X)
    kernel = net._predictor._one_row.kernel
    signatures = len(kernel.signatures)
    frozen = X.copy()
    frozen.flags.writeable = False
    unaligned = np.frombuffer(b"\0" + X.tobytes(), dtype=np.float32, offset=1).reshape(1, -1)
    for rows in (frozen, unaligned):
        assert_close(net.predict(rows), exact.forward(X.astype(np.float64)), "float32")
    assert len(kernel.signatures) == signatures
