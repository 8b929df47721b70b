"""Prediction speed: bprop's in-memory predict vs onnxruntime on the ONNX export of the same network.

Network: the reference MLP of ``shared/BENCHMARK.md`` (784 → 256 ReLU → 128 ReLU → 10 softmax, float32),
on encoded float32 input drawn as BENCHMARK.md draws it. bprop: ``net.predict(X)`` with NumPy's BLAS held
to the given threads (threadpoolctl). onnxruntime: a session on ``bprop.export_onnx(net, preprocessing=False)``
with ``intra_op_num_threads`` = the same threads (session creation excluded). Per (threads, batch): both
warmed up, then rounds interleaved (bprop then onnxruntime, then the other order, …, with a 50 ms pause
between blocks so that no system pays for the other's spinning threads), each round a block of calls
lasting at least ``--block`` seconds; the figure is the median over rounds of the time per call.

Preprocessing: a table of raw columns (numeric with gaps, categorical with gaps), its fitted
preprocessing, and the time per row of bprop's encoder (``Preprocessor.transform`` on a DataFrame) vs the
full export (raw columns in, labels out) in onnxruntime, beside the same export without preprocessing.

The machine is shared: ``os.getloadavg()`` is recorded before and after.

    .venv/bin/python benchmarks/predict.py [--json predict.json] [--rounds 7] [--block 0.2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import HIDDEN, N_CLASSES, N_FEATURES, describe_machine, machine_info, median  # noqa: E402

import bprop  # noqa: E402

BATCHES = (1, 64, 1024, 100_000)
THREADS = (1, 2)
PAUSE = 0.05  # seconds between two timed blocks


def _per_call(run, block: float) -> float:
    """Seconds per call of ``run``, timed over a block of calls lasting at least ``block`` seconds."""
    calls, start = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= block:
            return elapsed / calls


def _session(path: str, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _interleaved(systems: dict, rounds: int, block: float) -> dict[str, float]:
    """Median seconds per call of each system, the systems alternating round by round."""
    for run in systems.values():  # warm-up: buffers, bound calls, onnxruntime's first-run allocations
        for _ in range(3):
            run()
    times: dict[str, list[float]] = {name: [] for name in systems}
    names = list(systems)
    for round_ in range(rounds):
        # Each round in the other order, with a pause between blocks: onnxruntime's pool spins for a while
        # after each run, and a system timed right after it would pay for that (measured: 37 µs instead of
        # 28 at batch 1 with two threads).
        for name in names if round_ % 2 == 0 else names[::-1]:
            time.sleep(PAUSE)
            times[name].append(_per_call(systems[name], block))
    return {name: median(values) for name, values in times.items()}


def network_speed(rounds: int, block: float, batches=BATCHES, call: str = "predict") -> list[dict]:
    from threadpoolctl import threadpool_limits

    net = bprop.mlp([N_FEATURES, *HIDDEN, N_CLASSES], activation="relu", output_activation="softmax", seed=0)
    path = os.path.join(tempfile.mkdtemp(), "reference.onnx")
    bprop.export_onnx(net, path, preprocessing=False)
    rng = np.random.default_rng(0)
    bprop_call = getattr(net, call)
    rows = []
    for threads in THREADS:
        session = _session(path, threads)
        with threadpool_limits(threads, user_api="blas"):
            for batch in batches:
                X = rng.standard_normal((batch, N_FEATURES), dtype=np.float32)
                same = np.abs(net.predict(X) - session.run(["output"], {"input": X})[0]).max()
                systems = {
                    "bprop": lambda X=X: bprop_call(X),
                    "onnxruntime": lambda X=X, s=session: s.run(["output"], {"input": X}),
                }
                result = _interleaved(systems, rounds if batch < 100_000 else max(3, rounds // 2), block)
                row = {"threads": threads, "batch": batch, **result, "max_abs_difference": float(same)}
                row["ratio"] = row["bprop"] / row["onnxruntime"]
                rows.append(row)
                print(_network_line(row), flush=True)
    return rows


def _network_line(row: dict) -> str:
    per = 1e6 if row["batch"] < 1024 else 1e3
    unit = "µs" if per == 1e6 else "ms"
    return (
        f"threads {row['threads']}  batch {row['batch']:>7,}  bprop {row['bprop'] * per:9.2f} {unit}  "
        f"onnxruntime {row['onnxruntime'] * per:9.2f} {unit}  ratio {row['ratio']:.2f}"
    )


def raw_table(n_rows: int, seed: int = 0):
    """12 numeric columns (every 10th cell empty) and 4 categorical ones of 12 values (gaps too), a 3-class target."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns = {f"x{i}": rng.normal(loc=i * 10, scale=i + 1, size=n_rows) for i in range(12)}
    for i in range(4):
        columns[f"c{i}"] = rng.choice([f"v{k}" for k in range(12)], size=n_rows).astype(object)
    table = pd.DataFrame(columns)
    for name in table.columns:
        table.loc[table.index[rng.random(n_rows) < 0.1], name] = np.nan
    table["target"] = rng.choice(["a", "b", "c"], size=n_rows)
    return table


