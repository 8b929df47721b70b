"""Explain one backpropagation step with every number named as in the classic worked example.

Everything reported is recorded from the real :class:`~bprop.nn.network.Sequential` (see
:class:`~bprop.insight.recording.Trace`) and the real optimiser step; nothing is recomputed by a separate
copy of the formulas.

Naming (the article's): inputs ``i1, i2, …``; hidden units ``h1, h2, …`` (``h2_1`` = unit 1 of
hidden layer 2 when there are several); outputs ``o1, o2, …``; ``net_*`` is a unit's weighted input
and ``out_*`` its activation. Weights are numbered ``w1, w2, …`` layer by layer, destination unit by
destination unit, source unit by source unit — so ``w1: i1→h1, w2: i2→h1, w3: i1→h2, …``. Biases
are ``b1, b2, …`` per layer when the layer's bias is frozen and shared (as in the article),
otherwise ``b1_1`` (layer 1, unit 1) and so on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.layers import Dense
from ..nn.losses import get_loss
from ..nn.network import Sequential
from ..nn.optimizers import SGD
from .recording import Trace

#: The seed article's 2-2-2 sigmoid example, in the spec format of :func:`network_from_spec`.
ARTICLE_SPEC: dict[str, Any] = {
    "sizes": [2, 2, 2],
    "activations": ["sigmoid", "sigmoid"],
    # Dense layout (fan_in, fan_out): hidden W = [[w1, w3], [w2, w4]], output W = [[w5, w7], [w6, w8]].
    "weights": [[[0.15, 0.25], [0.20, 0.30]], [[0.40, 0.50], [0.45, 0.55]]],
    "biases": [[0.35, 0.35], [0.60, 0.60]],
    "frozen": [["b"], ["b"]],
    "inputs": [[0.05, 0.10]],
    "targets": [[0.01, 0.99]],
    "learning_rate": 0.5,
    "loss": "half_sse",
}

_SPEC_KEYS = {"sizes", "activations", "weights", "biases", "frozen", "inputs", "targets", "learning_rate", "loss"}

#: Deepest nesting a spec needs: the object → "weights" → one layer's matrix → a row → numbers.
MAX_SPEC_DEPTH = 4


def _short(value: Any, width: int = 60) -> str:
    """``repr(value)`` cut to ``width`` characters, so a hostile spec cannot flood an error message."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _nesting_depth(value: Any, limit: int) -> int:
    """Levels of list/dict nesting in a JSON value, counted level by level without recursion (so any
    depth is safe) and stopping once past ``limit``."""
    depth, level = 0, [value]
    while depth <= limit:
        containers = [v for v in level if isinstance(v, (list, dict))]
        if not containers:
            break
        depth += 1
        level = [item for v in containers for item in (v.values() if isinstance(v, dict) else v)]
    return depth


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _per_layer(spec: dict, key: str, default: Any, n_layers: int) -> list:
    """Spec entry ``key`` as a list with one item per layer (one activation name serves every layer)."""
    value = spec.get(key, default)
    if key == "activations" and isinstance(value, str):
        value = [value] * n_layers
    if not isinstance(value, list):
        raise ValueError(f"spec {key!r} needs a list with one entry per layer ({n_layers}), got {_short(value)}")
    if len(value) != n_layers:
        raise ValueError(f"spec {key!r} needs one entry per layer ({n_layers}), got {len(value)}")
    return value


def _check_spec_shape(spec: Any) -> list[int]:
    """Check the spec's outline (an object of known keys, shallow nesting, a list of layer sizes) and
    return the sizes; the numbers themselves are checked where they are used."""
    if not isinstance(spec, dict):
        raise ValueError("the spec must be a JSON object with keys " + ", ".join(sorted(_SPEC_KEYS)))
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ValueError(f"unknown spec key(s) {_short(sorted(map(str, unknown)))}; allowed: {sorted(_SPEC_KEYS)}")
    depth = _nesting_depth(spec, MAX_SPEC_DEPTH)
    if depth > MAX_SPEC_DEPTH:
        raise ValueError(
            f"the spec nests lists more than {MAX_SPEC_DEPTH} levels deep; a weight matrix is a list of rows"
        )
    for key in ("sizes", "weights", "inputs", "targets"):
        if key not in spec:
            raise ValueError(f"the spec needs {key!r}")
    sizes = spec["sizes"]
    if not isinstance(sizes, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes):
        raise ValueError(f"spec 'sizes' must be a list of whole numbers (units per layer), got {_short(sizes)}")
    if len(sizes) < 2:
        raise ValueError(f"spec 'sizes' needs at least two entries, got {_short(sizes)}")
    if not isinstance(spec.get("loss", ""), str):
        raise ValueError(f"spec 'loss' must be a loss name, got {_short(spec['loss'])}")
    if not _is_number(spec.get("learning_rate", 0.5)):
        raise ValueError(f"spec 'learning_rate' must be a number, got {_short(spec['learning_rate'])}")
    return sizes


