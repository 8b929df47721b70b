"""``bprop export``: a model file as an ONNX graph, optionally checked against ``bprop predict`` on real rows."""

from __future__ import annotations

import sys

from .common import CliError, input_file, output_path, refuse_same_file


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a model as ONNX (raw columns in, predictions out) for onnxruntime and other runtimes",
        description=(
            "Write MODEL as an ONNX graph: one input per feature column (numeric: double [N, 1], NaN when "
            "missing; categorical: string [N, 1], empty when missing), the preprocessing and the network inside, "
            "outputs label and probabilities (classification) or value (regression). Needs the onnx package."
        ),
    )
    p.add_argument("model", help="model file (.safetensors) written by bprop train")
    p.add_argument("out", help="ONNX file to write (.onnx)")
    p.add_argument(
        "--no-preprocessing",
        action="store_true",
        help="export the network alone: one input 'input' [N, n_inputs] of encoded values, one output 'output'",
    )
    p.add_argument(
        "--check",
        metavar="DATA",
        help="after writing, run onnxruntime on DATA's rows and compare with bprop predict (needs onnxruntime)",
    )
    p.set_defaults(run=run_export)


def run_export(args) -> int:
    from .. import modelfile
    from ..export.check import Comparison
    from ..export.model import OPSET, export_onnx, stored_encoder
    from .model_commands import read_rows

    out = output_path("OUT", args.out, (".onnx",))
    refuse_same_file("OUT", out, MODEL=args.model, DATA=args.check)
    model = modelfile.load(input_file("MODEL", args.model))
    if not model.preprocessing and not args.no_preprocessing:
        raise CliError(
            f"{args.model!r} has no stored preprocessing (not written by bprop train); "
            "export the network alone with --no-preprocessing"
        )
    comparison = None
    if args.check is not None:
        if not model.preprocessing:
            raise CliError(f"--check reads raw rows, but {args.model!r} has no stored preprocessing to encode them")
        _needs_onnxruntime()
        # Before writing: DATA that cannot be read or encoded leaves nothing behind.
        comparison = Comparison(model, read_rows(stored_encoder(model), args.check))
    export_onnx(model, out, preprocessing=not args.no_preprocessing)
    print(f"ONNX model written to {out} (opset {OPSET})")
    if comparison is None:
        return 0
    result = comparison.run(out)
    print(result.summary(), file=sys.stdout if result.passed else sys.stderr)
    return 0 if result.passed else 1


def _needs_onnxruntime() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise CliError("--check needs onnxruntime: pip install onnxruntime") from None
