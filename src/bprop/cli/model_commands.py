"""``bprop evaluate``, ``predict`` and ``info``: use a saved model on raw CSV rows."""

from __future__ import annotations

import io as _io
import json
import sys

import numpy as np

from .common import CliError, input_file, json_safe, notice, output_path, refuse_same_file
from .scoring import chunk_scores, scores
from .streaming import add_stream_flags, wants_stream


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="metrics of a model on labelled CSV data")
    p.add_argument("model", help="model file (.safetensors)")
    p.add_argument("data", help="CSV with the target column")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_stream_flags(p, cache=False)
    p.set_defaults(run=run_evaluate)

    p = sub.add_parser("predict", help="predict the target for CSV rows")
    p.add_argument("model", help="model file (.safetensors)")
    p.add_argument("data", help="CSV with the feature columns (the target column, if present, is ignored)")
    p.add_argument("--out", help="write predictions to this CSV instead of standard output")
    p.add_argument("--proba", action="store_true", help="add one probability column per class")
    add_stream_flags(p, cache=False)
    p.set_defaults(run=run_predict)

    p = sub.add_parser("info", help="architecture, preprocessing and training summary of a model file")
    p.add_argument("model", help="model file (.safetensors)")
    p.set_defaults(run=run_info)


def _load(path_text: str, model=None):
    """``(model, its TableEncoder)``; pass ``model`` when it is already loaded (a pipe can be read only once)."""
    from .. import modelfile as io
    from ..tables.data import TableEncoder

    model = io.load(input_file("MODEL", path_text)) if model is None else model
    if not model.preprocessing:
        raise CliError(f"{path_text!r} has no stored preprocessing; it was not written by 'bprop train'")
    # Whatever a tampered (and re-hashed) file holds, reading it must end in one error line, not a traceback.
    damaged = (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError, OverflowError)
    try:
        encoder = TableEncoder.from_dict(model.preprocessing)
        widths = (encoder.features.n_outputs, encoder.target.n_outputs)
    except damaged as exc:
        detail = str(exc) if type(exc) is ValueError else repr(exc)
        raise CliError(f"{path_text!r} has damaged preprocessing metadata ({detail}); train the model again") from None
    if widths != (model.net.n_inputs, model.net.n_outputs):
        raise CliError(
            f"{path_text!r} is inconsistent: its preprocessing makes {widths[0]} inputs and reads {widths[1]} "
            f"outputs, but its network takes {model.net.n_inputs} and gives {model.net.n_outputs}; "
            "train the model again"
        )
    return model, encoder


def read_rows(encoder, path_text: str):
    """The table at ``path_text`` read with the column types and decimal separator the model was trained on."""
    from ..tables.data import read_table

    return read_table(input_file("DATA", path_text), **encoder.read_options())


def streamed_rows(args, encoder, *, need_target: bool):
    """The encoded chunks of DATA read in passes, or None when it is read into memory (see ``--stream``)."""
    from ..tables.stream.rows import encoded_chunks, merge_reports

    path = input_file("DATA", args.data)
    if not wants_stream(args.stream, path, "DATA"):
        return None

    def chunks():
        report = None
        for chunk in encoded_chunks(path, encoder, need_target=need_target):
            report = merge_reports(report, chunk.report)
            yield chunk
        for line in report.notices():
            notice(line)

    return chunks()


def _features(encoder, table):
    """Encoded features of raw rows, with notices for what had to be fixed up."""
    name = encoder.target.name_
    if name in table.columns:
        table = table.drop(columns=[name])
    try:
        X, report = encoder.features.transform_with_report(table)
    except (KeyError, TypeError, AttributeError) as exc:
        # A fitted preprocessor only fails this way when the model file's metadata was tampered with.
        raise CliError(f"the model's stored preprocessing is damaged ({exc!r}); train the model again") from None
    for line in report.notices():
        notice(line)
    return X


def run_evaluate(args) -> int:
    model, encoder = _load(args.model)
    streamed = streamed_rows(args, encoder, need_target=True)
    if streamed is None:
        table = read_rows(encoder, args.data)
        if encoder.target.name_ not in table.columns:
            raise CliError(f"{args.data!r} has no target column {encoder.target.name_!r}; evaluate needs labelled rows")
        Y = encoder.target.transform(table[encoder.target.name_])
        X = _features(encoder, table)
        result, n_rows = scores(model.net, encoder.target, X, Y), len(table)
    else:
        n_rows = 0

        def pairs():
            nonlocal n_rows
            for chunk in streamed:
                n_rows += chunk.n_rows
                yield chunk.X, chunk.Y

        result = chunk_scores(model.net, encoder.target, pairs())
    task = encoder.target.task_
    keys = ("accuracy", "log_loss") if task == "classification" else ("mse", "mae", "r2")
    report = {"task": task, "n_samples": int(n_rows), **{k: result[k] for k in keys}}
    if args.json:
        print(json.dumps(json_safe(report), allow_nan=False))  # an undefined r2 is null, not NaN
    else:
        print(f"{task} on {n_rows} rows")
        for k in keys:
            print(f"  {k:<9} {result[k]:.6g}")
    return 0


