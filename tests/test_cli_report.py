"""`bprop train --report` and the findings printed by `train` and `info`."""

import re

import numpy as np

from cli_support import run

SECTIONS = ["findings", "data", "model", "training", "gradients", "evaluation"]


def section_ids(html: str) -> list[str]:
    return re.findall(r'<section id="([a-z-]+)">', html)


def test_report_of_the_bundled_digits_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--quiet", "--report", "report.html", "--epochs", "15")
    assert code == 0, err
    assert "report written to report.html" in out
    assert re.search(r"^findings", out, re.M)
    html = (tmp_path / "report.html").read_text()
    assert section_ids(html) == SECTIONS  # no decision boundary: 64 features
    assert "http://" not in html
    assert "https://" not in html  # self-contained
    assert html.count("data:image/png;base64,") >= 4
    assert "Confusion matrix" in html
    assert "bundled UCI digits" in html


def test_report_of_two_moons_has_a_decision_boundary(tmp_path, capsys):
    from sklearn.datasets import make_moons

    X, y = make_moons(300, noise=0.2, random_state=0)
    rows = "\n".join(f"{a:.5f},{b:.5f},{'top' if c else 'bottom'}" for (a, b), c in zip(X, y))
    (tmp_path / "moons.csv").write_text("x1,x2,side\n" + rows + "\n")
    code, out, err = run(
        capsys,
        "train",
        tmp_path / "moons.csv",
        "--quiet",
        "--layers",
        "16,16",
        "--epochs",
        "60",
        "--out",
        tmp_path / "m.safetensors",
        "--report",
        tmp_path / "moons.html",
    )
    assert code == 0, err
    html = (tmp_path / "moons.html").read_text()
    assert section_ids(html) == [*SECTIONS, "boundary"]
    assert "top" in html
    assert "bottom" in html


def test_findings_name_the_problem_in_train_and_info(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5]
    (tmp_path / "lin.csv").write_text(
        "a,b,c,y\n" + "\n".join(",".join(f"{v:.4f}" for v in (*x, t)) for x, t in zip(X, y)) + "\n"
    )
    model = tmp_path / "m.safetensors"
    # Adam with a learning rate 300x its default kills ReLU units.
    argv = ["train", tmp_path / "lin.csv", "--quiet", "--optimizer", "adam", "--lr", "0.3", "--epochs", "20"]
    argv += ["--activation", "relu"]
    code, out, err = run(capsys, *argv, "--layers", "32", "--batch-size", "32", "--val-split", "0.1", "--out", model)
    assert code == 0, err
    pattern = r"findings:\n  - layer 1: \d+ % of ReLU units dead since epoch \d+ — lower the learning rate"
    assert re.search(pattern, out)
    code, info, _ = run(capsys, "info", model)
    assert code == 0
    assert "findings:\n  - " in info
    assert out[out.index("findings:") :].split("\n")[1] in info


def test_divergence_in_the_first_epoch_writes_nothing(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    lines = [",".join(f"{v:.4f}" for v in (*x, x @ [1.0, -2.0, 0.5])) for x in X]
    (tmp_path / "lin.csv").write_text("a,b,c,y\n" + "\n".join(lines) + "\n")
    argv = ["train", tmp_path / "lin.csv", "--quiet", "--optimizer", "sgd", "--lr", "5", "--layers", "32"]
    argv += ["--activation", "relu", "--batch-size", "32", "--val-split", "0.1"]
    code, out, err = run(capsys, *argv, "--out", tmp_path / "m.safetensors")
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: training diverged in epoch 1")
    assert "no model was written; lower --lr" in err
    assert not (tmp_path / "m.safetensors").exists()


def test_report_evaluates_only_the_held_out_test_rows(tmp_path, monkeypatch, capsys):
    import bprop
    from bprop.report import diagnostics_plots as plot_diagnostics

    shown = []
    original = plot_diagnostics.confusion_matrix

    def recording(y_true, y_pred, **options):
        shown.append(len(y_true))
        return original(y_true, y_pred, **options)

    monkeypatch.setattr(plot_diagnostics, "confusion_matrix", recording)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--quiet", "--report", "report.html", "--epochs", "2", "--layers", "8")
    assert code == 0, err
    test_rows = bprop.load(tmp_path / "model.safetensors").training["summary"]["rows"]["test"]
    assert 0 < test_rows < 400
    assert shown == [test_rows]  # not the 1,797 rows, training rows included
    html = (tmp_path / "report.html").read_text()
    assert f"Confusion matrix on the test rows, held out from training ({test_rows} rows)." in html
