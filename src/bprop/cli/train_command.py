"""``bprop train``: CSV (or the bundled digits) → preprocessing → network → fit → model file, plot, report."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from ..activations import ACTIVATIONS
from ..optimizers import OPTIMIZERS
from .common import (
    CliError,
    fraction,
    input_file,
    json_safe,
    layer_sizes,
    notice,
    number,
    output_path,
    positive_float,
    positive_int,
    warn,
)
from .scoring import checked_scores, headline, loss_for

HIDDEN_ACTIVATIONS = sorted(set(ACTIVATIONS) - {"softmax", "linear"})


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a network on a CSV file (default: the bundled handwritten digits)",
        description="Train an MLP on a CSV table. With no DATA, trains on the UCI 8x8 digits bundled in bprop.",
    )
    p.add_argument("data", nargs="?", help="CSV file (plain or .gz); default: the bundled digits")
    p.add_argument("--target", help="target column (default: the last column)")
    p.add_argument("--task", default="auto", choices=["auto", "classification", "regression"])
    p.add_argument("--layers", default="128,64", help="hidden layer sizes, e.g. 64,32 (default 128,64)")
    p.add_argument("--activation", default="relu", choices=HIDDEN_ACTIVATIONS)
    p.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS))
    p.add_argument("--lr", default=None, help="learning rate (default: 0.001 for adam/adamw/rmsprop, 0.01 sgd)")
    p.add_argument("--epochs", default="200", help="maximum epochs (default 200)")
    p.add_argument("--batch-size", default="32", help="examples per update (default 32)")
    p.add_argument("--val-split", default="0.1", help="validation fraction (default 0.1)")
    p.add_argument("--test-split", default="0.2", help="test fraction (default 0.2)")
    p.add_argument("--patience", default="10", help="stop after this many epochs without val improvement")
    p.add_argument("--dropout", default="0", help="dropout rate after each hidden layer (default 0)")
    p.add_argument("--l2", default="0", help="L2 weight decay (default 0)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--seed", default="0", help="random seed (default 0)")
    p.add_argument("--out", default="model.safetensors", help="model file to write (default model.safetensors)")
    p.add_argument("--plot", help="write loss/accuracy curves to this .png/.svg/.pdf")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--report", help="write a self-contained HTML report (curves, diagnostics, findings) here")
    p.add_argument("--checkpoint", metavar="DIR", help="save the full training state to DIR after every epoch")
    p.add_argument("--resume", metavar="DIR", help="continue the run checkpointed in DIR (its settings and data)")
    p.set_defaults(run=run)


def _settings(args) -> dict:
    """Every flag checked before any file is read or written."""
    seed = args.seed
    try:
        seed = int(seed)
    except ValueError:
        raise CliError(f"--seed must be a whole number, got {seed!r}") from None
    lr = None if args.lr is None else positive_float("--lr", args.lr)
    dropout = number("--dropout", args.dropout)
    if not 0 <= dropout < 1:
        raise CliError(f"--dropout must be in [0, 1), got {args.dropout!r}")
    l2 = number("--l2", args.l2)
    if not l2 >= 0:
        raise CliError(f"--l2 must be >= 0, got {args.l2!r}")
    val, test = fraction("--val-split", args.val_split), fraction("--test-split", args.test_split)
    if val + test >= 1:
        raise CliError(f"--val-split + --test-split must be below 1, got {val} + {test}")
    return {
        "layers": layer_sizes(args.layers),
        "activation": args.activation,
        "optimizer": args.optimizer,
        "learning_rate": lr,
        "epochs": positive_int("--epochs", args.epochs),
        "batch_size": positive_int("--batch-size", args.batch_size),
        "val_split": val,
        "test_split": test,
        "patience": positive_int("--patience", args.patience),
        "dropout": dropout,
        "l2": l2,
        "dtype": args.dtype,
        "seed": seed,
        "task": args.task,
        "target": args.target,
    }


def run(args) -> int:
    from .. import data, io, network, training
    from ..checkpoint import Checkpoint, load_checkpoint
    from ..datasets import DIGITS_TARGET, digits_path

    snapshot = None
    if args.resume is not None:
        snapshot, stored = load_checkpoint(args.resume)
        if not stored or "settings" not in stored:
            raise CliError(f"the checkpoint in {args.resume!r} was not written by 'bprop train'; resume it from Python")
        settings, args.data = stored["settings"], stored["data"]
        print(f"resuming the run in {args.resume} after epoch {snapshot['epoch']}, with its stored settings")
    else:
        settings = _settings(args)
    checkpoint_dir = checkpoint_folder(args.checkpoint or args.resume)
    out = output_path("--out", args.out, (".safetensors",))
    plot = output_path("--plot", args.plot, (".png", ".svg", ".pdf"))
    report = output_path("--report", args.report, (".html", ".htm"))
    if args.data is None:
        source, settings["target"] = digits_path(), settings["target"] or DIGITS_TARGET
        print("data: the bundled UCI 8x8 handwritten digits (1,797 images)")
    else:
        source = input_file("DATA", args.data)
    table = data.read_csv(source)
    rng = np.random.default_rng(settings["seed"])
    prepared = data.prepare(
        table,
        settings["target"],
        task=settings["task"],
        val_fraction=settings["val_split"],
        test_fraction=settings["test_split"],
        rng=rng,
    )
    target = prepared.encoder.target
    kind = f"{len(target.classes_)} classes" if target.task_ == "classification" else "numeric target"
    print(
        f"task: {target.task_} ({kind}) — target {target.name_!r}, {len(table)} rows, "
        f"{prepared.X_train.shape[1]} input features after encoding"
    )
    for line in prepared.report.notices():
        notice(line)
    sizes = [prepared.X_train.shape[1], *settings["layers"], target.n_outputs]
    net = network.mlp(
        sizes,
        activation=settings["activation"],
        output_activation="softmax" if target.task_ == "classification" else "identity",
        seed=settings["seed"],
        dtype=settings["dtype"],
        dropout=settings["dropout"],
    )
    loss = loss_for(target.task_)
    callbacks = []
    if checkpoint_dir is not None:
        data_path = None if args.data is None else str(Path(args.data).resolve())
        callbacks.append(Checkpoint(checkpoint_dir, extra={"settings": settings, "data": data_path}))
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", training.DivergenceWarning)
        history = training.fit(
            net,
            prepared.X_train,
            prepared.Y_train,
            loss=loss,
            optimizer=settings["optimizer"],
            learning_rate=settings["learning_rate"],
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            seed=settings["seed"],
            validation_data=(prepared.X_val, prepared.Y_val),
            patience=settings["patience"],
            l2=settings["l2"],
            restore_best_weights=True,
            verbose=0 if args.quiet else 1,
            callbacks=callbacks,
            resume=snapshot,
            diagnostics=True,  # about 0.5 % of the training time, and it explains what went wrong
        )
    seconds = time.perf_counter() - started
    if history.stop_reason == "diverged" and history.epochs == 0:
        # Nothing was learnt: the "last finite weights" are the random initial ones, not worth a file.
        raise CliError(f"{history.stop_message.split('; kept')[0]}, so no model was written; lower --lr")
    for warning in caught:
        warn(str(warning.message))
    results = checked_scores(net, target, prepared)
    summary = {
        "epochs": history.epochs,
        "stop_reason": history.stop_reason,
        "best_epoch": history.best_epoch,
        "seconds": round(seconds, 3),
        "scores": results,
        "rows": {k: int(len(v)) for k, v in prepared.split._asdict().items()},
    }
    model = io.Model(
        net,
        preprocessing=prepared.encoder.to_dict(),
        training=json_safe({"settings": settings, "summary": summary, "history": history.to_dict()}),
    )
    io.save(model, out)
    if plot is not None:
        from ..plot import loss_curves, save_figure

        save_figure(loss_curves(history), plot)
    if report is not None:
        _write_report(report, net, history, prepared, settings, table, source)
    _print_results(results, target.task_, history, seconds, out, plot)
    print_findings(history)
    if report is not None:
        print(f"report written to {report}")
    if history.stop_reason in INTERRUPTED:
        saved = checkpoint_dir is not None and (checkpoint_dir / "checkpoint.safetensors").exists()
        where = f"; resume with: bprop train --resume {checkpoint_dir}" if saved else ""
        print(f"{history.stop_reason}: the best model so far is in {out}{where}")
        return INTERRUPTED[history.stop_reason]
    return 0


# Exit statuses of a run stopped by a signal, as shells report them (128 + signal number).
INTERRUPTED = {"interrupted": 130, "terminated": 143}


def checkpoint_folder(text: str | None) -> Path | None:
    if text is None:
        return None
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise CliError(f"--checkpoint {text!r} is a file; give a folder (it is created if missing)")
    if not folder.parent.exists():
        raise CliError(f"--checkpoint {text!r}: folder {str(folder.parent)!r} does not exist; create it first")
    return folder


def _print_results(results: dict, task: str, history, seconds: float, out: Path, plot: Path | None) -> None:
    metric = headline(task)
    print()
    print(f"{'':<12}{'loss':>10}{metric:>11}")
    for part, label in (("train", "train"), ("val", "validation"), ("test", "test")):
        print(f"{label:<12}{results[part]['loss']:>10.4f}{results[part][metric]:>11.4f}")
    best = f", weights of the best epoch {history.best_epoch} restored" if history.restored_best else ""
    print(f"\nstopped: {history.stop_reason} after {history.epochs} epochs in {seconds:.1f} s{best}")
    print(f"model written to {out}")
    if plot is not None:
        print(f"plot written to {plot}")


def print_findings(history) -> None:
    """What the diagnostics say about the run, in plain words (see :mod:`bprop.findings`)."""
    from ..findings import findings

    found = findings(history)
    if not found:
        print("findings: none — the diagnostics saw nothing wrong")
        return
    print("findings:")
    for finding in found:
        print(f"  - {finding}")


def _write_report(path: Path, net, history, prepared, settings: dict, table, source) -> None:
    from ..report import write_report

    target = prepared.encoder.target
    classification = target.task_ == "classification"
    rows = prepared.split._asdict()
    summary = {
        "source": "bundled UCI digits" if source is None or "digits.csv" in str(source) else str(source),
        "rows": len(table),
        "feature columns": len(prepared.encoder.features.feature_names),
        "network inputs after encoding": prepared.X_train.shape[1],
        "target": f"{target.name_} ({target.task_}"
        + (f", {len(target.classes_)} classes)" if classification else ", standardised)"),
        "train / validation / test rows": " / ".join(str(len(rows[k])) for k in ("train", "val", "test")),
    }
    from ..optimizers import get_optimizer

    # Show what ran: the optimiser's own default rate rather than "None"; task and target are under Data.
    shown = {k: v for k, v in settings.items() if k not in ("task", "target")}
    shown["learning_rate"] = settings["learning_rate"] or get_optimizer(settings["optimizer"]).learning_rate
    y = prepared.Y_test.argmax(axis=1) if classification else prepared.Y_test[:, 0]
    write_report(
        path,
        net=net,
        history=history,
        data_summary=summary,
        X=prepared.X_test,
        y=y,
        settings=shown,
        task=target.task_,
        class_names=[str(c) for c in target.classes_] if classification else None,
        feature_names=prepared.encoder.features.output_names,
        evaluated_on="the test set",
    )
