"""The training loop: forward → error → backward → update, repeated until a stopping criterion holds.

Knows nothing of files or the command line. See :func:`fit`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence as Seq

import numpy as np

from ._checks import check_positive_int
from .batches import BatchGatherer, evaluate
from .callbacks import Callback, ProgressBar, TrainingState, wants_progress_bar
from .diagnostics import Diagnostics
from .history import History
from .interrupts import stop_on_signals
from .losses import Loss, get_loss
from .metrics import correct_rows, target_threshold
from .network import Sequential, _check_weight
from .optimizers import Optimizer, get_optimizer
from .schedules import Schedule, get_schedule
from .splits import holdout_indices


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the loss or the weights stopped being finite."""


def fit(
    net: Sequential,
    X,
    Y,
    *,
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
) -> History:
    """Train ``net`` in place by mini-batch backpropagation and return its :class:`History`.

    Args:
        net: the network; its dtype decides the computation's dtype.
        X: inputs ``(n_samples, n_features)``; Y: targets ``(n_samples, n_outputs)`` (one-hot for softmax).
        loss: loss name or object (see :mod:`bprop.losses`).
        optimizer: name (``sgd``, ``adam``, ``adamw``, ``rmsprop``) or an :class:`Optimizer` instance.
        learning_rate: base rate for a named optimiser (its own default when ``None``).
        epochs: maximum number of passes over the training data.
        batch_size: examples per update, 1 (the seed's per-example update) up to the whole set; the
            last, partial batch of an epoch is used too. Larger than the data means the whole set.
        shuffle: reshuffle the training rows every epoch.
        seed: int or Generator; the validation split, the shuffling order come from it.
        sample_weight: ``(n_samples,)`` non-negative weights; each batch loss is Σwᵢlᵢ / Σwᵢ.
        validation_split: fraction held out for validation (stratified for classification).
        validation_data: explicit ``(X_val, Y_val)`` instead.
        metric: ``"accuracy"``, ``None``, or ``"auto"`` (accuracy for cross-entropy losses).
        l2: L2 penalty ½·l2·Σ‖W‖² on the weights (not biases); adds l2·W to their gradients.
        clip_norm: rescale the gradients when their global norm exceeds this.
        schedule: learning-rate schedule name or object (see :mod:`bprop.schedules`); a named
            ``"cosine"`` decays over ``epochs``.
        target_loss: stop once the training loss is at or below this.
        patience: stop after this many epochs without an improvement of more than ``min_delta`` in the
            monitored loss (validation loss when there is validation data, else training loss).
        max_time: wall-clock budget in seconds, checked after every batch.
        stop_when_all_correct: stop once every training example is classified correctly (the seed's
            criterion), checked with a full pass after each epoch.
        restore_best_weights: put back the weights of the best monitored epoch at the end, whatever
            ended training.
        callbacks: :class:`~bprop.callbacks.Callback` objects. With plain SGD (no momentum) and no
            ``l2`` or ``clip_norm`` the update is fused into the gradient products
            (:meth:`~bprop.network.Sequential.train_step`), so ``on_batch_end`` finds the weights
            updated but the layers' gradient buffers not filled.
        diagnostics: record per-layer gradient, update, dead-unit and saturation figures every epoch in
            ``History.diagnostics`` (``True``, or a configured :class:`~bprop.diagnostics.Diagnostics`);
            :func:`bprop.findings` turns them into advice.
        verbose: ``"auto"`` (progress bar on an interactive terminal), 0 (silent) or 1 (bar).
        resume: a snapshot from ``TrainingState.snapshot()`` (taken at the end of an epoch, e.g. by a
            checkpoint callback). Training continues after that epoch with the same weights, optimiser,
            schedule, shuffling and dropout random states, History and best-weights bookkeeping, so
            with the same arguments and data it ends bit-identical to a run never interrupted.

    A non-finite loss or weight stops training with a :class:`DivergenceWarning` naming the epoch; the
    weights of the last finite epoch (or the best, when restoring) are kept. Ctrl-C stops training
    after the current batch with ``stop_reason == "interrupted"`` (SIGTERM: ``"terminated"``); that
    partial epoch is not recorded.
    """
    if not isinstance(net, Sequential):
        raise ValueError(f"fit needs a bprop.Sequential network, got {type(net).__name__}")
    loss_fn = get_loss(loss)
    logits = net._loss_mode(loss_fn)
    X = net.check_X(X)
    Y = net.check_Y(Y, X.shape[0])
    weights = _check_weight(sample_weight, X.shape[0])
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    _check_options(l2, clip_norm, target_loss, patience, min_delta, max_time, validation_split, validation_data)
    optimizer = _make_optimizer(optimizer, learning_rate)
    schedule = get_schedule(schedule, epochs=epochs)  # a named schedule's length is the run's
    if not (seed is None or isinstance(seed, (int, np.integer, np.random.Generator))) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, a numpy.random.Generator or None, got {seed!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    split_rng, shuffle_rng = rng.spawn(2)
    metric = ("accuracy" if loss_fn.fused_activation else None) if metric == "auto" else metric
    if metric not in (None, "accuracy"):
        raise ValueError(f"metric must be 'accuracy', None or 'auto', got {metric!r}")
    threshold = target_threshold(Y)
    rows = np.arange(X.shape[0])
    if validation_data is not None:
        X_val = net.check_X(validation_data[0])
        Y_val = net.check_Y(validation_data[1], X_val.shape[0])
    elif validation_split:
        labels = Y.argmax(axis=1) if net.output_activation == "softmax" else (Y >= threshold) if metric else None
        rows, val_rows = holdout_indices(X.shape[0], validation_split, split_rng, labels)
        X_val, Y_val = X[val_rows], Y[val_rows]
    else:
        X_val = Y_val = None
    if weights is not None:
        # A row of weight 0 counts for nothing: leave it out, so no batch can be made of such rows only.
        rows = rows[weights[rows] > 0]
        if rows.size == 0:
            raise ValueError("every training row has sample_weight 0; give some rows a positive weight")
    history = History(metric_name=metric, monitor="val_loss" if X_val is not None else "loss")
    callbacks = list(callbacks) + ([ProgressBar()] if wants_progress_bar(verbose) else [])
    if diagnostics:
        # First, so the other callbacks' on_epoch_end already sees this epoch's diagnostics.
        callbacks.insert(0, diagnostics if isinstance(diagnostics, Diagnostics) else Diagnostics())
    state = TrainingState(net=net, optimizer=optimizer, history=history, epochs=epochs)
    batch_hooks = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
    params = net.parameters()
    weight_params = [name.startswith("W") for name in net.parameter_names()]
    last_good = [p.copy() for p in params]
    best: list[np.ndarray] | None = None
    best_value, wait = math.inf, 0
    base_rate = optimizer.learning_rate
    if stop_when_all_correct and rows.size != X.shape[0]:
        X_fit, Y_fit = X[rows], Y[rows]  # judge only the training rows, not the held-out ones
    else:
        X_fit, Y_fit = X, Y
    # Without L2 or clipping nothing needs the gradients between backward and update, so the step
    # can let plain SGD update the weights inside the products that form their gradients.
    plain_step = not l2 and clip_norm is None
    gather = BatchGatherer(X, Y, weights)
    random_layers = [layer for layer in net.layers if layer.rng is not None]
    first_epoch = 1
    if resume is not None:
        first_epoch = resume["epoch"] + 1
        for p, saved in zip(params, resume["params"], strict=True):
            np.copyto(p, saved)
        for keep, p in zip(last_good, params):
            np.copyto(keep, p)
        optimizer.load_state_dict(resume["optimizer"])
        base_rate = resume["base_rate"]
        schedule.load_state_dict(resume["schedule"])
        shuffle_rng.bit_generator.state = resume["shuffle_rng"]
        for layer, rng_state in zip(random_layers, resume["layer_rngs"], strict=True):
            layer.rng.bit_generator.state = rng_state
        history = state.history = History.from_dict({**resume["history"], "stop_reason": None})
        best = None if resume["best"] is None else [np.array(b, copy=True) for b in resume["best"]]
        best_value, wait = resume["best_value"], resume["wait"]
    start = time.perf_counter() - (history.time[-1] if history.time else 0.0)

    def snapshot() -> dict:
        """The training state at the end of the current epoch, enough to resume bit-identically."""
        return {
            "epoch": state.epoch,
            "params": [p.copy() for p in params],
            "optimizer": optimizer.state_dict(),
            "base_rate": base_rate,
            "schedule": schedule.state_dict(),
            "shuffle_rng": shuffle_rng.bit_generator.state,
            "layer_rngs": [layer.rng.bit_generator.state for layer in random_layers],
            "history": history.to_dict(),
            "best": None if best is None else [b.copy() for b in best],
            "best_value": best_value,
            "wait": wait,
        }

    state.snapshot = snapshot
    state.epoch = first_epoch - 1  # the last finished epoch, until the loop starts the next one

    def stop_reason(wait: int) -> str | None:
        """The first criterion that holds after an epoch, in a fixed order."""
        if state.stop_requested:
            return state.stop_requested
        if target_loss is not None and history.loss[-1] <= target_loss:
            return "target_loss"
        if stop_when_all_correct:
            _, accuracy = evaluate(net, X_fit, Y_fit, loss_fn, "accuracy", threshold=threshold)
            if accuracy == 1.0:
                return "all_correct"
        if patience is not None and wait >= patience:
            return "no_improvement"
        if max_time is not None and time.perf_counter() - start >= max_time:
            return "time_budget"
        return None

    for cb in callbacks:
        cb.on_train_begin(state)
    # Overflow is detected and reported by the divergence check below, not as NumPy warnings.
    with stop_on_signals(state.stop), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            for epoch in range(first_epoch, epochs + 1):
                state.epoch, state.logs = epoch, {}
                optimizer.learning_rate = schedule.rate(epoch - 1, base_rate)
                for cb in callbacks:
                    cb.on_epoch_begin(state)
                order = rows[shuffle_rng.permutation(rows.size)] if shuffle else rows
                total = total_weight = correct = 0.0
                for state.batch, begin in enumerate(range(0, order.size, batch_size), start=1):
                    Xb, Yb, wb = gather(order[begin : begin + batch_size])
                    if plain_step:
                        value = net.train_step(Xb, Yb, loss_fn, optimizer, wb)
                    else:
                        value, grads = net.loss_and_gradients_unchecked(Xb, Yb, loss_fn, wb)
                    if not math.isfinite(value):
                        raise _DivergedError(epoch, f"the loss became {value} in batch {state.batch}")
                    if metric:
                        out = net.layers[-1]._out
                        hits = correct_rows(out, Yb, net.output_activation, logits, threshold)
                        correct += float(hits @ wb) if wb is not None else np.count_nonzero(hits)
                    if not plain_step:
                        _regularise(params, grads, weight_params, l2, clip_norm)
                        optimizer.step(params, grads)
                    batch_weight = float(wb.sum()) if wb is not None else Xb.shape[0]
                    total += value * batch_weight
                    total_weight += batch_weight
                    if batch_hooks:
                        state.logs["batch_loss"] = value
                        for cb in batch_hooks:
                            cb.on_batch_end(state)
                    if state.stop_requested or (max_time is not None and time.perf_counter() - start >= max_time):
                        break
                if state.stop_requested in ("interrupted", "terminated"):
                    # The partial epoch is not recorded; its updates are kept only if they stayed finite.
                    if not all(np.isfinite(p).all() for p in params):
                        for p, keep in zip(params, last_good):
                            np.copyto(p, keep)
                    history.stop_reason = state.stop_requested
                    break
                if not all(np.isfinite(p).all() for p in params):
                    raise _DivergedError(epoch, "a weight became infinite or NaN")
                for p, keep in zip(params, last_good):
                    np.copyto(keep, p)
                epoch_loss = total / total_weight + _penalty(params, weight_params, l2)
                _record(history, state, epoch_loss, correct / total_weight if metric else None, optimizer, start)
                if X_val is not None:
                    val_loss, val_metric = evaluate(net, X_val, Y_val, loss_fn, metric, threshold=threshold)
                    history.val_loss.append(val_loss)
                    state.logs["val_loss"] = val_loss
                    if metric:
                        history.val_metric.append(val_metric)
                        state.logs[f"val_{metric}"] = val_metric
                monitored = history.monitored()[-1]
                schedule.observe(monitored)
                if monitored < best_value - min_delta:
                    best_value, wait = monitored, 0
                    history.best_epoch, history.best_value = epoch, monitored
                    if restore_best_weights:
                        best = [p.copy() for p in params] if best is None else best
                        for p, keep in zip(params, best):
                            np.copyto(keep, p)
                else:
                    wait += 1
                for cb in callbacks:
                    cb.on_epoch_end(state)
                reason = stop_reason(wait)
                if reason:
                    history.stop_reason = reason
                    break
            else:
                history.stop_reason = "max_epochs"
        except _DivergedError as div:
            for p, keep in zip(params, last_good):
                np.copyto(p, keep)
            history.stop_reason = "diverged"
            history.stop_message = (
                f"training diverged in epoch {div.epoch}: {div.detail}; kept the weights of epoch {div.epoch - 1}. "
                "Lower the learning rate (e.g. by 10x), standardise the inputs or set clip_norm."
            )
            warnings.warn(history.stop_message, DivergenceWarning, stacklevel=2)
    if restore_best_weights and best is not None:
        for p, keep in zip(params, best):
            np.copyto(p, keep)
        history.restored_best = True
    for cb in callbacks:
        cb.on_train_end(state)
    return history


class _DivergedError(Exception):
    def __init__(self, epoch: int, detail: str):
        super().__init__(detail)
        self.epoch, self.detail = epoch, detail


def _make_optimizer(optimizer, learning_rate) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        if learning_rate is not None:
            raise ValueError("learning_rate goes into the optimizer object; pass one or the other")
        return optimizer
    return get_optimizer(optimizer, **({} if learning_rate is None else {"learning_rate": learning_rate}))


def _check_options(l2, clip_norm, target_loss, patience, min_delta, max_time, validation_split, validation_data):
    for name, value in (
        ("l2", l2),
        ("clip_norm", clip_norm),
        ("target_loss", target_loss),
        ("min_delta", min_delta),
        ("max_time", max_time),
        ("validation_split", validation_split),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))):
            raise ValueError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(l2) and l2 >= 0):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"clip_norm must be > 0 or None, got {clip_norm!r}")
    if patience is not None:
        check_positive_int("patience", patience)
    if not min_delta >= 0:
        raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
    if max_time is not None and not max_time > 0:
        raise ValueError(f"max_time must be > 0 seconds or None, got {max_time!r}")
    if target_loss is not None and not math.isfinite(target_loss):
        raise ValueError(f"target_loss must be a finite number or None, got {target_loss!r}")
    if validation_data is not None and validation_split:
        raise ValueError("give validation_split or validation_data, not both")
    if validation_data is not None and (not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2):
        raise ValueError("validation_data must be a pair (X_val, Y_val)")


def _regularise(params, grads, weight_params, l2, clip_norm) -> None:
    if l2:
        for p, g, is_weight in zip(params, grads, weight_params):
            if g is not None and is_weight:
                g += l2 * p
    if clip_norm is not None:
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads if g is not None))
        if norm > clip_norm:
            for g in grads:
                if g is not None:
                    g *= clip_norm / norm


def _penalty(params, weight_params, l2) -> float:
    if not l2:
        return 0.0
    return 0.5 * l2 * sum(float(np.vdot(p, p)) for p, w in zip(params, weight_params) if w)


def _record(history: History, state: TrainingState, loss, metric_value, optimizer, start) -> None:
    history.loss.append(loss)
    history.lr.append(optimizer.learning_rate)
    history.time.append(time.perf_counter() - start)
    state.logs.update(loss=loss, lr=optimizer.learning_rate)
    if metric_value is not None:
        history.metric.append(metric_value)
        state.logs[history.metric_name] = metric_value
