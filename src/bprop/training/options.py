"""The options of a training run checked and resolved once: seeds, metric, monitor, optimiser, numbers."""

from __future__ import annotations

import numpy as np

from ..nn.checks import check_fraction, check_number, check_positive_int
from ..nn.losses import Loss
from ..nn.optimizers import Optimizer, get_optimizer
from .sources import is_batch_source

__all__ = ["MONITORS", "generators", "resolve_monitor", "resolve_metric", "make_optimizer", "check_options"]


def generators(seed) -> tuple[np.random.Generator, np.random.Generator]:
    """The validation-split and shuffling generators, both from ``seed``."""
    if not (seed is None or isinstance(seed, (int, np.integer, np.random.Generator))) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, a numpy.random.Generator or None, got {seed!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    split_rng, shuffle_rng = rng.spawn(2)
    return split_rng, shuffle_rng


MONITORS = ("auto", "loss", "val_loss", "accuracy", "val_accuracy")


def resolve_monitor(monitor, metric: str | None, validated: bool) -> str:
    """The quantity restore-best and patience follow: ``auto`` is the validation loss when there is
    validation data, else the training loss."""
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {MONITORS}, got {monitor!r}")
    if monitor == "auto":
        return "val_loss" if validated else "loss"
    if monitor.startswith("val_") and not validated:
        raise ValueError(f"monitor={monitor!r} needs validation data (validation_split or validation_data)")
    if monitor.endswith("accuracy") and metric != "accuracy":
        raise ValueError(f"monitor={monitor!r} needs metric='accuracy' (the default for cross-entropy losses)")
    return monitor


def resolve_metric(metric, loss: Loss) -> str | None:
    metric = ("accuracy" if loss.fused_activation else None) if metric == "auto" else metric
    if metric not in (None, "accuracy"):
        raise ValueError(f"metric must be 'accuracy', None or 'auto', got {metric!r}")
    return metric


def make_optimizer(optimizer, learning_rate, weight_decay=None) -> Optimizer:
    """The run's optimiser: an instance as given, or a named one built with ``learning_rate`` and, for
    ``adamw``, the decoupled ``weight_decay`` (``None``: the optimiser's own defaults)."""
    if isinstance(optimizer, Optimizer):
        for name, value in (("learning_rate", learning_rate), ("weight_decay", weight_decay)):
            if value is not None:
                raise ValueError(f"{name} goes into the optimizer object; pass one or the other")
        return optimizer
    options = {} if learning_rate is None else {"learning_rate": learning_rate}
    if weight_decay is not None:
        if optimizer != "adamw":
            raise ValueError(
                f"weight_decay (decoupled decay) needs optimizer='adamw', got {optimizer!r}; "
                "for another optimiser use l2 (decay coupled to the gradient)"
            )
        options["weight_decay"] = check_number("weight_decay", weight_decay, minimum=0)
    return get_optimizer(optimizer, **options)


def check_options(l2, clip_norm, target_loss, patience, min_delta, max_time, validation_split, validation_data):
    check_number("l2", l2, minimum=0)
    check_number("min_delta", min_delta, minimum=0)
    check_fraction("validation_split", validation_split)
    if clip_norm is not None:
        check_number("clip_norm", clip_norm, above=0)
    if max_time is not None:
        check_number("max_time", max_time, above=0)
    if target_loss is not None:
        check_number("target_loss", target_loss)
    if patience is not None:
        check_positive_int("patience", patience)
    if validation_data is not None and validation_split:
        raise ValueError("give validation_split or validation_data, not both")
    if is_batch_source(validation_data):
        return
    if validation_data is not None and (not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2):
        raise ValueError("validation_data must be a pair (X_val, Y_val) or a batch source")
