"""``bprop explain`` and ``bprop gradcheck --spec`` through the real entry point."""

import json

import numpy as np
import pytest

import bprop
from bprop.insight.explain import ARTICLE_SPEC, network_from_spec
from cli_support import assert_one_error, run, run_process

SECTIONS = ("forward", "error", "chain_w5", "gradients", "updated")

# A 2-3-1 tanh network with a linear output and its own (unfrozen) biases.
SMALL_SPEC = {
    "sizes": [2, 3, 1],
    "activations": ["tanh", "identity"],
    "weights": [[[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], [[0.7], [-0.8], [0.9]]],
    "biases": [[0.01, 0.02, 0.03], [0.05]],
    "inputs": [[0.5, -1.0]],
    "targets": [[0.25]],
    "learning_rate": 0.1,
    "loss": "half_sse",
}


def _sgd_steps(spec, steps):
    """Train a network built from ``spec`` for ``steps`` real SGD steps with the library: (E_total, outputs)."""
    net, X, Y, lr, loss = network_from_spec(spec)
    sgd = bprop.SGD(lr)
    for _ in range(steps):
        _, grads = net.loss_and_gradients(X, Y, loss)
        sgd.step(net.parameters(), grads)
    return net.loss(X, Y, loss), net.forward(X)[0]


def test_explain_json_matches_the_reference(worked_example, capsys):
    code, out, err = run(capsys, "explain", "--json")
    assert code == 0
    assert err == ""
    report = json.loads(out)
    for section in SECTIONS:
        assert set(report[section]) == set(worked_example[section]), section
        for key, value in worked_example[section].items():
            assert report[section][key] == pytest.approx(value, abs=1e-9), (section, key)
    assert report["error_after_one_step"] == pytest.approx(worked_example["error_after_one_step"], abs=1e-9)
    assert "after_steps" not in report


@pytest.mark.parametrize("steps", ["1", "25"])
def test_explain_steps_adds_the_state_after_n_real_steps(worked_example, capsys, steps):
    code, out, _ = run(capsys, "explain", "--json", "--steps", steps)
    assert code == 0
    report = json.loads(out)
    after = report["after_steps"]
    assert set(after) == {"steps", "E_total", "out_o1", "out_o2"}
    assert after["steps"] == int(steps)
    E_total, outputs = _sgd_steps(ARTICLE_SPEC, int(steps))
    assert after["E_total"] == pytest.approx(E_total, abs=1e-12)
    assert [after["out_o1"], after["out_o2"]] == pytest.approx(outputs.tolist(), abs=1e-12)
    if steps == "1":
        assert after["E_total"] == pytest.approx(worked_example["error_after_one_step"], abs=1e-9)
    else:
        assert after["E_total"] < worked_example["error_after_one_step"]
    # The one-step sections stay those of the reference, whatever N.
    assert report["updated"]["w5"] == pytest.approx(worked_example["updated"]["w5"], abs=1e-9)


def test_explain_text_reads_like_the_article(worked_example, capsys):
    code, out, err = run(capsys, "explain", "--steps", "3")
    assert code == 0
    assert err == ""
    for label in ("The forward pass", "net_h1", "out_h1", "net_o2", "out_o2", "E_o1", "E_total"):
        assert label in out, label
    for label in ("∂E/∂w5", "∂E_total/∂w5", "∂E_total/∂out_o1", "∂out_o1/∂net_o1", "∂net_o1/∂w5"):
        assert label in out, label
    for label in ("∂E_o1/∂out_h1", "∂E_total/∂w1", "w5⁺", "w1⁺", "After 3 steps: E_total"):
        assert label in out, label
    # The article's published figures, at the printed precision.
    assert "out_o1     = 0.75136507" in out
    assert "= 0.74136507 · 0.186815602 · 0.593269992 = 0.082167041" in out
    assert "w5⁺      = 0.35891648" in out
    assert "E_total = 0.291027774 (was 0.298371109)" in out


def test_explain_custom_spec_names_outputs_by_index(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SMALL_SPEC))
    code, out, err = run(capsys, "explain", "--spec", spec, "--json", "--steps", "4")
    assert code == 0, err
    report = json.loads(out)
    assert set(report["forward"]) == {f"{k}_{u}" for k in ("net", "out") for u in ("h1", "h2", "h3", "o1")}
    assert set(report["after_steps"]) == {"steps", "E_total", "out_o1"}
    E_total, outputs = _sgd_steps(SMALL_SPEC, 4)
    assert report["after_steps"]["E_total"] == pytest.approx(E_total, abs=1e-12)
    assert report["after_steps"]["out_o1"] == pytest.approx(float(outputs[0]), abs=1e-12)
    # The forward values are those of the real network: out_h1 = tanh(0.5·0.1 − 1.0·0.4 + 0.01).
    assert report["forward"]["out_h1"] == pytest.approx(np.tanh(0.05 - 0.4 + 0.01), abs=1e-15)
    # Every weight and bias of the 2-3-1 net has a gradient and an update; 9 weights, 4 biases.
    assert len(report["gradients"]) == 13
    assert len(report["updated"]) == 13
    net, X, Y, lr, loss = network_from_spec(SMALL_SPEC)
    _, grads = net.loss_and_gradients(X, Y, loss)
    assert report["gradients"]["w1"] == pytest.approx(grads[0][0, 0], abs=1e-15)
    assert report["gradients"]["b2_1"] == pytest.approx(grads[3][0], abs=1e-15)
    code, text, _ = run(capsys, "explain", "--spec", spec)
    assert code == 0
    assert "∂E/∂w7" in text
    assert "out_o1" in text
    assert "out_o2" not in text


