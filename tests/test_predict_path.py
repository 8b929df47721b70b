"""The lean predict path (``Sequential.predict``, ``nn.inference.Predictor``) gives exactly ``forward``'s outputs
(one row of a network large enough for the compiled call: ``test_predict_one_row.py``)."""

import copy
import pickle

import numpy as np
import pytest

import bprop
from bprop.nn.activations import ACTIVATIONS

PAIRS = [
    (hidden, output)
    for hidden in sorted(set(ACTIVATIONS) - {"linear"})
    for output in ("softmax", "identity", "sigmoid")
]


@pytest.mark.parametrize(("hidden", "output"), PAIRS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_is_forward_bit_for_bit(hidden, output, dtype):
    net = bprop.mlp([7, 9, 5, 3], activation=hidden, output_activation=output, seed=1, dtype=dtype, dropout=0.2)
    rng = np.random.default_rng(0)
    for n in (1, 2, 64, 65, 300, 1, 64):  # copied rows, bound rows, sizes seen again
        X = rng.normal(size=(n, 7)) * 3
        np.testing.assert_array_equal(net.predict(X), net.forward(X))


def test_chunks_and_their_remainders():
    net = bprop.mlp([6, 8, 4], activation="tanh", output_activation="softmax", seed=0)
    net.predict(np.zeros((1, 6)))
    net._predictor.chunk = 100  # a 100-row chunk: remainders both copied (<= 64 rows) and bound
    for n in (100, 1000, 1037, 1099):
        X = np.random.default_rng(n).normal(size=(n, 6)).astype(np.float32)
        np.testing.assert_array_equal(net.predict(X), net.forward(X))


def test_weights_changed_in_place_or_moved_are_followed():
    net = bprop.mlp([4, 6, 2], activation="relu", output_activation="identity", seed=0)
    X = np.random.default_rng(1).normal(size=(5, 4))
    before = net.predict(X)
    net.layers[0].W = net.layers[0].W * 2  # assigned in place
    assert not np.array_equal(net.predict(X), before)
    np.testing.assert_array_equal(net.predict(X), net.forward(X))
    bprop.fit(net, X, np.ones((5, 2)), loss="half_sse", optimizer=bprop.SGD(0.1), epochs=2, batch_size=2, verbose=0)
    np.testing.assert_array_equal(net.predict(X), net.forward(X))
    net.flatten()  # new weight arrays
    np.testing.assert_array_equal(net.predict(X), net.forward(X))
    net.layers[1].activation = bprop.get_activation("tanh")
    np.testing.assert_array_equal(net.predict(X), net.forward(X))


def test_copies_and_pickles_start_without_the_buffers():
    net = bprop.mlp([4, 6, 2], seed=0)
    X = np.ones((3, 4))
    net.predict(X)
    for other in (copy.deepcopy(net), net.copy(), pickle.loads(pickle.dumps(net))):
        assert other._predictor is None
        np.testing.assert_array_equal(other.predict(X), net.predict(X))


def test_the_output_is_the_callers_own_array():
    net = bprop.mlp([3, 2], seed=0)
    a = net.predict(np.ones((2, 3)))
    b = net.predict(np.zeros((2, 3)))
    assert not np.shares_memory(a, b) and not np.array_equal(a, b)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.full((2, 4), np.nan), "8 NaN or infinite"),
        (np.array([[1.0, np.inf, 0, 0]] * 70), "70 NaN or infinite"),
        (np.ones((2, 3)), "has 3 columns, the network expects 4"),
        (np.ones(4), "must be 2-D"),
        (np.ones((0, 4)), "no rows"),
        (np.array([["a"] * 4]), "must be numeric"),
        (np.full((1, 4), 1e39), "too large for float32"),
    ],
)
def test_bad_inputs_are_refused_as_forward_refuses_them(X, message):
    net = bprop.mlp([4, 3, 2], seed=0)
    with pytest.raises(ValueError, match=message):
        net.predict(X)


def test_one_thread_and_two_halves_agree(monkeypatch):
    import bprop.nn.inference as inference

    net = bprop.mlp([8, 16, 3], activation="relu", output_activation="softmax", seed=2)
    X = np.random.default_rng(3).normal(size=(301, 8))
    both = net.predict(X)  # two halves when the machine allows two BLAS threads
    monkeypatch.setattr(inference, "one_thread", lambda: None)  # BLAS threads cannot be set: one pass
    fresh = bprop.mlp([8, 16, 3], activation="relu", output_activation="softmax", seed=2)
    np.testing.assert_array_equal(fresh.predict(X), both)
    np.testing.assert_array_equal(both, net.forward(X))


def test_a_bad_row_in_the_second_half_is_refused():
    net = bprop.mlp([4, 3, 2], seed=0)
    X = np.ones((200, 4))
    X[190, 2] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        net.predict(X)
    np.testing.assert_array_equal(net.predict(np.ones((200, 4))), net.forward(np.ones((200, 4))))


