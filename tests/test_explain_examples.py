"""``explain`` on several examples (each one's numbers, then the sums) and the one-weight example."""

import json

import numpy as np
import pytest

import bprop
from bprop.insight.explain import ARTICLE_SPEC, explain_step, format_text, network_from_spec
from bprop.insight.one_weight import one_weight_network, one_weight_report, one_weight_try
from cli_support import run

# A 2-3-1 tanh network with its own biases, on three examples.
SPEC = {
    "sizes": [2, 3, 1],
    "activations": ["tanh", "identity"],
    "weights": [[[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], [[0.7], [-0.8], [0.9]]],
    "biases": [[0.01, 0.02, 0.03], [0.05]],
    "inputs": [[0.5, -1.0], [1.0, 2.0], [-0.3, 0.2]],
    "targets": [[0.25], [0.5], [-0.1]],
    "learning_rate": 0.1,
}


def _report(spec, steps=0):
    net, X, Y, lr, loss = network_from_spec(spec)
    return explain_step(net, X, Y, loss=loss, learning_rate=lr, steps=steps)


def test_each_example_is_the_one_example_report_of_its_row():
    report = _report(SPEC)
    assert report["n_examples"] == 3
    for i, example in enumerate(report["examples"]):
        alone = _report({**SPEC, "inputs": [SPEC["inputs"][i]], "targets": [SPEC["targets"][i]]})
        for section in ("inputs", "targets", "forward", "error", "chain_w7", "chain_w1", "gradients"):
            assert example[section] == alone[section], (i, section)


def test_the_sums_and_the_step_over_several_examples():
    report = _report(SPEC)
    examples = report["examples"]
    assert report["error"]["E_total"] == pytest.approx(sum(ex["error"]["E_total"] for ex in examples), rel=1e-14)
    for name, total in report["gradients"].items():
        assert total == pytest.approx(sum(ex["gradients"][name] for ex in examples), rel=1e-12, abs=1e-15), name
        expected = report["initial"][name] - SPEC["learning_rate"] * total
        assert report["updated"][name] == pytest.approx(expected, rel=1e-14), name
    # After the step: the summed error of the updated network, by a separate forward pass.
    net, X, Y, *_ = network_from_spec(SPEC)
    hidden, output = net.layers
    names = report["updated"]
    hidden.W = [[names["w1"], names["w3"], names["w5"]], [names["w2"], names["w4"], names["w6"]]]
    hidden.b = [names["b1_1"], names["b1_2"], names["b1_3"]]
    output.W = [[names["w7"]], [names["w8"]], [names["w9"]]]
    output.b = [names["b2_1"]]
    assert report["error_after_one_step"] == pytest.approx(3 * net.loss(X, Y), rel=1e-12)


def test_the_article_twice_sums_to_twice_its_gradient(worked_example):
    twice = {**ARTICLE_SPEC, "inputs": ARTICLE_SPEC["inputs"] * 2, "targets": ARTICLE_SPEC["targets"] * 2}
    report = _report(twice)
    for name, value in worked_example["gradients"].items():
        assert report["gradients"][name] == pytest.approx(2 * value, abs=1e-12), name
    assert report["error"]["E_total"] == pytest.approx(2 * worked_example["error"]["E_total"], abs=1e-12)
    assert report["examples"][1]["chain_w5"]["dE_dw5"] == pytest.approx(worked_example["chain_w5"]["dE_dw5"], abs=1e-12)


def test_steps_over_several_examples_descend_the_summed_error():
    report = _report(SPEC, steps=5)
    net, X, Y, lr, loss = network_from_spec(SPEC)
    sgd = bprop.SGD(lr)
    for _ in range(5):  # the summed error's gradient, from the library's per-batch mean
        _, grads = net.loss_and_gradients(X, Y, loss)
        sgd.step(net.parameters(), [None if g is None else 3 * g for g in grads])
    after = report["after_steps"]
    assert after["E_total"] == pytest.approx(3 * net.loss(X, Y, loss), rel=1e-12)
    outputs = net.forward(X)[:, 0]
    assert [row["out_o1"] for row in after["outputs"]] == pytest.approx(outputs.tolist(), rel=1e-12)


def test_text_shows_each_example_then_the_sums():
    text = format_text(_report(SPEC, steps=2))
    assert text.startswith("3 examples: the error is their sum")
    for label in ("Example 1: i1 = 0.5, i2 = -1 → targets o1 = 0.25", "Example 3:", "∂E₂/∂w1", "Summed over the 3"):
        assert label in text, label
    line = next(line for line in text.splitlines() if line.startswith("  ∂E_total/∂w7 = "))
    terms, total = line.split(" = ")[1:]
    assert " + " in terms or " − " in terms
    assert "w⁺ = w − η·Σₙ ∂Eₙ/∂w" in text
    assert "example 3: out_o1 = " in text


def test_explain_cli_takes_a_spec_of_several_examples(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    code, out, err = run(capsys, "explain", "--spec", spec, "--json")
    assert code == 0, err
    assert json.loads(out)["gradients"] == pytest.approx(_report(SPEC)["gradients"])


# -- the one-weight example ------------------------------------------------------------------------------


def test_one_weight_tables_are_the_articles(worked_example):
    ref = worked_example["one_weight_example"]
    for W, squares in ref["squared_errors"].items():
        table = one_weight_try(float(W))
        assert [row["square_error"] for row in table["rows"]] == squares
        assert [row["absolute_error"] for row in table["rows"]] == [s**0.5 for s in squares]
        assert [[row["input"], row["desired"]] for row in table["rows"]] == ref["data"]
        assert [row["output"] for row in table["rows"]] == [float(W) * x for x, _ in ref["data"]]
        assert table["E"] == pytest.approx(sum(squares) / 2, abs=1e-12)
        # The reference's gradient of the half sum: 5·(W − 2).
        assert table["dE_dW"] == pytest.approx(5 * (float(W) - 2), abs=1e-12)


def test_one_weight_descent_follows_the_reference(worked_example):
    report = one_weight_report(steps=12)
    # The reference: W_k = 2 + 0.5**k at learning rate 0.1 on the half sum.
    for k, step in enumerate(report["descent"]):
        assert step["W"] == pytest.approx(2 + 0.5**k, abs=1e-12)
        assert step["W_next"] == pytest.approx(2 + 0.5 ** (k + 1), abs=1e-12)
    assert report["learning_rate"] == 0.1
    assert report["end"]["W"] == pytest.approx(2 + 0.5**12, abs=1e-12)
    W, E = np.array(report["curve"]["W"]), np.array(report["curve"]["E"])
    X = np.array(worked_example["one_weight_example"]["data"], dtype=float)
    assert E == pytest.approx([3 * one_weight_network(w).loss(X[:, :1], X[:, 1:]) for w in W], rel=1e-12)
    assert W[E.argmin()] == pytest.approx(2, abs=W[1] - W[0])


def test_one_weight_descent_refuses_a_diverging_rate():
    with pytest.raises(ValueError, match="diverged .* smaller learning rate"):
        one_weight_report(learning_rate=1e200, steps=50)


def test_explain_one_weight_cli(tmp_path, capsys):
    code, out, err = run(capsys, "explain", "--example", "one-weight", "--steps", "4", "--plot", tmp_path / "e.png")
    assert code == 0, err
    assert "W = 3: a first guess" in out
    assert "W = 4: the error grows" in out
    assert "W = 2: the error is zero: the global loss minimum" in out
    assert "      2               4             8               4            16" in out  # W = 4, x = 2
    assert "total square error = 5;  E = 2.5;  ∂E/∂W = Σ (W·x − y)·x = 5" in out
    assert "learning rate η = 0.1: W⁺ = W − η·∂E/∂W" in out
    assert "After 4 steps W = 2.0625" in out
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = run(capsys, "explain", "--example", "one-weight", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert len(report["descent"]) == 10
    assert [t["W"] for t in report["tries"]] == [3.0, 4.0, 2.0]
