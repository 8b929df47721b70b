"""Training diagnostics: what the forward and backward passes say about a run, measured cheaply.

:class:`Diagnostics` is a callback (``fit(..., diagnostics=True)`` adds one) that appends one dict per
finished epoch to ``History.diagnostics``. Lists are per Dense layer, numbered from 1 like ``W1, W2, …``;
``None`` where a quantity does not apply to that layer:

``epoch``               1-based epoch number.
``activation``          activation name of each Dense layer.
``grad_norm``           mean over the sampled steps of ‖∂L/∂W‖ (Frobenius) for the batch loss, as the
                        optimiser received it (after L2 and clipping).
``grad_rms``            ``grad_norm / sqrt(W.size)``: the typical gradient of one weight, comparable
                        between layers of different sizes.
``update_ratio``        mean over the sampled steps of ‖ΔW‖ / ‖W‖ for one optimiser step.
``dead_fraction``       ReLU layers: fraction of units whose output was 0 for every example of the epoch.
``saturated_fraction``  sigmoid / tanh layers: fraction of outputs within ``SATURATION_MARGIN`` of an
                        asymptote (sigmoid below 0.01 or above 0.99, |tanh| above 0.99) on sampled batches.
``loss``                the epoch's training loss; ``loss_change`` its relative change from the previous
                        epoch; ``rising_epochs`` how many epochs in a row it has risen.
``sampled_batches``     how many steps the gradient, update and saturation figures come from.

Cost: every step, a max-reduction over the ReLU units not yet seen active in the epoch (dead units
must be judged on every example; live ones drop out after their first activation);
on ``samples_per_epoch`` steps only, a copy of each weight matrix before the step and a few norms after.
The thresholds that turn these numbers into advice live in :mod:`bprop.insight.findings`.
"""

from __future__ import annotations

import math

import numpy as np

from ..nn.layers import Layer
from .callbacks import Callback, TrainingState

__all__ = ["Diagnostics", "SATURATION_MARGIN"]

SATURATION_MARGIN = 0.01