def preprocessing_speed(rounds: int, block: float) -> list[dict]:
    """Time per row of encoding raw columns: bprop's encoder vs the full export in onnxruntime (1 thread)."""
    from threadpoolctl import threadpool_limits

    from bprop.export import onnx_inputs
    from bprop.tables.data import prepare

    prepared = prepare(raw_table(2_000), "target", rng=np.random.default_rng(0))
    encoder = prepared.encoder
    net = bprop.mlp([encoder.features.n_outputs, 64, 3], activation="relu", output_activation="softmax", seed=0)
    model = bprop.Model(net, preprocessing=encoder.to_dict())
    folder = tempfile.mkdtemp()
    full, alone = os.path.join(folder, "full.onnx"), os.path.join(folder, "alone.onnx")
    bprop.export_onnx(model, full)
    bprop.export_onnx(model, alone, preprocessing=False)
    rows = []
    with threadpool_limits(1, user_api="blas"):
        full_session, alone_session = _session(full, 1), _session(alone, 1)
        for n_rows in (1, 10_000):
            table = raw_table(n_rows, seed=1).drop(columns=["target"])
            feeds = onnx_inputs(encoder.features, table)
            X = encoder.features.transform(table).astype(np.float32)
            result = _interleaved(
                {
                    "bprop encoder": lambda t=table: encoder.features.transform(t),
                    "onnxruntime full export": lambda f=feeds: full_session.run(None, f),
                    "onnxruntime network alone": lambda X=X: alone_session.run(None, {"input": X}),
                    "building the inputs": lambda t=table: onnx_inputs(encoder.features, t),
                },
                rounds,
                block,
            )
            row = {"rows": n_rows, **{name: seconds / n_rows for name, seconds in result.items()}}
            row["onnxruntime preprocessing"] = row["onnxruntime full export"] - row["onnxruntime network alone"]
            rows.append(row)
            shown = ", ".join(f"{k} {v * 1e6:.2f} µs" for k, v in row.items() if k != "rows")
            print(f"per row at {n_rows:,} rows: {shown}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per measurement (default 7)")
    parser.add_argument("--block", type=float, default=0.2, help="seconds of calls per round (default 0.2)")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)), help="batch sizes (default 1,64,1024,100000)")
    parser.add_argument(
        "--bprop-call", choices=["predict", "forward"], default="predict",
        help="time net.forward (the training forward pass, what predict was before the lean path) instead",
    )  # fmt: skip
    parser.add_argument("--no-preprocessing", action="store_true", help="skip the preprocessing measurement")
    args = parser.parse_args(argv)
    info = machine_info()
    import onnxruntime

    info["versions"]["onnxruntime"] = onnxruntime.__version__
    print(describe_machine(info))
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    batches = tuple(int(b) for b in args.batches.split(","))
    print(f"bprop side: net.{args.bprop_call}(X)")
    network = network_speed(args.rounds, args.block, batches, args.bprop_call)
    preprocessing = [] if args.no_preprocessing else preprocessing_speed(args.rounds, args.block)
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if args.json:
        result = {"machine": info, "load_before": load_before, "load_after": load_after,
                  "network": network, "preprocessing": preprocessing}  # fmt: skip
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
