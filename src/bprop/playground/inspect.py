"""The numbers behind a clicked neuron or weight, read from the record of one real update.

A record (made by :class:`~bprop.playground.session.NetworkSession`) holds the :class:`Trace` of the
update's forward and backward pass (per layer ``x``, ``z``, ``out``, ``dL_dout``, ``dL_dz``, ``dL_dx``), the
gradients the trainer's hook saw (before L2 and the update), every parameter before and after, the
optimiser's state after it, ``dense`` (the position in ``net.layers`` of each layer with weights: the
protocol's layer k is ``dense[k − 1]``) and ``dropout`` (per layer with weights, the :class:`Dropout` on its
outputs: rate, scale and the mask that pass applied). bprop's losses average over the batch, so the
recorded ``dL_dz`` of row n is δₙ/N; each example's own δₙ = ∂Eₙ/∂net is N times it, and the batch gradient
∂E/∂w = (1/N)·Σₙ δₙ·aₙ is the ``dW`` the engine formed. Nothing here runs a pass of its own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..nn.dropout import Dropout

__all__ = ["unit_name", "step_summary", "unit_numbers", "weight_numbers", "bias_numbers", "layer_output",
           "dense_indices", "dropout_masks", "dropouts"]  # fmt: skip

#: The reply's ``pass``: the update's own pass (dropout masks drawn), or the preview before any update.
PASSES = {True: "training", False: "evaluation"}


def dense_indices(net) -> list[int]:
    """Positions in ``net.layers`` of the layers with weights (the protocol's layers 1, 2, …)."""
    return [i for i, layer in enumerate(net.layers) if "W" in layer.param_names]


def dropout_masks(net) -> dict[int, np.ndarray]:
    """``{position in net.layers: mask}`` of each :class:`Dropout` whose last forward pass applied one.

    The mask (0 or 1/(1 − rate) per value) is the array the layer multiplied its input by and will
    multiply ∂L/∂y by (:attr:`Dropout.mask`), and must be read before anything else runs the network
    (the session does it in the trainer's gradient hook, between the update's backward pass and its
    end-of-epoch validation).
    """
    masks = {}
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dropout) and layer.mask is not None:
            masks[i] = layer.mask.copy()
    return masks


def dropouts(net, masks: dict[int, np.ndarray]) -> list[dict[str, Any] | None]:
    """Per layer with weights, the Dropout between it and the next one (None when there is none):
    ``rate``, ``scale`` = 1/(1 − rate), ``index`` in ``net.layers`` and ``mask`` (None: not applied)."""
    dense = dense_indices(net)
    found: list[dict[str, Any] | None] = []
    for start, stop in zip(dense, [*dense[1:], len(net.layers)]):
        at = next((i for i in range(start + 1, stop) if isinstance(net.layers[i], Dropout)), None)
        if at is None:
            found.append(None)
            continue
        rate = net.layers[at].rate
        found.append({"index": at, "rate": rate, "scale": 1.0 / (1.0 - rate), "mask": masks.get(at)})
    return found


def unit_name(n_layers: int, layer: int, unit: int) -> str:
    """The article's name: ``i1`` (layer 0), ``h1`` (one hidden layer) or ``h2_1``, ``o1`` (the last)."""
    if layer == 0:
        return f"i{unit}"
    if layer == n_layers:
        return f"o{unit}"
    return f"h{unit}" if n_layers == 2 else f"h{layer}_{unit}"


def _weight_number(record: dict, layer: int, source: int, target: int) -> int:
    """Article numbering: layer by layer, destination unit by destination unit, source by source."""
    first = 1 + sum(record["before"][2 * k].size for k in range(layer - 1))
    fan_in = record["before"][2 * (layer - 1)].shape[0]
    return first + (target - 1) * fan_in + (source - 1)


def layer_output(net, trace: dict, k: int) -> np.ndarray:
    """Layer ``k``'s output in the record. A softmax output with cross-entropy is one fused pair: the
    engine's forward pass stops at the logits (recorded as ``out``) and backward starts from
    δ = out − target, with no elementwise ∂E/∂out · f′(net) (softmax has a Jacobian); its output is the
    engine's softmax of the recorded logits."""
    activation = net.layers[k].activation
    if activation.name == "softmax":
        return activation.forward(np.array(trace[k, "z"], copy=True))
    return trace[k, "out"]


def _deltas(record: dict, k: int) -> np.ndarray:
    """Each example's δ = ∂Eₙ/∂net of layer index ``k``: (N, units)."""
    dL_dz = record["trace"][k, "dL_dz"]
    return dL_dz * dL_dz.shape[0]


