"""``bprop train``: CSV (or the bundled digits) → preprocessing → network → fit → model file, plot, report."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..nn.optimizers import compile_ahead
from .common import (
    CliError,
    check_parent_folder,
    json_safe,
    output_path,
    refuse_same_file,
    warn,
)
from .mpi import agreed_setup
from .resume import data_identity, given_flags, resume_settings
from .scoring import checked_scores, headline, loss_for
from .train_data import ArrayData, read_and_prepare
from .train_flags import batch_size, register_flags, settings_from_flags

# From this size of DATA on, numba's kernels are compiled (or loaded) on a thread while the file is read:
# reading takes longer than that, and such data usually makes a network large enough to use them.
AHEAD_BYTES = 32 * 2**20


def register(sub) -> None:
    register_flags(sub, run)


def run(args) -> int:
    """Train; the checkpoint folder stays locked for the whole run, so a second run using it is refused."""
    from ..training.checkpoint import lock_folder
    from ..training.interrupts import signal_hold

    collective = getattr(args, "collective", None)
    # Rank 0 alone writes the checkpoint, so it alone holds the folder's lock.
    folder = checkpoint_folder(args.checkpoint or args.resume) if collective is None or collective.rank == 0 else None
    status = 0
    try:
        # The hold is released last: a Ctrl-C while the lock goes is still the hold's.
        with signal_hold() as signals, lock_folder(folder):
            status = _run(args, signals)
    except KeyboardInterrupt:
        if status not in INTERRUPTED.values():
            raise
        # A repeated Ctrl-C arriving after a run it stopped had saved and reported everything (the
        # handlers are back by then): the request already honoured, not a new one.
    return status


def _run(args, signals) -> int:
    collective = getattr(args, "collective", None)  # under mpiexec (see cli/mpi.py)
    leads = collective is None or collective.rank == 0
    with agreed_setup(collective):
        given = given_flags(args)
        snapshot = None
        if args.resume is not None:
            snapshot, settings = resume_settings(args, given, settings_from_flags)
        else:
            settings = settings_from_flags(args)
        if args.data is not None and Path(args.data).is_file() and Path(args.data).stat().st_size >= AHEAD_BYTES:
            compile_ahead(settings["optimizer"], settings["dtype"], settings["l2"] > 0)  # while the data is read
        outputs = _outputs(args)
        if leads:  # first, so that a streamed cache is built once, by rank 0
            data = read_and_prepare(args, settings)
    with agreed_setup(collective):
        if not leads:
            data = read_and_prepare(args, settings)
        net = _network(data, settings)
    source = data.source_path
    callbacks = []
    if outputs.checkpoint is not None:
        from ..training.checkpoint import Checkpoint

        data_path = None if args.data is None else str(Path(args.data).resolve())
        extra = {"settings": settings, "data": data_path, **data_identity(source if args.data else None)}
        extra |= data_identity(settings.get("test_file"), "test")
        callbacks.append(Checkpoint(outputs.checkpoint, extra=extra, writes=leads))
    signals.hold()  # from here a Ctrl-C stops training (see fit) or waits until the model is written
    history, seconds = _train(net, data, settings, args, callbacks, snapshot)
    if not leads:
        return 0  # rank 0 scores, writes and reports the model every rank has trained
    results = checked_scores(net, data.encoder.target, data)
    _save_model(net, data, settings, history, seconds, results, outputs.out)
    if history.stop_reason not in INTERRUPTED:
        # The model is on disk: from here a Ctrl-C may stop the plot and the report.
        status = _stopped_while_saving(signals.release(), history, outputs.out)
        if status:
            return status
    # A run a signal already stopped keeps holding: a repeated Ctrl-C is the request being honoured.
    _write_figures(outputs, net, history, data, settings)
    _print_results(results, data.encoder.target.task_, history, seconds, outputs.out, outputs.plot)
    print_findings(history)
    if outputs.report is not None:
        print(f"report written to {outputs.report}")
    if history.stop_reason in INTERRUPTED:
        saved = outputs.checkpoint is not None and (outputs.checkpoint / "checkpoint.safetensors").exists()
        where = f"; resume with: bprop train --resume {outputs.checkpoint}" if saved else ""
        print(f"{history.stop_reason}: the best model so far is in {outputs.out}{where}")
        return INTERRUPTED[history.stop_reason]
    return 0


@dataclass
class _Outputs:
    checkpoint: Path | None
    out: Path
    plot: Path | None
    report: Path | None


def _outputs(args) -> _Outputs:
    """Every output path, checked before anything is read or trained."""
    outputs = _Outputs(
        checkpoint_folder(args.checkpoint or args.resume),
        output_path("--out", args.out, (".safetensors",)),
        output_path("--plot", args.plot, (".png", ".svg", ".pdf")),
        output_path("--report", args.report, (".html", ".htm")),
    )
    for flag, path in (("--out", outputs.out), ("--plot", outputs.plot), ("--report", outputs.report)):
        refuse_same_file(flag, path, DATA=args.data, **{"--test": args.test})
        if outputs.checkpoint is not None and path is not None and _inside(path, outputs.checkpoint):
            raise CliError(
                f"{flag} {str(path)!r} is inside the checkpoint folder {str(outputs.checkpoint)!r}, which "
                "bprop manages; write it elsewhere"
            )
    for name, given in (("DATA", args.data), ("--test", args.test)):
        if outputs.checkpoint is not None and args.resume is None and given is not None and not Path(given).is_file():
            raise CliError(
                f"--checkpoint needs {name} to be a file it can read again on --resume, but {given!r} is "
                "a pipe or device; save it to a file first, or train without --checkpoint"
            )
    return outputs


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().parent == folder.resolve() or folder.resolve() in path.resolve().parents


def _network(data, settings: dict):
    from ..nn.network import mlp

    target = data.encoder.target
    sizes = [data.n_inputs, *settings["layers"], target.n_outputs]
    if isinstance(data, ArrayData):  # a streamed run holds one batch of rows at a time
        _check_memory(data.prepared, sizes, settings)
    return mlp(
        sizes,
        activation=settings["activation"],
        output_activation="softmax" if target.task_ == "classification" else "identity",
        seed=settings["seed"],
        dtype=settings["dtype"],
        dropout=settings["dropout"],
        init=settings.get("init"),  # None (and checkpoints of older runs): the default for the activation
    )


def _train(net, data, settings: dict, args, callbacks: list, snapshot):
    """``(History, seconds)``; warnings shown as one line each after the progress bar is gone."""
    from ..training.fit import fit
    from ..training.trainer import DivergenceWarning

    validated = data.rows["val"] > 0
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DivergenceWarning)
        history = fit(
            net,
            **data.fit_arguments(settings["dtype"]),
            loss=loss_for(data.encoder.target.task_),
            optimizer=settings["optimizer"],
            learning_rate=settings["learning_rate"],
            epochs=settings["epochs"],
            batch_size=batch_size(settings["batch_size"], data.rows["train"]),
            seed=settings["seed"],
            # No validation rows: a fixed budget of epochs, keeping the last weights.
            patience=settings["patience"] if validated else None,
            monitor=_monitor(settings, data),
            l2=settings["l2"],
            weight_decay=settings["weight_decay"] if settings["optimizer"] == "adamw" else None,
            schedule=settings.get("schedule", "constant"),  # checkpoints of older runs have no such setting
            restore_best_weights=validated,
            # "auto": a bar only on a terminal, so CI logs do not fill with carriage-return lines.
            verbose=0 if args.quiet else 1 if args.progress else "auto",
            callbacks=callbacks,
            resume=snapshot,
            collective=getattr(args, "collective", None),
            diagnostics=True,  # about 0.5 % of the training time, and it explains what went wrong
        )
    if history.stop_reason == "diverged" and history.epochs == 0:
        # Nothing was learnt: the "last finite weights" are the random initial ones, not worth a file.
        raise CliError(f"{history.stop_message.split('; kept')[0]}, so no model was written; lower --lr")
    for warning in caught:
        warn(str(warning.message))
    return history, time.perf_counter() - started


def _monitor(settings: dict, data) -> str:
    """What patience and restore-best follow: the flag's choice, else the default for the task."""
    monitor = settings.get("monitor")
    task = data.encoder.target.task_
    if data.rows["val"] == 0:
        return "loss"  # unused: without validation rows nothing is monitored (see _train)
    if monitor is None:
        return DEFAULT_MONITOR[task]
    if monitor == "val_accuracy" and task != "classification":
        raise CliError("--monitor val_accuracy needs a classification target; this one is regression (use val_loss)")
    return monitor


