"""Clicks in the lab on a network with dropout: the numbers of the update's own pass, its masks included,
recomputed here from the weights and masks by the chain rule; before any update, an evaluation pass."""

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from bprop.playground.lab import LabSession, LabSettings  # noqa: E402
from test_playground_lab import ask, client, connect  # noqa: E402, F401


def dropout_lab(**changes) -> LabSession:
    """Circle, 4-3 tanh, dropout 0.3 after each hidden layer (Dense, Dropout, Dense, Dropout, Dense), SGD."""
    settings = {"data": "circle", "points": 60, "layers": [4, 3], "activations": ["tanh", "tanh"], "batch_size": 12,
                "dropout": 0.3, "learning_rate": 0.1, "seed": 3} | changes  # fmt: skip
    return LabSession(LabSettings(**settings))


def weights_now(session: LabSession) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(layer.W.copy(), layer.b.copy()) for layer in session.net.layers if "W" in layer.param_names]


def column(reply: dict, key: str) -> np.ndarray:
    return np.array([sample[key] for sample in reply["samples"]], dtype=float)


def test_a_clicked_neuron_under_dropout_shows_the_updates_mask_and_chain_rule():
    session = dropout_lab()
    assert [type(layer).__name__ for layer in session.net.layers] == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    (W1, b1), (W2, b2), (W3, b3) = weights_now(session)
    session.step("batch")
    h1 = [session.inspect_unit(1, j) for j in range(1, 5)]
    h2 = [session.inspect_unit(2, j) for j in range(1, 4)]
    outputs = [session.inspect_unit(3, j) for j in range(1, 3)]
    rows = [s["example"] - 1 for s in h1[0]["samples"]]
    X, Y = session.X[rows], session.Y[rows]
    assert len(rows) == 12 and rows == [s["example"] - 1 for s in outputs[1]["samples"]]
    for reply in h1 + h2:
        assert reply["pass"] == "training" and reply["dropout"] == {"rate": 0.3, "scale": 1 / 0.7, "applied": True}
    assert all(reply["dropout"] is None for reply in outputs)
    mask1 = np.column_stack([column(r, "mask") for r in h1])
    mask2 = np.column_stack([column(r, "mask") for r in h2])
    for mask in (mask1, mask2):  # a real mask: some units dropped, the others scaled by 1/(1 − 0.3)
        assert set(np.unique(mask)) == {0.0, 1 / 0.7}
    # The forward pass again, by hand, from the weights before the update and the replies' masks.
    out1 = np.tanh(X @ W1 + b1)
    out2 = np.tanh((out1 * mask1) @ W2 + b2)
    z3 = (out2 * mask2) @ W3 + b3
    for k, (replies, out, mask) in enumerate([(h1, out1, mask1), (h2, out2, mask2)]):
        got = np.column_stack([column(r, "out") for r in replies])
        passed = np.column_stack([column(r, "out_after_dropout") for r in replies])
        np.testing.assert_allclose(got, out, rtol=0, atol=1e-12, err_msg=f"layer {k + 1}")
        np.testing.assert_allclose(passed, out * mask, rtol=0, atol=1e-12, err_msg=f"layer {k + 1}")
        assert np.array_equal(passed, np.column_stack([column(r, "out") for r in replies]) * mask)
    np.testing.assert_allclose(np.column_stack([column(r, "net") for r in outputs]), z3, rtol=0, atol=1e-12)
    # The backward pass: δ of each layer from the next one's δ, through Wᵀ, the mask and tanh′.
    delta3 = np.column_stack([column(r, "delta") for r in outputs])
    softmax = np.exp(z3 - z3.max(axis=1, keepdims=True))
    np.testing.assert_allclose(delta3, softmax / softmax.sum(axis=1, keepdims=True) - Y, rtol=0, atol=1e-12)
    for replies, out, mask, W_next, delta_next in [(h2, out2, mask2, W3, delta3), (h1, out1, mask1, W2, None)]:
        if delta_next is None:
            delta_next = np.column_stack([column(r, "delta") for r in h2])
        upstream = delta_next @ W_next.T  # ∂Eₙ/∂(out · mask)
        np.testing.assert_allclose(np.column_stack([column(r, "dE_dout_after_dropout") for r in replies]), upstream,
                                   rtol=0, atol=1e-12)  # fmt: skip
        np.testing.assert_allclose(np.column_stack([column(r, "dE_dout") for r in replies]), mask * upstream,
                                   rtol=0, atol=1e-12)  # fmt: skip
        delta = np.column_stack([column(r, "delta") for r in replies])
        np.testing.assert_allclose(delta, mask * upstream * (1 - out**2), rtol=0, atol=1e-12)
        assert np.all(delta[mask == 0] == 0)  # a dropped unit passes no error back for that example
    assert "mask_h2_1" in h2[0]["rule"]


