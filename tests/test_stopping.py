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


# -- the order in which stopping rules win -------------------------------------------------------

from bprop.training import trainer as trainer_module  # noqa: E402
from bprop.training.callbacks import TrainingState  # noqa: E402
from bprop.training.stopping import (  # noqa: E402
    AllCorrect,
    BestWeights,
    MaxEpochs,
    Patience,
    StoppingRule,
    TargetLoss,
    TimeBudget,
)

PRIORITY = ["user", "target_loss", "all_correct", "no_improvement", "time_budget", "max_epochs"]


def priority_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 3))
    return X, np.tanh(X @ np.array([[0.5], [-1.0], [0.25]]))


class StopAtEpoch(bprop.Callback):
    def __init__(self, epoch, reason):
        self.epoch, self.reason = epoch, reason

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            state.stop(self.reason)


class AllCorrectFromEpochTwo(bprop.Trainer):
    """Every example counts as classified correctly from epoch 2 on (and not before)."""

    def training_accuracy(self):
        return 1.0 if self.state.epoch >= 2 else 0.5


def full_batch_options():
    return {"optimizer": bprop.SGD(0.1), "batch_size": 30, "epochs": 2, "seed": 0, "verbose": 0}


@pytest.mark.parametrize("first", range(len(PRIORITY)), ids=PRIORITY)
def test_stopping_rules_that_hold_in_the_same_epoch_win_in_the_documented_order(first, monkeypatch):
    X, Y = priority_data()
    reference = bprop.fit(small_net(), X, Y, **full_batch_options())
    assert reference.loss[0] > reference.loss[1]  # so the target below holds in epoch 2 only
    trainer_box = []

    def fake_clock():  # no time passes in epoch 1; the budget is spent in epoch 2
        state = trainer_box[0].state
        return state.started_at + (100.0 if state.epoch >= 2 else 0.0)

    monkeypatch.setattr(trainer_module, "TimeBudget", lambda seconds: TimeBudget(seconds, clock=fake_clock))
    enabled = set(PRIORITY[first:])
    rules = {
        "user": {"callbacks": [StopAtEpoch(2, "user")]},
        "target_loss": {"target_loss": reference.loss[1]},
        "all_correct": {"stop_when_all_correct": True},
        "no_improvement": {"patience": 1, "min_delta": 1e9},
        "time_budget": {"max_time": 50.0},
    }
    options = full_batch_options()
    for name in enabled - {"max_epochs"}:
        options.update(rules[name])
    trainer = AllCorrectFromEpochTwo(small_net(), X, Y, **options)
    trainer_box.append(trainer)
    history = trainer.run()
    assert history.epochs == 2
    assert history.stop_reason == PRIORITY[first]


@pytest.mark.parametrize(
    "options,reason",
    [
        ({"target_loss": 1e9}, "target_loss"),
        ({"patience": 1, "min_delta": 1e9}, "no_improvement"),
        ({"callbacks": [StopAtEpoch(1, "user")]}, "user"),
    ],
)
def test_each_rule_stops_with_its_reason(options, reason):
    X, Y = priority_data()
    history = bprop.fit(small_net(), X, Y, **{**full_batch_options(), "epochs": 10, **options})
    assert history.stop_reason == reason


def test_a_user_stop_asked_in_the_same_epoch_beats_max_epochs():
    X, Y = priority_data()
    history = bprop.fit(small_net(), X, Y, callbacks=[StopAtEpoch(2, "mine")], **full_batch_options())
    assert history.stop_reason == "mine"


# -- the rules on their own ----------------------------------------------------------------------


def state_with_losses(losses, epoch=None):
    history = bprop.History(loss=list(losses))
    return TrainingState(net=small_net(), optimizer=bprop.SGD(0.1), history=history, epochs=10,
                         epoch=len(losses) if epoch is None else epoch)  # fmt: skip


def test_target_loss_holds_at_the_target():
    state = state_with_losses([2.0, 1.0])
    TargetLoss(1.0).on_epoch_end(state)
    assert state.stop_requested == "target_loss"


def test_target_loss_does_not_hold_above_the_target():
    state = state_with_losses([2.0, 1.0 + 1e-12])
    TargetLoss(1.0).on_epoch_end(state)
    assert state.stop_requested is None


def test_a_rule_does_not_replace_an_earlier_request():
    state = state_with_losses([0.5])
    state.stop("user")
    TargetLoss(1.0).on_epoch_end(state)
    assert state.stop_requested == "user"


def test_all_correct_needs_an_accuracy_of_exactly_one():
    state = state_with_losses([0.5])
    AllCorrect(lambda: 0.999).on_epoch_end(state)
    assert state.stop_requested is None