# The monitored quantity when --monitor is not given, per task.
DEFAULT_MONITOR = {"classification": "val_loss", "regression": "val_loss"}


def _save_model(net, data, settings: dict, history, seconds: float, results: dict, out: Path) -> None:
    from .. import modelfile

    summary = {
        "epochs": history.epochs,
        "stop_reason": history.stop_reason,
        "best_epoch": history.best_epoch,
        "seconds": round(seconds, 3),
        "scores": results,
        "rows": {part: int(data.rows[part]) for part in ("train", "val", "test")},
    }
    model = modelfile.Model(
        net,
        preprocessing=data.encoder.to_dict(),
        training=json_safe({"settings": settings, "summary": summary, "history": history.to_dict()}),
    )
    modelfile.save(model, out)


def _write_figures(outputs: _Outputs, net, history, data, settings: dict) -> None:
    if outputs.plot is not None:
        from ..report.curves import loss_curves, save_figure

        save_figure(loss_curves(history), outputs.plot)
    if outputs.report is not None:
        _write_report(outputs.report, net, history, data, settings)


# Exit statuses of a run stopped by a signal, as shells report them (128 + signal number).
INTERRUPTED = {"interrupted": 130, "terminated": 143}


def checkpoint_folder(text: str | None) -> Path | None:
    if text is None:
        return None
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise CliError(f"--checkpoint {text!r} is a file; give a folder (it is created if missing)")
    check_parent_folder("--checkpoint", text, folder)
    return folder


