"""The prefetcher of streamed batches: the next batch is encoded ahead exactly when the caller will ask for
it, a wrong guess costs time but never a wrong batch, and a served batch stays intact until the next call."""

import threading
import time

import numpy as np
import pytest

from bprop.tables.stream.prefetch import Prefetcher


class Recorder:
    """encode(rows, buffers): each row's number in its line of X (slowly, to overlap with the caller)."""

    def __init__(self, delay: float = 0.0, fail_on: int | None = None):
        self.delay, self.fail_on, self.calls = delay, fail_on, []

    def make(self, n: int) -> np.ndarray:
        return np.full((n, 3), -1.0)

    def encode(self, rows, buffers) -> None:
        self.calls.append((threading.current_thread() is threading.main_thread(), rows.copy()))
        if self.fail_on is not None and self.fail_on in rows:
            raise ValueError(f"row {self.fail_on} is damaged")
        time.sleep(self.delay)
        buffers[:] = np.asarray(rows, float)[:, None]


def served(prefetcher, rows) -> np.ndarray:
    out = prefetcher.take(rows)
    assert np.array_equal(out[:, 0], rows), "a batch with the wrong rows"
    return out


def test_consecutive_batches_are_encoded_ahead_on_the_worker():
    recorder = Recorder(delay=0.002)
    prefetcher = Prefetcher(recorder.encode, recorder.make)
    order = np.random.default_rng(0).permutation(1000).astype(np.int32)
    prefetcher.new_order(order)
    for begin in range(0, order.size, 64):  # the last batch is partial (40 rows)
        served(prefetcher, order[begin : begin + 64])
    on_main = [rows.size for main, rows in recorder.calls if main]
    assert on_main == [64]  # only the first batch was encoded on the spot
    assert len(recorder.calls) == 16  # and no batch twice
    prefetcher.close()


def test_a_served_batch_is_left_alone_until_the_next_call():
    recorder = Recorder(delay=0.005)
    prefetcher = Prefetcher(recorder.encode, recorder.make)
    order = np.arange(100, 400, dtype=np.int64)
    prefetcher.new_order(order)
    first = served(prefetcher, order[:50])
    snapshot = first.copy()
    time.sleep(0.03)  # the next batch is being written meanwhile, elsewhere
    assert np.array_equal(first, snapshot)
    second = served(prefetcher, order[50:100])
    assert second is not first
    prefetcher.close()


def test_slices_a_global_batch_apart_are_predicted_as_data_parallel_ranks_take_them():
    recorder = Recorder()
    prefetcher = Prefetcher(recorder.encode, recorder.make)
    order = np.random.default_rng(1).permutation(1200)
    prefetcher.new_order(order)
    for begin in range(0, 1200, 120):  # rank 1 of 2: the second half of each global batch of 120
        served(prefetcher, order[begin : begin + 120][60:])
    assert [main for main, _ in recorder.calls].count(True) == 2  # the first two show the stride
    prefetcher.close()


@pytest.mark.parametrize("kind", ["copies", "reversed", "another order", "a list"])
def test_rows_that_are_not_the_predicted_slice_are_encoded_on_the_spot(kind):
    recorder = Recorder()
    prefetcher = Prefetcher(recorder.encode, recorder.make)
    order = np.random.default_rng(2).permutation(500)
    prefetcher.new_order(order)
    for begin in range(0, 500, 50):
        rows = order[begin : begin + 50]
        asked = {
            "copies": rows.copy(),
            "reversed": rows[::-1],
            "another order": np.sort(rows),
            "a list": rows.tolist(),
        }[kind]
        out = prefetcher.take(asked)
        assert np.array_equal(out[:, 0], asked)
    prefetcher.close()


def test_a_new_order_drops_the_guess_and_an_encoding_error_reaches_the_caller():
    recorder = Recorder(fail_on=7)
    prefetcher = Prefetcher(recorder.encode, recorder.make)
    prefetcher.new_order(np.arange(20))
    served(prefetcher, np.arange(20)[:5])  # rows 5..9 (with the damaged row 7) are encoded ahead
    with pytest.raises(ValueError, match="row 7 is damaged"):
        prefetcher.take(np.arange(20)[5:10])
    other = np.arange(20)[::-1].copy()
    prefetcher.new_order(other)
    served(prefetcher, other[:5])
    prefetcher.close()