def step_summary(net, record: dict) -> dict[str, Any]:
    """What the diagram shows after an update: per unit the batch means of net, out and δ, per parameter
    the gradient the update used (before L2) and the value after it."""
    trace, dense = record["trace"], record["dense"]
    units = [{"out": trace[dense[0], "x"].mean(axis=0).tolist()}]
    for k in dense:
        units.append({
            "net": trace[k, "z"].mean(axis=0).tolist(), "out": trace[k, "out"].mean(axis=0).tolist(),
            "delta": _deltas(record, k).mean(axis=0).tolist(),
        })  # fmt: skip
    grads = [None if g is None else g.tolist() for g in record["grads"]]
    n_layers = len(dense)
    return {
        "unit": record["unit"],
        "rows": [int(r) + 1 for r in record["rows"]],
        "units": units,
        "gradients": [{"W": grads[2 * k], "b": grads[2 * k + 1]} for k in range(n_layers)],
        "updated": [
            {"W": record["after"][2 * k].tolist(), "b": record["after"][2 * k + 1].tolist()} for k in range(n_layers)
        ],
    }


def _dropout_view(drop: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reply's ``dropout``: ``rate``, ``scale`` and whether the recorded pass applied a mask."""
    if drop is None:
        return None
    return {"rate": drop["rate"], "scale": drop["scale"], "applied": drop["mask"] is not None}


def _passed_on(record: dict, k: int, j: int) -> dict[str, Any]:
    """Unit ``j`` of the layer with weights ``k`` (0-based), whose outputs go through a Dropout: per example
    the mask applied (None when the pass applied none), the value the next layer received (its recorded
    input) and ∂Eₙ/∂ of that value (the next layer's recorded ∂L/∂x, times N)."""
    following, mask = record["dense"][k + 1], record["dropout"][k]["mask"]
    received = record["trace"][following, "x"][:, j]
    dL_dx = record["trace"][following, "dL_dx"][:, j]
    return {
        "mask": [None] * received.shape[0] if mask is None else mask[:, j],
        "out_after_dropout": received,
        "dE_dout_after_dropout": dL_dx * dL_dx.shape[0],
    }


def _unit_rule(name: str, output: bool, softmax: bool, masked: bool) -> str:
    if softmax:
        return f"δ_{name} = out_{name} − target_{name} (softmax output with cross-entropy: one fused pair)"
    if output:
        return f"δ_{name} = ∂E/∂out_{name} · ∂out_{name}/∂net_{name} = (out_{name} − target_{name}) · f′(net_{name})"
    if masked:
        # The next layer received out·mask, so ∂E/∂out = mask · ∂E/∂(out·mask) = mask · Σ_k w·δ_k.
        passed = f"out_{name} · mask_{name}"
        return f"δ_{name} = mask_{name} · (Σ_k w_{name}→k · δ_k) · f′(net_{name}) (dropout passed {passed} on)"
    return f"δ_{name} = (Σ_k w_{name}→k · δ_k) · f′(net_{name})"


def unit_numbers(net, record: dict, Y: np.ndarray, layer: int, unit: int) -> dict[str, Any]:
    """A neuron's net, out and δ for each example of the update, and their batch means; when a Dropout
    follows its layer, also the mask the pass applied and the value passed on (see :func:`_passed_on`)."""
    k, j, dense = layer - 1, unit - 1, record["dense"]
    at, n_layers, trace = dense[k], len(dense), record["trace"]
    activation = net.layers[at].activation
    softmax = activation.name == "softmax"
    z, out = trace[at, "z"][:, j], layer_output(net, trace, at)[:, j]
    delta = _deltas(record, at)[:, j]
    n = z.shape[0]
    dE_dout = [None] * n if softmax or (at, "dL_dout") not in trace else trace[at, "dL_dout"][:, j] * n
    dout_dnet = [None] * n if softmax else activation.derivative(trace[at, "out"])[:, j]
    drop = record["dropout"][k]
    passed = {} if drop is None else _passed_on(record, k, j)
    samples = []
    for i, row in enumerate(record["rows"]):
        sample = {"example": int(row) + 1, "net": float(z[i]), "out": float(out[i]), "dE_dout": _number(dE_dout[i]),
                  "dout_dnet": _number(dout_dnet[i]), "delta": float(delta[i])}  # fmt: skip
        sample.update((key, _number(values[i])) for key, values in passed.items())
        if layer == n_layers:
            sample["target"] = float(Y[row, j])
        samples.append(sample)
    name = unit_name(n_layers, layer, unit)
    masked = drop is not None and drop["mask"] is not None
    return {
        "layer": layer,
        "unit": unit,
        "name": name,
        "activation": activation.name,
        "step": record["unit"],
        "pass": PASSES[record["training"]],
        "dropout": _dropout_view(drop),
        "rule": _unit_rule(name, layer == n_layers, softmax, masked),
        "samples": samples,
        "mean": {"net": float(z.mean()), "out": float(out.mean()), "delta": float(delta.mean())},
    }


def _number(value) -> float | None:
    return None if value is None else float(value)


def _update(record: dict, settings: dict, index: int, at: tuple, gradient: float | None) -> dict[str, Any] | None:
    """The update applied to parameter ``index`` at ``at``: −η·(g + L2 term) for SGD, Adam's moments."""
    if record["optimizer"] is None:
        return None  # a preview: no update applied yet
    before, after = float(record["before"][index][at]), float(record["after"][index][at])
    update: dict[str, Any] = {"before": before, "after": after, "applied": after - before}
    if gradient is None:
        return update
    if settings["optimizer"] not in ("sgd", "adam"):
        return update  # AdamW's and RMSprop's state is not broken down; the change applied is shown
    eta = settings["learning_rate"]
    l2 = settings["l2"] if index % 2 == 0 else 0.0  # L2 acts on weights only, as in the trainer
    g = gradient + l2 * before
    update.update(l2=l2, l2_term=l2 * before, g=g, eta=eta)
    if settings["optimizer"] == "sgd":
        update["formula"] = "w⁺ = w − η·(∂E/∂w + λ·w)" if l2 else "w⁺ = w − η·∂E/∂w"
        update["minus_eta_g"] = -eta * g
        return update
    slot = record["optimizer"]["state"][index]
    t = record["optimizer"]["iterations"]
    b1, b2, eps = settings["beta_1"], settings["beta_2"], settings["epsilon"]
    m, v = float(slot["m"][at]), float(slot["v"][at])
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    update.update(
        formula="m ← β₁·m + (1−β₁)·g;  v ← β₂·v + (1−β₂)·g²;  w⁺ = w − η·m̂/(√v̂ + ε)",
        t=t, beta_1=b1, beta_2=b2, epsilon=eps, m=m, v=v, m_hat=m_hat, v_hat=v_hat,
        adam_step=-eta * m_hat / (math.sqrt(v_hat) + eps),
    )  # fmt: skip
    return update


def weight_numbers(record: dict, settings: dict, layer: int, source: int, target: int) -> dict[str, Any]:
    """∂E/∂w = δ·a for each example with the numbers, the batch gradient the engine formed, the update.
    ``a`` is the layer's recorded input: after a Dropout, the source's out times the mask that pass applied."""
    k, i, j, dense = layer - 1, source - 1, target - 1, record["dense"]
    n_layers = len(dense)
    a = record["trace"][dense[k], "x"][:, i]
    delta = _deltas(record, dense[k])[:, j]
    grad = record["grads"][2 * k]
    gradient = None if grad is None else float(grad[i, j])
    samples = [{"example": int(row) + 1, "delta": float(d), "a": float(x), "product": float(d * x)}
               for row, d, x in zip(record["rows"], delta, a)]  # fmt: skip
    src, dst = unit_name(n_layers, layer - 1, source), unit_name(n_layers, layer, target)
    rule = f"∂E/∂w = δ_{dst} · out_{src}"
    drop = record["dropout"][k - 1] if k > 0 else None
    if drop is not None:
        out = record["trace"][dense[k - 1], "out"][:, i]
        mask = [None] * len(samples) if drop["mask"] is None else drop["mask"][:, i]
        for sample, o, m in zip(samples, out, mask):
            sample.update(out=float(o), mask=_number(m))
        if drop["mask"] is not None:
            rule = f"∂E/∂w = δ_{dst} · a, a = out_{src} · mask_{src} (what dropout passed on)"
    return {
        "name": f"w{_weight_number(record, layer, source, target)}",
        "layer": layer,
        "from": source,
        "to": target,
        "from_name": src,
        "to_name": dst,
        "pass": PASSES[record["training"]],
        "dropout": _dropout_view(drop),
        "rule": rule + (" (mean over the batch)" if len(samples) > 1 else ""),
        "frozen": grad is None,
        "samples": samples,
        "gradient": gradient,
        "update": _update(record, settings, 2 * k, (i, j), gradient),
    }


def bias_numbers(record: dict, settings: dict, layer: int, unit: int) -> dict[str, Any]:
    """As :func:`weight_numbers` for a bias: its input is 1, so ∂E/∂b = δ."""
    k, j = layer - 1, unit - 1
    n_layers = len(record["dense"])
    delta = _deltas(record, record["dense"][k])[:, j]
    grad = record["grads"][2 * k + 1]
    gradient = None if grad is None else float(grad[j])
    name = unit_name(n_layers, layer, unit)
    return {
        "name": f"b_{name}",
        "layer": layer,
        "unit": unit,
        "to_name": name,
        "pass": PASSES[record["training"]],
        "rule": f"∂E/∂b = δ_{name} · 1",
        "frozen": grad is None,
        "samples": [
            {"example": int(r) + 1, "delta": float(d), "a": 1.0, "product": float(d)}
            for r, d in zip(record["rows"], delta)
        ],
        "gradient": gradient,
        "update": _update(record, settings, 2 * k + 1, (j,), gradient),
    }
