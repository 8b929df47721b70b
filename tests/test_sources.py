"""Batch sources: ArraySource and the protocol (n_rows, order, take) a custom source implements."""

import numpy as np
import pytest

import bprop
from bprop.training.sources import ArraySource, source_chunks


def regression(n=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    Y = np.tanh(X @ np.array([[0.5], [-1.0], [0.25]])) + 0.05 * rng.normal(size=(n, 1))
    return X, Y


def make_net(seed=0, dtype=np.float64, **kw):
    return bprop.mlp([3, 8, 1], activation="tanh", output_activation="identity", seed=seed, dtype=dtype, **kw)


def weight_bytes(net) -> bytes:
    return b"".join(p.tobytes() for p in net.parameters())


def history_facts(history) -> dict:
    facts = history.to_dict()
    facts.pop("time")
    return facts


class ChunkSource:
    """Rows served from a list of chunks (as a reader of a file larger than memory would), never joined."""

    def __init__(self, chunks, dtype=np.float64):
        self.chunks = [(np.asarray(X, dtype), np.asarray(Y, dtype)) for X, Y in chunks]
        self.starts = np.cumsum([0] + [X.shape[0] for X, _ in self.chunks])
        self.taken: list[np.ndarray] = []
        self.orders: list[np.ndarray] = []

    @property
    def n_rows(self) -> int:
        return int(self.starts[-1])

    def order(self, rng):
        rows = np.arange(self.n_rows)
        rows = rows if rng is None else rows[rng.permutation(rows.size)]
        self.orders.append(rows)
        return rows

    def take(self, rows):
        self.taken.append(np.array(rows))
        chunk = np.searchsorted(self.starts, rows, side="right") - 1
        X = np.stack([self.chunks[c][0][r - self.starts[c]] for c, r in zip(chunk, rows)])
        Y = np.stack([self.chunks[c][1][r - self.starts[c]] for c, r in zip(chunk, rows)])
        return X, Y, None


def chunked(X, Y, sizes=(7, 13, 30)):
    bounds = np.cumsum((0, *sizes))
    assert bounds[-1] == X.shape[0]
    return ChunkSource([(X[a:b], Y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])], X.dtype)


# -- ArraySource ----------------------------------------------------------------------------------


def test_array_source_counts_its_rows():
    X, Y = regression(10)
    assert ArraySource(X, Y, rows=np.array([1, 4, 6])).n_rows == 3


def test_array_source_without_a_generator_keeps_the_row_order():
    X, Y = regression(10)
    assert ArraySource(X, Y, rows=np.array([5, 1, 4])).order(None).tolist() == [5, 1, 4]


def test_array_source_order_is_a_permutation_of_its_rows():
    X, Y = regression(20)
    rows = np.array([0, 3, 4, 7, 11, 12, 19])
    order = ArraySource(X, Y, rows=rows).order(np.random.default_rng(0))
    assert sorted(order.tolist()) == rows.tolist()


def test_array_source_order_shuffles():
    X, Y = regression(20)
    order = ArraySource(X, Y).order(np.random.default_rng(0))
    assert order.tolist() != list(range(20))


def test_array_source_order_depends_only_on_the_generator_state():
    X, Y = regression(20)
    source = ArraySource(X, Y)
    rng = np.random.default_rng(4)
    state = rng.bit_generator.state
    first = source.order(rng)
    rng.bit_generator.state = state
    assert source.order(rng).tolist() == first.tolist()


@pytest.mark.parametrize("part", [0, 1])
def test_array_source_take_gives_the_named_rows(part):
    X, Y = regression(10)
    rows = np.array([8, 2, 5])
    assert np.array_equal(ArraySource(X, Y).take(rows)[part], (X, Y)[part][rows])


def test_array_source_take_gives_the_named_rows_weights():
    X, Y = regression(10)
    w = np.linspace(0.1, 1.0, 10)
    assert np.array_equal(ArraySource(X, Y, w).take(np.array([9, 0]))[2], w[[9, 0]])


def test_array_source_without_weights_gives_none():
    X, Y = regression(10)
    assert ArraySource(X, Y).take(np.array([1, 2]))[2] is None


def test_source_chunks_cover_every_row_once_in_order():
    X, Y = regression(10)
    source = ArraySource(X, Y, rows=np.array([9, 3, 1, 0, 6]))
    got = np.concatenate([Xb.copy() for Xb, _, _ in source_chunks(source, size=2)])
    assert np.array_equal(got, X[[9, 3, 1, 0, 6]])


def test_source_chunks_are_at_most_size_rows():
    X, Y = regression(10)
    sizes = [Xb.shape[0] for Xb, _, _ in source_chunks(ArraySource(X, Y), size=4)]
    assert sizes == [4, 4, 2]


# -- the protocol as the loop uses it ---------------------------------------------------------------


