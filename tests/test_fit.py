"""bprop.fit, the training loop: batches, stopping, restore-best, callbacks, schedules, weights, resume."""

import io
import os
import signal
import time

import numpy as np
import pytest

import bprop
from training_support import RecordingLoss, regression_data, small_net

# -- mini-batches --------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 7, 25, 60, 500])
def test_every_row_once_per_epoch_including_the_partial_batch(batch_size, rng):
    n = 25
    X = rng.normal(size=(n, 3))
    Y = np.arange(n, dtype=float).reshape(-1, 1)  # the target is the row id
    loss = RecordingLoss()
    optimizer = bprop.SGD(1e-6)
    bprop.fit(small_net(), X, Y, loss=loss, optimizer=optimizer, epochs=2, batch_size=batch_size, seed=0, verbose=0)
    per_epoch = -(-n // min(batch_size, n))
    assert optimizer.iterations == 2 * per_epoch
    for epoch in range(2):
        ids = np.concatenate(loss.seen[epoch * per_epoch : (epoch + 1) * per_epoch])
        assert sorted(ids.tolist()) == list(range(n))
    if batch_size < n:  # reshuffled between epochs
        first = np.concatenate(loss.seen[:per_epoch])
        second = np.concatenate(loss.seen[per_epoch:])
        assert not np.array_equal(first, second)


def test_shuffle_false_keeps_the_order(rng):
    X = rng.normal(size=(10, 3))
    Y = np.arange(10, dtype=float).reshape(-1, 1)
    loss = RecordingLoss()
    bprop.fit(small_net(), X, Y, loss=loss, optimizer=bprop.SGD(1e-6), epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert np.concatenate(loss.seen).tolist() == list(range(10))


def test_full_batch_epoch_equals_one_manual_step(rng):
    X, Y = regression_data(rng)
    a, b = small_net(), small_net()
    bprop.fit(a, X, Y, optimizer=bprop.SGD(0.1), epochs=1, batch_size=len(X), shuffle=False, verbose=0)
    _, grads = b.loss_and_gradients(X, Y)
    bprop.SGD(0.1).step(b.parameters(), grads)
    for p, q in zip(a.parameters(), b.parameters()):
        # fit fuses the update into the gradient GEMM, which may round differently in the last bit.
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15)


# -- reproducibility -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_seed_bit_identical_weights_and_history(dtype, rng):
    X, Y = regression_data(rng, 80)

    def run(seed):
        net = small_net(seed=1, dtype=dtype, dropout=0.2)
        history = bprop.fit(
            net,
            X,
            Y,
            optimizer="adam",
            learning_rate=0.01,
            epochs=5,
            batch_size=8,
            validation_split=0.25,
            seed=seed,
            verbose=0,
        )
        return net, history

    (n1, h1), (n2, h2), (n3, _) = run(7), run(7), run(8)
    assert all(p.dtype == dtype for p in n1.parameters())
    assert [p.tobytes() for p in n1.parameters()] == [p.tobytes() for p in n2.parameters()]
    d1, d2 = h1.to_dict(), h2.to_dict()
    d1.pop("time"), d2.pop("time")
    assert d1 == d2
    assert [p.tobytes() for p in n1.parameters()] != [p.tobytes() for p in n3.parameters()]


# -- validation, metrics, callbacks, progress ----------------------------------------------------------


def test_stratified_validation_split_and_accuracy(rng):
    y = np.array([0] * 80 + [1] * 20)
    X = rng.normal(size=(100, 3)) + y[:, None]
    seen = {}

    class Peek(bprop.Callback):
        def on_train_begin(self, state):
            seen["started"] = True

    net = bprop.mlp([3, 6, 2], activation="relu", output_activation="softmax", seed=0)
    history = bprop.fit(
        net,
        X,
        np.eye(2)[y],
        loss="categorical_cross_entropy",
        optimizer="adam",
        epochs=3,
        validation_split=0.2,
        seed=0,
        callbacks=[Peek()],
        verbose=0,
    )
    assert history.metric_name == "accuracy"
    assert len(history.val_metric) == len(history.metric) == 3
    assert all(0 <= m <= 1 for m in history.val_metric + history.metric)
    assert seen["started"]


def test_holdout_is_stratified():
    from bprop.training.splits import holdout_indices

    labels = np.array([0] * 90 + [1] * 10)
    kept, held = holdout_indices(100, 0.2, np.random.default_rng(0), labels)
    assert len(held) == 20
    assert (labels[held] == 1).sum() == 2
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(100))


def test_explicit_validation_data(rng):
    X, Y = regression_data(rng)
    Xv, Yv = regression_data(rng, 20)
    net = small_net()
    history = bprop.fit(net, X, Y, epochs=2, validation_data=(Xv, Yv), verbose=0)
    assert history.val_loss[-1] == pytest.approx(net.loss(Xv, Yv))


