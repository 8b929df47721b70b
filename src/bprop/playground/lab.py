"""The lab mode: TensorFlow Playground's data sets, the bundled digits or an uploaded CSV, any network.

A :class:`LabSession` is a :class:`~bprop.playground.session.NetworkSession` (the same stepping, recording
and click-inspection) whose data go through :func:`bprop.tables.prepare` like a CSV given to
``bprop train`` (so a downloaded model is one ``bprop predict`` reads), whose network is built layer by
layer from the page's editor, and whose state carries the views: every neuron's output over the plane
(2-D data), the train and held-out curves, the confusion matrix and misclassified digits, per-layer
gradient norms and the diagnostics' findings. Everything is computed by the engine here; the page draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..insight.explain import json_safe
from ..insight.findings import findings
from ..insight.gradcheck import check_entry
from ..nn.dropout import Dropout
from ..nn.layers import Dense
from ..nn.network import Sequential
from ..nn.optimizers import get_optimizer
from ..tables.data import prepare
from ..training.trainer import Trainer
from .datasets import CLASSIFICATION_SETS, EXTENT, TWO_D_SETS, two_d_table
from .inspect import dense_indices, layer_output
from .lab_views import confusion, grid_for, heatmaps, misclassified_images, points_view
from .session import NetworkSession, RecordingSource

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LabSettings", "LabSession", "DATA_SETS", "LOSSES", "LAB_OPTIMIZERS", "LAB_ACTIVATIONS", "INITS"]

DATA_SETS = (*TWO_D_SETS, "digits", "upload")
LOSSES = ("half_sse", "cross_entropy", "mse")
LAB_OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LAB_ACTIVATIONS = ("tanh", "sigmoid", "relu", "leaky_relu", "identity")
INITS = ("auto", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
         "small_uniform")  # fmt: skip
#: Rows of each part the live curves and the confusion matrix are measured on (a fixed sample of larger parts).
EVAL_ROWS = 2000
#: Units of a layer the page draws: all of a layer this wide or narrower, else the first SHOWN − 2 and the last.
SHOWN = 10
#: Gradient norms kept per layer for the sparklines.
NORM_POINTS = 120
#: Loss names of the engine behind the page's choices (cross-entropy pairs with a softmax output).
ENGINE_LOSS = {"half_sse": "half_sse", "cross_entropy": "categorical_cross_entropy", "mse": "mse"}


@dataclass
class LabSettings:
    """The page's set-up. ``noise`` and ``train_percent`` are percentages as on TensorFlow Playground;
    ``layers`` the hidden widths, ``activations`` one per hidden layer; ``loss`` ``"auto"`` is
    cross-entropy for classification and ½SSE for regression."""

    data: str = "circle"
    noise: int = 0
    train_percent: int = 50
    points: int = 500
    layers: list[int] = field(default_factory=lambda: [4, 2])
    activations: list[str] | None = None
    loss: str = "auto"
    optimizer: str = "sgd"
    learning_rate: float = 0.03
    batch_size: int = 10
    l2: float = 0.0
    dropout: float = 0.0
    init: str = "auto"
    seed: int = 0

    def hidden_activations(self) -> list[str]:
        acts = list(self.activations or [])
        if acts and len(acts) != len(self.layers):
            raise ValueError(
                f"'activations' needs one name per hidden layer ({len(self.layers)}), got {len(acts)}; "
                "send both lists together"
            )
        return acts or ["tanh"] * len(self.layers)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "activations": self.hidden_activations()}


def load_table(settings: LabSettings, upload: tuple[str, pd.DataFrame] | None) -> tuple[pd.DataFrame, str | None, str]:
    """``(table, target column or None for the last, task)`` of the chosen data."""
    if settings.data in TWO_D_SETS:
        table = two_d_table(settings.data, settings.points, settings.noise / 100, seed=settings.seed)
        classify = settings.data in CLASSIFICATION_SETS
        return table, "label" if classify else "value", "classification" if classify else "regression"
    if settings.data == "digits":
        from ..tables.datasets import DIGITS_TARGET, load_digits

        return load_digits(as_frame=True), DIGITS_TARGET, "classification"
    if upload is None:
        raise ValueError("no CSV uploaded in this tab; choose a file first (it is sent as bytes, never as a path)")
    return upload[1], None, "auto"


def build_network(sizes: list[int], activations: list[str], output: str, *, init: str, dropout: float,
                  seed: int) -> Sequential:  # fmt: skip
    """Dense layers of the given widths and activations (``output`` for the last), float64, a
    :class:`Dropout` after each hidden one when ``dropout`` > 0: :func:`bprop.mlp` with one activation per layer."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = i < len(sizes) - 2
        act = activations[i] if hidden else output
        layers.append(Dense(fan_in, fan_out, act, dtype=np.float64, rng=rng, init=None if init == "auto" else init))
        if dropout and hidden:
            layers.append(Dropout(dropout, rng=rng.spawn(1)[0], dtype=np.float64))
    return Sequential(layers)


