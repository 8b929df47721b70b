"""Diagnostics and findings: each finding provoked on purpose fires, and healthy runs give none."""

import json
import warnings

import numpy as np
import pytest

import bprop
from bprop.insight.findings import findings
from bprop.tables.datasets import load_digits
from bprop.training.diagnostics import Diagnostics


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return X / 16.0, np.eye(10)[y], y


def normal_init(std):
    return lambda shape, rng, dtype: (rng.standard_normal(shape) * std).astype(dtype)


def train(X, Y, sizes, activation, learning_rate, *, output="softmax", loss="cce", epochs=5, init=None, **kw):
    net = bprop.mlp(sizes, activation=activation, output_activation=output, seed=0, init=init)
    history = bprop.fit(
        net, X, Y, loss=loss, learning_rate=learning_rate, epochs=epochs, seed=0, diagnostics=True, verbose=0, **kw
    )
    return net, history


def kinds(history):
    return [f.kind for f in findings(history)]


# -- collection ---------------------------------------------------------------------------------------
def test_one_record_per_epoch_with_a_value_per_dense_layer(digits):
    X, Y, _ = digits
    _, history = train(X, Y, [64, 16, 12, 10], "relu", 0.1, epochs=3, batch_size=64)
    assert [d["epoch"] for d in history.diagnostics] == [1, 2, 3]
    last = history.diagnostics[-1]
    assert last["activation"] == ["relu", "relu", "softmax"]
    for key in ("grad_norm", "grad_rms", "update_ratio", "dead_fraction", "saturated_fraction"):
        assert len(last[key]) == 3
    assert last["dead_fraction"][2] is None
    assert last["saturated_fraction"] == [None, None, None]
    assert all(g > 0 for g in last["grad_norm"])
    assert last["sampled_batches"] == 8  # 1,797 rows / 64 = 29 steps, 8 of them sampled
    assert history.diagnostics[0]["sampled_batches"] == 5  # first epoch: steps 1, 2, 4, 8, 16
    json.dumps(history.to_dict(), allow_nan=False)  # stored with model files: must stay strict JSON


def test_gradient_norm_matches_the_gradient_of_the_sampled_step():
    """One full-batch step per epoch: the recorded norm is ‖dW‖ of that step, also when SGD fuses the update."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(32, 3)), rng.normal(size=(32, 2))
    for optimizer in (bprop.SGD(0.05), bprop.SGD(0.05, momentum=0.5)):
        net = bprop.mlp([3, 4, 2], activation="tanh", output_activation="identity", seed=1, dtype=np.float64)
        probe = net.copy()
        _, grads = probe.loss_and_gradients(X, Y, "half_sse")
        before = [layer.W.copy() for layer in probe.layers]
        history = bprop.fit(net, X, Y, optimizer=optimizer, epochs=1, batch_size=32, shuffle=False, diagnostics=True)
        first = history.diagnostics[0]
        np.testing.assert_allclose(first["grad_norm"], [np.linalg.norm(grads[0]), np.linalg.norm(grads[2])], rtol=1e-9)
        ratios = [np.linalg.norm(layer.W - w) / np.linalg.norm(w) for layer, w in zip(net.layers, before)]
        np.testing.assert_allclose(first["update_ratio"], ratios, rtol=1e-9)


class ForgetGradients(bprop.Callback):
    """Leaves dW without a gradient after the step, as Sequential.train_step's fused SGD update does."""

    def on_batch_end(self, state):
        for layer in state.net.layers:
            layer.dW.fill(np.nan)


def test_plain_sgd_gradient_is_read_off_the_step_when_dw_holds_none():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(32, 3)), rng.normal(size=(32, 2))
    net = bprop.mlp([3, 4, 2], activation="tanh", output_activation="identity", seed=1, dtype=np.float64)
    _, grads = net.copy().loss_and_gradients(X, Y, "half_sse")
    callbacks = [ForgetGradients(), Diagnostics()]
    history = bprop.fit(net, X, Y, learning_rate=0.05, epochs=1, batch_size=32, shuffle=False, callbacks=callbacks)
    np.testing.assert_allclose(
        history.diagnostics[0]["grad_norm"], [np.linalg.norm(grads[0]), np.linalg.norm(grads[2])]
    )