def test_the_chunk_source_serves_the_rows_it_is_asked_for():
    X, Y = regression()
    source = chunked(X, Y)
    rows = np.array([49, 0, 7, 6, 20])
    assert np.array_equal(source.take(rows)[0], X[rows])


def test_the_loop_asks_for_the_batches_of_the_epoch_order():
    X, Y = regression()
    source = chunked(X, Y)
    bprop.Trainer(make_net(), source=source, epochs=1, batch_size=8, seed=2, verbose=0).run()
    assert np.concatenate(source.taken).tolist() == source.orders[-1].tolist()


def test_the_loop_asks_for_a_new_order_every_epoch():
    X, Y = regression()
    source = chunked(X, Y)
    bprop.Trainer(make_net(), source=source, epochs=3, batch_size=8, seed=2, verbose=0).run()
    assert len({tuple(order) for order in source.orders}) == 3


def test_a_shuffled_epoch_order_visits_every_row_once():
    X, Y = regression()
    source = chunked(X, Y)
    bprop.Trainer(make_net(), source=source, epochs=1, batch_size=8, seed=2, verbose=0).run()
    assert sorted(np.concatenate(source.taken).tolist()) == list(range(50))


def test_the_loop_takes_full_batches_and_a_partial_last_one():
    X, Y = regression()
    source = chunked(X, Y)
    bprop.Trainer(make_net(), source=source, epochs=2, batch_size=8, seed=2, verbose=0).run()
    assert [rows.size for rows in source.taken] == [8] * 6 + [2] + [8] * 6 + [2]


@pytest.mark.parametrize("shuffle", [True, False])
def test_a_custom_source_trains_to_the_weights_of_arrays(shuffle):
    X, Y = regression()
    net_a, net_b = make_net(), make_net()
    options = {"optimizer": "sgd", "learning_rate": 0.05, "epochs": 4, "batch_size": 8, "seed": 6, "shuffle": shuffle}
    bprop.Trainer(net_a, X, Y, verbose=0, **options).run()
    bprop.Trainer(net_b, source=chunked(X, Y), verbose=0, **options).run()
    assert weight_bytes(net_b) == weight_bytes(net_a)


def test_a_custom_source_with_adam_trains_to_the_weights_and_history_of_arrays():
    X, Y = regression()
    net_a, net_b = make_net(), make_net()
    options = {"optimizer": "adam", "learning_rate": 0.01, "epochs": 4, "batch_size": 16, "seed": 6}
    history_a = bprop.Trainer(net_a, X, Y, verbose=0, **options).run()
    history_b = bprop.Trainer(net_b, source=chunked(X, Y), verbose=0, **options).run()
    assert weight_bytes(net_b) == weight_bytes(net_a)
    assert history_facts(history_b) == history_facts(history_a)


def test_a_custom_source_resumes_mid_epoch_bit_identically():
    X, Y = regression()
    options = {"optimizer": bprop.SGD(0.05, momentum=0.9), "epochs": 3, "batch_size": 8, "seed": 6}
    net_a = make_net()
    bprop.Trainer(net_a, source=chunked(X, Y), verbose=0, **options).run()
    options["optimizer"] = bprop.SGD(0.05, momentum=0.9)
    first = bprop.Trainer(make_net(), source=chunked(X, Y), verbose=0, **options)
    first.step(10)
    options["optimizer"] = bprop.SGD(0.05, momentum=0.9)
    net_b = make_net(seed=1)
    bprop.Trainer(net_b, source=chunked(X, Y), resume=first.state.snapshot(), verbose=0, **options).run()
    assert weight_bytes(net_b) == weight_bytes(net_a)


def sign_classification(n=40):
    """Targets −1/+1 for a tanh output: the decision threshold is the midpoint 0, not 0.5."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    Y = np.where(X[:, :1] + 0.3 * X[:, 1:] > 0, 1.0, -1.0)
    return X, Y


def test_accuracy_on_arrays_uses_the_midpoint_of_the_targets():
    X, Y = sign_classification()
    net = bprop.mlp([2, 4, 1], activation="tanh", seed=0, dtype=np.float64)
    history = bprop.Trainer(net, X, Y, metric="accuracy", epochs=30, batch_size=8, seed=0, verbose=0).run()
    assert history.metric[-1] > 0.8


def test_a_custom_source_measures_accuracy_as_arrays_do():
    X, Y = sign_classification()
    net_a = bprop.mlp([2, 4, 1], activation="tanh", seed=0, dtype=np.float64)
    net_b = bprop.mlp([2, 4, 1], activation="tanh", seed=0, dtype=np.float64)
    options = {"metric": "accuracy", "epochs": 30, "batch_size": 8, "seed": 0, "verbose": 0}
    history_a = bprop.Trainer(net_a, X, Y, **options).run()
    history_b = bprop.Trainer(net_b, source=chunked(X, Y, (10, 30)), **options).run()
    assert history_b.metric == history_a.metric
