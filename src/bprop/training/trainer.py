"""The Trainer: the training loop as an object you can step, fed by any batch source.

``Trainer(net, X, Y, **options)`` (or ``Trainer(net, source=…)``) holds everything a run needs; its
:attr:`~Trainer.state` is one object (position, optimiser and schedule state, random-generator states,
history, best-weights bookkeeping) whose :meth:`~TrainerState.snapshot` is its serialisation, and
``Trainer(..., resume=snapshot)`` restores it whole — also in the middle of an epoch. Drive it with
:meth:`~Trainer.step` (``batches`` updates), :meth:`~Trainer.step_on` (one update on a batch you give:
one example is the seed's per-example rule), :meth:`~Trainer.run_epoch` or :meth:`~Trainer.run` (what
:func:`bprop.fit` does). Stepping part of an epoch and continuing gives the same bits as running it.

The loop takes its batches from a batch source (:mod:`bprop.training.sources`: in-memory arrays, and by the same
protocol a memory-mapped cache) and, after every backward pass, hands the gradients to ``gradient_hook``
(none by default). With ``collective`` (:mod:`bprop.training.distributed`) it trains data-parallel: this
rank's share of each global batch, gradients all-reduced, stops agreed. Stopping rules and the
best-weights tracker are the small objects of :mod:`bprop.training.stopping`, run like user callbacks.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from ..nn.checks import check_positive_int, check_sample_weight
from ..nn.losses import Loss, get_loss
from ..nn.metrics import correct_rows, target_threshold
from ..nn.network import Sequential
from ..nn.optimizers import Optimizer, add_l2
from ..nn.schedules import Schedule, get_schedule
from .batches import evaluate_chunks, evaluate_unchecked
from .callbacks import Callback, ProgressBar, wants_progress_bar
from .diagnostics import Diagnostics
from .history import History
from .interrupts import stop_on_signals
from .options import check_options, generators, make_optimizer, resolve_metric, resolve_monitor
from .sources import ArraySource, is_batch_source, source_chunks
from .splits import holdout_indices
from .state import TrainerState
from .stopping import AllCorrect, BestWeights, MaxEpochs, Patience, TargetLoss, TimeBudget

__all__ = ["Trainer", "TrainerState", "DivergenceWarning"]


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the loss or the weights stopped being finite."""


def _check_batch(batch, n: int, net: Sequential) -> None:
    """A batch source's batch has the rows asked for, the network's widths and dtype (no broadcasting)."""
    if not (isinstance(batch, tuple) and len(batch) == 3):
        raise ValueError("a batch source's take() must return (X, Y, sample weights or None)")
    X, Y, w = batch
    want = {"X": (n, net.n_inputs), "Y": (n, net.n_outputs)}
    for name, array in (("X", X), ("Y", Y)):
        if not isinstance(array, np.ndarray) or array.shape != want[name] or array.dtype != net.dtype:
            got = (getattr(array, "shape", type(array).__name__), getattr(array, "dtype", None))
            raise ValueError(f"the batch source's {name} is {got}, expected shape {want[name]} of {net.dtype}")
    if w is not None and (not isinstance(w, np.ndarray) or w.shape != (n,) or not (w >= 0).all()):
        raise ValueError(f"the batch source's sample weights must be an array of {n} values >= 0")


class _DivergedError(Exception):
    def __init__(self, epoch: int, detail: str):
        super().__init__(detail)
        self.epoch, self.detail = epoch, detail