class LabSession(NetworkSession):
    """One tab's lab: the prepared data, the network of the editor, a Trainer, and the views.

    Args:
        settings: the set-up; upload: ``(file name, table)`` of the tab's uploaded CSV, when any.
    """

    mode = "lab"

    def __init__(self, settings: LabSettings, upload: tuple[str, pd.DataFrame] | None = None) -> None:
        self.settings_ = settings
        self.upload_name = upload[0] if upload and settings.data == "upload" else None
        self.table, target, task = load_table(settings, upload)
        self.task_asked = task
        rng = np.random.default_rng(settings.seed)
        held_out = 1 - settings.train_percent / 100
        self.prepared = prepare(self.table, target, task=task, val_fraction=held_out, test_fraction=0.0, rng=rng)
        self.encoder = self.prepared.encoder
        self.task = self.encoder.target.task_
        loss = settings.loss
        if loss == "auto":
            loss = "cross_entropy" if self.task == "classification" else "half_sse"
        if loss == "cross_entropy" and self.task != "classification":
            raise ValueError("cross-entropy needs a classification target; this data is regression: choose ½SSE or MSE")
        self.loss_choice, self.loss_name = loss, ENGINE_LOSS[loss]
        output = "identity" if self.task == "regression" else "softmax" if loss == "cross_entropy" else "sigmoid"
        self.X, self.Y = self.prepared.X_train, self.prepared.Y_train
        self.X_test, self.Y_test = self.prepared.X_val, self.prepared.Y_val
        sizes = [self.X.shape[1], *settings.layers, self.encoder.target.n_outputs]
        self.net = build_network(sizes, settings.hidden_activations(), output, init=settings.init,
                                 dropout=settings.dropout, seed=settings.seed)  # fmt: skip
        self.seed, self.l2 = settings.seed, settings.l2
        self.learning_rate, self.optimizer_name = settings.learning_rate, settings.optimizer
        self.batch_size = min(settings.batch_size, self.X.shape[0])
        self.source = RecordingSource(self.X, self.Y)
        self.trainer = Trainer(
            self.net, source=self.source, loss=self.loss_name,
            optimizer=get_optimizer(settings.optimizer, learning_rate=settings.learning_rate), epochs=10**9,
            batch_size=self.batch_size, seed=settings.seed, l2=settings.l2, verbose=0,
            validation_data=(self.X_test, self.Y_test) if len(self.X_test) else None,
            diagnostics=True, gradient_hook=self._keep_gradients, divergence_warning=False,
        )  # fmt: skip
        self.dense = dense_indices(self.net)
        self.sample_cursor, self.last, self.notice, self._grads = 0, None, None, []
        self.sample_runs = []
        self.norms: list[list[float]] = [[] for _ in self.dense]
        pick = np.random.default_rng([settings.seed, 1])
        self.eval_train = _sample_rows(len(self.X), pick)
        self.eval_test = _sample_rows(len(self.X_test), pick)
        self.grid = grid_for(self.table, self.encoder, settings.data, EXTENT)
        self.curve: list[list[float | None]] = []
        self._point()

    # -- the engine's numbers ---------------------------------------------------------------------------
    def _keep_gradients(self, grads: list) -> None:
        super()._keep_gradients(grads)
        for k in range(len(self.dense)):
            g = grads[2 * k]
            norms = self.norms[k]
            norms.append(math.nan if g is None else float(np.sqrt(np.vdot(g, g))))
            if len(norms) > 2 * NORM_POINTS:
                del norms[:NORM_POINTS]

    def loss(self) -> float:
        return self._measure(self.X, self.Y, self.eval_train)[0]

    def _measure(self, X: np.ndarray, Y: np.ndarray, rows: np.ndarray) -> tuple[float | None, float | None]:
        """Loss and (classification) accuracy on the given rows."""
        if rows.size == 0:
            return None, None
        with np.errstate(all="ignore"):
            loss = self.net.loss(X[rows], Y[rows], self.loss_name)
            if self.task != "classification":
                return loss, None
            out = self.net.predict(X[rows])
        return loss, float(np.mean(out.argmax(axis=1) == Y[rows].argmax(axis=1)))

    def _add_point(self) -> None:
        pass  # measured once per request instead (see step): a large upload would pay per update

    def _point(self) -> None:
        train, test = (
            self._measure(self.X, self.Y, self.eval_train),
            self._measure(self.X_test, self.Y_test, self.eval_test),
        )
        self.curve.append([self.trainer.state.steps, train[0], test[0], train[1], test[1]])
        if len(self.curve) > 2000:
            self.curve = self.curve[::2]

    def step(self, unit: str, count: int = 1, budget: float | None = None) -> int:
        done = super().step(unit, count, budget)
        self._point()
        return done

    def _pass(self) -> dict[str, Any]:
        """The last update's record (with dropout: the masks that update drew); before any, a recorded pass
        on the first batch without an update, in evaluation mode (no dropout mask)."""
        if self.last is not None:
            return self.last
        return self._preview(np.arange(min(self.batch_size, len(self.X))), self.loss_name)

    def check_weight(self, layer: int, target: int, source: int | None = None) -> dict[str, Any]:
        """∂L/∂w of the clicked weight (``source`` None: the bias) by the backward pass and by central
        differences, both in float64, at the current weights on the last update's batch."""
        self._check_unit(layer, target)
        rows = self.source.last_rows if self.last is None else self.last["rows"]
        rows = np.arange(min(len(self.X), self.batch_size)) if rows is None else rows
        k = layer - 1
        if source is None:
            parameter, index, name = 2 * k + 1, (target - 1,), f"b of unit {target} in layer {layer}"
        else:
            fan_in = self.net.layers[self.dense[k]].W.shape[0]
            if not 1 <= source <= fan_in:
                raise ValueError(f"'from' must be a unit of the layer below layer {layer}: 1 to {fan_in}, got {source}")
            parameter, index, name = (
                2 * k,
                (source - 1, target - 1),
                f"w from unit {source} to unit {target} in layer {layer}",
            )
        result = check_entry(self.net, self.X[rows], self.Y[rows], self.loss_name, parameter, index)
        return json_safe({"type": "check", "name": name, "layer": layer, "to": target, "from": source,
                          "rows": len(rows), "loss_name": self.loss_name, **result})[0]  # fmt: skip

    # -- what the page draws ----------------------------------------------------------------------------
    def _summary(self) -> dict[str, Any] | None:
        """The last update's per-unit batch means (inputs first) for the diagram and its animation."""
        if self.last is None:
            return None
        trace, shown = self.last["trace"], self._shown()
        units = [{"out": trace[self.dense[0], "x"].mean(axis=0)[shown[0]].tolist()}]
        for k, i in enumerate(self.dense):
            dL_dz, drawn = trace[i, "dL_dz"], shown[k + 1]
            out = layer_output(self.net, trace, i)
            units.append({"net": trace[i, "z"].mean(axis=0)[drawn].tolist(), "out": out.mean(axis=0)[drawn].tolist(),
                          "delta": (dL_dz * dL_dz.shape[0]).mean(axis=0)[drawn].tolist()})  # fmt: skip
        grads = [self.last["grads"][2 * k] for k in range(len(self.dense))]
        return {"unit": self.last["unit"], "rows": len(self.last["rows"]), "units": units,
                "gradients": [None if g is None else g[np.ix_(shown[k], shown[k + 1])].tolist()
                              for k, g in enumerate(grads)]}  # fmt: skip

    def _shown(self) -> list[list[int]]:
        """Per layer (inputs first), the units the page draws (0-based)."""
        sizes = [self.net.layers[self.dense[0]].W.shape[0]] + [self.net.layers[i].W.shape[1] for i in self.dense]
        return [list(range(n)) if n <= SHOWN else [*range(SHOWN - 2), n - 1] for n in sizes]

    def state(self, full: bool = True) -> dict[str, Any]:
        dense = [self.net.layers[i] for i in self.dense]
        history, shown = self.trainer.state.history, self._shown()
        state: dict[str, Any] = {
            "type": "state",
            "mode": "lab",
            "full": full,
            "settings": self.settings_.as_dict() | {"loss": self.loss_choice},
            "task": self.task,
            "classes": None if self.task != "classification" else [str(c) for c in self.encoder.target.classes_],
            "upload_name": self.upload_name,
            "rows": {"train": len(self.X), "test": len(self.X_test)},
            "sizes": [dense[0].W.shape[0]] + [layer.W.shape[1] for layer in dense],
            "shown": shown,
            "layers": [
                {
                    "W": layer.W[np.ix_(shown[k], shown[k + 1])].tolist(),
                    "b": layer.b[shown[k + 1]].tolist(),
                    "activation": layer.activation.name,
                    "frozen": sorted(layer.frozen),
                }
                for k, layer in enumerate(dense)
            ],
            "steps": self.trainer.state.steps,
            "epoch": self.trainer.state.epoch,
            "epochs_done": len(history.loss),
            "loss": self.curve[-1][1],
            "curve": _thin(self.curve, 300),
            "norms": [norms[-NORM_POINTS:] for norms in self.norms],
            "findings": [str(f) for f in findings(history)],
            "last": self._summary(),
            "explain": None,
            "stopped": self.notice if self.trainer.state.finished else None,
            "heatmaps": None if self.grid is None else heatmaps(self.net, self.grid, self.task, shown[1:]),
        }
        if self.task == "classification":
            state["confusion"] = confusion(self.net, self.X_test, self.Y_test, self.eval_test)
            if self.settings_.data == "digits":
                state["misclassified"] = misclassified_images(self.net, self.prepared, self.table, self.eval_test)
        if full:
            state["points"] = points_view(self.table, self.prepared, self.grid, self.task)
        return json_safe(state)[0]


def _sample_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= EVAL_ROWS else np.sort(rng.choice(n, EVAL_ROWS, replace=False))


def _thin(points: list[list], most: int) -> list[list]:
    if len(points) > most:
        stride = math.ceil(len(points) / most)
        points = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    return points