def _layer(spec: dict, k: int, sizes: list[int], per_layer: dict[str, list]) -> Dense:
    """Dense layer ``k`` of the spec, its weights given as a (fan_in, fan_out) list of rows."""
    frozen = per_layer["frozen"][k]
    if not isinstance(frozen, list) or not all(name in ("W", "b") for name in frozen):
        raise ValueError(f"spec 'frozen' entry {k + 1} must be a list of 'W' and/or 'b', got {_short(frozen)}")
    weights = _numbers(per_layer, "weights", k, f"a ({sizes[k]}, {sizes[k + 1]}) list of rows of numbers")
    biases = _numbers(per_layer, "biases", k, f"a number or a list of {sizes[k + 1]} numbers")
    return Dense(
        sizes[k],
        sizes[k + 1],
        per_layer["activations"][k],
        dtype=np.float64,
        init=weights,
        bias_init=biases,
        frozen=tuple(frozen),
    )


def _numbers(per_layer: dict[str, list], key: str, k: int, expected: str) -> np.ndarray:
    """Layer ``k``'s entry of ``key`` as a float64 array (its shape is checked by the layer)."""
    try:
        return np.asarray(per_layer[key][k], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"spec {key!r} entry {k + 1} must be {expected}, got {_short(per_layer[key][k])}") from None


def network_from_spec(spec: dict) -> tuple[Sequential, np.ndarray, np.ndarray, float, str]:
    """Build ``(net, X, Y, learning_rate, loss)`` in float64 from a JSON-like spec (see ``ARTICLE_SPEC``).

    Any spec of the wrong shape raises ``ValueError`` naming the offending key.
    """
    sizes = _check_spec_shape(spec)
    n_layers = len(sizes) - 1
    per_layer = {
        "activations": _per_layer(spec, "activations", "sigmoid", n_layers),
        "weights": _per_layer(spec, "weights", None, n_layers),
        "biases": _per_layer(spec, "biases", [0.0] * n_layers, n_layers),
        "frozen": _per_layer(spec, "frozen", [[]] * n_layers, n_layers),
    }
    net = Sequential([_layer(spec, k, sizes, per_layer) for k in range(n_layers)])
    X = net.check_X(spec["inputs"])
    Y = net.check_Y(spec["targets"], X.shape[0])
    loss = spec.get("loss", "half_sse")
    get_loss(loss)
    learning_rate = float(spec.get("learning_rate", 0.5))
    return net, X, Y, learning_rate, loss


def _unit_names(net: Sequential) -> list[list[str]]:
    """Names of the units feeding each Dense layer and of its outputs: [inputs, layer 1, …]."""
    dense = [layer for layer in net.layers if "W" in layer.param_names]
    names = [[f"i{j + 1}" for j in range(dense[0].fan_in)]]
    hidden = len(dense) - 1
    for k, layer in enumerate(dense):
        if k == hidden:
            names.append([f"o{j + 1}" for j in range(layer.fan_out)])
        elif hidden == 1:
            names.append([f"h{j + 1}" for j in range(layer.fan_out)])
        else:
            names.append([f"h{k + 1}_{j + 1}" for j in range(layer.fan_out)])
    return names


def _weight_names(layer: Dense, first: int) -> np.ndarray:
    """Article numbers of W's entries: W[i, j] is weight number first + j·fan_in + i."""
    grid = first + np.arange(layer.fan_out)[None, :] * layer.fan_in + np.arange(layer.fan_in)[:, None]
    return grid


def _bias_names(layer: Dense, k: int) -> list[str]:
    shared = "b" in layer.frozen and np.all(layer.b == layer.b[0])
    return [f"b{k + 1}"] if shared else [f"b{k + 1}_{j + 1}" for j in range(layer.fan_out)]


def _named_parameters(net: Sequential, values: list[np.ndarray | None], weights_only=False) -> dict[str, float]:
    """Flatten arrays parallel to ``net.parameters()`` into the article's names."""
    named: dict[str, float] = {}
    first = 1
    dense = [layer for layer in net.layers if "W" in layer.param_names]
    for k, layer in enumerate(dense):
        index = 2 * k
        W, b = values[index], values[index + 1]
        grid = _weight_names(layer, first)
        if W is not None:
            for flat in np.argsort(grid, axis=None):
                i, j = np.unravel_index(flat, grid.shape)
                named[f"w{grid[i, j]}"] = float(W[i, j])
        first += layer.W.size
        if b is not None and not weights_only:
            names = _bias_names(layer, k)
            for j, name in enumerate(names):
                named[name] = float(b[j])
    return named


