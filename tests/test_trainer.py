"""The Trainer: stepping, snapshots, one-batch updates, the gradient hook and its argument checks."""

import copy
import numbers

import numpy as np
import pytest

import bprop

# -- helpers ---------------------------------------------------------------------------------------


def regression(n=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    Y = np.tanh(X @ np.array([[0.5], [-1.0], [0.25]])) + 0.05 * rng.normal(size=(n, 1))
    return X, Y


def make_net(seed=0, dtype=np.float64, dropout=0.0):
    return bprop.mlp(
        [3, 8, 1], activation="tanh", output_activation="identity", seed=seed, dtype=dtype, dropout=dropout
    )


def weight_bytes(net) -> bytes:
    return b"".join(p.tobytes() for p in net.parameters())


def history_facts(history) -> dict:
    """Everything a History records except wall-clock time."""
    facts = history.to_dict()
    facts.pop("time")
    return facts


# Reference configurations: (network options, training options); optimisers are made fresh per run.
CONFIGS = {
    "sgd_fused": (
        {"dtype": np.float32},
        lambda: {"optimizer": bprop.SGD(0.05), "epochs": 6, "batch_size": 8, "seed": 3},
    ),
    "adam_dropout": (
        {"dropout": 0.2},
        lambda: {"optimizer": bprop.Adam(0.01), "epochs": 6, "batch_size": 8, "seed": 3},
    ),
    "early_stopping_restore_best": (
        {},
        lambda: {
            "optimizer": bprop.SGD(0.3, momentum=0.9),
            "epochs": 200,
            "batch_size": 8,
            "seed": 3,
            "validation_split": 0.3,
            "patience": 3,
            "restore_best_weights": True,
        },
    ),
}


def trainer_for(name, net_seed=0):
    net_options, options = CONFIGS[name]
    X, Y = regression()
    net = make_net(seed=net_seed, **net_options)
    return net, bprop.Trainer(net, X, Y, verbose=0, **options())


def uninterrupted(name):
    net, trainer = trainer_for(name)
    return net, trainer.run()


# -- stepping part of an epoch gives the bits of an uninterrupted run ------------------------------


def test_early_stopping_configuration_really_stops_early_and_restores():
    # The restore-best case below only means something if patience fires and the best epoch is put back.
    _, history = uninterrupted("early_stopping_restore_best")
    assert history.stop_reason == "no_improvement"
    assert history.restored_best
    assert history.best_epoch < history.epochs
    assert history.epochs > 4  # so the stepping below reaches well into the run


def test_adam_dropout_configuration_really_uses_dropout():
    net, _ = trainer_for("adam_dropout")
    assert any(isinstance(layer, bprop.Dropout) for layer in net.layers)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_run_equals_fit(name):
    net_a, history_a = uninterrupted(name)
    net_options, options = CONFIGS[name]
    X, Y = regression()
    net_b = make_net(**net_options)
    history_b = bprop.fit(net_b, X, Y, verbose=0, **options())
    assert weight_bytes(net_a) == weight_bytes(net_b)
    assert history_facts(history_a) == history_facts(history_b)


def stepped(name):
    """Train by steps across epoch ends, run_epoch in the middle of epochs, then run to the end."""
    net, trainer = trainer_for(name)
    trainer.step(3)  # inside epoch 1 (7 or 5 batches an epoch)
    trainer.step(6)  # across the end of epoch 1
    trainer.run_epoch()  # finishes epoch 2
    trainer.step()
    trainer.step(2)
    trainer.run_epoch()  # finishes epoch 3 from its middle
    trainer.run_epoch()  # epoch 4, whole
    trainer.step(4)
    return net, trainer, trainer.run()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_stepping_then_running_gives_the_bits_of_an_uninterrupted_run(name):
    net_a, history_a = uninterrupted(name)
    net_b, _, history_b = stepped(name)
    assert weight_bytes(net_b) == weight_bytes(net_a)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_stepping_then_running_gives_the_history_of_an_uninterrupted_run(name):
    _, history_a = uninterrupted(name)
    _, _, history_b = stepped(name)
    assert history_facts(history_b) == history_facts(history_a)


def test_step_crosses_the_end_of_an_epoch():
    _, trainer = trainer_for("sgd_fused")  # 50 rows in batches of 8: 7 batches an epoch
    trainer.step(9)
    assert (trainer.state.epoch, trainer.state.batch, trainer.state.epoch_open) == (2, 2, True)
    assert trainer.state.history.epochs == 1


def test_run_epoch_in_the_middle_finishes_that_epoch():
    _, trainer = trainer_for("sgd_fused")
    trainer.step(3)
    history = trainer.run_epoch()
    assert history.epochs == 1
    assert trainer.state.steps == 7
    assert not trainer.state.epoch_open


def test_step_returns_the_loss_of_its_last_batch():
    losses = []

    class BatchLosses(bprop.Callback):
        def on_batch_end(self, state):
            losses.append(state.logs["batch_loss"])

    X, Y = regression()
    trainer = bprop.Trainer(make_net(), X, Y, epochs=3, batch_size=8, seed=0, callbacks=[BatchLosses()], verbose=0)
    assert trainer.step(4) == losses[-1]


# -- snapshots ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONFIGS))
def test_resuming_a_mid_epoch_snapshot_continues_bit_identically(name):
    net_a, history_a = uninterrupted(name)
    _, first = trainer_for(name)
    first.step(11)
    assert first.state.epoch_open  # the snapshot is taken inside an epoch
    snapshot = first.state.snapshot()
    first.run()  # training on after the snapshot must not change it
    # A network initialised differently: everything must come from the snapshot.
    net_options, options = CONFIGS[name]
    X, Y = regression()
    net_b = make_net(seed=99, **net_options)
    history_b = bprop.Trainer(net_b, X, Y, verbose=0, resume=snapshot, **options()).run()
    assert weight_bytes(net_b) == weight_bytes(net_a)
    assert history_facts(history_b) == history_facts(history_a)


def test_fit_resumes_a_mid_epoch_snapshot_bit_identically():
    net_a, history_a = uninterrupted("adam_dropout")
    _, first = trainer_for("adam_dropout")
    first.step(17)
    net_options, options = CONFIGS["adam_dropout"]
    X, Y = regression()
    net_b = make_net(seed=5, **net_options)
    bprop.fit(net_b, X, Y, verbose=0, resume=first.state.snapshot(), **options())
    assert weight_bytes(net_b) == weight_bytes(net_a)


def is_plain(value) -> bool:
    """Only dicts, lists, numbers, strings, None and NumPy arrays, all the way down."""
    if value is None or isinstance(value, (str, numbers.Number, np.ndarray)):
        return not isinstance(value, np.ndarray) or value.dtype != object
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_plain(v) for v in value)
    return False


