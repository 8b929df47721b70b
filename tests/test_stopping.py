"""Stopping criteria, restore-best-weights in every ending, and divergence."""

import time

import numpy as np
import pytest

import bprop
from training_support import WeightRecorder, regression_data, small_net

# -- stopping criteria ---------------------------------------------------------------------------


def test_max_epochs(rng):
    X, Y = regression_data(rng)
    history = bprop.fit(small_net(), X, Y, optimizer=bprop.SGD(0.05), epochs=3, verbose=0)
    assert history.epochs == 3 and history.stop_reason == "max_epochs"
    assert len(history.lr) == len(history.time) == 3 and history.time == sorted(history.time)


def test_target_loss(rng):
    X, Y = regression_data(rng)
    history = bprop.fit(
        small_net(), X, Y, optimizer="adam", learning_rate=0.01, epochs=500, target_loss=0.02, verbose=0
    )
    assert history.stop_reason == "target_loss"
    assert history.loss[-1] <= 0.02 < min(history.loss[:-1])


def test_no_improvement_counts_patience_on_validation_loss(rng):
    X, Y = regression_data(rng)
    history = bprop.fit(
        small_net(),
        X,
        Y,
        optimizer=bprop.SGD(1e-9),
        epochs=100,
        patience=3,
        min_delta=1.0,
        validation_split=0.2,
        seed=0,
        verbose=0,
    )
    assert history.monitor == "val_loss"
    assert history.stop_reason == "no_improvement"
    assert history.epochs == 4 and history.best_epoch == 1


def test_no_improvement_on_training_loss_without_validation(rng):
    X, Y = regression_data(rng)
    history = bprop.fit(small_net(), X, Y, optimizer=bprop.SGD(1e-9), epochs=100, patience=2, min_delta=1.0, verbose=0)
    assert history.monitor == "loss" and history.stop_reason == "no_improvement" and history.epochs == 3


def test_time_budget(rng):
    X, Y = regression_data(rng, 2000)
    start = time.perf_counter()
    history = bprop.fit(
        small_net(), X, Y, optimizer=bprop.SGD(0.01), epochs=100_000, batch_size=1, max_time=0.2, verbose=0
    )
    assert history.stop_reason == "time_budget"
    assert time.perf_counter() - start < 5


def test_callback_can_stop_training(rng):
    class StopAtThree(bprop.Callback):
        def on_epoch_end(self, state):
            if state.epoch == 3:
                state.stop("enough")

    X, Y = regression_data(rng)
    history = bprop.fit(small_net(), X, Y, epochs=50, callbacks=[StopAtThree()], verbose=0)
    assert history.epochs == 3 and history.stop_reason == "enough"


def test_xor_with_the_seeds_per_example_sgd():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    Y = np.array([[0], [1], [1], [0]], dtype=float)
    net = bprop.mlp([2, 3, 1], activation="sigmoid", seed=0, dtype=np.float64)
    history = bprop.fit(
        net,
        X,
        Y,
        loss="half_sse",
        optimizer=bprop.SGD(2.0),
        batch_size=1,
        epochs=20_000,
        metric="accuracy",
        stop_when_all_correct=True,
        seed=0,
        verbose=0,
    )
    assert history.stop_reason == "all_correct"
    assert history.epochs < 20_000
    assert ((net.forward(X) >= 0.5) == (Y == 1)).all()


# -- restore best weights ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ending,options",
    [
        ("max_epochs", {"epochs": 12}),
        ("no_improvement", {"epochs": 200, "patience": 3}),
        ("target_loss", {"epochs": 200, "target_loss": 0.5}),
        ("time_budget", {"epochs": 10_000, "max_time": 0.3}),
    ],
)
def test_restore_best_weights_in_every_ending(ending, options, rng):
    X, Y = regression_data(rng, 100)
    recorder = WeightRecorder()
    net = small_net()
    # A too-large learning rate with momentum makes the validation loss go up and down.
    history = bprop.fit(
        net,
        X,
        Y,
        optimizer=bprop.SGD(0.3, momentum=0.9),
        validation_split=0.3,
        restore_best_weights=True,
        callbacks=[recorder],
        seed=0,
        verbose=0,
        **options,
    )
    assert history.stop_reason == ending
    assert history.restored_best
    assert history.best_epoch == int(np.argmin(history.val_loss)) + 1
    for p, b in zip(net.parameters(), recorder.snapshots[history.best_epoch - 1]):
        np.testing.assert_array_equal(p, b)


def test_restored_weights_are_exactly_the_best_epochs(rng):
    X, Y = regression_data(rng, 100)
    recorder = WeightRecorder()
    net = small_net()
    history = bprop.fit(
        net,
        X,
        Y,
        optimizer=bprop.SGD(0.3, momentum=0.9),
        epochs=15,
        validation_split=0.3,
        restore_best_weights=True,
        callbacks=[recorder],
        seed=0,
        verbose=0,
    )
    best = recorder.snapshots[history.best_epoch - 1]
    assert history.best_epoch < history.epochs  # the test only means something if the best is not the last
    for p, b in zip(net.parameters(), best):
        np.testing.assert_array_equal(p, b)
    X_val_loss = history.val_loss[history.best_epoch - 1]
    assert X_val_loss == min(history.val_loss)


def test_restore_best_after_divergence(rng):
    X, Y = regression_data(rng, 100)
    recorder = WeightRecorder()

    class Explode(bprop.Callback):
        def on_epoch_begin(self, state):
            if state.epoch == 6:
                state.optimizer.learning_rate = 1e6

    # ReLU is unbounded, so a huge step overflows float32 (tanh would only saturate).
    net = bprop.mlp([3, 16, 1], activation="relu", output_activation="identity", seed=0)
    with pytest.warns(bprop.DivergenceWarning):
        history = bprop.fit(
            net,
            X,
            Y,
            optimizer=bprop.SGD(0.05),
            epochs=50,
            restore_best_weights=True,
            callbacks=[recorder, Explode()],
            seed=0,
            verbose=0,
        )
    assert history.stop_reason == "diverged" and history.restored_best
    for p, b in zip(net.parameters(), recorder.snapshots[history.best_epoch - 1]):
        np.testing.assert_array_equal(p, b)


# -- divergence ----------------------------------------------------------------------------------


def test_divergence_stops_with_a_warning_and_keeps_the_last_finite_weights(rng):
    X, Y = regression_data(rng, 50)
    net = bprop.mlp([3, 16, 1], activation="relu", output_activation="identity", seed=0, dtype=np.float32)
    recorder = WeightRecorder()
    with pytest.warns(bprop.DivergenceWarning, match=r"diverged in epoch \d+.*[Ll]ower the learning rate"):
        history = bprop.fit(
            net, X * 1e3, Y * 1e3, optimizer=bprop.SGD(10.0), epochs=100, callbacks=[recorder], verbose=0
        )
    assert history.stop_reason == "diverged"
    assert all(np.isfinite(p).all() for p in net.parameters())
    assert all(np.isfinite(loss) for loss in history.loss)
    assert recorder.snapshots, "the test needs divergence after at least one finished epoch"
    for p, b in zip(net.parameters(), recorder.snapshots[-1]):
        np.testing.assert_array_equal(p, b)