def test_callback_hooks_run_in_order(rng):
    events = []

    class Log(bprop.Callback):
        def on_train_begin(self, state):
            events.append("begin")

        def on_epoch_begin(self, state):
            events.append(f"e{state.epoch}")

        def on_batch_end(self, state):
            events.append("b")

        def on_epoch_end(self, state):
            events.append(f"end{state.epoch}:{state.logs['loss']:.0e}"[:5])

        def on_train_end(self, state):
            events.append("done")

    X, Y = regression_data(rng, 10)
    bprop.fit(small_net(), X, Y, epochs=2, batch_size=5, callbacks=[Log()], verbose=0)
    assert [e[:4] for e in events] == ["begi", "e1", "b", "b", "end1", "e2", "b", "b", "end2", "done"]


def test_progress_bar_shows_epochs_and_loss(rng, capsys):
    X, Y = regression_data(rng, 10)
    buffer = io.StringIO()
    bprop.fit(small_net(), X, Y, epochs=3, callbacks=[bprop.ProgressBar(file=buffer)], verbose=0)
    text = buffer.getvalue()
    assert "3/3" in text
    assert "loss=" in text
    bprop.fit(small_net(), X, Y, epochs=3, verbose=0)
    assert capsys.readouterr().err == ""


def test_l2_adds_to_weight_gradients_only(rng):
    X, Y = regression_data(rng)
    a, b = small_net(), small_net()
    bprop.fit(a, X, Y, optimizer=bprop.SGD(0.1), epochs=1, batch_size=len(X), l2=0.5, verbose=0)
    _, grads = b.loss_and_gradients(X, Y)
    for name, p, g in zip(b.parameter_names(), b.parameters(), grads):
        p -= 0.1 * (g + (0.5 * p if name.startswith("W") else 0))
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-12)


def test_gradient_clipping_bounds_the_global_norm(rng):
    X, Y = regression_data(rng)
    norms = []

    class NormProbe(bprop.SGD):
        def step(self, params, grads):
            norms.append(np.sqrt(sum(float((g * g).sum()) for g in grads)))
            super().step(params, grads)

    bprop.fit(small_net(), X * 50, Y * 50, optimizer=NormProbe(1e-4), epochs=2, clip_norm=0.5, verbose=0)
    assert max(norms) <= 0.5 + 1e-9
    assert len(norms) == 4


def test_sigint_stops_after_the_current_batch(rng):
    class Interrupt(bprop.Callback):
        def on_batch_end(self, state):
            if state.epoch == 2 and state.batch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    X, Y = regression_data(rng)
    history = bprop.fit(small_net(), X, Y, epochs=10, batch_size=10, callbacks=[Interrupt()], verbose=0)
    assert history.stop_reason == "interrupted"
    assert history.epochs == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    "options,message",
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"validation_split": 1.5}, r"validation_split must be in \[0, 1\), got 1.5"),
        ({"l2": -1.0}, "l2 must be a finite number >= 0"),
        ({"patience": 0}, "patience must be an integer >= 1"),
        ({"metric": "f1"}, "metric must be 'accuracy'"),
        ({"optimizer": "adagrad"}, "unknown optimizer"),
        ({"optimizer": bprop.SGD(0.1), "learning_rate": 0.1}, "pass one or the other"),
        ({"loss": "binary_cross_entropy"}, "needs a 'sigmoid' output layer"),
        ({"sample_weight": -np.ones(60)}, "sample_weight must be finite and non-negative"),
        ({"l2": "x"}, "l2 must be a number, got 'x'"),
        ({"seed": "a"}, "seed must be an int"),
        ({"validation_data": 5}, "validation_data must be a pair"),
    ],
)
def test_bad_arguments(options, message, rng):
    X, Y = regression_data(rng)
    with pytest.raises(ValueError, match=message):
        bprop.fit(small_net(), X, Y, verbose=0, **options)