def test_is_plain_refuses_other_objects():
    assert not is_plain({"rng": np.random.default_rng(0)})


def test_is_plain_refuses_tuples():
    assert not is_plain({"shape": (1, 2)})


@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_mid_epoch_snapshot_is_plain_data(name):
    _, trainer = trainer_for(name)
    trainer.step(12)
    assert is_plain(trainer.state.snapshot())


def test_a_snapshot_with_best_weights_and_optimizer_state_is_plain_data():
    X, Y = regression()
    trainer = bprop.Trainer(
        make_net(dropout=0.1), X, Y, optimizer="adam", epochs=9, batch_size=8, validation_split=0.2,
        restore_best_weights=True, schedule="plateau", seed=0, verbose=0,
    )  # fmt: skip
    trainer.step(13)
    snapshot = trainer.state.snapshot()
    assert snapshot["best"] is not None  # the case covers the kept best weights
    assert is_plain(snapshot)


def test_a_deep_copied_snapshot_resumes_bit_identically():
    net_a, _ = uninterrupted("adam_dropout")
    _, first = trainer_for("adam_dropout")
    first.step(10)
    snapshot = copy.deepcopy(first.state.snapshot())
    net_options, options = CONFIGS["adam_dropout"]
    X, Y = regression()
    net_b = make_net(seed=7, **net_options)
    bprop.Trainer(net_b, X, Y, verbose=0, resume=snapshot, **options()).run()
    assert weight_bytes(net_b) == weight_bytes(net_a)