def _check_memory(prepared, sizes: list[int], settings: dict) -> None:
    """Refuse, before the network is built, a run that cannot fit in what this process may use."""
    from ..memory import check_fits, estimate_training_bytes

    arrays = [getattr(prepared, f"{kind}_{part}") for kind in "XY" for part in ("train", "val", "test")]
    n_rows = sum(len(getattr(prepared, f"X_{part}")) for part in ("train", "val", "test"))
    batch = batch_size(settings["batch_size"], len(prepared.X_train))
    need = estimate_training_bytes(n_rows, sizes[0], sizes[1:], batch, settings["dtype"])
    # The prepared float64 arrays are already allocated: what is left to use no longer holds them.
    held = sum(a.nbytes for a in arrays)
    data = held * (1 + np.dtype(settings["dtype"]).itemsize / 8)  # with their copy in the network's dtype
    if need - data > data:
        n_params = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))
        fix = f"use smaller --layers (this network has {n_params:,} parameters)"
    else:
        fix = f"use fewer rows or feature columns ({n_rows:,} rows × {sizes[0]:,} inputs after encoding)"
    check_fits(max(0, need - held), "training", fix)


def _stopped_while_saving(held: list[int], history, out: Path) -> int:
    """The exit status for a Ctrl-C or SIGTERM held while the model was written (0 if none came, or if it
    already stopped training, which reports it itself)."""
    from ..training.interrupts import reason

    if not held or history.stop_reason in INTERRUPTED:
        return 0
    stopped = reason(held[0])
    print(f"{stopped}: training had finished; the model is in {out}")
    return INTERRUPTED[stopped]


