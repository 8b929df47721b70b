"""The seed article's worked examples, reproduced through the public API."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bprop
from bprop.insight.explain import ARTICLE_SPEC, explain_step, network_from_spec

WEIGHTS = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"]


def article_network(ref):
    """The 2-2-2 network built from the reference file, with the public API only."""
    w = ref["initial"]
    net = bprop.mlp([2, 2, 2], activation="sigmoid", dtype=np.float64)
    hidden, output = net.layers
    # (fan_in, fan_out) layout: column j holds the weights into unit j.
    hidden.W = [[w["w1"], w["w3"]], [w["w2"], w["w4"]]]
    output.W = [[w["w5"], w["w7"]], [w["w6"], w["w8"]]]
    hidden.b, output.b = w["b1"], w["b2"]
    hidden.freeze("b")
    output.freeze("b")
    X = np.array([[ref["inputs"]["i1"], ref["inputs"]["i2"]]])
    Y = np.array([[ref["targets"]["o1"], ref["targets"]["o2"]]])
    return net, X, Y


def as_article(W_hidden, W_output):
    return dict(zip(WEIGHTS, [*W_hidden.T.ravel(), *W_output.T.ravel()]))


def test_reference_copy_matches_shared(worked_example):
    shared = Path(__file__).parents[2] / "shared" / "reference" / "worked_example.json"
    if not shared.exists():
        pytest.skip("shared/ is not beside this checkout")
    assert json.loads(shared.read_text()) == worked_example


def test_one_step_reproduces_every_reference_value(worked_example):
    ref = worked_example
    net, X, Y = article_network(ref)
    out = net.forward(X)
    assert out[0].tolist() == pytest.approx([ref["forward"]["out_o1"], ref["forward"]["out_o2"]], abs=1e-9)

    E_total, grads = net.loss_and_gradients(X, Y, loss="half_sse")
    assert E_total == pytest.approx(ref["error"]["E_total"], abs=1e-9)
    assert grads[1] is None
    assert grads[3] is None  # frozen biases
    gradients = as_article(grads[0], grads[2])
    for name in WEIGHTS:
        assert gradients[name] == pytest.approx(ref["gradients"][name], abs=1e-9), name

    bprop.SGD(0.5).step(net.parameters(), grads)
    updated = as_article(net.layers[0].W, net.layers[1].W)
    for name in WEIGHTS:
        assert updated[name] == pytest.approx(ref["updated"][name], abs=1e-9), name
    assert net.layers[0].b.tolist() == [ref["initial"]["b1"]] * 2
    assert net.layers[1].b.tolist() == [ref["initial"]["b2"]] * 2
    assert net.loss(X, Y, "half_sse") == pytest.approx(ref["error_after_one_step"], abs=1e-9)


def test_explain_report_matches_every_reference_section(worked_example):
    ref = worked_example
    net, X, Y, lr, loss = network_from_spec(ARTICLE_SPEC)
    report = explain_step(net, X, Y, loss=loss, learning_rate=lr)
    for section in ("forward", "error", "chain_w5", "gradients", "updated"):
        assert set(report[section]) == set(ref[section]), section
        for key, value in ref[section].items():
            assert report[section][key] == pytest.approx(value, abs=1e-9), (section, key)
    assert report["error_after_one_step"] == pytest.approx(ref["error_after_one_step"], abs=1e-9)
    assert report["initial"] == ref["initial"]


def test_published_rounded_figures_agree(worked_example):
    pub = worked_example["published"]
    net, X, Y, lr, loss = network_from_spec(ARTICLE_SPEC)
    report = explain_step(net, X, Y, loss=loss, learning_rate=lr)
    for key in ("out_h1", "out_h2", "out_o1", "out_o2"):
        assert report["forward"][key] == pytest.approx(pub[key], abs=5e-9)
    assert report["error"]["E_total"] == pytest.approx(pub["E_total"], abs=5e-9)
    assert report["gradients"]["w5"] == pytest.approx(pub["dE_dw5"], abs=5e-9)
    for name, value in pub["updated"].items():
        # The article rounds to 8 or 9 digits.
        assert report["updated"][name] == pytest.approx(value, abs=5e-8), name


def test_chain_factors_of_w1_follow_the_article(worked_example):
    net, X, Y, lr, loss = network_from_spec(ARTICLE_SPEC)
    chain = explain_step(net, X, Y, loss=loss, learning_rate=lr)["chain_w1"]
    # The article's figures for ∂E_total/∂w1.
    assert chain["dE_o1_dout_h1"] == pytest.approx(0.055399425, abs=1e-9)
    assert chain["dE_o2_dout_h1"] == pytest.approx(-0.019049119, abs=1e-9)
    assert chain["dE_dout_h1"] == pytest.approx(0.036350306, abs=1e-9)
    assert chain["dout_h1_dnet_h1"] == pytest.approx(0.241300709, abs=1e-9)
    assert chain["dnet_h1_dw1"] == 0.05
    product = chain["dE_dout_h1"] * chain["dout_h1_dnet_h1"] * chain["dnet_h1_dw1"]
    assert chain["dE_dw1"] == pytest.approx(product, rel=1e-12)
    assert chain["dE_dw1"] == pytest.approx(worked_example["gradients"]["w1"], abs=1e-12)


def test_runnable_example_prints_the_article_labels(worked_example):
    done = subprocess.run(
        [sys.executable, "-m", "bprop.examples.worked_example"], capture_output=True, text=True, check=True
    )
    text = done.stdout
    for label in ("net_h1", "out_h1", "out_o2", "E_total", "∂E_total/∂w5", "w5⁺", "w1⁺"):
        assert label in text
    assert "0.35891648" in text
    assert "0.082167041" in text
    assert "0.298371109" in text
    as_json = subprocess.run(
        [sys.executable, "-m", "bprop.examples.worked_example", "--json"], capture_output=True, text=True, check=True
    )
    assert json.loads(as_json.stdout)["updated"]["w5"] == pytest.approx(worked_example["updated"]["w5"], abs=1e-12)


# -- the one-weight example: y = W·x on (0, 0), (1, 2), (2, 4) ------------------------------------------


def one_weight_net(W):
    layer = bprop.Dense(1, 1, "identity", dtype=np.float64, init=np.array([[W]]), frozen=("b",))
    return bprop.Sequential([layer])


def test_one_weight_squared_errors(worked_example):
    data = np.array(worked_example["one_weight_example"]["data"], dtype=float)
    X, Y = data[:, :1], data[:, 1:]
    mse = bprop.get_loss("mse")
    for W, expected in worked_example["one_weight_example"]["squared_errors"].items():
        net = one_weight_net(float(W))
        assert mse.per_sample(net.forward(X), Y).tolist() == expected


def test_one_weight_gradient_descent_converges_to_two(worked_example):
    data = np.array(worked_example["one_weight_example"]["data"], dtype=float)
    X, Y = data[:, :1], data[:, 1:]
    net = one_weight_net(3.0)
    # half_sse averages over the 3 rows, so rate 0.3 here is the article's rate 0.1 on the sum: W_k = 2 + 0.5**k.
    sgd = bprop.SGD(0.3)
    for k in range(1, 41):
        _, grads = net.loss_and_gradients(X, Y, "half_sse")
        sgd.step(net.parameters(), grads)
        assert net.layers[0].W[0, 0] == pytest.approx(2 + 0.5**k, abs=1e-12)
    assert net.loss(X, Y, "half_sse") < 1e-20