def test_a_snapshot_at_an_epoch_end_resumes_bit_identically():
    net_a, history_a = uninterrupted("early_stopping_restore_best")
    _, first = trainer_for("early_stopping_restore_best")
    first.run_epoch()
    first.run_epoch()
    snapshot = first.state.snapshot()
    net_options, options = CONFIGS["early_stopping_restore_best"]
    X, Y = regression()
    net_b = make_net(seed=8, **net_options)
    history_b = bprop.Trainer(net_b, X, Y, verbose=0, resume=snapshot, **options()).run()
    assert weight_bytes(net_b) == weight_bytes(net_a)
    assert history_facts(history_b) == history_facts(history_a)


class RaiseRate(bprop.Callback):
    """Makes training diverge: a huge learning rate from batch 3 of epoch 3 on."""

    def on_batch_end(self, state):
        if state.epoch == 3 and state.batch == 3:
            state.optimizer.learning_rate = 1e300


def diverging_trainer(net):
    X, Y = regression()
    return bprop.Trainer(
        net, X, Y, optimizer=bprop.SGD(0.05, momentum=0.5), epochs=6, batch_size=8, seed=0, verbose=0,
        callbacks=[RaiseRate()],
    )  # fmt: skip


def test_divergence_keeps_the_weights_of_the_last_finished_epoch():
    net = make_net()
    trainer = diverging_trainer(net)
    trainer.run_epoch()
    trainer.run_epoch()
    epoch_2 = weight_bytes(net)
    with pytest.warns(bprop.DivergenceWarning):
        history = trainer.run()
    assert history.stop_reason == "diverged"
    assert weight_bytes(net) == epoch_2


def test_divergence_after_a_mid_epoch_resume_keeps_the_weights_of_the_last_finished_epoch():
    net_a = make_net()
    with pytest.warns(bprop.DivergenceWarning):
        diverging_trainer(net_a).run()
    first = diverging_trainer(make_net())
    first.step(7 + 7 + 2)  # two whole epochs and two batches of epoch 3, before the rate explodes
    net_b = make_net(seed=9)
    X, Y = regression()
    resumed = bprop.Trainer(
        net_b, X, Y, optimizer=bprop.SGD(0.05, momentum=0.5), epochs=6, batch_size=8, seed=0, verbose=0,
        callbacks=[RaiseRate()], resume=first.state.snapshot(),
    )  # fmt: skip
    with pytest.warns(bprop.DivergenceWarning):
        resumed.run()
    assert weight_bytes(net_b) == weight_bytes(net_a)


# -- step_on: one update on a batch the caller gives ------------------------------------------------

ARTICLE_WEIGHTS = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"]


def article_trainer(ref):
    """The seed article's 2-2-2 network (biases held fixed) and its one example, float64."""
    w = ref["initial"]
    net = bprop.mlp([2, 2, 2], activation="sigmoid", dtype=np.float64)
    hidden, output = net.layers
    hidden.W = [[w["w1"], w["w3"]], [w["w2"], w["w4"]]]  # (fan_in, fan_out): column j feeds unit j
    output.W = [[w["w5"], w["w7"]], [w["w6"], w["w8"]]]
    hidden.b, output.b = w["b1"], w["b2"]
    hidden.freeze("b")
    output.freeze("b")
    X = np.array([[ref["inputs"]["i1"], ref["inputs"]["i2"]]])
    Y = np.array([[ref["targets"]["o1"], ref["targets"]["o2"]]])
    trainer = bprop.Trainer(
        net, X, Y, loss="half_sse", optimizer=bprop.SGD(ref["learning_rate"]), batch_size=1, epochs=5, seed=0,
        verbose=0,
    )  # fmt: skip
    return net, X, Y, trainer


def article_weights(net) -> dict:
    hidden, output = net.layers
    return dict(zip(ARTICLE_WEIGHTS, [*hidden.W.T.ravel(), *output.W.T.ravel()]))


@pytest.mark.parametrize("name", ARTICLE_WEIGHTS)
def test_step_on_one_example_applies_minus_rate_times_the_gradient(worked_example, name):
    ref = worked_example
    net, X, Y, trainer = article_trainer(ref)
    trainer.step_on(X, Y)
    expected = ref["initial"][name] - ref["learning_rate"] * ref["gradients"][name]
    assert article_weights(net)[name] == pytest.approx(expected, rel=1e-15, abs=0)


def test_step_on_one_example_leaves_the_fixed_biases_alone(worked_example):
    ref = worked_example
    net, X, Y, trainer = article_trainer(ref)
    trainer.step_on(X, Y)
    biases = [*net.layers[0].b, *net.layers[1].b]
    assert biases == [ref["initial"]["b1"]] * 2 + [ref["initial"]["b2"]] * 2