def explain_step(
    net: Sequential, X, Y, *, loss: str = "half_sse", learning_rate: float = 0.5, steps: int = 0
) -> dict[str, Any]:
    """Run one real forward/backward/SGD step on a copy of ``net`` and return every number by name.

    Keys follow the reference file of the worked example: ``inputs``, ``targets``, ``initial``,
    ``forward``, ``error``, ``chain_<w>`` for the first weight of the output layer and of the first
    layer, ``gradients``, ``updated``, ``error_after_one_step``; with ``steps > 0`` also
    ``after_steps`` (``E_total`` and each ``out_o*`` after that many steps in all).

    With several examples (rows of ``X``) the error is summed over them, as the article sums it:
    ``examples`` holds each one's ``inputs``, ``targets``, ``forward``, ``error``, ``chain_*`` and
    ``gradients`` (each from a real pass on that row alone); ``error`` holds ``E_total = Σₙ Eₙ`` and
    ``gradients`` the summed gradient ``Σₙ ∂Eₙ/∂w``, from one real pass on the whole batch (bprop's
    losses average over a batch, so that pass's gradient times the number of examples); the step is
    ``w⁺ = w − η·Σₙ ∂Eₙ/∂w``, and ``after_steps`` lists every example's outputs under ``outputs``.
    """
    net = net.astype(np.float64)
    X = net.check_X(X)
    Y = net.check_Y(Y, X.shape[0])
    loss_fn = get_loss(loss)
    if any(not layer.param_names for layer in net.layers):
        raise ValueError("explain shows networks whose every layer has weights (no dropout); remove the dropout")
    units = _unit_names(net)
    n = X.shape[0]
    report: dict[str, Any] = {}
    if n == 1:
        report["inputs"], report["targets"] = _named_row(units[0], X[0]), _named_row(units[-1], Y[0])
    report.update(learning_rate=learning_rate, loss=loss_fn.name, initial=_named_parameters(net, net.parameters()))
    examples = [_example(net, X[[i]], Y[[i]], loss_fn, units) for i in range(n)]
    if n == 1:
        report.update(examples[0])
        grads = [None if g is None else g.copy() for g in net.gradients()]
    else:
        report["n_examples"] = n
        report["examples"] = [{"inputs": _named_row(units[0], X[i]), "targets": _named_row(units[-1], Y[i]), **ex}
                              for i, ex in enumerate(examples)]  # fmt: skip
        mean_E, mean_grads = net.loss_and_gradients(X, Y, loss_fn)
        grads = [None if g is None else g * n for g in mean_grads]
        report["error"] = {"E_total": mean_E * n}
        report["gradients"] = _named_parameters(net, grads)
    SGD(learning_rate).step(net.parameters(), grads)
    report["updated"] = _named_parameters(net, [p if g is not None else None for p, g in zip(net.parameters(), grads)])
    report["error_after_one_step"] = net.loss(X, Y, loss_fn) * n
    if steps > 0:
        report["after_steps"] = _after_steps(net, X, Y, loss_fn, learning_rate, steps, units[-1])
    return report


def _named_row(names: list[str], row: np.ndarray) -> dict[str, float]:
    return dict(zip(names, row.tolist()))


def _example(net: Sequential, X: np.ndarray, Y: np.ndarray, loss_fn, units: list[list[str]]) -> dict[str, Any]:
    """``forward``, ``error``, ``chain_*`` and ``gradients`` of one real pass on one example (the
    network is left unchanged; its gradient buffers hold this example's gradients)."""
    with Trace(net) as trace:
        E_total, grads = net.loss_and_gradients(X, Y, loss_fn)
    fused = loss_fn.fused_activation is not None
    forward: dict[str, float] = {}
    for k, names in enumerate(units[1:]):
        for j, name in enumerate(names):
            forward[f"net_{name}"] = float(trace[k, "z"][0, j])
        for j, name in enumerate(names):
            forward[f"out_{name}"] = float(_output(net, trace, k, fused)[0, j])
    out_last = _output(net, trace, len(net.layers) - 1, fused)
    logits = trace[len(net.layers) - 1, "z"]
    per_output = (
        {
            f"E_{name}": loss_fn.value((logits if fused else out_last)[:, [j]], Y[:, [j]])
            for j, name in enumerate(units[-1])
        }
        if loss_fn.name in ("half_sse", "binary_cross_entropy")
        else {}
    )
    numbers: dict[str, Any] = {"forward": forward, "error": {**per_output, "E_total": E_total}}
    first_weights = np.cumsum([0] + [layer.W.size for layer in net.layers]) + 1
    for k in sorted({len(net.layers) - 1, 0}, reverse=True):
        numbers[f"chain_w{first_weights[k]}"] = _chain(net, trace, units, k, fused)
    numbers["gradients"] = _named_parameters(net, [None if g is None else g.copy() for g in grads])
    return numbers