def test_momentum_gradient_is_read_off_the_velocities_when_dw_holds_none():
    # SGD with momentum forms v <- mu*v + g inside the products: g is v - mu*v_before. Steps 1, 2 and 4 of
    # the first epoch are sampled; the norms are compared with the gradients of an ordinary-path replay.
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(32, 3)), rng.normal(size=(32, 2))
    net = bprop.mlp([3, 4, 2], activation="tanh", output_activation="identity", seed=1, dtype=np.float64)
    replay, sgd = net.copy(), bprop.SGD(0.05, momentum=0.9)
    norms = []
    for step in range(4):
        rows = slice(8 * step, 8 * step + 8)
        _, grads = replay.loss_and_gradients(X[rows], Y[rows], "half_sse")
        norms.append([np.linalg.norm(grads[0]), np.linalg.norm(grads[2])])
        sgd.step(replay.parameters(), grads)
    expected = np.mean([norms[0], norms[1], norms[3]], axis=0)
    callbacks = [ForgetGradients(), Diagnostics()]
    optimizer = bprop.SGD(0.05, momentum=0.9)
    history = bprop.fit(net, X, Y, optimizer=optimizer, epochs=1, batch_size=8, shuffle=False, callbacks=callbacks)
    assert history.diagnostics[0]["sampled_batches"] == 3
    np.testing.assert_allclose(history.diagnostics[0]["grad_norm"], expected, rtol=1e-9)


def test_dead_units_are_those_never_active_in_the_epoch():
    # Unit 1 is alive only for the last example, unit 2 never: sampling batches would miss unit 1.
    X = np.zeros((40, 1))
    X[-1] = 1.0
    net = bprop.Sequential([bprop.Dense(1, 2, "relu", init=np.array([[1.0, -1.0]]), dtype=np.float64)])
    net.layers[0].b = [-0.5, -0.5]
    history = bprop.fit(
        net, X, np.zeros((40, 2)), learning_rate=1e-9, epochs=1, batch_size=4, shuffle=False, diagnostics=True
    )
    assert history.diagnostics[0]["dead_fraction"] == [0.5]


def test_diagnostics_option_is_off_by_default_and_checks_its_argument(digits):
    X, Y, _ = digits
    net = bprop.mlp([64, 10], activation="softmax", seed=0)
    assert bprop.fit(net, X[:50], Y[:50], loss="cce", epochs=1, verbose=0).diagnostics == []
    with pytest.raises(ValueError, match="samples_per_epoch must be an int >= 1"):
        Diagnostics(samples_per_epoch=0)
    with pytest.raises(ValueError, match="findings needs a bprop.History"):
        findings([1.0, 2.0])


# -- findings provoked on purpose ------------------------------------------------------------------------
def test_huge_learning_rate_kills_relu_units(digits):
    X, Y, _ = digits
    _, history = train(X, Y, [64, 32, 10], "relu", 3.0)
    dead = [f for f in findings(history) if f.kind == "dead_relu"]
    assert len(dead) == 1
    assert dead[0].layer == 1
    assert "of ReLU units dead since epoch" in dead[0].message
    assert "leaky_relu" in dead[0].message


def test_deep_sigmoid_net_with_tiny_init_vanishes(digits):
    X, Y, _ = digits
    _, history = train(X, Y, [64, 32, 32, 32, 32, 10], "sigmoid", 0.1, epochs=3, init=normal_init(0.01))
    vanishing = [f for f in findings(history) if f.kind == "vanishing"]
    assert len(vanishing) == 1
    assert vanishing[0].layer == 1
    assert "(vanishing) — use ReLU or He initialisation" in vanishing[0].message


def test_learning_rate_too_high_makes_the_loss_rise_and_gradients_explode():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    Y = X @ rng.standard_normal((5, 1))
    _, history = train(X, Y, [5, 1], "identity", 2.2, output="identity", loss="half_sse", epochs=12, batch_size=200)
    found = {f.kind: f.message for f in findings(history)}
    assert found["rising_loss"].startswith("loss rose 11 epochs in a row")
    assert "learning rate too high" in found["rising_loss"]
    assert "or add a decaying schedule" in found["rising_loss"]
    assert "(exploding)" in found["exploding"]
    assert "large_steps" in found


def test_a_rising_loss_under_a_decaying_schedule_is_not_told_to_add_one():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    Y = X @ rng.standard_normal((5, 1))
    schedule = bprop.nn.schedules.ExponentialDecay(gamma=0.999)  # decays, too slowly to stop the rise
    _, history = train(X, Y, [5, 1], "identity", 2.2, output="identity", loss="half_sse", epochs=12, batch_size=200,
                       schedule=schedule)  # fmt: skip
    rising = {f.kind: f.message for f in findings(history)}["rising_loss"]
    assert rising.endswith("lower it (e.g. ÷10)")


