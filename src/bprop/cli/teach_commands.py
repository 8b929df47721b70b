"""``bprop explain`` and ``bprop gradcheck``: see every number of a step; check the gradients."""

from __future__ import annotations

import argparse
import json

from .common import CliError, input_file, notice, output_path, positive_int

SPEC_EXAMPLE = """\
a spec (JSON) for --spec; W of each layer has shape (inputs, units), "frozen" lists parameters held fixed:
  {"sizes": [2, 3, 1], "activations": ["tanh", "identity"],
   "weights": [[[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], [[0.7], [-0.8], [0.9]]],
   "biases": [[0.01, 0.02, 0.03], [0.05]], "frozen": [[], []],
   "inputs": [[0.5, -1.0]], "targets": [[0.25]], "learning_rate": 0.1, "loss": "half_sse"}
"""


def register(sub) -> None:
    p = sub.add_parser(
        "explain",
        help="print every number of one backpropagation step (the classic 2-2-2 example by default)",
        epilog=SPEC_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--spec", help="JSON spec of a small network (sizes, weights, biases, activations, inputs, …)")
    p.add_argument(
        "--example",
        choices=("article", "one-weight"),
        default=None,
        help="the article's 2-2-2 network (default), or its first example: one weight, y = W·x, tried at W = 3,"
        " 4 and 2, then gradient descent from W = 3",
    )
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument(
        "--steps",
        default=None,
        help="also train this many steps in all and report the result (one-weight: steps of the descent, default 10)",
    )
    p.add_argument(
        "--plot", help="draw the network (one-weight: the error E(W) with the descent's path) to this .png/.svg/.pdf"
    )
    p.set_defaults(run=run_explain)

    p = sub.add_parser("gradcheck", help="finite-difference check of a network's gradients")
    p.add_argument("model", nargs="?", help="model file (.safetensors), with DATA")
    p.add_argument("data", nargs="?", help="labelled CSV for the model")
    p.add_argument("--spec", help="JSON spec of a small network instead of a model file")
    p.add_argument("--rows", default="16", help="rows of DATA to use (default 16)")
    p.set_defaults(run=run_gradcheck)


def _read_spec(text: str | None) -> dict:
    from ..insight.explain import ARTICLE_SPEC, MAX_SPEC_DEPTH

    if text is None:
        return ARTICLE_SPEC
    path = input_file("--spec", text)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CliError(f"--spec {text!r} is not valid JSON ({exc}); see 'bprop explain --help'") from None
    except RecursionError:
        # json's decoder recurses once per nesting level; thousands of levels exhaust Python's stack.
        raise CliError(
            f"--spec {text!r} nests lists or objects too deeply to read; a spec nests at most"
            f" {MAX_SPEC_DEPTH} levels (see 'bprop explain --help')"
        ) from None


def _spec_network(text: str | None):
    """``network_from_spec`` of the spec file ``text`` (None: the article's), any flaw as one CliError."""
    from ..insight.explain import network_from_spec

    spec = _read_spec(text)
    try:
        return network_from_spec(spec)
    except (KeyError, TypeError, IndexError, ValueError, RecursionError) as exc:
        # network_from_spec names the flaw in a ValueError; anything else is a shape it did not foresee.
        reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        reason = reason if len(reason) <= 200 else reason[:199] + "…"  # a hostile value stays short
        raise CliError(
            f"--spec {text!r} is malformed: {reason}; compare it with the example in 'bprop explain --help'"
        ) from None


def run_explain(args) -> int:
    from ..insight.explain import explain_step, format_text

    steps = 0 if args.steps is None else positive_int("--steps", args.steps)
    plot = output_path("--plot", args.plot, (".png", ".svg", ".pdf"))
    if args.example == "one-weight":
        if args.spec is not None:
            raise CliError("give either --spec or --example, not both")
        return _one_weight(args, steps or 10, plot)
    net, X, Y, learning_rate, loss = _spec_network(args.spec)
    try:
        report = explain_step(net, X, Y, loss=loss, learning_rate=learning_rate, steps=steps)
    except ValueError as exc:
        raise CliError(f"--spec {args.spec!r}: {exc}") from None
    if args.json:
        _print_json(report)
    else:
        print(format_text(report))
    if plot is not None:
        from ..report.curves import save_figure
        from ..report.network_diagram import network_diagram

        save_figure(network_diagram(net, X), plot)
        if not args.json:
            print(f"\ndiagram written to {plot}")
    return 0


def _one_weight(args, steps: int, plot) -> int:
    """``bprop explain --example one-weight``: the article's tables, the descent, and E(W) drawn."""
    from ..insight.one_weight import format_one_weight, one_weight_report

    report = one_weight_report(steps=steps)
    if args.json:
        _print_json(report)
    else:
        print(format_one_weight(report))
    if plot is not None:
        from ..report.curves import save_figure
        from ..report.error_curve import error_curve

        save_figure(error_curve(report), plot)
        if not args.json:
            print(f"\nplot of E(W) written to {plot}")
    return 0


def _print_json(report: dict) -> None:
    """Print the report as strict JSON: numbers that overflowed to inf/NaN become null, with a notice."""
    from ..insight.explain import json_safe

    safe, replaced = json_safe(report)
    if replaced:
        shown = ", ".join(replaced[:3]) + (f" and {len(replaced) - 3} more" if len(replaced) > 3 else "")
        notice(
            f"{len(replaced)} number(s) overflowed to inf/NaN and are null in the JSON ({shown});"
            " smaller weights, inputs or learning rate avoid it"
        )
    print(json.dumps(safe, indent=2, allow_nan=False))


def run_gradcheck(args) -> int:
    from ..insight.gradcheck import gradcheck

    if args.spec is not None:
        if args.model or args.data:
            raise CliError("give either --spec or MODEL DATA, not both")
        net, X, Y, _, loss = _spec_network(args.spec)
    elif args.model and args.data:
        from .model_commands import _features, _load, read_rows
        from .scoring import loss_for

        model, encoder = _load(args.model)
        table = read_rows(encoder, args.data).head(positive_int("--rows", args.rows))
        if encoder.target.name_ not in table.columns:
            raise CliError(f"{args.data!r} has no target column {encoder.target.name_!r}")
        Y = encoder.target.transform(table[encoder.target.name_])
        X = _features(encoder, table)
        net, loss = model.net, loss_for(encoder.target.task_)
    else:
        raise CliError("give --spec SPEC.json, or a model file and a labelled CSV")
    result = gradcheck(net, X, Y, loss=loss)
    by_layer: dict[str, float] = {}
    for name, error in result.errors.items():
        layer = f"layer {name[1:]}"
        by_layer[layer] = max(by_layer.get(layer, 0.0), error)
    for layer, error in by_layer.items():
        print(f"{layer}: max relative error {error:.3e}")
    verdict = "passed" if result.passed else "FAILED"
    note = f"; {result.skip_note()}" if result.n_skipped else ""
    print(f"gradient check {verdict}: max relative error {result.max_error:.3e} (tolerance {result.tolerance:g}){note}")
    return 0 if result.passed else 1