def run_predict(args) -> int:
    from ..files import atomic_write_bytes

    out = output_path("--out", args.out, (".csv",))
    refuse_same_file("--out", out, DATA=args.data, MODEL=args.model)
    model, encoder = _load(args.model)
    target = encoder.target
    if args.proba and target.task_ != "classification":
        raise CliError("--proba needs a classification model; this one does regression")
    streamed = streamed_rows(args, encoder, need_target=False)
    if streamed is not None:
        return _predict_streamed(args, model.net, target, streamed, out)
    X = _features(encoder, read_rows(encoder, args.data))
    buffer = _io.StringIO()
    frame = _predictions(model.net, target, X, args.proba)
    frame.to_csv(buffer, index=False)
    if out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        atomic_write_bytes(out, buffer.getvalue().encode())
        print(f"{len(frame)} predictions written to {out}", file=sys.stderr)
    return 0


def _predictions(net, target, X: np.ndarray, proba: bool):
    """The predictions of ``X`` as a table: the label or value, and with ``proba`` one column per class."""
    import pandas as pd

    outputs = net.predict(X)  # the lean inference path: forward's numbers
    frame = pd.DataFrame({target.name_: target.inverse_transform(outputs)})
    if proba:
        names = [f"proba_{label}" for label in target.classes_]
        if target.name_ in names or len(set(names)) < len(names):  # one column would overwrite another
            raise CliError(
                f"--proba would name its columns {names}, which clash with each other or with the target "
                f"column {target.name_!r}; predict without --proba"
            )
        for j, name in enumerate(names):
            frame[name] = outputs[:, j].astype(np.float64)
    return frame


def _predict_streamed(args, net, target, chunks, out) -> int:
    """Predictions written block by block: to standard output as they come, or to ``--out`` atomically."""
    from ..files import atomic_write_with

    n_rows = 0

    def write(stream) -> None:
        nonlocal n_rows
        for chunk in chunks:
            frame = _predictions(net, target, chunk.X, args.proba)
            frame.to_csv(stream, index=False, header=n_rows == 0)
            n_rows += chunk.n_rows

    if out is None:
        write(sys.stdout)
        return 0

    def to_file(path) -> None:
        with open(path, "w", newline="") as stream:
            write(stream)

    atomic_write_with(out, to_file)
    print(f"{n_rows} predictions written to {out}", file=sys.stderr)
    return 0


def run_info(args) -> int:
    from .. import modelfile as io

    path = input_file("MODEL", args.model)
    model = io.load(path)
    net = model.net
    print(f"model file: {path} (format version {model.format_version}, written by bprop {model.bprop_version})")
    print(f"network: {net.n_parameters():,} parameters, {net.dtype.name}")
    for layer in net.layers:
        print(f"  {layer!r}")
    if model.preprocessing:
        _, encoder = _load(args.model, model)
        target = encoder.target
        what = f"classes {target.classes_}" if target.task_ == "classification" else "numeric (standardised)"
        print(f"target: {target.name_!r}, {target.task_}, {what}")
        features = encoder.features
        print(f"features: {len(features.feature_names)} columns → {len(features.output_names)} inputs")
        if features.left_out_:
            print(f"left out at training (too many distinct values): {', '.join(features.left_out_)}")
    try:
        _print_training(model.training or {})
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise CliError(
            f"{args.model!r} has damaged training metadata ({exc!r}); the weights may still be usable"
        ) from None
    return 0


def _print_training(training: dict) -> None:
    summary, settings = training.get("summary"), training.get("settings")
    if settings:
        shown = ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None)
        print(f"training settings: {shown}")
    if summary:
        print(
            f"training: {summary['epochs']} epochs, stopped by {summary['stop_reason']}, "
            f"best epoch {summary['best_epoch']}, {summary['seconds']} s"
        )
        for part, values in summary.get("scores", {}).items():
            shown = ", ".join(f"{k} {'n/a' if v is None else format(v, '.4f')}" for k, v in values.items())
            print(f"  {part:<6} {shown}")
    if training.get("history"):
        from .train_command import print_findings

        print_findings(training["history"])