def test_all_correct_holds_when_every_example_is_right():
    state = state_with_losses([0.5])
    AllCorrect(lambda: 1.0).on_epoch_end(state)
    assert state.stop_requested == "all_correct"


@pytest.mark.parametrize("wait,reason", [(2, None), (3, "no_improvement")])
def test_patience_holds_after_that_many_epochs_without_improvement(wait, reason):
    best = BestWeights()
    best.wait = wait
    state = state_with_losses([0.5])
    Patience(3, best).on_epoch_end(state)
    assert state.stop_requested == reason


@pytest.mark.parametrize("epoch,reason", [(4, None), (5, "max_epochs")])
def test_max_epochs_holds_once_that_many_epochs_are_done(epoch, reason):
    state = state_with_losses([0.5], epoch=epoch)
    MaxEpochs(5).on_epoch_end(state)
    assert state.stop_requested == reason


def test_a_stopping_rule_must_say_when_it_holds():
    with pytest.raises(NotImplementedError):
        StoppingRule().holds(state_with_losses([0.5]))


# -- the time budget, with a fake clock ----------------------------------------------------------


def budget_run(seconds, epochs=10):
    """Batches of 4 out of 40 rows (10 an epoch); the fake clock ticks one second per update."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    Y = np.tanh(X[:, :1])
    box, losses = [], []

    class BatchLosses(bprop.Callback):
        def on_batch_end(self, state):
            losses.append(state.logs["batch_loss"])

    def clock():
        return box[0].state.started_at + box[0].state.steps

    trainer = bprop.Trainer(
        small_net(), X, Y, optimizer=bprop.SGD(0.05), epochs=epochs, batch_size=4, seed=0, verbose=0,
        callbacks=[BatchLosses(), TimeBudget(seconds, clock=clock)],
    )  # fmt: skip
    box.append(trainer)
    return trainer, trainer.run(), losses


def test_time_budget_stops_with_its_reason():
    _, history, _ = budget_run(3.0)
    assert history.stop_reason == "time_budget"


def test_time_budget_ends_the_epoch_after_the_batch_that_spent_it():
    trainer, _, _ = budget_run(3.0)
    assert trainer.state.steps == 3


def test_time_budget_records_the_shortened_epoch():
    _, history, _ = budget_run(3.0)
    assert history.epochs == 1


def test_the_shortened_epoch_loss_is_the_mean_of_its_batches():
    _, history, losses = budget_run(3.0)
    assert history.loss[0] == pytest.approx(np.mean(losses), rel=1e-12)


def test_time_budget_spent_in_the_second_epoch_records_two_epochs():
    _, history, _ = budget_run(13.0)
    assert history.epochs == 2


def test_time_budget_spent_in_the_second_epoch_ends_it_early():
    trainer, _, _ = budget_run(13.0)
    assert trainer.state.steps == 13


def test_time_budget_not_spent_lets_max_epochs_stop():
    _, history, _ = budget_run(1000.0, epochs=2)
    assert history.stop_reason == "max_epochs"


# -- BestWeights on hand-made sequences ----------------------------------------------------------


def track(values, **options):
    """``(update results, waits, best values)`` after each of ``values``."""
    best = BestWeights(**options)
    params = [np.zeros(2)]
    results, waits, bests = [], [], []
    for v in values:
        results.append(best.update(v, params))
        waits.append(best.wait)
        bests.append(best.best_value)
    return results, waits, bests


def test_best_weights_strict_by_default_an_equal_value_is_no_improvement():
    assert track([3.0, 2.0, 2.0, 1.0])[0] == [True, True, False, True]


def test_best_weights_strict_counts_the_wait_since_the_last_improvement():
    assert track([3.0, 2.0, 2.0, 2.5, 1.0])[1] == [0, 0, 1, 2, 0]


def test_best_weights_strict_needs_more_than_min_delta():
    assert track([3.0, 2.5, 2.4], min_delta=0.5)[0] == [True, False, True]


def test_best_weights_non_strict_accepts_exactly_min_delta():
    assert track([3.0, 2.5, 2.4], min_delta=0.5, strict=False)[0] == [True, True, False]


def test_best_weights_non_strict_accepts_an_equal_value_without_min_delta():
    assert track([3.0, 3.0], strict=False)[1] == [0, 0]


def test_best_weights_keeps_its_best_on_small_improvements():
    assert track([10.0, 9.5, 8.6], min_delta=1.0)[2] == [10.0, 10.0, 8.6]


def test_best_weights_following_every_minimum_moves_the_best_on_small_improvements():
    assert track([10.0, 9.5, 8.6], min_delta=1.0, follow_every_minimum=True)[2] == [10.0, 9.5, 8.6]


def test_best_weights_following_every_minimum_reports_small_improvements_as_best():
    assert track([10.0, 9.5, 8.6], min_delta=1.0, follow_every_minimum=True)[0] == [True, True, True]


def test_best_weights_following_every_minimum_still_counts_the_wait():
    # As scikit-learn: 9.5 > 10 − 1 and 8.6 > 9.5 − 1, so two epochs without a significant improvement.
    assert track([10.0, 9.5, 8.6], min_delta=1.0, follow_every_minimum=True)[1] == [0, 1, 2]


def test_best_weights_without_following_counts_against_the_kept_best():
    assert track([10.0, 9.5, 8.6], min_delta=1.0)[1] == [0, 1, 0]


def test_best_weights_mode_max_takes_higher_as_better():
    assert track([0.5, 0.7, 0.6, 0.7], mode="max")[0] == [True, True, False, False]


def test_best_weights_mode_max_keeps_the_value_unsigned():
    assert track([0.5, 0.7, 0.6], mode="max")[2] == [0.5, 0.7, 0.7]


def test_best_weights_mode_max_with_min_delta():
    assert track([0.5, 0.55, 0.61], mode="max", min_delta=0.1)[1] == [0, 1, 0]


def test_best_weights_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        BestWeights(mode="lowest")


def test_best_weights_puts_back_the_weights_of_the_best_value():
    best = BestWeights(restore=True)
    params = [np.array([1.0, 2.0])]
    for value, weights in [(3.0, [1.0, 2.0]), (1.0, [5.0, 6.0]), (2.0, [7.0, 8.0])]:
        params[0][:] = weights
        best.update(value, params)
    best.put_back(params)
    assert params[0].tolist() == [5.0, 6.0]


def test_best_weights_keeps_a_copy_not_a_view():
    best = BestWeights(restore=True)
    params = [np.array([1.0, 2.0])]
    best.update(1.0, params)
    params[0][:] = 9.0
    best.put_back(params)
    assert params[0].tolist() == [1.0, 2.0]


def test_best_weights_without_restore_puts_nothing_back():
    best = BestWeights()
    params = [np.array([1.0, 2.0])]
    best.update(1.0, params)
    params[0][:] = 9.0
    assert not best.put_back(params)


def test_best_weights_without_restore_leaves_the_weights_alone():
    best = BestWeights()
    params = [np.array([1.0, 2.0])]
    best.update(1.0, params)
    params[0][:] = 9.0
    best.put_back(params)
    assert params[0].tolist() == [9.0, 9.0]


def test_best_weights_with_restore_but_no_epoch_puts_nothing_back():
    assert not BestWeights(restore=True).put_back([np.zeros(2)])


# -- scikit-learn's rule expressed with BestWeights ----------------------------------------------


def sklearn_no_improvement(losses, tol, n_iter_no_change):
    """scikit-learn's MLP rule (``_update_no_improvement_count`` without validation), transcribed."""
    best, count = np.inf, 0
    for epoch, loss in enumerate(losses, start=1):
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        if count > n_iter_no_change:
            return epoch
    return None