def test_step_on_returns_the_error_before_the_update(worked_example):
    net, X, Y, trainer = article_trainer(worked_example)
    assert trainer.step_on(X, Y) == pytest.approx(worked_example["error"]["E_total"], rel=1e-14)


def test_step_on_one_example_reaches_the_articles_error_after_one_step(worked_example):
    net, X, Y, trainer = article_trainer(worked_example)
    trainer.step_on(X, Y)
    assert net.loss(X, Y, "half_sse") == pytest.approx(worked_example["error_after_one_step"], rel=1e-13)


def test_step_on_equals_minus_rate_times_the_gradient_on_a_hidden_layer_network():
    X, Y = regression(n=10)
    net = make_net()
    reference = net.copy()
    trainer = bprop.Trainer(net, X, Y, optimizer=bprop.SGD(0.1), epochs=3, batch_size=4, seed=0, verbose=0)
    trainer.step_on(X[3:4], Y[3:4])
    _, grads = reference.loss_and_gradients(X[3:4], Y[3:4], loss="half_sse")
    expected = [p - 0.1 * g for p, g in zip(reference.parameters(), grads)]
    assert all(np.allclose(p, e, rtol=1e-13, atol=1e-15) for p, e in zip(net.parameters(), expected))


def position(trainer) -> tuple:
    state = trainer.state
    return (state.epoch, state.batch, state.cursor, state.epoch_open, list(state.sums), history_facts(state.history))


def test_step_on_before_training_leaves_the_position_alone(worked_example):
    net, X, Y, trainer = article_trainer(worked_example)
    before = position(trainer)
    trainer.step_on(X, Y)
    assert position(trainer) == before


def test_step_on_inside_an_epoch_leaves_the_position_alone():
    _, trainer = trainer_for("sgd_fused")
    trainer.step(9)
    before = position(trainer)
    X, Y = regression()
    trainer.step_on(X[:1], Y[:1])
    assert position(trainer) == before


def test_step_on_counts_as_a_step():
    _, trainer = trainer_for("sgd_fused")
    trainer.step(2)
    X, Y = regression()
    trainer.step_on(X[:1], Y[:1])
    assert trainer.state.steps == 3


def test_the_epoch_continues_after_step_on_where_it_was():
    _, trainer = trainer_for("sgd_fused")
    trainer.step(2)
    X, Y = regression()
    trainer.step_on(X[:1], Y[:1])
    trainer.run_epoch()
    assert trainer.state.steps == 1 + 7  # the epoch's seven batches and the one given


def test_step_on_checks_its_batch():
    _, trainer = trainer_for("sgd_fused")
    X, Y = regression()
    with pytest.raises(ValueError):
        trainer.step_on(X[:2, :2], Y[:2])


# -- step's argument -------------------------------------------------------------------------------


@pytest.mark.parametrize("batches", [0, -1, 2.5, 2.0, "3", True, None])
def test_step_refuses_a_batch_count_that_is_not_a_positive_integer(batches):
    _, trainer = trainer_for("sgd_fused")
    with pytest.raises(ValueError, match="batches"):
        trainer.step(batches)


def test_a_refused_step_changes_nothing():
    net, trainer = trainer_for("sgd_fused")
    before = weight_bytes(net)
    with pytest.raises(ValueError):
        trainer.step(0)
    assert weight_bytes(net) == before


def test_step_accepts_a_numpy_integer():
    _, trainer = trainer_for("sgd_fused")
    trainer.step(np.int64(2))
    assert trainer.state.steps == 2


# -- after a stopping rule fired ---------------------------------------------------------------------


