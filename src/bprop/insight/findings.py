"""Plain-English findings about a training run, each with the fix to try.

:func:`findings` reads a :class:`~bprop.History` (or its ``to_dict()`` form, as stored with a model).
The per-layer checks need ``History.diagnostics`` (``fit(..., diagnostics=True)``); the loss and
overfitting checks need only the loss curves. Layer figures are the median over the last
``RECENT_EPOCHS`` epochs, so one noisy sampled batch cannot raise an alarm. Thresholds:

=====================  ===========================================================================
finding                fires when
=====================  ===========================================================================
``diverged``           training stopped because the loss or a weight became infinite or NaN.
``rising_loss``        the training loss rose ``RISING_EPOCHS`` (5) epochs in a row and by at least
                       ``RISING_MIN_INCREASE`` (5 %) over that stretch.
``dead_relu``          at least ``DEAD_FRACTION`` (40 %) of a ReLU layer's units gave 0 for every
                       example of the epoch ("since epoch k": the fraction stayed above it from k on).
``saturated``          at least ``SATURATED_FRACTION`` (30 %) of a sigmoid/tanh layer's outputs lie within
                       0.01 of an asymptote, where its derivative is almost 0.
``vanishing``          an earlier layer's RMS weight gradient is below ``VANISHING_RATIO`` (1e-3) times a
                       later layer's; or a layer's gradient norm grew ``EXPLODING_GROWTH`` (100×) above
                       its smallest epoch value while the loss rose above its minimum by 5 %.
``exploding``          an earlier layer's RMS weight gradient is above ``EXPLODING_RATIO`` (1e3) times a
                       later layer's; or a layer's gradient norm grew ``EXPLODING_GROWTH`` (100×) above
                       its smallest epoch value while the loss rose above its minimum by 5 %.
``large_steps``        one step changes a layer's weights by more than ``LARGE_UPDATE`` (10 %) of their norm.
``stalled``            steps change the weights by less than ``SMALL_UPDATE`` (1e-6) of their norm and the
                       loss fell by less than ``STALLED_PROGRESS`` (5 %) over the run.
``overfitting``        with validation data, after at least ``OVERFIT_MIN_EPOCHS`` (5) epochs: the
                       validation loss is ``OVERFIT_RISE`` (10 %) above its minimum, that minimum is
                       ``OVERFIT_PATIENCE`` (3) or more epochs old, and the training loss kept falling.
=====================  ===========================================================================
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..training.history import history_field

__all__ = ["Finding", "findings"]

RECENT_EPOCHS = 3
RISING_EPOCHS = 5
RISING_MIN_INCREASE = 0.05
DEAD_FRACTION = 0.4
SATURATED_FRACTION = 0.3
VANISHING_RATIO = 1e-3
EXPLODING_RATIO = 1e3
EXPLODING_GROWTH = 100.0
LARGE_UPDATE = 0.1
SMALL_UPDATE = 1e-6
STALLED_PROGRESS = 0.05
OVERFIT_MIN_EPOCHS = 5
OVERFIT_RISE = 0.1
OVERFIT_PATIENCE = 3


@dataclass(frozen=True)
class Finding:
    """One problem seen in a run: ``kind`` (see the module table), the sentence to show, and where."""

    kind: str
    message: str
    layer: int | None = None  # 1-based Dense layer number
    epoch: int | None = None  # 1-based epoch the problem is dated from

    def __str__(self) -> str:
        return self.message


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _times(x: float) -> str:
    """1e-06 → '1e-6', 2500 → '3e+3': an order of magnitude a reader can take in at a glance."""
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent):+d}"


def _floats(values) -> list[float]:
    """Numbers from a history list; None (how strict JSON stores NaN and infinities) becomes NaN."""
    return [math.nan if v is None else float(v) for v in values or []]


def _recent(diagnostics: list[dict], key: str, layer: int) -> float | None:
    values = [d[key][layer] for d in diagnostics[-RECENT_EPOCHS:] if d.get(key) and d[key][layer] is not None]
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else None


def findings(history: Any) -> list[Finding]:
    """What went wrong in a run, in plain words with the fix; an empty list for a healthy run.

    Args:
        history: a :class:`~bprop.History` or a dict with the same fields (``History.to_dict()``).

    Example:
        >>> for finding in findings(history):   # doctest: +SKIP
        ...     print(finding)
        layer 2: 64 % of ReLU units dead since epoch 3 — lower the learning rate or use leaky_relu
    """
    if not isinstance(history, Mapping) and not hasattr(history, "loss"):
        raise ValueError(f"findings needs a bprop.History or its to_dict() form, got {type(history).__name__}")
    loss = _floats(history_field(history, "loss"))
    diagnostics = list(history_field(history, "diagnostics") or [])
    found: list[Finding] = []
    if history_field(history, "stop_reason") == "diverged":
        found.append(
            Finding("diverged", history_field(history, "stop_message") or "training diverged", epoch=len(loss) + 1)
        )
    rates = _floats(history_field(history, "lr"))
    found += _rising(loss, decaying=len(rates) > 1 and rates[-1] < rates[0])
    if diagnostics:
        found += _layer_findings(diagnostics, loss)
    found += _overfitting(history, loss)
    return found


def _rising(loss: list[float], decaying: bool = False) -> list[Finding]:
    """``decaying``: the run's rate already fell (a schedule), so only lowering it is advised."""
    best: tuple[int, int] | None = None  # (first, last) 0-based epochs of the longest qualifying rise
    start = 0
    for i in range(1, len(loss) + 1):
        if i < len(loss) and loss[i] > loss[i - 1]:
            continue
        run = i - 1 - start  # epochs that rose: start+1 … i-1
        rise = (loss[i - 1] - loss[start]) / abs(loss[start]) if loss[start] else math.inf
        if run >= RISING_EPOCHS and rise >= RISING_MIN_INCREASE and (best is None or run > best[1] - best[0]):
            best = (start, i - 1)
        start = i
    if best is None:
        return []
    first, last = best
    return [
        Finding(
            "rising_loss",
            f"loss rose {last - first} epochs in a row (epochs {first + 2}–{last + 1}, from {loss[first]:.3g} "
            f"to {loss[last]:.3g}) — learning rate too high: lower it "
            + ("(e.g. ÷10)" if decaying else "(e.g. ÷10) or add a decaying schedule"),
            epoch=first + 2,
        )
    ]