class Diagnostics(Callback):
    """Collect per-layer gradient, update, dead-unit and saturation statistics every epoch.

    Args:
        samples_per_epoch: how many steps per epoch to measure gradients, updates and saturation on
            (spread evenly over the epoch; the first epoch, whose length is not known yet, samples
            steps 1, 2, 4, 8, …). Dead ReLU units are tracked on every step regardless.

    Example:
        >>> import numpy as np, bprop
        >>> net = bprop.mlp([2, 8, 1], activation="relu", output_activation="identity", seed=0)
        >>> X = np.random.default_rng(0).normal(size=(64, 2)); Y = X[:, :1] * 2
        >>> history = bprop.fit(net, X, Y, epochs=3, callbacks=[bprop.Diagnostics()], verbose=0)
        >>> sorted(history.diagnostics[-1])[:3]
        ['activation', 'dead_fraction', 'epoch']
    """

    def __init__(self, samples_per_epoch: int = 8):
        if isinstance(samples_per_epoch, bool) or not isinstance(samples_per_epoch, int) or samples_per_epoch < 1:
            raise ValueError(f"samples_per_epoch must be an int >= 1, got {samples_per_epoch!r}")
        self.samples_per_epoch = samples_per_epoch

    # -- hooks ----------------------------------------------------------------------------------
    def on_train_begin(self, state: TrainingState) -> None:
        self._dense = [layer for layer in state.net.layers if "W" in layer.param_names]
        names = state.net.parameter_names()  # W1, b1, W2, …: where each Dense layer's W sits among them
        self._positions = [names.index(f"W{k}") for k in range(1, len(self._dense) + 1)]
        self._relu = [i for i, layer in enumerate(self._dense) if layer.activation.name == "relu"]
        self._batches_last_epoch = 0
        self._rising = 0

    def on_epoch_begin(self, state: TrainingState) -> None:
        n = len(self._dense)
        self._grad = [0.0] * n
        self._update = [0.0] * n
        self._saturated = [0] * n
        self._outputs = [0] * n
        self._samples = 0
        # Per ReLU layer, the units not yet seen active this epoch; None until the epoch's first step.
        self._unseen: dict[int, np.ndarray | None] = dict.fromkeys(self._relu)
        self._stride = max(1, self._batches_last_epoch // self.samples_per_epoch)
        # The weights before step 1 of the epoch are the weights now.
        self._before = self._snapshot(state) if self._sampled(1) else None

    def on_batch_end(self, state: TrainingState) -> None:
        for i in self._relu:
            # Only units not yet seen active are looked at again: in a healthy layer every unit fires in
            # the first batch, so later steps cost next to nothing.
            out, unseen = self._dense[i].output, self._unseen[i]
            if unseen is None:
                self._unseen[i] = np.flatnonzero(out.max(axis=0) <= 0)
            elif unseen.size:
                self._unseen[i] = unseen[out[:, unseen].max(axis=0) <= 0]
        if self._before is not None:
            self._measure(state)
            self._before = None
        if self._sampled(state.batch + 1):
            self._before = self._snapshot(state)

    def on_epoch_end(self, state: TrainingState) -> None:
        history = state.history
        self._batches_last_epoch = state.batch
        loss = history.loss[-1] if history.loss else math.nan
        previous = history.loss[-2] if len(history.loss) >= 2 else None
        self._rising = self._rising + 1 if previous is not None and loss > previous else 0
        k = max(self._samples, 1)
        history.diagnostics.append(
            {
                "epoch": state.epoch,
                "activation": [layer.activation.name for layer in self._dense],
                "grad_norm": [self._mean(g, k, layer) for g, layer in zip(self._grad, self._dense)],
                "grad_rms": [
                    None if (m := self._mean(g, k, layer)) is None else m / math.sqrt(layer.W.size)
                    for g, layer in zip(self._grad, self._dense)
                ],
                "update_ratio": [self._mean(u, k, layer) for u, layer in zip(self._update, self._dense)],
                "dead_fraction": [self._dead(i) for i in range(len(self._dense))],
                "saturated_fraction": [self._saturation(i) for i in range(len(self._dense))],
                "loss": loss,
                "loss_change": (loss - previous) / abs(previous) if previous else None,  # None: strict JSON
                "rising_epochs": self._rising,
                "sampled_batches": self._samples,
            }
        )

    # -- helpers --------------------------------------------------------------------------------
    def _sampled(self, batch: int) -> bool:
        if self._batches_last_epoch == 0:
            return batch & (batch - 1) == 0  # powers of two: cheap whatever the epoch's length
        return (batch - 1) % self._stride == 0 and (batch - 1) // self._stride < self.samples_per_epoch

    def _snapshot(self, state: TrainingState) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Each Dense layer's W before a sampled step, and its velocity when SGD's momentum may be formed
        inside the gradient products (see :meth:`_measure`)."""
        optimizer = state.optimizer
        heavy = optimizer.fused_momentum() is not None
        return [
            (layer.W.copy(), optimizer.velocity(k, layer.W).copy() if heavy and "W" not in layer.frozen else None)
            for layer, k in zip(self._dense, self._positions)
        ]

    def _measure(self, state: TrainingState) -> None:
        # Plain SGD may fold the update into the gradient product and leave dW without a gradient
        # (Sequential.train_step); its update is exactly -η·g, so the gradient is read off the step.
        # Heavy-ball momentum may fold it into the velocity: v ← μ·v + g gives g = v − μ·v_before.
        optimizer = state.optimizer
        rate, heavy = optimizer.fused_rate(), optimizer.fused_momentum()
        self._samples += 1
        for i, (layer, (before, velocity)) in enumerate(zip(self._dense, self._before)):
            step = float(np.linalg.norm(layer.W - before))
            if "W" not in layer.frozen:
                if velocity is not None and heavy is not None:
                    now = optimizer.velocity(self._positions[i], layer.W)
                    self._grad[i] += float(np.linalg.norm(now - heavy[1] * velocity))
                else:
                    self._grad[i] += step / rate if rate else float(np.linalg.norm(layer.dW))
                norm = float(np.linalg.norm(before))
                self._update[i] += step / norm if norm > 0 else math.inf
            if layer.activated and layer.activation.name in ("sigmoid", "tanh"):
                out = layer.output
                centre = 0.5 if layer.activation.name == "sigmoid" else 0.0
                reach = 0.5 if layer.activation.name == "sigmoid" else 1.0
                self._saturated[i] += int(np.count_nonzero(np.abs(out - centre) > reach - SATURATION_MARGIN))
                self._outputs[i] += out.size

    def _mean(self, total: float, k: int, layer: Layer) -> float | None:
        return None if "W" in layer.frozen or self._samples == 0 else total / k

    def _dead(self, i: int) -> float | None:
        unseen = self._unseen.get(i)
        return None if unseen is None else unseen.size / self._dense[i].fan_out

    def _saturation(self, i: int) -> float | None:
        return self._saturated[i] / self._outputs[i] if self._outputs[i] else None
