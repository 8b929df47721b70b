"""``fit``: train a network on arrays in one call — a :class:`~bprop.training.trainer.Trainer` run to its end.

Knows nothing of files or the command line.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq

import numpy as np

from ..nn.losses import Loss
from ..nn.network import Sequential
from ..nn.optimizers import Optimizer
from ..nn.schedules import Schedule
from .callbacks import Callback
from .diagnostics import Diagnostics
from .history import History
from .trainer import DivergenceWarning, Trainer

__all__ = ["fit", "DivergenceWarning"]


def fit(
    net: Sequential,
    X=None,
    Y=None,
    *,
    source=None,
    loss: str | Loss = "half_sse",
    optimizer: str | Optimizer = "sgd",
    learning_rate: float | None = None,
    epochs: int = 100,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = None,
    sample_weight=None,
    validation_split: float = 0.0,
    validation_data: tuple | None = None,
    metric: str | None = "auto",
    l2: float = 0.0,
    clip_norm: float | None = None,
    schedule: str | Schedule | None = None,
    target_loss: float | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    max_time: float | None = None,
    stop_when_all_correct: bool = False,
    restore_best_weights: bool = False,
    callbacks: Seq[Callback] = (),
    diagnostics: bool | Diagnostics = False,
    verbose: int | str = "auto",
    resume: dict | None = None,
    monitor: str = "auto",
    weight_decay: float | None = None,
    collective=None,
) -> History:
    """Train ``net`` in place by mini-batch backpropagation and return its :class:`History`.

    Args:
        net: the network; its dtype decides the computation's dtype.
        X: inputs ``(n_samples, n_features)``; Y: targets ``(n_samples, n_outputs)`` (one-hot for softmax).
        source: instead of ``X`` and ``Y``, a batch source (:mod:`bprop.training.sources`), e.g. the
            training rows of a table larger than memory (:mod:`bprop.tables.stream`).
        loss: loss name or object (see :mod:`bprop.nn.losses`).
        optimizer: name (``sgd``, ``adam``, ``adamw``, ``rmsprop``) or an :class:`Optimizer` instance.
        learning_rate: base rate for a named optimiser (its own default when ``None``).
        epochs: maximum number of passes over the training data.
        batch_size: examples per update, 1 (the seed's per-example update) up to the whole set; the
            last, partial batch of an epoch is used too. Larger than the data means the whole set.
        shuffle: reshuffle the training rows every epoch.
        seed: int or Generator; the validation split, the shuffling order come from it.
        sample_weight: ``(n_samples,)`` non-negative weights; each batch loss is Σwᵢlᵢ / Σwᵢ.
        validation_split: fraction held out for validation (stratified for classification).
        validation_data: explicit ``(X_val, Y_val)`` instead, or a batch source of the validation rows.
        metric: ``"accuracy"``, ``None``, or ``"auto"`` (accuracy for cross-entropy losses).
        l2: L2 penalty ½·l2·Σ‖W‖² on the weights (not biases); adds l2·W to their gradients.
        clip_norm: rescale the gradients when their global norm exceeds this.
        schedule: learning-rate schedule name or object (see :mod:`bprop.nn.schedules`); a named
            ``"cosine"`` decays over ``epochs``.
        target_loss: stop once the training loss is at or below this.
        patience: stop after this many epochs without an improvement of more than ``min_delta`` in the
            monitored loss (validation loss when there is validation data, else training loss).
        max_time: wall-clock budget in seconds, checked after every batch.
        stop_when_all_correct: stop once every training example is classified correctly (the seed's
            criterion), checked with a full pass after each epoch.
        monitor: what patience and restore-best follow: ``"val_loss"``, ``"loss"``, ``"val_accuracy"``
            or ``"accuracy"`` (the loss breaks ties), or ``"auto"``: the validation loss when there is
            validation data, else the training loss.
        weight_decay: decoupled weight decay λ of a named ``"adamw"`` (its own default 0.01 when ``None``):
            every parameter shrinks by η·λ per step, apart from the gradient (unlike ``l2``).
        restore_best_weights: put back the weights of the best monitored epoch at the end, whatever
            ended training.
        callbacks: :class:`~bprop.training.callbacks.Callback` objects. With plain SGD (no momentum) and no
            ``l2`` or ``clip_norm`` the update is fused into the gradient products
            (:meth:`~bprop.nn.network.Sequential.train_step`), so ``on_batch_end`` finds the weights
            updated but the layers' gradient buffers not filled.
        diagnostics: record per-layer gradient, update, dead-unit and saturation figures every epoch in
            ``History.diagnostics`` (``True``, or a configured :class:`~bprop.training.diagnostics.Diagnostics`);
            :func:`bprop.insight.findings` turns them into advice.
        verbose: ``"auto"`` (progress bar on an interactive terminal), 0 (silent) or 1 (bar).
        collective: a :class:`~bprop.training.distributed.Collective` (e.g. ``distributed.world()`` under
            ``mpiexec``): train data-parallel, each rank on its share of every global batch of
            ``batch_size`` rows, gradients all-reduced (see :mod:`bprop.training.distributed`).
        resume: a snapshot from ``TrainingState.snapshot()`` (taken anywhere, also inside an epoch, e.g. by a
            checkpoint callback). Training continues after that epoch with the same weights, optimiser,
            schedule, shuffling and dropout random states, History and best-weights bookkeeping, so
            with the same arguments and data it ends bit-identical to a run never interrupted.

    A non-finite loss or weight stops training with a :class:`DivergenceWarning` naming the epoch; the
    weights of the last finite epoch (or the best, when restoring) are kept. Ctrl-C stops training
    after the current batch with ``stop_reason == "interrupted"`` (SIGTERM: ``"terminated"``); that
    partial epoch is not recorded.
    """
    # Every argument of fit is the Trainer option of the same name: pass them all on, unchanged.
    options = dict(locals())
    return Trainer(**options).run()