class Trainer:
    """Train ``net`` in place by mini-batch backpropagation, one step, epoch or whole run at a time.

    Takes ``X, Y`` arrays or a batch ``source``, and the keyword options of :func:`bprop.fit` (which is
    ``Trainer(...).run()``), plus ``gradient_hook``: a callable given the list of gradient arrays after
    every backward pass, to change them in place before the update; and ``divergence_warning=False``: a
    run that diverges stops as usual but issues no :class:`DivergenceWarning` (read
    ``history.stop_message``), for callers on threads, where Python's warning filters cannot be scoped.

    Example:
        >>> import numpy as np, bprop
        >>> net = bprop.mlp([2, 3, 1], activation="tanh", seed=0, dtype=np.float64)
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> trainer = bprop.Trainer(net, X, [[0.0], [1.0], [1.0], [0.0]], epochs=3, batch_size=2, seed=0)
        >>> _ = trainer.step()               # one update on the first batch of epoch 1
        >>> (trainer.state.epoch, trainer.state.steps, trainer.state.epoch_open)
        (1, 1, True)
        >>> trainer.run().stop_reason         # the rest of the run
        'max_epochs'
    """

    def __init__(self, net: Sequential, X=None, Y=None, *, source=None, loss: str | Loss = "half_sse",
                 optimizer: str | Optimizer = "sgd", learning_rate: float | None = None, epochs: int = 100,
                 batch_size: int = 32, shuffle: bool = True, seed: int | np.random.Generator | None = None,
                 sample_weight=None, validation_split: float = 0.0, validation_data: tuple | None = None,
                 metric: str | None = "auto", l2: float = 0.0, clip_norm: float | None = None,
                 schedule: str | Schedule | None = None, target_loss: float | None = None,
                 patience: int | None = None, min_delta: float = 0.0, max_time: float | None = None,
                 stop_when_all_correct: bool = False, restore_best_weights: bool = False,
                 callbacks=(), diagnostics: bool | Diagnostics = False, verbose: int | str = "auto",
                 resume: dict | None = None, gradient_hook: Callable[[list], None] | None = None,
                 monitor: str = "auto", weight_decay: float | None = None, collective=None,
                 divergence_warning: bool = True) -> None:  # fmt: skip
        if not isinstance(net, Sequential):
            raise ValueError(f"Trainer needs a bprop.Sequential network, got {type(net).__name__}")
        self.collective = collective
        if collective is not None:
            # Every rank starts from rank 0's weights, and draws its own dropout masks.
            collective.broadcast_parameters(net.parameters())
            for i, layer in enumerate(la for la in net.layers if la.rng is not None):
                layer.rng = np.random.default_rng([int(layer.rng.integers(2**62)), collective.rank, i])
        self._stop_agreed = False
        self.net, self.loss = net, get_loss(loss)
        self._logits = net._loss_mode(self.loss)
        epochs = check_positive_int("epochs", epochs)
        self.batch_size = check_positive_int("batch_size", batch_size)
        check_options(l2, clip_norm, target_loss, patience, min_delta, max_time, validation_split, validation_data)
        self.l2, self.clip_norm, self.shuffle, self.gradient_hook = l2, clip_norm, shuffle, gradient_hook
        self.divergence_warning = bool(divergence_warning)
        optimizer = make_optimizer(optimizer, learning_rate, weight_decay)
        split_rng, shuffle_rng = generators(seed)
        self.metric = resolve_metric(metric, self.loss)
        self.source, (self.X_val, self.Y_val), self._threshold = self._data(
            X, Y, source, sample_weight, validation_split, validation_data, split_rng, stop_when_all_correct
        )
        monitor = resolve_monitor(monitor, self.metric, self.X_val is not None)
        mode = "max" if monitor.endswith("accuracy") else "min"
        best = BestWeights(min_delta, restore_best_weights, mode=mode)
        self.state = TrainerState(
            net=net, optimizer=optimizer, history=History(metric_name=self.metric, monitor=monitor),
            epochs=epochs, schedule=get_schedule(schedule, epochs=epochs), shuffle_rng=shuffle_rng, best=best,
            base_rate=optimizer.learning_rate, random_layers=[la for la in net.layers if la.rng is not None],
            last_good=[p.copy() for p in net.parameters()],
        )  # fmt: skip
        self.state.collective = collective
        self.callbacks = self._callbacks(callbacks, diagnostics, verbose, target_loss, stop_when_all_correct,
                                         patience, max_time, epochs)  # fmt: skip
        self._batch_hooks = [cb for cb in self.callbacks if type(cb).on_batch_end is not Callback.on_batch_end]
        self._is_weight = [name.startswith("W") for name in net.parameter_names()]
        # Without L2, clipping or a gradient hook nothing needs the gradients between backward and update,
        # so plain SGD may update the weights inside the products that form their gradients.
        self._plain_step = not l2 and clip_norm is None and gradient_hook is None and collective is None
        self._order: np.ndarray | None = None
        self._begun = False
        self.last_loss: float | None = None
        if resume is not None:
            self.state.restore(resume)

    # -- set-up ---------------------------------------------------------------------------------
    def _data(self, X, Y, source, sample_weight, validation_split, validation_data, split_rng, all_correct):
        """The batch source, the validation arrays (or Nones) and the classification threshold."""
        net = self.net
        X_val = Y_val = None
        if is_batch_source(validation_data):
            X_val = validation_data  # evaluated chunk by chunk (Y_val stays None)
        elif validation_data is not None:
            X_val = net.check_X(validation_data[0])
            Y_val = net.check_Y(validation_data[1], X_val.shape[0])
        if source is not None:
            if X is not None or Y is not None or sample_weight is not None or validation_split:
                raise ValueError("give X, Y (with sample_weight, validation_split) or a source, not both")
            self._fit_arrays = None
            # Only accuracy needs the threshold: a pass over the source's targets is spent only then.
            needed = (self.metric or all_correct) and net.output_activation != "softmax"
            return source, (X_val, Y_val), _source_threshold(source) if needed else 0.5
        X = net.check_X(X)
        Y = net.check_Y(Y, X.shape[0])
        weights = check_sample_weight(sample_weight, X.shape[0])
        threshold = target_threshold(Y)
        rows = np.arange(X.shape[0])
        if validation_data is None and validation_split:
            softmax = net.output_activation == "softmax"
            labels = Y.argmax(axis=1) if softmax else (Y >= threshold) if self.metric else None
            rows, val_rows = holdout_indices(X.shape[0], validation_split, split_rng, labels)
            X_val, Y_val = X[val_rows], Y[val_rows]
        if weights is not None:
            # A row of weight 0 counts for nothing: leave it out, so no batch can be made of such rows only.
            rows = rows[weights[rows] > 0]
            if rows.size == 0:
                raise ValueError("every training row has sample_weight 0; give some rows a positive weight")
        # The all-correct rule judges only the training rows, not the held-out ones.
        self._fit_arrays = (X, Y) if rows.size == X.shape[0] else (X[rows], Y[rows])
        return ArraySource(X, Y, weights, rows), (X_val, Y_val), threshold

    def _callbacks(self, user, diagnostics, verbose, target_loss, all_correct, patience, max_time, epochs):
        callbacks = list(user) + ([ProgressBar()] if wants_progress_bar(verbose) else [])
        if diagnostics:
            # First, so the other callbacks' on_epoch_end already sees this epoch's diagnostics.
            callbacks.insert(0, diagnostics if isinstance(diagnostics, Diagnostics) else Diagnostics())
        if target_loss is not None:
            callbacks.append(TargetLoss(target_loss))
        if all_correct:
            callbacks.append(AllCorrect(self.training_accuracy))
        if patience is not None:
            callbacks.append(Patience(patience, self.state.best))
        if max_time is not None:
            callbacks.append(TimeBudget(max_time))
        callbacks.append(MaxEpochs(epochs))
        return callbacks

    def training_accuracy(self) -> float:
        """Accuracy on every training row (a full pass in inference mode)."""
        if self.collective is not None:
            raise ValueError("stop_when_all_correct is not available in a data-parallel run yet")
        if self._fit_arrays is not None:
            X, Y = self._fit_arrays
            return evaluate_unchecked(self.net, X, Y, self.loss, "accuracy", threshold=self._threshold)[1]
        hits = n = 0
        for Xb, Yb, _ in source_chunks(self.source):
            out = self.net.forward_unchecked(Xb, logits=self._logits)
            hits += int(correct_rows(out, Yb, self.net.output_activation, self._logits, self._threshold).sum())
            n += Xb.shape[0]
        return hits / n

    # -- driving --------------------------------------------------------------------------------
    def step(self, batches: int = 1) -> float | None:
        """Run up to ``batches`` updates (crossing epoch ends as needed); returns the last batch loss, or
        None when training had already finished."""
        batches = check_positive_int("batches", batches)
        if self.state.finished:
            return None
        with self._guard():
            for _ in range(batches):
                if not self._advance():
                    break
        return self.last_loss

    def step_on(self, X, Y, sample_weight=None) -> float:
        """One update on the batch you give (one row: the seed's per-example rule); returns its loss.

        Uses the run's loss, optimiser, L2, clipping and gradient hook; the epoch's position and the
        history are left alone. A non-finite loss or weight ends training as divergence, as in
        :meth:`step`, keeping the weights of the last finished epoch.
        """
        if self.state.finished:
            raise ValueError(f"training has finished ({self.state.history.stop_reason}); build a new Trainer")
        if self.collective is not None:
            raise ValueError("step_on trains on one process's batch; in a data-parallel run use step()")
        X = self.net.check_X(X)
        Y = self.net.check_Y(Y, X.shape[0])
        weights = check_sample_weight(sample_weight, X.shape[0])
        with self._guard():
            value, _ = self._update(X, Y, weights)
            finite = math.isfinite(value) and all(np.isfinite(p).all() for p in self.net.parameters())
            if not finite:
                raise _DivergedError(max(self.state.epoch, 1), f"the loss became {value} in a step_on update")
        return value

    def run_epoch(self) -> History:
        """Finish the current epoch (or run the next one); returns the history."""
        with self._guard():
            if self._advance():
                while self.state.epoch_open and self._advance():
                    pass
        return self.state.history

    def run(self) -> History:
        """Train until a stopping rule holds (what :func:`bprop.fit` does); Ctrl-C stops after the batch."""
        with stop_on_signals(self.state.stop, honoured=lambda: self.state.finished):
            while not self.state.finished:
                self.run_epoch()
        return self.state.history

    # -- the loop -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        # Overflow is detected and reported as divergence, not as NumPy warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                yield
            except _DivergedError as div:
                self._diverged(div)

    def _begin(self) -> None:
        self._begun = True
        history = self.state.history
        self.state.started_at = time.perf_counter() - (history.time[-1] if history.time else 0.0)
        for cb in self.callbacks:
            cb.on_train_begin(self.state)
        if self.state.epoch_open:  # resumed inside an epoch: draw its order again from the saved state
            self.state.shuffle_rng.bit_generator.state = self.state.epoch_rng_state
            self._order = np.asarray(self.source.order(self.state.shuffle_rng if self.shuffle else None))
            for cb in self.callbacks:  # their per-epoch bookkeeping starts with the resumed part
                cb.on_epoch_begin(self.state)
        if not self.state.epoch_open and self.state.epoch >= self.state.epochs:
            self._finish("max_epochs")

    def _advance(self) -> bool:
        """One batch (opening or closing an epoch around it); False once training has finished."""
        if not self._begun:
            self._begin()
        state = self.state
        if state.finished:
            return False
        if not state.epoch_open:
            self._open_epoch()
        if state.cursor >= self._order.size:  # resumed from a snapshot taken after the epoch's last batch
            self._close_epoch()
            return True
        rows = self._order[state.cursor : state.cursor + self.batch_size]
        Xb, Yb, wb = self._take(rows)
        value, hits = self._update(Xb, Yb, wb)
        if not math.isfinite(self.last_loss):  # (the global batch's loss in a data-parallel run)
            raise _DivergedError(state.epoch, f"the loss became {self.last_loss} in batch {state.batch + 1}")
        # Only now, so that a failing source or gradient hook leaves the position where it was.
        state.cursor += rows.size
        state.batch += 1
        batch_weight = float(wb.sum()) if wb is not None else Xb.shape[0]
        sums = state.sums
        sums[0] += value * batch_weight
        sums[1] += batch_weight
        sums[2] += hits
        if self._batch_hooks:
            state.logs["batch_loss"] = value
            for cb in self._batch_hooks:
                cb.on_batch_end(state)
        if state.cursor >= self._order.size or self._stopping():
            self._close_epoch()
        return True

    def _stopping(self) -> bool:
        """Whether to end the epoch after this batch: asked for here, or (in a data-parallel run) by any
        rank in the batch's all-reduce, so that every rank stops after the same batch."""
        state = self.state
        if self.collective is None:
            return bool(state.stop_requested or state.end_epoch)
        if self._stop_agreed:
            state.end_epoch = True
        return self._stop_agreed

    def _agree_on_stopping(self) -> None:
        """Every rank takes the first stop reason any rank has (data-parallel runs)."""
        if self.collective is not None:
            reasons = self.collective.comm.allgather(self.state.stop_requested)
            self.state.stop_requested = next((r for r in reasons if r), None)

    def _take(self, rows: np.ndarray):
        if self.collective is not None:  # this rank's share of the global batch
            rows = rows[self.collective.share(rows.size)]
        batch = self.source.take(rows)
        if not isinstance(self.source, ArraySource):  # ours is right by construction; others are checked
            _check_batch(batch, rows.size, self.net)
        return batch

    def _open_epoch(self) -> None:
        state = self.state
        state.epoch += 1
        state.epoch_open, state.end_epoch, state.logs = True, False, {}
        state.cursor, state.batch, state.sums = 0, 0, [0.0, 0.0, 0.0]
        state.optimizer.learning_rate = state.schedule.rate(state.epoch - 1, state.base_rate)
        # The order first, so that a snapshot taken by a callback from here on can draw it again.
        state.epoch_rng_state = state.shuffle_rng.bit_generator.state
        self._order = np.asarray(self.source.order(state.shuffle_rng if self.shuffle else None))
        if self._order.size == 0:
            raise ValueError("the batch source gave an epoch without rows; check its order()")
        for cb in self.callbacks:
            cb.on_epoch_begin(state)

    def _update(self, X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None) -> tuple[float, float]:
        """Forward, backward, update on one batch: ``(loss, weighted count of correct rows)``.

        In a data-parallel run these are this rank's share's; the gradients are averaged over the global
        batch first, and ``last_loss`` (what divergence is judged by) is the global batch's loss.
        """
        net, optimizer = self.net, self.state.optimizer
        if self._plain_step:
            value, grads = net.train_step(X, Y, self.loss, optimizer, weights), None
        elif X.shape[0] == 0:  # a rank's empty share of a small last batch: it adds nothing
            value, grads = 0.0, [None if g is None else np.zeros_like(g) for g in net.gradients()]
        else:
            value, grads = net.loss_and_gradients_unchecked(X, Y, self.loss, weights)
        hits = 0.0
        if self.metric and math.isfinite(value) and X.shape[0]:
            correct = correct_rows(net.layers[-1].output, Y, net.output_activation, self._logits, self._threshold)
            hits = float(correct @ weights) if weights is not None else np.count_nonzero(correct)
        checked = value
        if self.collective is not None:
            weight = float(weights.sum()) if weights is not None else float(X.shape[0])
            wants_stop = self.state.stop_requested is not None or self.state.end_epoch
            checked, _, self._stop_agreed = self.collective.reduce_step(grads, weight, value * weight, wants_stop)
        if not self._plain_step and math.isfinite(checked):
            if self.gradient_hook is not None:
                self.gradient_hook(grads)
            _regularise(self.net.parameters(), grads, self._is_weight, self.l2, self.clip_norm)
            optimizer.step(self.net.parameters(), grads)
        self.state.steps += 1
        self.last_loss = checked
        return value, hits

    def _close_epoch(self) -> None:
        state, history, params = self.state, self.state.history, self.net.parameters()
        self._agree_on_stopping()
        if state.stop_requested in ("interrupted", "terminated"):
            # The partial epoch is not recorded; its updates are kept only if they stayed finite.
            if not all(np.isfinite(p).all() for p in params):
                _copy_into(params, state.last_good)
            state.epoch_open = False
            self._finish(state.stop_requested)
            return
        if not all(np.isfinite(p).all() for p in params):
            raise _DivergedError(state.epoch, "a weight became infinite or NaN")
        _copy_into(state.last_good, params)
        self._record(state.sums)
        monitored = history.monitored()[-1]
        # The schedule (reduce-on-plateau) always watches a loss; with accuracy monitored, the loss breaks ties.
        loss = (history.val_loss if self.X_val is not None else history.loss)[-1]
        state.schedule.observe(loss)
        if state.best.update(monitored, params, tie=loss):
            history.best_epoch, history.best_value = state.epoch, monitored
        state.epoch_open = False
        for cb in self.callbacks:
            cb.on_epoch_end(state)
        self._agree_on_stopping()  # (a time budget may run out on one rank only)
        if state.stop_requested:
            self._finish(state.stop_requested)

    def _record(self, sums: list[float]) -> None:
        state, history = self.state, self.state.history
        if self.collective is not None:  # the epoch's sums over every rank's shares
            sums = self.collective.sum(sums).tolist()
        loss = sums[0] / sums[1] + _penalty(self.net.parameters(), self._is_weight, self.l2)
        history.loss.append(loss)
        history.lr.append(state.optimizer.learning_rate)
        history.time.append(time.perf_counter() - state.started_at)
        state.logs.update(loss=loss, lr=state.optimizer.learning_rate)
        if self.metric:
            history.metric.append(sums[2] / sums[1])
            state.logs[history.metric_name] = history.metric[-1]
        if self.X_val is not None:
            val_loss, val_metric = self._validate()
            history.val_loss.append(val_loss)
            state.logs["val_loss"] = val_loss
            if self.metric:
                history.val_metric.append(val_metric)
                state.logs[f"val_{self.metric}"] = val_metric

    def _validate(self) -> tuple[float, float | None]:
        if self.collective is not None:
            return self._validate_shared()
        if self.Y_val is not None:
            return evaluate_unchecked(
                self.net, self.X_val, self.Y_val, self.loss, self.metric, threshold=self._threshold
            )
        check = None if isinstance(self.X_val, ArraySource) else lambda batch, n: _check_batch(batch, n, self.net)
        chunks = ((Xb, Yb) for Xb, Yb, _ in source_chunks(self.X_val, check=check))
        return evaluate_chunks(self.net, chunks, self.loss, self.metric, threshold=self._threshold)

    def _validate_shared(self) -> tuple[float, float | None]:
        """Each rank scores its share of the validation rows; the sums are all-reduced."""
        from .distributed import ShareOf

        chunks = ShareOf(self.X_val, self.Y_val, self.collective).chunks()
        hits = total = n = 0.0
        for Xb, Yb in chunks:
            loss, metric = evaluate_chunks(self.net, [(Xb, Yb)], self.loss, self.metric, threshold=self._threshold)
            total, hits, n = total + loss * len(Xb), hits + (metric or 0.0) * len(Xb), n + len(Xb)
        total, hits, n = self.collective.sum([total, hits, n])
        return total / n, (hits / n if self.metric else None)

    def _diverged(self, div: _DivergedError) -> None:
        _copy_into(self.net.parameters(), self.state.last_good)
        self.state.epoch_open = False
        history = self.state.history
        history.stop_message = (
            f"training diverged in epoch {div.epoch}: {div.detail}; kept the weights of epoch {div.epoch - 1}. "
            "Lower the learning rate (e.g. by 10x), standardise the inputs or set clip_norm."
        )
        if self.divergence_warning:  # off: the caller reads history.stop_message (warning filters are per process)
            warnings.warn(history.stop_message, DivergenceWarning, stacklevel=4)
        self._finish("diverged")

    def _finish(self, reason: str) -> None:
        state = self.state
        state.history.stop_reason, state.finished = reason, True
        if state.best.put_back(self.net.parameters()):
            state.history.restored_best = True
        for cb in self.callbacks:
            cb.on_train_end(state)


def _copy_into(targets: list[np.ndarray], sources: list[np.ndarray]) -> None:
    for target, source in zip(targets, sources):
        np.copyto(target, source)


def _source_threshold(source) -> float:
    """The decision threshold arrays would get (the midpoint of the target range), from one pass over
    the source's targets."""
    low, high = math.inf, -math.inf
    for _, Yb, _ in source_chunks(source):
        low, high = min(low, float(Yb.min())), max(high, float(Yb.max()))
    return (low + high) / 2


def _regularise(params, grads, weight_params, l2, clip_norm) -> None:
    if l2:
        add_l2(params, grads, l2, weight_params)
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
