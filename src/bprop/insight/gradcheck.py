"""Gradient check: central finite differences in float64 against the analytic backward pass."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from ..nn.losses import Loss, get_loss
from ..nn.network import Sequential

#: Activations with a kink at z = 0: across it the loss has no derivative to approximate.
KINKED_ACTIVATIONS = frozenset({"relu", "leaky_relu"})

#: Entries from which ``progress="auto"`` shows a bar (each entry costs four forward passes).
PROGRESS_ENTRIES = 2000


# Ulps of the loss one finite difference may be off by through rounding (sums over a batch, exp, log).
ROUNDING_ULPS = 1000


@dataclass
class GradcheckResult:
    """Outcome of :func:`gradcheck`.

    ``errors`` maps each parameter name (``W1``, ``b1``, …) to its relative error
    ``max|analytic − numeric| / max(max|analytic|, max|numeric|)`` over the entries checked; frozen
    parameters are left out. ``skipped`` counts, per parameter, the entries left out because a
    finite-difference step moved some ReLU/leaky-ReLU pre-activation across its kink (there the
    difference quotient is not the derivative). ``max_error`` is the largest error.
    """

    errors: dict[str, float]
    tolerance: float
    skipped: dict[str, int] = field(default_factory=dict)
    checked: int | None = None

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def passed(self) -> bool:
        # Nothing checked proves nothing: every entry skipped is not a pass.
        nothing_checked = self.checked == 0 and self.n_skipped > 0
        return self.max_error < self.tolerance and not nothing_checked

    def skip_note(self) -> str:
        """``"k entries skipped (within eps of a ReLU kink)"``, or ``""`` when none were."""
        if not self.n_skipped:
            return ""
        entries = "entry" if self.n_skipped == 1 else "entries"
        note = f"{self.n_skipped} {entries} skipped (within eps of a ReLU kink)"
        if self.checked == 0:
            note = f"all {note}: nothing was checked; try other inputs or a smaller eps"
        return note

    def __str__(self) -> str:
        rows = [
            f"{name:>6}  {err:.3e}" + (f"  ({self.skipped[name]} skipped)" if self.skipped.get(name) else "")
            for name, err in self.errors.items()
        ]
        verdict = "passed" if self.passed else "FAILED"
        note = f"; {self.skip_note()}" if self.n_skipped else ""
        summary = f"max relative error {self.max_error:.3e} ({verdict}, tolerance {self.tolerance:g}){note}"
        return "\n".join(rows + [summary])


class _KinkSides:
    """Records which side of the kink every ReLU/leaky-ReLU pre-activation is on during a forward pass.

    Hooked into the layers' recorders, so the sides come from the very forward pass that gives the loss.
    """

    def __init__(self, net: Sequential):
        self.layers = [
            (i, layer)
            for i, layer in enumerate(net.layers)
            if getattr(getattr(layer, "activation", None), "name", None) in KINKED_ACTIVATIONS
        ]
        self.sides: dict[int, np.ndarray] = {}

    def __enter__(self) -> _KinkSides:
        for index, layer in self.layers:
            layer.recorder = self._recorder(index)
        return self

    def __exit__(self, *exc) -> None:
        for _, layer in self.layers:
            layer.recorder = None

    def _recorder(self, index: int):
        def record(key: str, value: np.ndarray) -> None:
            if key == "z":  # recorded before the activation overwrites z in place
                self.sides[index] = value > 0

        return record

    def snapshot(self) -> dict[int, np.ndarray]:
        return dict(self.sides)


def gradcheck(
    net: Sequential,
    X,
    Y,
    loss: str | Loss = "half_sse",
    *,
    eps: float = 1e-4,
    tolerance: float = 1e-7,
    sample_weight=None,
    progress: bool | str = "auto",
) -> GradcheckResult:
    """Compare ``net.loss_and_gradients`` with central differences for every parameter entry.

    The difference quotient is the fourth-order central one,
    (L(θ−2ε) − 8·L(θ−ε) + 8·L(θ+ε) − L(θ+2ε)) / 12ε, whose O(ε⁴) truncation error lets ε stay large
    enough (1e-4) that rounding in L does not swamp small gradients.

    An entry whose steps move any ReLU/leaky-ReLU pre-activation across 0 is skipped and counted in
    ``result.skipped``: the loss has a kink between the evaluation points, so the quotient measures no
    derivative and a correct backward pass would look wrong.

    The check runs on a float64 copy of ``net``, so a float32 network is checked through the same
    layers at full precision; ``net`` itself is not modified. ``progress``: ``"auto"`` shows a bar on
    stderr when there are many entries (``PROGRESS_ENTRIES``) and stderr is a terminal; True/False force it.
    """
    loss = get_loss(loss)
    probe = net.astype(np.float64)
    X = probe.check_X(X)
    Y = probe.check_Y(Y, X.shape[0])
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    # Dropout is off (inference mode) so that the loss is a deterministic function of the weights.
    _, grads = probe.loss_and_gradients_unchecked(X, Y, loss, weight, training=False)
    analytic = [None if g is None else g.copy() for g in grads]
    params = [entry for entry in zip(probe.parameter_names(), probe.parameters(), analytic) if entry[2] is not None]
    n_entries = sum(param.size for _, param, _ in params)
    errors: dict[str, float] = {}
    skipped: dict[str, int] = {}
    with _KinkSides(probe) as sides, _progress_bar(progress, n_entries) as bar:
        base_loss = probe.loss(X, Y, loss, sample_weight)
        base_sides = sides.snapshot()
        # What rounding alone can put into a finite difference: each loss value is off by a few ulps of
        # its size, divided by the step. A gradient smaller than that (a unit barely active) cannot be
        # checked more finely, so disagreement below this floor is not an error.
        noise = ROUNDING_ULPS * np.finfo(np.float64).eps * max(abs(float(base_loss)), 1.0) / eps

        def loss_at(flat: np.ndarray, j: int, value: float) -> tuple[float, bool]:
            """Loss with entry j set to ``value``, and whether a kinked unit changed side."""
            flat[j] = value
            loss_value = probe.loss(X, Y, loss, sample_weight)
            crossed = any(not np.array_equal(side, base_sides[i]) for i, side in sides.sides.items())
            return loss_value, crossed

        for name, param, grad in params:
            numeric, kinked = _numeric_gradient(param, eps, loss_at, bar)
            errors[name] = _relative_error(grad, numeric, ~kinked, noise / tolerance)
            skipped[name] = int(kinked.sum())
    return GradcheckResult(errors, tolerance, skipped, n_entries - sum(skipped.values()))


def check_entry(
    net: Sequential, X, Y, loss: str | Loss, parameter: int, index: tuple[int, ...], *, eps: float = 1e-4
) -> dict:
    """:func:`gradcheck` for one entry: ``parameter`` indexes ``net.parameters()``, ``index`` the entry.

    Returns ``analytic`` (the backward pass's ∂L/∂θ), ``numeric`` (the same fourth-order central
    difference), ``relative_error`` (|analytic − numeric| / max(|analytic|, |numeric|, rounding floor)),
    ``kinked`` (a step crossed a ReLU kink: the quotient is no derivative there), ``eps`` and ``loss``.
    Both on a float64 copy of ``net``, without dropout; ``net`` is not modified.
    """
    loss = get_loss(loss)
    probe = net.astype(np.float64)
    X = probe.check_X(X)
    Y = probe.check_Y(Y, X.shape[0])
    params = probe.parameters()
    if not 0 <= parameter < len(params):
        raise ValueError(f"parameter must be 0 to {len(params) - 1} (an index into net.parameters()), got {parameter}")
    _, grads = probe.loss_and_gradients_unchecked(X, Y, loss, None, training=False)
    if grads[parameter] is None:
        raise ValueError(f"parameter {probe.parameter_names()[parameter]} is frozen: it has no gradient to check")
    analytic = float(grads[parameter][index])
    with _KinkSides(probe) as sides:
        base_loss = float(probe.loss(X, Y, loss))
        base_sides = sides.snapshot()
        entry = np.zeros(params[parameter].shape, dtype=bool)
        entry[index] = True
        flat, at = params[parameter].reshape(-1), int(np.flatnonzero(entry.reshape(-1))[0])

        def loss_at(values: np.ndarray, j: int, value: float) -> tuple[float, bool]:
            values[j] = value
            result = probe.loss(X, Y, loss)
            crossed = any(not np.array_equal(side, base_sides[i]) for i, side in sides.sides.items())
            return result, crossed

        numeric, crossed = _central_difference(flat, at, eps, loss_at)
    floor = ROUNDING_ULPS * np.finfo(np.float64).eps * max(abs(base_loss), 1.0) / eps
    scale = max(abs(analytic), abs(numeric), floor, np.finfo(np.float64).tiny)
    return {"analytic": analytic, "numeric": float(numeric), "relative_error": float(abs(analytic - numeric) / scale),
            "kinked": bool(crossed), "eps": eps, "loss": base_loss}  # fmt: skip


def _central_difference(flat: np.ndarray, j: int, eps: float, loss_at) -> tuple[float, bool]:
    """The fourth-order central difference of the loss in ``flat[j]`` (restored afterwards), and whether
    a step crossed a kink; ``loss_at(flat, j, value)`` gives ``(loss, crossed)``."""
    original = flat[j]
    at, crossed = [], False
    for step in (-2, -1, 1, 2):
        value, moved = loss_at(flat, j, original + step * eps)
        at.append(value)
        crossed = crossed or moved
    flat[j] = original
    return (8 * (at[2] - at[1]) - (at[3] - at[0])) / (12 * eps), crossed


def _numeric_gradient(param: np.ndarray, eps: float, loss_at, bar) -> tuple[np.ndarray, np.ndarray]:
    """Fourth-order central differences for every entry of ``param`` (restored afterwards), and a
    mask of the entries whose steps crossed a kink."""
    numeric = np.empty_like(param)
    kinked = np.zeros(param.shape, dtype=bool)
    flat, out, crossed_flat = param.reshape(-1), numeric.reshape(-1), kinked.reshape(-1)
    for j in range(flat.size):
        out[j], crossed_flat[j] = _central_difference(flat, j, eps, loss_at)
        bar.update(1)
    return numeric, kinked


def _relative_error(analytic: np.ndarray, numeric: np.ndarray, keep: np.ndarray, floor: float = 0.0) -> float:
    """max|analytic − numeric| / max(max|analytic|, max|numeric|, floor) over the entries in ``keep``;
    ``floor`` (the rounding noise over the tolerance) keeps tiny gradients from failing on rounding."""
    if not keep.any():
        return 0.0
    a, n = analytic[keep], numeric[keep]
    scale = max(np.abs(a).max(), np.abs(n).max(), floor, np.finfo(np.float64).tiny)
    return float(np.abs(a - n).max() / scale)


def _progress_bar(progress: bool | str, total: int):
    """A tqdm bar over the entries on stderr (disabled unless asked for, or many entries on a terminal)."""
    from tqdm.auto import tqdm

    if progress == "auto":
        isatty = getattr(sys.stderr, "isatty", None)
        show = total >= PROGRESS_ENTRIES and bool(isatty and isatty())
    elif isinstance(progress, bool):
        show = progress
    else:
        raise ValueError(f"progress must be True, False or 'auto', got {progress!r}")
    return tqdm(total=total, desc="gradcheck", unit="entry", file=sys.stderr, disable=not show, leave=False)