def test_divergence_is_reported():
    X = np.linspace(-1, 1, 20)[:, None] * 100
    with pytest.warns(bprop.DivergenceWarning):
        _, history = train(X, X * 3, [1, 1], "identity", 10.0, output="identity", loss="half_sse", epochs=50)
    assert kinds(history)[0] == "diverged"


def test_sigmoid_saturates_on_unscaled_inputs_with_large_weights(digits):
    X, Y, _ = digits
    _, history = train(X * 16, Y, [64, 32, 10], "sigmoid", 0.1, epochs=3, init=normal_init(1.0))
    saturated = [f for f in findings(history) if f.kind == "saturated"]
    assert len(saturated) == 1
    assert saturated[0].layer == 1
    assert "standardise the inputs" in saturated[0].message


def test_tiny_learning_rate_stalls(digits):
    X, Y, _ = digits
    _, history = train(X, Y, [64, 32, 10], "relu", 1e-7, epochs=3)
    assert kinds(history) == ["stalled"]


def test_big_net_on_tiny_data_overfits(digits):
    X, Y, _ = digits
    _, history = train(
        X[:60], Y[:60], [64, 256, 10], "tanh", 0.01, optimizer="adam", epochs=100, batch_size=16,
        validation_data=(X[1000:1300], Y[1000:1300]),
    )  # fmt: skip
    (finding,) = findings(history)
    assert finding.kind == "overfitting"
    assert finding.message.startswith("by the last epoch (100), training accuracy 100 %, validation accuracy down from")
    assert "overfitting: add dropout or L2" in finding.message


def test_overfitting_finding_names_the_restored_epoch_whose_scores_are_shown(digits):
    X, Y, _ = digits
    net, history = train(
        X[:60], Y[:60], [64, 256, 10], "tanh", 0.01, optimizer="adam", epochs=100, batch_size=16,
        validation_data=(X[1000:1300], Y[1000:1300]), restore_best_weights=True,
    )  # fmt: skip
    (finding,) = findings(history)
    assert history.restored_best and history.best_epoch < 100
    assert f"the weights of epoch {history.best_epoch} were kept (the scores shown are theirs)" in finding.message
    assert "restore_best_weights=True" not in finding.message  # already done: no such advice
    # The scores of the kept weights are those of the best epoch, not the last one the finding dates.
    _, accuracy = bprop.evaluate(net, X[1000:1300], Y[1000:1300], "categorical_cross_entropy", "accuracy")
    assert accuracy == pytest.approx(history.val_metric[history.best_epoch - 1], abs=1e-6)


@pytest.mark.parametrize(
    ("activation", "optimizer", "learning_rate"),
    [("relu", "sgd", 0.1), ("sigmoid", "sgd", 0.5), ("tanh", "adam", 0.001)],
)
def test_healthy_runs_give_no_findings(digits, activation, optimizer, learning_rate):
    X, Y, _ = digits
    _, history = train(
        X, Y, [64, 32, 10], activation, learning_rate, optimizer=optimizer, epochs=15, validation_split=0.2
    )
    assert history.val_metric[-1] > 0.9  # a healthy run indeed
    assert findings(history) == []


def test_findings_read_a_saved_history_dict(digits):
    X, Y, _ = digits
    _, history = train(X, Y, [64, 32, 10], "relu", 3.0)
    restored = json.loads(json.dumps(history.to_dict()))
    assert findings(restored) == findings(history)
    # Without diagnostics only the loss-curve checks run, and nothing fails.
    assert findings({"loss": [1.0, 0.5]}) == []
    # Model files store NaN and infinities as null.
    assert findings({"loss": [1.0, None, 0.5, 0.4, 0.3, 0.2], "val_loss": [1.0, None, 2.0, 3.0, 4.0, 5.0]}) == []


def test_diagnostics_do_not_change_training(digits):
    X, Y, _ = digits
    nets = []
    for diagnostics in (False, True):
        net = bprop.mlp([64, 16, 10], activation="relu", output_activation="softmax", seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            bprop.fit(net, X, Y, loss="cce", epochs=2, seed=0, diagnostics=diagnostics, verbose=0)
        nets.append(net)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_array_equal(a, b)