def _after_steps(net: Sequential, X, Y, loss_fn, learning_rate: float, steps: int, outputs: list[str]) -> dict:
    """Train on to ``steps`` steps in all (the first is taken): SGD on the summed error, which is the
    engine's batch mean at rate η·n."""
    n = X.shape[0]
    optimizer = SGD(learning_rate * n)
    for _ in range(steps - 1):
        _, grads = net.loss_and_gradients(X, Y, loss_fn)
        optimizer.step(net.parameters(), grads)
    out = net.forward(X)
    after: dict[str, Any] = {"steps": steps, "E_total": net.loss(X, Y, loss_fn) * n}
    if n == 1:
        after.update({f"out_{name}": float(v) for name, v in zip(outputs, out[0])})
    else:
        after["outputs"] = [_named_row([f"out_{name}" for name in outputs], row) for row in out]
    return after


def _output(net: Sequential, trace: Trace, k: int, fused: bool) -> np.ndarray:
    """Activation of layer k; for a fused output the activation of the recorded logits."""
    if fused and k == len(net.layers) - 1:
        return net.layers[k].activation.forward(trace[k, "z"].copy())
    return trace[k, "out"]


def _chain(net: Sequential, trace: Trace, units: list[list[str]], k: int, fused: bool) -> dict[str, float]:
    """The chain-rule factors of ∂E/∂w for layer k's first weight (source unit 1 → destination unit 1)."""
    layer = net.layers[k]
    dst = units[k + 1][0]
    w = f"w{int(np.cumsum([0] + [lay.W.size for lay in net.layers])[k]) + 1}"
    factors: dict[str, float] = {}
    last = k == len(net.layers) - 1
    if last and fused:
        factors[f"dE_dnet_{dst}"] = float(trace[k, "dL_dz"][0, 0])
    else:
        if not last:
            # ∂E/∂out_h = Σ_o ∂E_o/∂out_h: one term per unit of the next layer, as the article sums them.
            nxt = net.layers[k + 1]
            terms = trace[k + 1, "dL_dz"][0] * nxt.W[0]
            for term, name in zip(terms, units[k + 2]):
                factors[f"dE_{name}_dout_{dst}"] = float(term)
        factors[f"dE_dout_{dst}"] = float(trace[k, "dL_dout"][0, 0])
        if layer.activation.elementwise:
            factors[f"dout_{dst}_dnet_{dst}"] = float(layer.activation.derivative(trace[k, "out"])[0, 0])
    factors[f"dnet_{dst}_d{w}"] = float(trace[k, "x"][0, 0])
    factors[f"dE_d{w}"] = float(trace[k, "dW"][0, 0]) if "W" not in layer.frozen else 0.0
    return factors