@pytest.mark.parametrize(
    "losses",
    [[10.0, 9.5, 8.6, 8.0, 7.9, 7.0], [10.0, 9.0, 8.0, 7.5, 7.0, 5.0, 4.9, 4.8], [5.0, 5.0, 5.0, 5.0, 5.0]],
)
def test_sklearn_stopping_stops_where_scikit_learn_does(losses):
    from bprop.estimators.solvers import SklearnStopping

    rule = SklearnStopping(tol=1.0, n_iter_no_change=2, adaptive=False, keep_best=False)
    state = state_with_losses([])
    stopped_at = None
    for epoch, loss in enumerate(losses, start=1):
        state.epoch, state.logs = epoch, {"loss": loss}
        rule.on_epoch_end(state)
        if state.stop_requested:
            stopped_at = epoch
            break
    assert stopped_at == sklearn_no_improvement(losses, tol=1.0, n_iter_no_change=2)


def test_an_equal_score_with_a_lower_loss_becomes_the_best_without_resetting_the_wait():
    best = BestWeights(restore=True, mode="max")
    params = [np.zeros(2)]
    assert best.update(0.8, params, tie=0.50)
    params[0][:] = 1.0
    assert best.update(0.8, params, tie=0.40)  # same accuracy, lower loss: the new best epoch
    assert best.wait == 1  # but not an improvement of the score
    params[0][:] = 2.0
    assert not best.update(0.8, params, tie=0.45)
    assert np.array_equal(best.weights[0], np.ones(2))
