"""The rows of a ``bprop train`` run: DATA (or the bundled digits) read, split and encoded, and the test rows
either carved from DATA (``--test-split``) or read from the user's own file (``--test``)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .common import CliError, input_file, notice
from .train_flags import MIN_AUTO_VAL_ROWS, val_fraction

__all__ = ["read_and_prepare"]


def read_and_prepare(args, settings: dict):
    """``(source path, raw table, prepared arrays)`` for the run's data (the bundled digits by default)."""
    from ..tables import data
    from ..tables.datasets import DIGITS_TARGET, digits_path

    if args.data is None:
        source, settings["target"] = digits_path(), settings["target"] or DIGITS_TARGET
        print("data: the bundled UCI 8x8 handwritten digits (1,797 images)")
    else:
        source = input_file("DATA", args.data)
    test_file = settings.get("test_file")  # checkpoints of older runs have no such setting
    test_source = None if test_file is None else input_file("--test", test_file)
    decimal = settings.get("decimal", ".")
    table = data.read_csv(source, decimal=decimal)
    wanted = settings.get("monitor") is not None
    val = val_fraction(settings["val_split"], len(table), wanted=wanted)
    if settings["val_split"] == "auto" and val == 0:
        print(
            f"validation: none ({len(table)} rows give under {MIN_AUTO_VAL_ROWS} validation rows), so all "
            f"{settings['epochs']} epochs train on every row; --val-split 0.1 holds some out"
        )
    prepared = data.prepare(
        table,
        settings["target"],
        task=settings["task"],
        val_fraction=val,
        test_fraction=settings["test_split"],
        rng=np.random.default_rng(settings["seed"]),
        decimal=decimal,
        keep_high_cardinality=settings.get("keep_high_cardinality", False),
        clip=settings.get("clip"),  # checkpoints of older runs have no such setting: no clipping
    )
    target = prepared.encoder.target
    kind = f"{len(target.classes_)} classes" if target.task_ == "classification" else "numeric target"
    print(
        f"task: {target.task_} ({kind}) — target {target.name_!r}, {len(table)} rows, "
        f"{prepared.X_train.shape[1]} input features after encoding"
    )
    for line in prepared.report.notices():
        notice(line)
    if test_source is not None:
        prepared = _with_test_file(prepared, test_source, test_file)
    return source, table, prepared


def _with_test_file(prepared, source, shown: str):
    """``prepared`` with its test rows read from ``source``: the types, statistics and classes of DATA."""
    from ..tables.data import read_csv

    encoder = prepared.encoder
    try:
        table = read_csv(source, **encoder.read_options())
    except ValueError as exc:  # already names the file; say which flag gave it
        raise CliError(f"--test: {exc}") from None
    name = encoder.target.name_
    if name not in table.columns:
        raise CliError(f"--test {shown!r} has no target column {name!r}; the test rows need their true values")
    if len(table) == 0:
        raise CliError(f"--test {shown!r} has no rows; give a file with test rows, or drop --test")
    try:
        X, Y, report = encoder.transform(table)
    except ValueError as exc:
        raise CliError(f"--test {shown!r}: {exc}") from None
    for line in report.notices():
        notice(f"test file: {line}")
    print(f"test: {len(table)} rows of {shown}")
    return dataclasses.replace(prepared, X_test=X, Y_test=Y)