def json_safe(report: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``report`` with every inf/NaN replaced by ``None`` (strict JSON has no such numbers), and the
    names of the replaced entries (``section.name``) so the caller can say which overflowed."""
    replaced: list[str] = []

    def clean(name: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: clean(f"{name}.{key}", item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(f"{name}.{i}", item) for i, item in enumerate(value)]
        if isinstance(value, float) and not np.isfinite(value):
            replaced.append(name)
            return None
        return value

    return {key: clean(key, value) for key, value in report.items()}, replaced


def _fmt(value: float) -> str:
    if not np.isfinite(value) or abs(value) >= 1e9:
        return f"{value:.9e}"  # fixed-point would spell out hundreds of digits
    return f"{value:.9f}".rstrip("0").rstrip(".") if abs(value) >= 1e-4 else f"{value:.9e}"


def format_text(report: dict[str, Any]) -> str:
    """Render :func:`explain_step`'s report as the article lays it out, one named number per line."""
    if "examples" not in report:
        lines = _example_text(report, "", report["loss"])
        lines += ["", "Gradients"]
        lines += [f"  ∂E/∂{name:<6} = {_fmt(v)}" for name, v in report["gradients"].items()]
        rule = "w⁺ = w − η·∂E/∂w"
    else:
        lines = _examples_text(report)
        rule = "w⁺ = w − η·Σₙ ∂Eₙ/∂w"
    lines += ["", f"Updated weights (learning rate η = {report['learning_rate']:g}: {rule})"]
    lines += [f"  {name + '⁺':<8} = {_fmt(v)}" for name, v in report["updated"].items()]
    lines += [
        "",
        f"Error after one step: E_total = {_fmt(report['error_after_one_step'])}"
        f" (was {_fmt(report['error']['E_total'])})",
    ]
    if "after_steps" in report:
        after = report["after_steps"]
        rows = after.get("outputs", [after])
        outs = "; ".join(
            (f"example {i}: " if len(rows) > 1 else "")
            + ", ".join(f"{k} = {_fmt(v)}" for k, v in row.items() if k.startswith("out_"))
            for i, row in enumerate(rows, 1)
        )
        lines.append(f"After {after['steps']} steps: E_total = {_fmt(after['E_total'])}; {outs}")
    return "\n".join(lines)


def _examples_text(report: dict[str, Any]) -> list[str]:
    """Each example's numbers, then the sums over the examples."""
    n = report["n_examples"]
    lines = [f"{n} examples: the error is their sum, E_total = Σₙ Eₙ, and ∂E_total/∂w = Σₙ ∂Eₙ/∂w"]
    for i, example in enumerate(report["examples"], 1):
        given = ", ".join(f"{k} = {_fmt(v)}" for k, v in example["inputs"].items())
        wanted = ", ".join(f"{k} = {_fmt(v)}" for k, v in example["targets"].items())
        lines += ["", f"Example {i}: {given} → targets {wanted}"]
        lines += _example_text(example, "  ", f"{report['loss']}, this example")
        lines += ["", "  Gradients of this example's error"]
        lines += [f"    ∂E{_sub(i)}/∂{name:<6} = {_fmt(v)}" for name, v in example["gradients"].items()]
    lines += ["", f"Summed over the {n} examples"]
    each = _sum_text([ex["error"]["E_total"] for ex in report["examples"]])
    lines.append(f"  E_total = {each} = {_fmt(report['error']['E_total'])}")
    for name, total in report["gradients"].items():
        terms = _sum_text([ex["gradients"][name] for ex in report["examples"]])
        lines.append(f"  ∂E_total/∂{name} = {terms} = {_fmt(total)}")
    return lines


def _sum_text(values: list[float]) -> str:
    """``a + b − c``: each term's sign as the operator."""
    text = _fmt(values[0])
    for v in values[1:]:
        text += f" − {_fmt(-v)}" if v < 0 else f" + {_fmt(v)}"
    return text


def _sub(i: int) -> str:
    return str(i).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _example_text(block: dict[str, Any], indent: str, loss: str) -> list[str]:
    """The forward pass, the error and the chain rule of one example."""
    lines = [f"{indent}The forward pass"]
    lines += [f"{indent}  {name:<10} = {_fmt(v)}" for name, v in block["forward"].items()]
    lines += ["", f"{indent}The error ({loss})"]
    lines += [f"{indent}  {name:<10} = {_fmt(v)}" for name, v in block["error"].items()]
    lines += ["", f"{indent}The backward pass (chain rule)"]
    for key, factors in block.items():
        if not key.startswith("chain_"):
            continue
        w = key.removeprefix("chain_")
        *parts, total_name = factors
        total = factors[total_name]
        product = [name for name in parts if not name.startswith("dE_o") or name == f"dE_d{w}"]
        terms = [name for name in parts if name not in product]
        lines.append(f"{indent}  ∂E/∂{w}:")
        for name in terms:
            lines.append(f"{indent}    {_pretty(name):<22} = {_fmt(factors[name])}")
        if terms:
            lines.append(f"{indent}    {_pretty(product[0]):<22} = " + " + ".join(_pretty(n) for n in terms))
        lines.append(f"{indent}    {_pretty(total_name)} = " + " · ".join(_pretty(n) for n in product))
        values = " · ".join(_fmt(factors[n]) for n in product)
        lines.append(f"{indent}    {'':<{len(_pretty(total_name))}} = {values} = {_fmt(total)}")
    return lines


def _pretty(name: str) -> str:
    """``dE_dout_o1`` → ``∂E/∂out_o1``; ``dout_o1_dnet_o1`` → ``∂out_o1/∂net_o1``."""
    for prefix in ("dE_o", "dE_", "dout_", "dnet_"):
        if name.startswith(prefix):
            head, _, tail = name[1:].partition("_d")
            if prefix == "dE_o":
                head, _, tail = name[1:].partition("_dout")
                tail = "out" + tail
            return f"∂{'E_total' if head == 'E' else head}/∂{tail}"
    return name