def test_explain_plot_writes_an_image(tmp_path, capsys):
    target = tmp_path / "net.png"
    code, out, err = run(capsys, "explain", "--plot", target)
    assert code == 0, err
    assert out.rstrip().endswith(f"diagram written to {target}")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run(capsys, "explain", "--json", "--plot", tmp_path / "net.svg")
    assert code == 0
    assert json.loads(out)["forward"]  # the JSON stays pure
    assert (tmp_path / "net.svg").read_text().lstrip().startswith("<?xml")


def test_gradcheck_spec_prints_each_layer(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SMALL_SPEC))
    code, out, err = run(capsys, "gradcheck", "--spec", spec)
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["layer 1", "layer 2"]
    assert all(float(line.rsplit(" ", 1)[1]) < 1e-7 for line in lines[:2])
    assert lines[2].startswith("gradient check passed: max relative error ")


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["gradcheck"], ["--spec", "model file"]),
        (["gradcheck", "--spec", "SPEC", "model.safetensors", "d.csv"], ["either --spec or MODEL DATA"]),
        (["explain", "--steps", "0"], ["--steps", "at least 1"]),
        (["explain", "--steps", "two"], ["--steps", "whole number"]),
        (["explain", "--spec", "missing.json"], ["missing.json", "not found"]),
        (["explain", "--spec", "BAD"], ["not valid JSON"]),
        (["explain", "--spec", "UNKNOWN_KEY"], ["unknown spec key", "colour"]),
        (["explain", "--plot", "net.txt"], ["--plot", ".png"]),
        (["explain", "--spec", "NOT_A_LIST"], ["--spec 'NOT_A_LIST' is malformed"]),
        (["gradcheck", "--spec", "NOT_A_LIST"], ["--spec 'NOT_A_LIST' is malformed"]),
        (["gradcheck", "--spec", "WRONG_SHAPE"], ["--spec 'WRONG_SHAPE'", "shape"]),
        (["explain", "--spec", "SPEC", "--example", "one-weight"], ["either --spec or --example"]),
        (["explain", "--example", "two-weights"], ["--example", "invalid choice"]),
    ],
)
def test_teach_commands_bad_input(tmp_path, monkeypatch, capsys, argv, fragments):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BAD").write_text("{not json")
    (tmp_path / "SPEC").write_text(json.dumps(SMALL_SPEC))
    (tmp_path / "UNKNOWN_KEY").write_text(json.dumps({**SMALL_SPEC, "colour": "red"}))
    (tmp_path / "NOT_A_LIST").write_text(json.dumps({**SMALL_SPEC, "weights": 5}))
    (tmp_path / "WRONG_SHAPE").write_text(json.dumps({**SMALL_SPEC, "weights": [[[1.0, 2.0]], [[1.0], [2.0], [3.0]]]}))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_one_error(*run(capsys, *argv), *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_explain_in_a_real_process(worked_example, tmp_path):
    done = run_process("explain", "--json", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr == ""
    assert json.loads(done.stdout)["gradients"]["w1"] == pytest.approx(worked_example["gradients"]["w1"], abs=1e-9)


def test_the_help_example_spec_runs(tmp_path, capsys):
    from bprop.cli.teach_commands import SPEC_EXAMPLE

    spec = tmp_path / "spec.json"
    spec.write_text(SPEC_EXAMPLE.split("\n", 1)[1])
    assert json.loads(spec.read_text()) == {**SMALL_SPEC, "frozen": [[], []]}
    code, out, err = run(capsys, "explain", "--spec", spec)
    assert code == 0, err
    assert "∂E/∂w7" in out, err


# -- hostile specs, strict JSON, ReLU kinks ------------------------------------------------------------


@pytest.mark.parametrize("command", ["explain", "gradcheck"])
@pytest.mark.parametrize("where", ["whole", "sizes"])
def test_a_spec_nested_100k_levels_is_one_error_line(tmp_path, capsys, command, where):
    deep = "[" * 100_000 + "]" * 100_000
    text = deep if where == "whole" else json.dumps({**SMALL_SPEC, "sizes": "DEEP"}).replace('"DEEP"', deep)
    spec = tmp_path / "deep.json"
    spec.write_text(text)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_one_error(*run(capsys, command, "--spec", spec), "--spec", "too deeply")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("command", ["explain", "gradcheck"])
@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("sizes", "[" * 900 + "]" * 900, "more than 4 levels"),  # json reads it; the spec check refuses
        ("weights", "[" * 900 + "]" * 900, "more than 4 levels"),
        ("sizes", '"2-3-1"', "'sizes' must be a list of whole numbers"),
        ("sizes", "[2, 3.5, 1]", "'sizes' must be a list of whole numbers"),
        ("frozen", "[1, 2]", "'frozen' entry 1"),
        ("learning_rate", "[0.1]", "'learning_rate' must be a number"),
        ("loss", '["mse"]', "'loss' must be a loss name"),
        ("weights", '[[["a", "b", "c"], [1, 2, 3]], [[1], [2], [3]]]', "'weights' entry 1"),
        ("biases", "null", "'biases' needs a list"),
    ],
)
def test_a_spec_of_the_wrong_shape_is_one_short_error_line(tmp_path, capsys, command, key, value, fragment):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**SMALL_SPEC, key: "VALUE"}).replace('"VALUE"', value))
    message = assert_one_error(*run(capsys, command, "--spec", spec), "is malformed", fragment)
    assert len(message) < 300  # the offending value is quoted in short, never echoed in full