def _layer_findings(diagnostics: list[dict], loss: list[float]) -> list[Finding]:
    found: list[Finding] = []
    last = diagnostics[-1]
    activations = last.get("activation", [])
    n = len(activations)
    rms = [_recent(diagnostics, "grad_rms", i) for i in range(n)]
    for i in range(n):
        dead = _recent(diagnostics, "dead_fraction", i)
        if dead is not None and dead >= DEAD_FRACTION:
            since = last["epoch"]
            for d in reversed(diagnostics):
                if (d["dead_fraction"][i] or 0.0) < DEAD_FRACTION:
                    break
                since = d["epoch"]
            found.append(
                Finding(
                    "dead_relu",
                    f"layer {i + 1}: {_pct(dead)} of ReLU units dead since epoch {since} — "
                    "lower the learning rate or use leaky_relu",
                    layer=i + 1,
                    epoch=since,
                )
            )
        saturated = _recent(diagnostics, "saturated_fraction", i)
        if saturated is not None and saturated >= SATURATED_FRACTION:
            found.append(
                Finding(
                    "saturated",
                    f"layer {i + 1}: {_pct(saturated)} of {activations[i]} outputs saturated (their gradient is "
                    "almost 0) — standardise the inputs, use Glorot initialisation, a lower learning rate or ReLU",
                    layer=i + 1,
                )
            )
    found += _gradient_flow(rms, diagnostics, loss)
    steps = _step_sizes(diagnostics, loss, n)
    # A stall caused by dead, saturated or vanishing units is not cured by a larger learning rate.
    return found + [f for f in steps if f.kind != "stalled" or not found]