@pytest.mark.parametrize("n", [5, 300])
def test_an_infinite_input_is_refused_even_where_its_weights_are_zero(n):
    """inf · 0 is NaN, so the first product shows an infinite input whatever the weights."""
    net = bprop.mlp([4, 3, 2], activation="tanh", seed=0)  # tanh alone would hide an inf (tanh(inf) = 1)
    net.layers[0].W = np.where(np.arange(4)[:, None] == 2, 0.0, net.layers[0].W)
    X = np.ones((n, 4))
    X[n - 2, 2] = np.inf
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        net.predict(X)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_predict_in_a_forked_child_after_the_parent_predicted():
    """The worker thread of the parent does not exist in a forked child: the child starts its own."""
    import multiprocessing

    net = bprop.mlp([4, 8, 2], seed=0)
    X = np.random.default_rng(0).normal(size=(300, 4))
    expected = net.predict(X)  # the parent's worker thread is started here (two BLAS threads allowed)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=lambda: queue.put(net.predict(X)))  # the same net, inherited by fork
    child.start()
    try:
        result = queue.get(timeout=30)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    np.testing.assert_array_equal(result, expected)


def test_layers_the_lean_path_does_not_compute_go_through_forward():
    """A custom layer (the Layer contract is public) or a Dense subclass with a forward of its own must
    not be skipped or replaced by plain Dense arithmetic."""
    from bprop.nn.layers import Layer

    class Double(Layer):
        def __init__(self):
            self.dtype = np.dtype("float32")

        def forward(self, x, *, training=False):
            return x * 2

        def backward(self, dL_dy, **kwargs):
            return dL_dy * 2

    class Clipped(bprop.Dense):
        def forward(self, x, *, training=False, activate=True):
            return np.clip(super().forward(x, training=training, activate=activate), -0.1, 0.1)

    given = bprop.Dense(4, 4, "relu", rng=3)
    given.forward = lambda x, *, training=False, activate=True: np.zeros((len(x), 4), dtype=np.float32)

    X = np.random.default_rng(0).normal(size=(5, 3))
    for middle in (Double(), Clipped(4, 4, "relu", rng=2), given):
        net = bprop.Sequential([bprop.Dense(3, 4, "tanh", rng=0), middle, bprop.Dense(4, 2, "identity", rng=1)])
        for rows in (X[:1], X):
            np.testing.assert_array_equal(net.predict(rows), net.forward(rows))


def answers_in_threads(predict, parts, rounds):
    """``(i, predict(parts[i]))`` for every answer of one thread per part, each asking ``rounds`` times at
    once with the others."""
    import threading

    got = []

    def serve(i):
        got.extend((i, predict(parts[i])) for _ in range(rounds))

    threads = [threading.Thread(target=serve, args=(i,)) for i in range(len(parts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == rounds * len(parts)
    return got


@pytest.mark.parametrize("rows", [1, 7, 300])
def test_threads_sharing_a_network_each_get_their_own_answers(rows):
    """A threaded server shares one network: every thread's predictions are its own rows' outputs (to
    rounding: OpenBLAS called from several threads at once may split a product differently). With one
    predictor for all threads they were other rows' values, off by up to 15 on probabilities."""
    net = bprop.mlp([300, 256, 40, 3], activation="relu", output_activation="softmax", seed=0)
    rng = np.random.default_rng(1)
    parts = [rng.normal(size=(rows, 300)).astype(np.float32) for _ in range(6)]
    expected = [net.predict(part) for part in parts]
    got = answers_in_threads(net.predict, parts, 30)
    assert all(np.allclose(answer, expected[i], rtol=0, atol=1e-5) for i, answer in got)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threads_sharing_an_estimator_each_get_their_own_answers(dtype):
    """Each thread predicts through its own float64 twin of the network (before, a float64 estimator
    predicted through the network's own layers, and threads read each other's rows)."""
    import warnings

    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch: not converged
        model = bprop.MLPRegressor(hidden_layer_sizes=(32,), max_iter=1, dtype=dtype, random_state=0)
        model.fit(X, X[:, 0])
    parts = [X[i * 100 : (i + 1) * 100] for i in range(6)]
    expected = [model.predict(part) for part in parts]
    got = answers_in_threads(model.predict, parts, 40)
    assert all(np.array_equal(answer, expected[i]) for i, answer in got)


def test_a_network_of_custom_layers_only_predicts_through_forward():
    from bprop.nn.layers import Layer

    class Linear(Layer):  # a custom layer with a width: Sequential takes it in place of Dense
        n_inputs, n_outputs = 3, 2
        activation = bprop.get_activation("identity")

        def __init__(self):
            self.dtype = np.dtype("float32")

        def forward(self, x, *, training=False, activate=True):
            return x[:, :2] * 3

    net = bprop.Sequential([Linear()])
    X = np.ones((4, 3))
    np.testing.assert_array_equal(net.predict(X), net.forward(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_estimator_predicting_while_another_thread_trains_it_gives_its_own_rows(dtype):
    """Predictions go through a twin of the network per thread: with a learning rate too small to move
    the weights, they stay what they were (before, a float64 model read the training batch's values)."""
    import threading
    import warnings

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    rows = rng.normal(size=(50, 20))  # as many as a training batch
    model = bprop.MLPClassifier(
        hidden_layer_sizes=(32,), batch_size=50, learning_rate_init=1e-9, dtype=dtype, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(X, y, classes=[0, 1, 2])
        before = model.predict_proba(rows)
        stop = threading.Event()

        def train():
            while not stop.is_set():
                model.partial_fit(X, y)

        trainer = threading.Thread(target=train)
        trainer.start()
        try:
            worst = max(float(np.abs(model.predict_proba(rows) - before).max()) for _ in range(100))
        finally:
            stop.set()
            trainer.join()
    assert worst < 1e-4