def test_digits_64_128_10_relu_adam(rng):
    """Acceptance: ≥ 0.97 test accuracy on scikit-learn's digits within 60 epochs."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    net = bprop.mlp([64, 128, 10], activation="relu", output_activation="softmax", seed=0)
    start = time.perf_counter()
    history = bprop.fit(
        net,
        scaler.transform(X_train),
        np.eye(10)[y_train],
        loss="categorical_cross_entropy",
        optimizer="adam",
        learning_rate=1e-3,
        epochs=60,
        batch_size=32,
        seed=0,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    accuracy = (net.forward(scaler.transform(X_test)).argmax(axis=1) == y_test).mean()
    print(f"digits: test accuracy {accuracy:.4f} after {history.epochs} epochs in {seconds:.2f} s")
    assert accuracy >= 0.97


# -- resume --------------------------------------------------------------------------------------------


class Snapshots(bprop.Callback):
    def __init__(self):
        self.taken = {}

    def on_epoch_end(self, state):
        self.taken[state.epoch] = state.snapshot()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam", "rmsprop"])
def test_resume_from_any_epoch_is_bit_identical(dtype, optimizer, rng):
    X, Y = regression_data(rng, 90)
    make_opt = {
        "sgd_momentum": lambda: bprop.SGD(0.05, momentum=0.9, nesterov=True),
        "adam": lambda: bprop.Adam(0.01),
        "rmsprop": lambda: bprop.RMSprop(0.005),
    }[optimizer]
    options = dict(epochs=8, batch_size=16, validation_split=0.2, seed=3, restore_best_weights=True, verbose=0)

    def run(**extra):
        net = small_net(seed=5, dtype=dtype, dropout=0.3)
        plateau = bprop.schedules.ReduceOnPlateau(patience=1, factor=0.5)
        history = bprop.fit(net, X, Y, optimizer=make_opt(), schedule=plateau, **options, **extra)
        return net, history

    snaps = Snapshots()
    full_net, full_history = run(callbacks=[snaps])
    for epoch in (1, 4, 7):
        net, history = run(resume=snaps.taken[epoch])
        assert [p.tobytes() for p in net.parameters()] == [p.tobytes() for p in full_net.parameters()], epoch
        assert history.loss == full_history.loss
        assert history.val_loss == full_history.val_loss
        assert history.lr == full_history.lr
        assert history.best_epoch == full_history.best_epoch


def test_fit_applies_the_schedule_each_epoch(rng):
    net = bprop.mlp([2, 3, 1], activation="tanh", output_activation="identity", seed=0)
    X, Y = rng.normal(size=(20, 2)), rng.normal(size=(20, 1))
    history = bprop.fit(net, X, Y, optimizer="sgd", learning_rate=0.1, epochs=4, schedule="step", verbose=0)
    assert history.lr == [0.1] * 4
    history = bprop.fit(
        net, X, Y, learning_rate=0.1, epochs=4, schedule=bprop.schedules.ExponentialDecay(0.5), verbose=0
    )
    assert history.lr == pytest.approx([0.1, 0.05, 0.025, 0.0125])


# -- a named schedule takes its length from epochs -----------------------------------------------------


@pytest.mark.parametrize("name", sorted(bprop.schedules.SCHEDULES))
def test_every_named_schedule_builds_from_fits_epochs_and_base_rate(name, rng):
    X, Y = regression_data(rng)
    history = bprop.fit(small_net(), X, Y, optimizer="sgd", learning_rate=0.05, epochs=6, schedule=name, verbose=0)
    assert len(history.lr) == 6
    assert history.lr[0] == pytest.approx(0.05)  # every schedule starts from the base rate
    assert all(0 < rate <= 0.05 for rate in history.lr)


def test_named_cosine_decays_over_the_runs_epochs(rng):
    X, Y = regression_data(rng)
    epochs, base = 8, 0.05
    history = bprop.fit(
        small_net(), X, Y, optimizer="sgd", learning_rate=base, epochs=epochs, schedule="cosine", verbose=0
    )
    expected = [0.5 * base * (1 + np.cos(np.pi * e / epochs)) for e in range(epochs)]
    assert history.lr == pytest.approx(expected)


@pytest.mark.parametrize("schedule", ["warm", 3, bprop.schedules.CosineDecay, {"name": "step"}])
def test_a_wrong_schedule_argument_is_a_value_error_naming_it(schedule, rng):
    X, Y = regression_data(rng)
    with pytest.raises(ValueError, match=r"schedule=.*a schedule name \(constant, cosine"):
        bprop.fit(small_net(), X, Y, epochs=2, schedule=schedule, verbose=0)


# -- sample weights and hold-outs ----------------------------------------------------------------------
def test_zero_sample_weights_are_left_out_of_training(rng):
    X = rng.normal(size=(20, 3))
    Y = np.eye(2)[rng.integers(0, 2, 20)]
    weights = np.r_[np.zeros(10), np.ones(10)]
    net = bprop.mlp([3, 4, 2], activation="tanh", output_activation="softmax", seed=0)
    history = bprop.fit(net, X, Y, loss="cce", batch_size=2, epochs=2, sample_weight=weights, seed=0, verbose=0)
    assert history.epochs == 2
    same = bprop.mlp([3, 4, 2], activation="tanh", output_activation="softmax", seed=0)
    bprop.fit(same, X[10:], Y[10:], loss="cce", batch_size=2, epochs=2, seed=0, verbose=0)
    for a, b in zip(net.parameters(), same.parameters()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="every training row has sample_weight 0"):
        bprop.fit(net, X, Y, loss="cce", sample_weight=np.zeros(20), verbose=0)


def test_a_hold_out_that_would_be_empty_is_a_clear_error():
    X = np.arange(6.0).reshape(3, 2)
    Y = np.eye(3)  # three classes of one row each: stratification keeps them all for training
    net = bprop.mlp([2, 3, 3], activation="tanh", output_activation="softmax", seed=0)
    with pytest.raises(ValueError, match="leaves no validation rows"):
        bprop.fit(net, X, Y, loss="cce", validation_split=0.3, verbose=0)


# -- monitor: what patience and restore-best follow -------------------------------------------------


def noisy_classes(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    labels = (X[:, 0] + X[:, 1] + rng.normal(scale=1.0, size=n) > 0).astype(int)
    return X, np.eye(2)[labels]


def test_restoring_by_validation_accuracy_picks_the_epoch_of_highest_validation_accuracy():
    X, Y = noisy_classes()
    net = bprop.mlp([4, 32, 2], activation="relu", output_activation="softmax", seed=0, dtype=np.float64)
    history = bprop.fit(
        net, X, Y, loss="categorical_cross_entropy", optimizer="adam", learning_rate=0.05, epochs=40,
        batch_size=16, seed=0, validation_split=0.3, monitor="val_accuracy", restore_best_weights=True,
        verbose=0,
    )  # fmt: skip
    best = max(history.val_metric)
    first_best = history.val_metric.index(best) + 1
    assert history.best_epoch >= first_best  # the first epoch of that accuracy, or a later one with lower loss
    assert history.val_metric[history.best_epoch - 1] == best
    tied = [e for e, acc in enumerate(history.val_metric, start=1) if acc == best]
    assert history.best_epoch == min(tied, key=lambda e: history.val_loss[e - 1])
    assert history.restored_best


def test_restoring_by_validation_loss_and_by_accuracy_can_differ():
    X, Y = noisy_classes(seed=2)  # validation loss bottoms out early, validation accuracy peaks late
    picked = {}
    for monitor in ("val_loss", "val_accuracy"):
        net = bprop.mlp([4, 32, 2], activation="relu", output_activation="softmax", seed=0, dtype=np.float64)
        options = dict(loss="categorical_cross_entropy", optimizer="adam", learning_rate=0.05, epochs=40)
        options |= dict(batch_size=16, seed=0, validation_split=0.3, restore_best_weights=True, verbose=0)
        picked[monitor] = bprop.fit(net, X, Y, monitor=monitor, **options).best_epoch
    assert picked["val_loss"] != picked["val_accuracy"]


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"monitor": "val_f1"}, "monitor must be one of"),
        ({"monitor": "val_accuracy"}, "needs validation data"),
        ({"monitor": "accuracy", "loss": "mse"}, "needs metric='accuracy'"),
    ],
)
def test_a_monitor_that_cannot_be_followed_is_refused(options, fragment):
    X, Y = noisy_classes(40)
    net = bprop.mlp([4, 3, 2], activation="relu", output_activation="softmax", seed=0)
    options = {"loss": "categorical_cross_entropy", "epochs": 1, "verbose": 0} | options
    if options["loss"] == "mse":
        net = bprop.mlp([4, 3, 2], activation="relu", seed=0)
    with pytest.raises(ValueError, match=fragment):
        bprop.fit(net, X, Y, **options)


# -- weight_decay: AdamW's decoupled decay by name ------------------------------------------------------


def test_weight_decay_by_name_is_adamw_with_that_decay():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    nets = [bprop.mlp([3, 5, 1], seed=0, dtype=np.float64) for _ in range(3)]
    options = dict(X=X, Y=Y, epochs=3, batch_size=8, seed=0, learning_rate=0.01, verbose=0)
    bprop.fit(nets[0], optimizer="adamw", weight_decay=0.3, **options)
    options.pop("learning_rate")
    bprop.fit(nets[1], optimizer=bprop.AdamW(learning_rate=0.01, weight_decay=0.3), **options)
    bprop.fit(nets[2], optimizer=bprop.AdamW(learning_rate=0.01, weight_decay=0.0), **options)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, c) for a, c in zip(nets[0].parameters(), nets[2].parameters()))


@pytest.mark.parametrize(
    "optimizer, match",
    [("adam", "weight_decay .*needs optimizer='adamw'.*use l2"), ("instance", "weight_decay goes into the optimizer")],
)
def test_weight_decay_is_refused_where_it_would_be_ignored(optimizer, match):
    net = bprop.mlp([2, 2, 1], seed=0)
    optimizer = bprop.AdamW() if optimizer == "instance" else optimizer
    with pytest.raises(ValueError, match=match):
        bprop.fit(net, np.zeros((4, 2)), np.zeros((4, 1)), optimizer=optimizer, weight_decay=0.1, verbose=0)
