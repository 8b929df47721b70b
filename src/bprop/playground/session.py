"""One browser tab's training: a network, its data and bprop's own :class:`~bprop.training.trainer.Trainer`.

Every number the page shows comes from here, and here from the engine: each step is a real
``Trainer`` update recorded by :class:`~bprop.insight.recording.Trace` and a gradient hook (which sees the
gradients before L2 and the update), so a clicked neuron or weight shows what that update computed and
applied. The record is taken in that hook, between the update's backward pass and anything else that runs
the network (an epoch's validation pass), with the masks the update's Dropout layers applied. In the
article mode the step is also explained by :func:`~bprop.insight.explain.explain_step`, whose numbers are
those of ``bprop explain``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ..insight.explain import ARTICLE_SPEC, explain_step, json_safe, network_from_spec
from ..insight.recording import Trace
from ..nn.losses import get_loss
from ..nn.network import Sequential, mlp
from ..nn.optimizers import get_optimizer
from ..training.sources import ArraySource
from ..training.trainer import Trainer
from .inspect import bias_numbers, dense_indices, dropout_masks, dropouts, step_summary, unit_numbers, weight_numbers

#: Steps (units of the chosen kind) one request may ask for.
MAX_COUNT = 10_000
#: Points of the loss curve kept (older ones are thinned to every other point when it fills).
CURVE_POINTS = 2_000

XOR = {"inputs": [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], "targets": [[0.0], [1.0], [1.0], [0.0]]}


class RecordingSource(ArraySource):
    """An :class:`ArraySource` that remembers the rows of the last batch it served."""

    last_rows: np.ndarray | None = None

    def take(self, rows: np.ndarray):
        self.last_rows = np.array(rows, copy=True)
        return super().take(rows)


def _network(mode: str, seed: int) -> tuple[Sequential, np.ndarray, np.ndarray]:
    if mode == "article":
        net, X, Y, _, _ = network_from_spec(ARTICLE_SPEC)
        return net, X, Y
    net = mlp([2, 3, 1], activation="tanh", output_activation="sigmoid", seed=seed, dtype=np.float64)
    return net, np.array(XOR["inputs"]), np.array(XOR["targets"])


class NetworkSession:
    """The article's 2-2-2 network (one example) or a 2-3-1 network on XOR (four), trained step by step.

    Args:
        mode: ``"article"`` or ``"xor"``.
        optimizer: ``"sgd"`` or ``"adam"``; learning_rate: η (default: 0.5 for the article, 0.3 for SGD on
        XOR, 0.05 for Adam); l2: the L2 coefficient; batch_size: rows per batch; seed: initial weights and
        shuffling.
    """

    #: While an update is recorded: its Trace; the hook then keeps ``(trace values, dropout masks)`` in _hooked.
    _tracing: Trace | None = None
    _hooked: tuple[dict, dict] | None = None

    def __init__(self, mode: str = "article", *, optimizer: str = "sgd", learning_rate: float | None = None,
                 l2: float = 0.0, batch_size: int | None = None, seed: int = 0) -> None:  # fmt: skip
        self.mode, self.seed, self.l2 = mode, seed, l2
        self.net, self.X, self.Y = _network(mode, seed)
        default_rate = 0.5 if mode == "article" else 0.3 if optimizer == "sgd" else 0.05
        self.learning_rate = default_rate if learning_rate is None else learning_rate
        self.optimizer_name = optimizer
        self.batch_size = min(batch_size or self.X.shape[0], self.X.shape[0])
        self.source = RecordingSource(self.X, self.Y)
        rule = get_optimizer(optimizer, learning_rate=self.learning_rate)
        self.trainer = Trainer(
            self.net, source=self.source, loss="half_sse", optimizer=rule, epochs=10**9, batch_size=self.batch_size,
            seed=seed, l2=l2, verbose=0, metric=None, gradient_hook=self._keep_gradients, divergence_warning=False,
        )  # fmt: skip
        self.sample_cursor = 0
        self.sample_runs: list[list[int]] = []  # [after update, first row, rows]: see _one
        self.curve: list[list[float]] = [[0, self.loss()]]
        self.last: dict[str, Any] | None = None
        self.notice: str | None = None
        self._grads: list[np.ndarray | None] = []

    # -- stepping -------------------------------------------------------------------------------------
    def _keep_gradients(self, grads: list) -> None:
        self._grads = [None if g is None else g.copy() for g in grads]
        if self._tracing is not None:
            # Taken now: an epoch's validation pass after the update would overwrite the forward values
            # (and, in evaluation mode, clear the Dropout layers' masks).
            self._hooked = dict(self._tracing.values), dropout_masks(self.net)

    def loss(self) -> float:
        """E on every example (the batch mean, bprop's half_sse)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self.net.loss(self.X, self.Y, "half_sse")

    def _one(self, unit: str) -> np.ndarray:
        """One update (unit ``sample`` or ``batch``) or one epoch; returns the rows of the last update."""
        if unit == "sample":
            i = self.sample_cursor % self.X.shape[0]
            self.sample_cursor += 1
            # Where one-example updates fell among the trainer's own, so that generated code can replay them.
            at, runs = self.trainer.state.steps, self.sample_runs
            if runs and runs[-1][0] + runs[-1][2] == at and runs[-1][1] + runs[-1][2] == i:
                runs[-1][2] += 1
            else:
                runs.append([at, i, 1])
            self.trainer.step_on(self.X[[i]], self.Y[[i]])
            return np.array([i])
        if unit == "batch":
            self.trainer.step()
        else:
            self.trainer.run_epoch()
        return self.source.last_rows

    def step(self, unit: str, count: int = 1, budget: float | None = None) -> int:
        """Take ``count`` units (``sample``, ``batch`` or ``epoch``), the last one recorded; with ``budget``
        (seconds) stop early once it is spent. Returns how many were taken."""
        if self.trainer.state.finished:
            raise ValueError(f"training has stopped ({self.notice or 'finished'}); press reset")
        started, done = time.perf_counter(), 0
        # Tabs step on worker threads, where warning filters (one per process) cannot be scoped: the
        # trainer issues no divergence warning (divergence_warning=False) and its history says why it stopped.
        while done < count - 1 and (budget is None or time.perf_counter() - started < budget):
            self._one(unit)
            done += 1
            self._add_point()
            if self.trainer.state.finished:
                break
        if not self.trainer.state.finished:
            self._recorded(unit)
            done += 1
            self._add_point()
        if self.trainer.state.finished:
            self.notice = self.trainer.state.history.stop_message or "training finished"
        return done

    def _recorded(self, unit: str) -> None:
        """One unit with every array of its last update recorded (an epoch: all its updates but the last
        unrecorded, then the last one recorded)."""
        if unit == "epoch":
            state, n = self.trainer.state, self.source.n_rows
            remaining = math.ceil(((n - state.cursor) if state.epoch_open else n) / self.batch_size)
            if remaining > 1:
                self.trainer.step(remaining - 1)
                if self.trainer.state.finished:
                    return
        before = [p.copy() for p in self.net.parameters()]
        article = self.mode == "article" and self.optimizer_name == "sgd" and not self.l2
        copy = self.net.astype(np.float64) if article else None
        self._hooked = None
        with Trace(self.net) as trace:
            self._tracing = trace
            try:
                rows = self._one("batch" if unit == "epoch" else unit)
            finally:
                self._tracing = None
        if self.trainer.state.finished and self.trainer.state.history.stop_reason == "diverged":
            return
        values, masks = self._hooked or (dict(trace.values), {})
        self.last = {
            "unit": unit,
            "rows": rows,
            "trace": values,
            "dense": dense_indices(self.net),
            "dropout": dropouts(self.net, masks),
            "training": True,
            "grads": self._grads,
            "before": before,
            "after": [p.copy() for p in self.net.parameters()],
            "optimizer": self.trainer.state.optimizer.state_dict(),
        }
        if copy is not None and rows.size == 1:
            report = explain_step(copy, self.X[rows], self.Y[rows], loss="half_sse", learning_rate=self.learning_rate)
            self.last["explain"] = json_safe(report)[0]

    def _add_point(self) -> None:
        self.curve.append([self.trainer.state.steps, self.loss()])
        if len(self.curve) > CURVE_POINTS:
            self.curve = self.curve[::2]

    # -- what the page draws ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        layers = []
        first = 1
        for layer in self.net.layers:
            fan_in, fan_out = layer.W.shape
            names = first + np.arange(fan_out)[None, :] * fan_in + np.arange(fan_in)[:, None]
            layers.append({
                "W": layer.W.tolist(), "b": layer.b.tolist(), "activation": layer.activation.name,
                "frozen": sorted(layer.frozen), "weight_names": [[f"w{n}" for n in row] for row in names.tolist()],
            })  # fmt: skip
            first += layer.W.size
        history = self.trainer.state.history
        state = {
            "type": "state",
            "mode": self.mode,
            "settings": {
                "optimizer": self.optimizer_name,
                "learning_rate": self.learning_rate,
                "l2": self.l2,
                "batch_size": self.batch_size,
                "seed": self.seed,
            },
            "sizes": [self.net.layers[0].W.shape[0]] + [layer.W.shape[1] for layer in self.net.layers],
            "layers": layers,
            "examples": {"inputs": self.X.tolist(), "targets": self.Y.tolist()},
            "steps": self.trainer.state.steps,
            "epoch": self.trainer.state.epoch,
            "epochs_done": len(history.loss),
            "loss": self.loss(),
            "curve": _thin(self.curve, 300),
            "last": None if self.last is None else step_summary(self.net, self.last),
            "explain": None if self.last is None else self.last.get("explain"),
            "stopped": self.notice if self.trainer.state.finished else None,
        }
        return json_safe(state)[0]

    def _pass(self) -> dict[str, Any]:
        """The last update's record; before any, a recorded pass on the next sample without an update."""
        if self.last is not None:
            return self.last
        return self._preview(np.array([self.sample_cursor % self.X.shape[0]]), "half_sse")

    def _preview(self, rows: np.ndarray, loss: str) -> dict[str, Any]:
        """A record of a forward and backward pass on ``rows`` without an update, in evaluation mode: no
        dropout mask (a training pass would draw one from the Dropout layers' streams and so change the run)."""
        X = self.net.check_X(self.X[rows])
        Y = self.net.check_Y(self.Y[rows], X.shape[0])
        with Trace(self.net) as trace, np.errstate(all="ignore"):
            _, grads = self.net.loss_and_gradients_unchecked(X, Y, get_loss(loss), training=False)
        params = [p.copy() for p in self.net.parameters()]
        return {"unit": "preview", "rows": rows, "trace": dict(trace.values), "dense": dense_indices(self.net),
                "dropout": dropouts(self.net, {}), "training": False,
                "grads": [None if g is None else g.copy() for g in grads], "before": params, "after": params,
                "optimizer": None}  # fmt: skip

    def inspect_unit(self, layer: int, unit: int) -> dict[str, Any]:
        self._check_unit(layer, unit)
        return json_safe({"type": "unit", **unit_numbers(self.net, self._pass(), self.Y, layer, unit)})[0]

    def inspect_weight(self, layer: int, source: int, target: int) -> dict[str, Any]:
        self._check_unit(layer, target)
        fan_in = self._dense(layer).W.shape[0]
        if not 1 <= source <= fan_in:
            raise ValueError(f"'from' must be a unit of the layer below layer {layer}: 1 to {fan_in}, got {source}")
        record = self._pass()
        numbers = weight_numbers(record, self._settings(), layer, source, target)
        return json_safe({"type": "weight", **numbers})[0]

    def inspect_bias(self, layer: int, unit: int) -> dict[str, Any]:
        self._check_unit(layer, unit)
        numbers = bias_numbers(self._pass(), self._settings(), layer, unit)
        return json_safe({"type": "weight", **numbers})[0]

    def _settings(self) -> dict[str, Any]:
        optimizer = self.trainer.state.optimizer
        settings = {"optimizer": self.optimizer_name, "learning_rate": optimizer.learning_rate, "l2": self.l2}
        if self.optimizer_name == "adam":
            settings.update(beta_1=optimizer.beta_1, beta_2=optimizer.beta_2, epsilon=optimizer.epsilon)
        return settings

    def _dense(self, layer: int):
        """The protocol's layer ``layer`` (1-based, counting the layers with weights only)."""
        return self.net.layers[dense_indices(self.net)[layer - 1]]

    def _check_unit(self, layer: int, unit: int) -> None:
        n_layers = len(dense_indices(self.net))
        if not 1 <= layer <= n_layers:
            raise ValueError(f"'layer' must be 1 to {n_layers} (the layers with weights), got {layer}")
        width = self._dense(layer).W.shape[1]
        if not 1 <= unit <= width:
            raise ValueError(f"layer {layer} has units 1 to {width}, got {unit}")


def _thin(points: list[list[float]], most: int) -> list[list[float]]:
    """At most ``most`` points, evenly spaced, the last one kept; non-finite losses as None."""
    if len(points) > most:
        stride = math.ceil(len(points) / most)
        points = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    return [[s, v if math.isfinite(v) else None] for s, v in points]