class StopAfter(bprop.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            state.stop("enough")


@pytest.fixture
def stopped():
    X, Y = regression()
    net = make_net()
    trainer = bprop.Trainer(
        net, X, Y, optimizer=bprop.SGD(0.05), epochs=10, batch_size=8, seed=0, callbacks=[StopAfter(2)], verbose=0
    )
    history = trainer.run()
    assert history.stop_reason == "enough"
    return net, trainer, weight_bytes(net), trainer.state.steps, history_facts(history)


@pytest.mark.parametrize("drive", ["step", "step_many", "run_epoch", "run"])
def test_driving_after_a_stop_leaves_the_weights_alone(stopped, drive):
    net, trainer, weights, _, _ = stopped
    {"step": lambda: trainer.step(), "step_many": lambda: trainer.step(20), "run_epoch": trainer.run_epoch,
     "run": trainer.run}[drive]()  # fmt: skip
    assert weight_bytes(net) == weights


@pytest.mark.parametrize("drive", ["step", "run_epoch", "run"])
def test_driving_after_a_stop_counts_no_steps(stopped, drive):
    _, trainer, _, steps, _ = stopped
    getattr(trainer, drive)()
    assert trainer.state.steps == steps


@pytest.mark.parametrize("drive", ["step", "run_epoch", "run"])
def test_driving_after_a_stop_leaves_the_history_alone(stopped, drive):
    _, trainer, _, _, history = stopped
    getattr(trainer, drive)()
    assert history_facts(trainer.state.history) == history


def test_steps_after_max_epochs_do_nothing():
    _, trainer = trainer_for("sgd_fused")
    trainer.run()
    steps = trainer.state.steps
    trainer.step(5)
    assert trainer.state.steps == steps


def test_steps_stop_at_the_end_of_the_run():
    _, trainer = trainer_for("sgd_fused")  # 6 epochs of 7 batches
    trainer.step(100)
    assert trainer.state.steps == 42
    assert trainer.state.history.stop_reason == "max_epochs"


# -- the gradient hook ----------------------------------------------------------------------------------


class RecordingHook:
    def __init__(self, scale=None):
        self.calls, self.scale = [], scale

    def __call__(self, grads):
        self.calls.append([None if g is None else g.copy() for g in grads])
        if self.scale is not None:
            for g in grads:
                if g is not None:
                    g *= self.scale


def hooked_trainer(hook, optimizer=None, net=None, **options):
    X, Y = regression()
    net = make_net() if net is None else net
    optimizer = bprop.SGD(0.1) if optimizer is None else optimizer
    options = {"epochs": 3, "batch_size": 8, "seed": 1, **options}
    return net, bprop.Trainer(net, X, Y, optimizer=optimizer, gradient_hook=hook, verbose=0, **options)


def test_the_gradient_hook_is_called_once_per_step():
    hook = RecordingHook()
    _, trainer = hooked_trainer(hook)
    trainer.step(5)
    X, Y = regression()
    trainer.step_on(X[:1], Y[:1])
    trainer.run_epoch()
    assert len(hook.calls) == trainer.state.steps


def test_the_gradient_hook_gets_one_gradient_per_parameter():
    hook = RecordingHook()
    net, trainer = hooked_trainer(hook)
    trainer.step()
    assert [g.shape for g in hook.calls[0]] == [p.shape for p in net.parameters()]


def test_the_gradient_hook_gets_the_batch_gradients():
    hook = RecordingHook()
    X, Y = regression()
    net = make_net()
    reference = net.copy()
    _, trainer = hooked_trainer(hook, net=net, batch_size=len(X), shuffle=False)
    trainer.step()
    _, grads = reference.loss_and_gradients(X, Y, loss="half_sse")
    assert all(np.array_equal(g, h) for g, h in zip(grads, hook.calls[0], strict=True))


def counting(optimizer):
    """Count calls to the optimiser's ``step`` (patched on the instance: its class stays SGD, so it may fuse)."""
    calls = []
    original = optimizer.step

    def step(params, grads):
        calls.append(1)
        original(params, grads)

    optimizer.step = step
    return calls


def test_without_a_hook_plain_sgd_takes_the_fused_path():
    optimizer = bprop.SGD(0.1)
    calls = counting(optimizer)
    _, trainer = hooked_trainer(None, optimizer=optimizer)
    trainer.run()
    assert calls == []


def test_a_gradient_hook_disables_the_fused_path():
    optimizer = bprop.SGD(0.1)
    calls = counting(optimizer)
    _, trainer = hooked_trainer(RecordingHook(), optimizer=optimizer)
    trainer.run()
    assert len(calls) == trainer.state.steps


def test_halving_the_gradients_in_the_hook_equals_halving_the_learning_rate():
    net_a, trainer_a = hooked_trainer(RecordingHook(scale=0.5), optimizer=bprop.SGD(0.1))
    trainer_a.run()
    net_b, trainer_b = hooked_trainer(RecordingHook(), optimizer=bprop.SGD(0.05))
    trainer_b.run()
    assert weight_bytes(net_a) == weight_bytes(net_b)


def test_halving_the_gradients_in_the_hook_matches_fused_sgd_at_half_the_rate():
    net_a, trainer_a = hooked_trainer(RecordingHook(scale=0.5), optimizer=bprop.SGD(0.1))
    trainer_a.run()
    net_b, trainer_b = hooked_trainer(None, optimizer=bprop.SGD(0.05))
    trainer_b.run()
    assert all(np.allclose(a, b, rtol=1e-12, atol=1e-14) for a, b in zip(net_a.parameters(), net_b.parameters()))


def test_the_identity_hook_trains_like_no_hook_with_adam():
    net_a, trainer_a = hooked_trainer(RecordingHook(), optimizer=bprop.Adam(0.01))
    trainer_a.run()
    net_b, trainer_b = hooked_trainer(None, optimizer=bprop.Adam(0.01))
    trainer_b.run()
    assert weight_bytes(net_a) == weight_bytes(net_b)


# -- construction -----------------------------------------------------------------------------------------


class RowsSource:
    def __init__(self, X, Y):
        self.X, self.Y = X, Y

    @property
    def n_rows(self):
        return self.X.shape[0]

    def order(self, rng):
        rows = np.arange(self.n_rows)
        return rows if rng is None else rows[rng.permutation(rows.size)]

    def take(self, rows):
        return self.X[rows], self.Y[rows], None


@pytest.mark.parametrize("given", ["X", "Y", "X_and_Y", "sample_weight", "validation_split"])
def test_the_trainer_refuses_arrays_together_with_a_source(given):
    X, Y = regression()
    arguments = {
        "X": ((X, None), {}),
        "Y": ((None, Y), {}),
        "X_and_Y": ((X, Y), {}),
        "sample_weight": ((), {"sample_weight": np.ones(len(X))}),
        "validation_split": ((), {"validation_split": 0.2}),
    }
    args, kwargs = arguments[given]
    with pytest.raises(ValueError, match="not both"):
        bprop.Trainer(make_net(), *args, source=RowsSource(X, Y), verbose=0, **kwargs)


def test_the_trainer_takes_a_source_alone():
    X, Y = regression()
    history = bprop.Trainer(make_net(), source=RowsSource(X, Y), epochs=2, verbose=0).run()
    assert history.epochs == 2


def test_the_trainer_refuses_something_that_is_not_a_network():
    X, Y = regression()
    with pytest.raises(ValueError, match="Sequential"):
        bprop.Trainer(object(), X, Y, verbose=0)


# -- what an adversarial review found ---------------------------------------------------------------


class SnapshotAt(bprop.Callback):
    """Takes a snapshot at one hook of one epoch (and batch)."""

    def __init__(self, hook, epoch, batch=None):
        self.hook, self.epoch, self.batch, self.taken = hook, epoch, batch, None

    def _maybe(self, state, hook):
        if hook == self.hook and state.epoch == self.epoch and self.batch in (None, state.batch):
            self.taken = self.taken or state.snapshot()

    def on_epoch_begin(self, state):
        self._maybe(state, "epoch_begin")

    def on_batch_end(self, state):
        self._maybe(state, "batch_end")


@pytest.mark.parametrize(("hook", "epoch", "batch"), [("epoch_begin", 1, None), ("epoch_begin", 2, None),
                                                       ("batch_end", 2, 7), ("batch_end", 2, 3)])  # fmt: skip
def test_a_snapshot_taken_by_a_callback_resumes_bit_identically(hook, epoch, batch):
    """50 rows in batches of 8: batch 7 is the epoch's last, after which nothing of it is left to take."""
    reference, expected = uninterrupted("adam_dropout")
    taker = SnapshotAt(hook, epoch, batch)
    net_options, options = CONFIGS["adam_dropout"]
    X, Y = regression()
    bprop.Trainer(make_net(**net_options), X, Y, verbose=0, callbacks=[taker], **options()).run()
    resumed_net = make_net(seed=5, **net_options)
    history = bprop.Trainer(resumed_net, X, Y, verbose=0, resume=taker.taken, **options()).run()
    assert weight_bytes(resumed_net) == weight_bytes(reference)
    assert history_facts(history) == history_facts(expected)


def test_resuming_leaves_the_snapshot_as_it_was():
    _, trainer = trainer_for("adam_dropout")
    trainer.run_epoch()
    snapshot = trainer.state.snapshot()
    before = copy.deepcopy(snapshot)
    net_options, options = CONFIGS["adam_dropout"]
    X, Y = regression()
    bprop.Trainer(make_net(**net_options), X, Y, verbose=0, resume=snapshot, **options()).run()
    assert snapshot["history"] == before["history"]


def test_diagnostics_survive_a_mid_epoch_resume():
    _, trainer = trainer_for("sgd_fused")
    trainer.step(2)
    snapshot = trainer.state.snapshot()
    net_options, options = CONFIGS["sgd_fused"]
    X, Y = regression()
    net = make_net(**net_options)
    history = bprop.Trainer(net, X, Y, verbose=0, diagnostics=True, resume=snapshot, **options()).run()
    assert len(history.diagnostics) == 6


def test_flattening_the_network_after_building_the_trainer_changes_nothing():
    X, Y = regression()
    results = []
    for flatten_first in (True, False):
        net = make_net()
        if flatten_first:
            net.flatten()
        trainer = bprop.Trainer(net, X, Y, epochs=3, seed=0, verbose=0, gradient_hook=lambda grads: None)
        if not flatten_first:
            net.flatten()
        trainer.run()
        results.append(weight_bytes(net))
    assert results[0] == results[1]


def test_a_diverging_step_on_ends_training_and_keeps_finite_weights():
    X, Y = regression()
    net = bprop.mlp([3, 8, 1], activation="identity", seed=0, dtype=np.float64)
    trainer = bprop.Trainer(net, X, Y, optimizer=bprop.SGD(50.0), verbose=0)
    with pytest.warns(bprop.DivergenceWarning):
        for _ in range(200):
            trainer.step_on(X[:4], Y[:4])
            if trainer.state.finished:
                break
    assert trainer.state.history.stop_reason == "diverged"
    assert all(np.isfinite(p).all() for p in net.parameters())


def test_a_failing_gradient_hook_leaves_the_position_where_it_was():
    X, Y = regression()
    calls = []

    def flaky(grads):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("network down")

    trainer = bprop.Trainer(make_net(), X, Y, epochs=2, seed=0, verbose=0, gradient_hook=flaky)
    trainer.step()
    with pytest.raises(RuntimeError):
        trainer.step()
    assert trainer.state.cursor == 32  # one batch of 32 rows done, the failed one not counted
    assert trainer.state.batch == 1


@pytest.mark.parametrize(
    ("other_net", "other_options", "fragment"),
    [
        (lambda: bprop.mlp([3, 4, 4, 1], activation="tanh", dtype=np.float64), {}, "another network"),
        (lambda: make_net(), {"optimizer": "sgd"}, "another optimiser"),
        (lambda: make_net(), {"schedule": "plateau"}, "another schedule"),
        (lambda: make_net(), {"validation_split": 0.2}, "a run monitoring loss"),
    ],
)
def test_a_snapshot_of_another_run_is_refused_before_anything_changes(other_net, other_options, fragment):
    X, Y = regression()
    trainer = bprop.Trainer(make_net(), X, Y, optimizer="adam", epochs=2, seed=0, verbose=0)
    trainer.step(3)
    snapshot = trainer.state.snapshot()
    net = other_net()
    before = weight_bytes(net)
    options = {"optimizer": "adam", "epochs": 2, "seed": 0, "verbose": 0} | other_options
    with pytest.raises(ValueError, match=fragment):
        bprop.Trainer(net, X, Y, resume=snapshot, **options)
    assert weight_bytes(net) == before


def test_a_source_whose_batches_do_not_match_is_refused():
    X, Y = regression()

    class ShortTargets:
        n_rows = 50

        def order(self, rng):
            return np.arange(50)

        def take(self, rows):
            return X[rows], Y[rows][:1], None

    with pytest.raises(ValueError, match="the batch source's Y"):
        bprop.Trainer(make_net(), source=ShortTargets(), epochs=1, verbose=0).run()


def test_step_after_the_end_returns_none():
    _, trainer = trainer_for("sgd_fused")
    trainer.run()
    assert trainer.step() is None
