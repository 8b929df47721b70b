"""Loss-curve figures: panels, labels, legends, data; atomic saving; no pyplot."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

import bprop  # noqa: E402
from bprop import files as _files  # noqa: E402
from bprop.report.curves import loss_curves, save_figure  # noqa: E402

HISTORY = {
    "loss": [1.0, 0.6, 0.4, 0.3],
    "val_loss": [1.1, 0.7, 0.5, 0.45],
    "metric": [0.5, 0.7, 0.8, 0.9],
    "val_metric": [0.45, 0.65, 0.75, 0.8],
    "metric_name": "accuracy",
}


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_classification_history_gives_loss_and_accuracy_panels():
    fig = loss_curves(HISTORY)
    assert isinstance(fig, Figure)
    loss_ax, acc_ax = fig.axes
    assert (loss_ax.get_xlabel(), loss_ax.get_ylabel()) == ("epoch", "loss")
    assert (acc_ax.get_xlabel(), acc_ax.get_ylabel()) == ("epoch", "accuracy")
    assert legend_texts(loss_ax) == ["training loss", "validation loss"]
    assert legend_texts(acc_ax) == ["training accuracy", "validation accuracy"]
    train, val = loss_ax.get_lines()
    assert list(train.get_xdata()) == [1, 2, 3, 4]
    assert list(train.get_ydata()) == HISTORY["loss"]
    assert list(val.get_ydata()) == HISTORY["val_loss"]
    assert list(acc_ax.get_lines()[1].get_ydata()) == HISTORY["val_metric"]
    assert "4 epochs" in fig.get_suptitle()


def test_history_object_without_metric_or_validation_gives_one_panel():
    class Run:
        loss = [0.9, 0.5]
        val_loss = []
        metric = []

    fig = loss_curves(Run(), title="regression")
    assert len(fig.axes) == 1
    assert legend_texts(fig.axes[0]) == ["training loss"]
    assert fig.get_suptitle() == "regression"


def test_bprop_history_and_best_epoch_marker():
    history = bprop.History(**{k: v for k, v in HISTORY.items()}, best_epoch=3)
    fig = loss_curves(history)
    assert all("best epoch (3)" in legend_texts(ax) for ax in fig.axes)


def test_loss_spanning_orders_of_magnitude_uses_a_log_axis():
    fig = loss_curves({"loss": list(10.0 ** -np.arange(6))})
    assert fig.axes[0].get_yscale() == "log"
    assert "log" in fig.axes[0].get_ylabel()
    assert loss_curves({"loss": [1.0, 0.5]}).axes[0].get_yscale() == "linear"


@pytest.mark.parametrize(
    "history,match",
    [
        ({"loss": []}, "no loss values to plot"),
        ({}, "no loss values to plot"),
        ({"loss": ["a"]}, "history 'loss' must be a list of numbers"),
    ],
)
def test_bad_histories(history, match):
    with pytest.raises(ValueError, match=match):
        loss_curves(history)


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_save_figure_writes_the_format_of_the_suffix(tmp_path, suffix, magic):
    path = save_figure(loss_curves(HISTORY), tmp_path / f"curves{suffix}")
    assert path.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"curves{suffix}"]


def test_save_figure_rejects_unknown_suffix_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match=r"needs one of the suffixes \['.png', '.svg', '.pdf'\]"):
        save_figure(loss_curves(HISTORY), tmp_path / "curves.jpgx")
    with pytest.raises(ValueError, match="does not exist"):
        save_figure(loss_curves(HISTORY), tmp_path / "no" / "curves.png")


def test_failed_save_keeps_the_old_plot(tmp_path, monkeypatch):
    path = save_figure(loss_curves(HISTORY), tmp_path / "curves.png")
    old = path.read_bytes()

    def fail(_):
        raise OSError("disk full")

    monkeypatch.setattr(_files, "_fsync", fail)
    with pytest.raises(ValueError, match="cannot write .*curves.png.*disk full"):
        save_figure(loss_curves({"loss": [3.0, 2.0]}), path)
    assert path.read_bytes() == old
    assert len(list(tmp_path.iterdir())) == 1


def test_plotting_never_imports_pyplot():
    code = (
        "import sys, tempfile, os\n"
        "from bprop.report.curves import loss_curves, save_figure\n"
        "save_figure(loss_curves({'loss': [1.0, 0.5]}), os.path.join(tempfile.mkdtemp(), 'c.png'))\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