def _print_results(results: dict, task: str, history, seconds: float, out: Path, plot: Path | None) -> None:
    metric = headline(task)
    print()
    print(f"{'':<12}{'loss':>10}{metric:>11}")
    for part, label in (("train", "train"), ("val", "validation"), ("test", "test")):
        if part not in results:  # --val-split 0 or --test-split 0
            continue
        print(f"{label:<12}{results[part]['loss']:>10.4f}{results[part][metric]:>11.4f}")
    best = f", weights of the best epoch {history.best_epoch} restored" if history.restored_best else ""
    print(f"\nstopped: {history.stop_reason} after {history.epochs} epochs in {seconds:.1f} s{best}")
    print(f"model written to {out}")
    if plot is not None:
        print(f"plot written to {plot}")


def print_findings(history) -> None:
    """What the diagnostics say about the run, in plain words (see :mod:`bprop.insight.findings`)."""
    from ..insight.findings import findings

    found = findings(history)
    if not found:
        print("findings: none — the diagnostics saw nothing wrong")
        return
    print("findings:")
    for finding in found:
        print(f"  - {finding}")


def _write_report(path: Path, net, history, data, settings: dict) -> None:
    from ..report.html import write_report

    target = data.encoder.target
    classification = target.task_ == "classification"
    rows = data.rows
    source = data.source_path
    summary = {
        "source": "bundled UCI digits" if source is None or "digits.csv" in str(source) else str(source),
        "rows": data.n_table_rows,
        "feature columns": len(data.encoder.features.feature_names),
        "network inputs after encoding": data.n_inputs,
        "target": f"{target.name_} ({target.task_}"
        + (f", {len(target.classes_)} classes)" if classification else ", standardised)"),
        "train / validation / test rows": " / ".join(str(rows[k]) for k in ("train", "val", "test")),
    }
    from ..nn.optimizers import get_optimizer

    # Show what ran: the optimiser's own default rate rather than "None"; task and target are under Data.
    shown = {k: v for k, v in settings.items() if k not in ("task", "target")}
    shown["learning_rate"] = settings["learning_rate"] or get_optimizer(settings["optimizer"]).learning_rate
    # What ran rather than "None": the resolved monitor, and the features switched off.
    shown["monitor"] = _monitor(settings, data) if rows["val"] else "none (no validation rows)"
    shown.update({k: "off" for k in ("clip", "patience") if settings.get(k) is None})
    shown.update({k: "none" for k in ("test_file",) if settings.get(k) is None})
    shown["init"] = settings.get("init") or "auto (by activation)"
    if settings["batch_size"] == "auto":
        shown["batch_size"] = f"auto: {batch_size('auto', rows['train'])}"
    if settings["val_split"] == "auto":
        shown["val_split"] = f"auto: {rows['val']} rows"
    part, evaluated_on = _report_rows(rows, settings)
    X, Y = data.sample(part)
    write_report(
        path,
        net=net,
        history=history,
        data_summary=summary,
        X=X,
        y=Y.argmax(axis=1) if classification else Y[:, 0],
        settings=shown,
        task=target.task_,
        class_names=[str(c) for c in target.classes_] if classification else None,
        feature_names=data.encoder.features.output_names,
        evaluated_on=evaluated_on,
    )


def _report_rows(rows: dict, settings: dict) -> tuple[str, str]:
    """The part the report's confusion matrix and residuals use, and how the report names it."""
    if rows["test"]:
        if settings.get("test_file"):
            return "test", f"the test rows of {settings['test_file']}"
        return "test", "the test rows, held out from training"
    if rows["val"]:
        return "val", "the validation rows (no test rows: --test-split 0), which chose the restored epoch"
    return "train", "the training rows (no test or validation rows), so the scores are optimistic"
