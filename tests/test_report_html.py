"""The HTML report: one self-contained file with every section, for the bundled digits and two moons."""

import base64
import os
import re

import numpy as np
import pytest

import bprop
from bprop.report.html import render_report, write_report
from bprop.tables.datasets import load_digits

pytest.importorskip("matplotlib")

IMAGE = re.compile(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


def sections(page: str) -> list[str]:
    return re.findall(r'<section id="([a-z]+)">', page)


def images(page: str) -> dict[str, bytes]:
    return {alt: base64.b64decode(data) for alt, data in IMAGE.findall(page)}


def check_self_contained(page: str) -> None:
    # Nothing fetched over the network: no external scripts, styles, images or fonts.
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page
    assert "@import" not in page
    assert "url(" not in page
    for png in images(page).values():
        assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.fixture(scope="module")
def digits_run():
    X, y = load_digits()
    X = X / 16.0
    net = bprop.mlp([64, 32, 10], activation="relu", output_activation="softmax", seed=0)
    history = bprop.fit(
        net, X, np.eye(10)[y], loss="cce", learning_rate=0.1, epochs=8, seed=0, validation_split=0.2,
        diagnostics=True, verbose=0,
    )  # fmt: skip
    return net, history, X, y


def test_digits_report_has_every_section(tmp_path, digits_run):
    net, history, X, y = digits_run
    path = write_report(
        tmp_path / "report.html",
        net=net,
        history=history,
        data_summary={"dataset": "digits (bundled)", "samples": 1797},
        X=X,
        y=y,
        settings={"optimizer": "sgd", "learning rate": 0.1},
    )
    page = path.read_text(encoding="utf-8")
    assert sections(page) == ["findings", "data", "model", "training", "gradients", "evaluation"]
    assert set(images(page)) == {
        "architecture diagram",
        "loss and metric curves",
        "per-layer gradient curves",
        "confusion matrix",
    }
    check_self_contained(page)
    assert "No problems found" in page
    assert "<th>samples</th><td>1,797</td>" in page
    assert "<th>learning rate</th><td>0.1</td>" in page
    assert "<th>dead ReLU units</th>" in page  # the per-layer table under the curves
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp file left behind


def test_two_moons_report_shows_the_decision_boundary(tmp_path):
    make_moons = pytest.importorskip("sklearn.datasets").make_moons
    X, y = make_moons(300, noise=0.2, random_state=0)
    net = bprop.mlp([2, 16, 16, 2], activation="tanh", output_activation="softmax", seed=0)
    history = bprop.fit(
        net, X, np.eye(2)[y], loss="cce", optimizer="adam", learning_rate=0.01, epochs=30, seed=0, diagnostics=True,
        verbose=0,
    )  # fmt: skip
    path = write_report(
        tmp_path / "moons.html", net=net, history=history, data_summary={"dataset": "two moons"}, X=X, y=y
    )
    page = path.read_text(encoding="utf-8")
    assert sections(page) == ["findings", "data", "model", "training", "gradients", "evaluation", "boundary"]
    assert "decision boundary" in images(page)
    check_self_contained(page)


def test_findings_are_listed_and_escaped(digits_run):
    X, y = load_digits()
    net = bprop.mlp([64, 32, 10], activation="relu", output_activation="softmax", seed=0)
    history = bprop.fit(
        net, X / 16, np.eye(10)[y], loss="cce", learning_rate=3.0, epochs=3, diagnostics=True, verbose=0
    )
    page = render_report(net=net, history=history, data_summary={"<name>": "a & b"})
    assert '<ul class="findings">' in page
    assert "of ReLU units dead since epoch" in page
    assert "<th>&lt;name&gt;</th><td>a &amp; b</td>" in page
    assert sections(page) == ["findings", "data", "model", "training", "gradients"]  # no X, y: no evaluation


def test_regression_report_without_diagnostics(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    Y = X @ np.array([[1.0], [-2.0], [0.5]])
    net = bprop.mlp([3, 8, 1], activation="tanh", output_activation="identity", seed=0)
    history = bprop.fit(net, X, Y, learning_rate=0.05, epochs=5, verbose=0)
    page = render_report(net=net, history=history.to_dict(), data_summary={}, X=X, y=Y)
    assert "predicted vs true values" in images(page)
    assert "trained without diagnostics" in page
    assert "per-layer gradient curves" not in images(page)


def test_bad_arguments_name_the_fix(tmp_path, digits_run):
    net, history, X, y = digits_run
    with pytest.raises(ValueError, match="give X and y together"):
        render_report(net=net, history=history, data_summary={}, X=X)
    with pytest.raises(ValueError, match="task must be one of"):
        render_report(net=net, history=history, data_summary={}, X=X, y=y, task="ranking")
    with pytest.raises(ValueError, match="class_names has 2 names but the network predicts 10 classes"):
        render_report(net=net, history=history, data_summary={}, X=X, y=y, class_names=["a", "b"])
    with pytest.raises(ValueError, match="history has no finished epoch"):
        render_report(net=net, history=bprop.History(), data_summary={})
    with pytest.raises(ValueError, match="does not exist"):
        write_report(tmp_path / "missing" / "r.html", net=net, history=history, data_summary={})


def test_a_failed_call_leaves_an_existing_report_untouched(tmp_path, digits_run):
    net, history, X, y = digits_run
    path = tmp_path / "report.html"
    path.write_text("old report")
    with pytest.raises(ValueError):
        write_report(path, net=net, history=history, data_summary={}, X=X, y=y[:10])
    assert path.read_text() == "old report"
    assert os.listdir(tmp_path) == ["report.html"]


def test_evaluation_says_which_rows_it_shows(digits_run):
    net, history, X, y = digits_run
    page = render_report(net=net, history=history, data_summary={}, X=X[:360], y=y[:360], evaluated_on="the test rows")
    assert "Confusion matrix on the test rows (360 rows)." in page
    page = render_report(net=net, history=history, data_summary={}, X=X[:50], y=y[:50])
    assert "Confusion matrix on the given rows (50 rows)." in page  # never implies held-out rows


def test_the_decision_boundary_note_names_the_rows_in_plain_words(tmp_path):
    from bprop.report.html import write_report

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    net = bprop.mlp([2, 4, 2], output_activation="softmax", seed=0)
    history = bprop.fit(net, X, np.eye(2)[y], loss="categorical_cross_entropy", epochs=2, verbose=0)
    path = tmp_path / "r.html"
    write_report(path, net=net, history=history, data_summary={}, X=X, y=y, task="classification",
                 class_names=["a", "b"], evaluated_on="the test rows")  # fmt: skip
    text = path.read_text(encoding="utf-8")
    assert "Decision boundary with the points on the test rows (40 rows)." in text
    assert "points of on" not in text