def _gradient_flow(rms: list[float | None], diagnostics: list[dict], loss: list[float]) -> list[Finding]:
    found: list[Finding] = []
    # A layer with no gradient at all (every unit dead) says nothing about how gradients flow.
    layers = [i for i, r in enumerate(rms) if r is not None and 0 < r < math.inf]
    pairs = [(rms[a] / rms[b], a, b) for a in layers for b in layers if a < b]
    if pairs:
        ratio, a, b = min(pairs)
        if ratio < VANISHING_RATIO:
            found.append(
                Finding(
                    "vanishing",
                    f"gradients in layer {a + 1} are {_times(ratio)} × those of layer {b + 1} (vanishing) — "
                    "use ReLU or He initialisation, or fewer layers",
                    layer=a + 1,
                )
            )
        ratio, a, b = max(pairs)
        if ratio > EXPLODING_RATIO:
            message = f"gradients in layer {a + 1} are {_times(ratio)} × those of layer {b + 1} (exploding)"
            return found + [Finding("exploding", message + _EXPLODING_FIX, layer=a + 1)]
    # Growth alone is normal early in training (from a symmetric start, out of a plateau); growth
    # while the loss climbs is the runaway feedback of a step too large.
    if len(loss) < 2 or not loss[-1] > (1 + RISING_MIN_INCREASE) * min(loss):
        return found
    for i in layers:
        earlier = [d["grad_norm"][i] for d in diagnostics[:-1] if d["grad_norm"][i]]
        now = diagnostics[-1]["grad_norm"][i]
        if earlier and now and now / min(earlier) > EXPLODING_GROWTH:
            message = f"layer {i + 1}: gradients grew {_times(now / min(earlier))} × while the loss rose (exploding)"
            return found + [Finding("exploding", message + _EXPLODING_FIX, layer=i + 1)]
    return found


_EXPLODING_FIX = " — lower the learning rate, set clip_norm or use smaller initial weights (Glorot/He)"


def _step_sizes(diagnostics: list[dict], loss: list[float], n: int) -> list[Finding]:
    ratios = [(_recent(diagnostics, "update_ratio", i), i) for i in range(n)]
    ratios = [(r, i) for r, i in ratios if r is not None]
    if not ratios:
        return []
    largest, i = max(ratios)
    if largest > LARGE_UPDATE:
        return [
            Finding(
                "large_steps",
                f"layer {i + 1}: each step changes the weights by {_pct(largest)} of their size — "
                "learning rate too high (or initial weights too small): lower it; a healthy step is about 0.1 %",
                layer=i + 1,
            )
        ]
    smallest, i = min(ratios)
    progress = (loss[0] - loss[-1]) / abs(loss[0]) if len(loss) >= 2 and loss[0] else math.inf
    if 0 < smallest < SMALL_UPDATE and progress < STALLED_PROGRESS:
        return [
            Finding(
                "stalled",
                f"layer {i + 1}: each step changes the weights by only {_times(smallest)} of their size and the "
                f"loss fell {_pct(max(progress, 0.0))} — learning rate too low: raise it (e.g. ×10) or use adam",
                layer=i + 1,
            )
        ]
    return []


def _overfitting(history: Any, loss: list[float]) -> list[Finding]:
    val = _floats(history_field(history, "val_loss"))
    if len(val) < OVERFIT_MIN_EPOCHS or len(loss) != len(val) or not all(map(math.isfinite, val + loss)):
        return []
    best = min(range(len(val)), key=val.__getitem__)
    rise = (val[-1] - val[best]) / abs(val[best]) if val[best] else math.inf
    if rise < OVERFIT_RISE or len(val) - 1 - best < OVERFIT_PATIENCE or loss[-1] >= loss[best]:
        return []
    name = history_field(history, "metric_name")
    metric = history_field(history, "metric") or []
    val_metric = history_field(history, "val_metric") or []
    # Dated, because the results a user sees may be those of a restored earlier epoch.
    lead = f"by the last epoch ({len(val)}), "
    lead += f"training {name} {_pct(metric[-1])}, " if name and metric else "training loss still falling, "
    if name and len(val_metric) == len(val) and _pct(val_metric[-1]) != _pct(max(val_metric)):
        lead += f"validation {name} down from {_pct(max(val_metric))} to {_pct(val_metric[-1])}, "
    restored = history_field(history, "best_epoch") if history_field(history, "restored_best") else None
    if restored:
        fix = (
            f"overfitting, so the weights of epoch {restored} were kept (the scores shown are theirs); "
            "dropout, L2 or more data may still help"
        )
    else:
        fix = "overfitting: add dropout or L2, get more data, or stop earlier (patience=…, restore_best_weights=True)"
    return [
        Finding(
            "overfitting",
            f"{lead}validation loss {_pct(rise)} above its best (epoch {best + 1}) — {fix}",
            epoch=best + 1,
        )
    ]