# Weights of 1e300 through identity units: the output overflows to inf and the step's error to NaN.
OVERFLOW_SPEC = {
    "sizes": [1, 1, 1],
    "activations": ["identity", "identity"],
    "weights": [[[1e300]], [[1e300]]],
    "biases": [[0.0], [0.0]],
    "inputs": [[1.0]],
    "targets": [[0.0]],
    "learning_rate": 0.1,
}


def _strict_json(text: str):
    """json.loads that refuses the non-standard Infinity/-Infinity/NaN tokens Python would accept."""

    def refuse(token):
        raise AssertionError(f"not strict JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_explain_json_is_strict_when_numbers_overflow(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(OVERFLOW_SPEC))
    net, X, *_ = network_from_spec(OVERFLOW_SPEC)
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.isfinite(net.forward(X)[0, 0])  # the case really overflows
    code, out, err = run(capsys, "explain", "--json", "--spec", spec)
    assert code == 0, err
    report = _strict_json(out)
    assert report["forward"]["out_o1"] is None
    assert report["error"]["E_total"] is None
    assert report["forward"]["out_h1"] == 1e300  # finite numbers are kept as they are
    assert err.startswith("notice: ")
    assert len(err.splitlines()) == 1
    assert "forward.net_o1" in err


def test_explain_text_spells_huge_numbers_in_exponent_form(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(OVERFLOW_SPEC))
    code, out, _ = run(capsys, "explain", "--spec", spec)
    assert code == 0
    line = next(line for line in out.splitlines() if "net_h1" in line)
    assert float(line.split("=")[1]) == 1e300
    assert len(line) < 40


# ReLU hidden units; on the first row unit 1's pre-activation is 0.4 + b = 5e-5, within the
# finite-difference step (eps = 1e-4) of the kink. Every other pre-activation is at least 0.09 from 0.
KINK_SPEC = {
    "sizes": [2, 3, 1],
    "activations": ["relu", "identity"],
    "weights": [[[0.5, -0.3, 0.8], [0.2, 0.6, -0.4]], [[0.7], [-0.8], [0.9]]],
    "biases": [[-0.4 + 5e-5, 0.1, 0.2], [0.05]],
    "inputs": [[1.0, -0.5], [0.3, 0.8]],
    "targets": [[0.2], [-0.4]],
}


def test_gradcheck_skips_entries_at_a_relu_kink_instead_of_failing(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(KINK_SPEC))
    code, out, err = run(capsys, "gradcheck", "--spec", spec)
    assert code == 0, out + err
    verdict = out.splitlines()[-1]
    # W1[0,0], W1[1,0] (row 1's inputs 1.0 and -0.5 move z by up to 2e-4 and 1e-4 > 5e-5) and b1[0].
    assert verdict.startswith("gradient check passed")
    assert verdict.endswith("; 3 entries skipped (within eps of a ReLU kink)")