def test_a_clicked_weight_under_dropout_is_the_hooks_gradient_and_its_update():
    session = dropout_lab()
    seen: list = []
    keep = session.trainer.gradient_hook
    session.trainer.gradient_hook = lambda grads: (seen.append([None if g is None else g.copy() for g in grads]),
                                                   keep(grads))  # fmt: skip
    before = weights_now(session)
    session.step("batch")
    after = weights_now(session)
    assert len(seen) == 1
    for layer, source, target in [(2, 3, 2), (3, 1, 1), (3, 3, 2), (1, 2, 4)]:
        reply = session.inspect_weight(layer, source, target)
        i, j = source - 1, target - 1
        assert reply["gradient"] == seen[0][2 * (layer - 1)][i, j]
        products = column(reply, "product")
        assert reply["gradient"] == pytest.approx(products.mean(), rel=1e-12, abs=1e-15)
        update = reply["update"]
        assert update["before"] == before[layer - 1][0][i, j] and update["after"] == after[layer - 1][0][i, j]
        assert update["applied"] == after[layer - 1][0][i, j] - before[layer - 1][0][i, j]
        assert update["applied"] == pytest.approx(-0.1 * reply["gradient"], rel=1e-12)
        if layer == 1:  # the inputs: no dropout before the first layer
            assert reply["dropout"] is None and "mask" not in reply["samples"][0]
            continue
        # a is what dropout passed on: the source unit's out times this update's mask, as the neuron shows it.
        unit = session.inspect_unit(layer - 1, source)
        assert reply["dropout"]["applied"] and "mask" in reply["rule"]
        assert np.array_equal(column(reply, "a"), column(unit, "out_after_dropout"))
        assert np.array_equal(column(reply, "mask"), column(unit, "mask"))
        assert np.array_equal(column(reply, "out"), column(unit, "out"))
        assert np.array_equal(products, column(reply, "delta") * column(reply, "a"))
    bias = session.inspect_bias(2, 3)
    assert bias["gradient"] == seen[0][3][2] and bias["pass"] == "training"
    assert bias["update"]["applied"] == after[1][1][2] - before[1][1][2]


def test_before_any_update_a_click_under_dropout_is_an_evaluation_pass_and_changes_nothing():
    looked, untouched = dropout_lab(), dropout_lab()
    unit = looked.inspect_unit(1, 2)
    weight = looked.inspect_weight(2, 2, 1)
    assert unit["step"] == "preview" and unit["pass"] == "evaluation" and weight["pass"] == "evaluation"
    assert unit["dropout"] == {"rate": 0.3, "scale": 1 / 0.7, "applied": False}
    assert all(s["mask"] is None for s in unit["samples"] + weight["samples"])
    assert np.array_equal(column(unit, "out_after_dropout"), column(unit, "out"))  # dropout off: passed unchanged
    assert np.array_equal(column(weight, "a"), column(weight, "out"))
    assert weight["update"] is None
    # Looking drew no mask: the Dropout layers' streams, hence the run, are those of a tab nobody clicked.
    for session in (looked, untouched):
        session.step("batch", 3)
    for (W, b), (W_other, b_other) in zip(weights_now(looked), weights_now(untouched)):
        assert np.array_equal(W, W_other) and np.array_equal(b, b_other)


def test_an_epochs_last_update_is_recorded_before_its_validation_pass():
    session = dropout_lab(dropout=0.0)
    session.step("epoch")
    record, (W1, b1) = session.last, session.last["before"][:2]
    reply = session.inspect_unit(1, 1)
    rows = record["rows"]
    assert len(rows) == 30 % 12 and len(session.X) == len(session.X_test) == 30  # validation: other rows, other count
    assert [s["example"] - 1 for s in reply["samples"]] == list(rows)
    np.testing.assert_allclose(column(reply, "net"), (session.X[rows] @ W1 + b1)[:, 0], rtol=0, atol=1e-12)


def test_clicks_on_a_lab_network_with_dropout(client):  # noqa: F811
    with connect(client) as ws:
        ws.receive_json()
        ask(ws, type="setup", mode="lab", dropout=0.3)
        preview = ask(ws, type="inspect_unit", layer=1, unit=1)
        state = ask(ws, type="step", unit="batch")
        unit = ask(ws, type="inspect_unit", layer=2, unit=2)
        weight = ask(ws, type="inspect_weight", layer=3, to=1, **{"from": 2})
        bias = ask(ws, type="inspect_bias", layer=3, unit=2)
        refused = ask(ws, type="inspect_unit", layer=4, unit=1)
    assert state["steps"] == 1 and len(state["layers"]) == 3
    assert preview["pass"] == "evaluation" and not preview["dropout"]["applied"]
    assert unit["type"] == "unit" and unit["name"] == "h2_2" and unit["dropout"]["applied"]
    assert weight["from_name"] == "h2_2" and weight["to_name"] == "o1" and weight["dropout"]["applied"]
    assert [s["a"] for s in weight["samples"]] == [s["out_after_dropout"] for s in unit["samples"]]
    assert bias["type"] == "weight" and bias["update"]["applied"] == pytest.approx(-0.03 * bias["gradient"])
    assert refused["type"] == "error" and "'layer' must be 1 to 3" in refused["error"]
