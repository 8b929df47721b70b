"""Data-parallel training over MPI (issue 16): 2 ranks × 1 BLAS thread against 1 process × 2 threads.

    python benchmarks/mpi.py                                   # the reference run (about 5 minutes on 2 cores)
    python benchmarks/mpi.py --repeats 1 --epochs 1 --samples 6000   # quick smoke run
    python benchmarks/mpi.py --out benchmarks/results/mpi.md --json /tmp/mpi.json

The reference network and data of ``shared/BENCHMARK.md`` (784 → 256 → 128 → 10, plain SGD 0.01, float32),
trained by ``bprop.Trainer`` in four configurations, each a fresh process run (or ``mpiexec -n 2``) with
its BLAS thread count set in the environment (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS``) and checked with threadpoolctl inside every rank:

- ``2x1``: ``mpiexec -n 2``, one BLAS thread per rank, ``collective=world()`` (what ``fit`` does under MPI);
- ``1x2``: one process, two BLAS threads, the same unfused optimiser path as under MPI (a no-op
  ``gradient_hook`` turns off the fused SGD update, which a data-parallel run cannot use);
- ``1x2-fused``: one process, two threads, the fused SGD update (what ``bprop.fit`` runs without MPI);
- ``1x1``: one process, one thread, unfused;
- ``2x2``: ``mpiexec -n 2`` with two BLAS threads per rank (4 threads on 2 cores: OpenBLAS's default when
  a plain ``python script.py`` runs under mpiexec without a thread setting); it is far slower, so it
  runs only ``--slow-repeats`` times.

Every run trains one warm-up epoch and ``--epochs`` timed ones (a barrier before each); the runs go
round-robin over the configurations and batch sizes, ``--repeats`` times, in a rotated order, and the
tables show medians over all timed epochs. Inside the ``2x1`` ranks the communicator's ``Allreduce`` and
``Collective.reduce_step`` (the all-reduce plus packing the gradients into its buffer and out again) are
wrapped with timers, CPU time comes from ``resource.getrusage`` per epoch, and after training a standalone
``Allreduce`` of float32 buffers of several sizes (one of them the gradient buffer) is timed to fit the
latency and bandwidth of this machine's shared-memory transport. A ring all-reduce model on top of the
measured per-step compute gives the predicted weak-scaling efficiency on 10 and 100 Gbit/s links.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    HIDDEN,
    LEARNING_RATE,
    N_CLASSES,
    N_FEATURES,
    N_SAMPLES,
    describe_machine,
    machine_info,
    median,
    one_hot,
    reference_data,
)

MARK = "MPIBENCH "  # the line of a worker's stdout that carries its JSON result
CONFIGS = {  # name → (ranks, BLAS threads per rank, optimiser path)
    "2x1": (2, 1, "mpi"),
    "1x2": (1, 2, "unfused"),
    "1x2-fused": (1, 2, "fused"),
    "1x1": (1, 1, "unfused"),
    # Two ranks that each keep OpenBLAS's default of one thread per core: what `python script.py` under
    # mpiexec gets unless the user sets the thread count (the `bprop` command sets it for them).
    "2x2": (2, 2, "mpi"),
}
# Configurations run only in the first --slow-repeats repeats (2x2 is an order of magnitude slower).
SLOW = ("2x2",)
BASELINE = "1x2"  # the goal compares 2x1 with this one: same optimiser path, same two cores
THROUGHPUT_GOAL = 0.90  # 2x1 samples/s ≥ 90 % of 1x2's at B = 1024
CPU_GOAL = 0.80  # each rank's CPU time ≤ 80 % of the one process's
ALLREDUCE_SIZES = (1, 1024, 16384, 131072)  # float32 elements, plus the gradient buffer itself
# The ring model's links: (label, bandwidth in Gbit/s), and the per-message latencies assumed for each.
LINKS = (("10 Gbit/s", 10.0), ("100 Gbit/s", 100.0))
LATENCIES_US = (5.0, 20.0)
MODEL_RANKS = (8, 64, 512)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the worker: one configuration, one process (or one rank) ----------------------------------------


class TimedComm:
    """Forwards everything to an mpi4py communicator and adds up the time spent in ``Allreduce``."""

    def __init__(self, comm):
        self._comm, self.seconds, self.calls = comm, 0.0, 0

    def Allreduce(self, *args, **kwargs):  # noqa: N802 (mpi4py's name)
        start = time.perf_counter()
        self._comm.Allreduce(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.calls += 1

    def __getattr__(self, name):
        return getattr(self._comm, name)


def timed_reduce_step(collective, totals: dict):
    inner = collective.reduce_step

    def reduce_step(*args, **kwargs):
        start = time.perf_counter()
        result = inner(*args, **kwargs)
        totals["reduce_step"] += time.perf_counter() - start
        return result

    return reduce_step


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def blas_threads() -> list[dict]:
    import threadpoolctl

    return [
        {"api": p["internal_api"], "num_threads": p["num_threads"], "architecture": p.get("architecture")}
        for p in threadpoolctl.threadpool_info()
        if p.get("user_api") == "blas"
    ]


def standalone_allreduce(collective, n_params: int, iterations: int) -> list[dict]:
    """Seconds per ``Allreduce`` (SUM, in place) of float32 buffers, best of 5 blocks of ``iterations`` calls."""
    MPI, comm = collective.MPI, collective.comm._comm
    rows = []
    for n in (*ALLREDUCE_SIZES, n_params + 3):
        buffer = np.ones(n, dtype=np.float32)
        for _ in range(10):
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        blocks = []
        for _ in range(5):
            comm.Barrier()
            start = time.perf_counter()
            for _ in range(iterations):
                comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            blocks.append((time.perf_counter() - start) / iterations)
        rows.append({"elements": n, "bytes": 4 * n, "seconds": min(blocks), "median_block": median(blocks)})
    return rows


def make_trainer(path: str, batch_size: int, epochs: int, samples: int, collective):
    import bprop

    X, y = reference_data(samples)
    net = bprop.mlp([N_FEATURES, *HIDDEN, N_CLASSES], activation="relu", output_activation="softmax", seed=0)
    hook = (lambda grads: None) if path == "unfused" else None
    trainer = bprop.Trainer(
        net, X, one_hot(y), loss="categorical_cross_entropy", optimizer=bprop.SGD(LEARNING_RATE),
        epochs=epochs, batch_size=batch_size, shuffle=True, seed=0, verbose=0, gradient_hook=hook,
        collective=collective,
    )  # fmt: skip
    return trainer, sum(p.size for p in net.parameters())


def worker(config: str, batch_size: int, epochs: int, samples: int, iterations: int) -> None:
    from bprop.training.distributed import world

    ranks, threads, path = CONFIGS[config]
    collective = world() if ranks > 1 else None
    size = collective.size if collective is not None else 1
    if size != ranks:
        raise SystemExit(f"config {config} wants {ranks} ranks, got {size}")
    totals = {"reduce_step": 0.0}
    comm = None
    if collective is not None:
        comm = collective.comm = TimedComm(collective.comm)
        collective.reduce_step = timed_reduce_step(collective, totals)
    trainer, n_params = make_trainer(path, batch_size, 1 + epochs, samples, collective)
    if collective is not None and trainer._plain_step:
        raise SystemExit("the data-parallel run took the fused path")
    if path == "unfused" and trainer._plain_step or path == "fused" and not trainer._plain_step:
        raise SystemExit(f"config {config} did not take the {path} path")
    records = []
    for _ in range(1 + epochs):
        if comm is not None:
            comm.Barrier()
        steps0, cpu0, ar0, rs0 = trainer.state.steps, cpu_seconds(), 0.0, totals["reduce_step"]
        calls0 = 0
        if comm is not None:
            ar0, calls0 = comm.seconds, comm.calls
        start = time.perf_counter()
        trainer.run_epoch()
        wall = time.perf_counter() - start
        records.append({
            "seconds": wall,
            "cpu": cpu_seconds() - cpu0,
            "steps": trainer.state.steps - steps0,
            "allreduce": (comm.seconds - ar0) if comm is not None else 0.0,
            "allreduce_calls": (comm.calls - calls0) if comm is not None else 0,
            "reduce_step": totals["reduce_step"] - rs0,
        })  # fmt: skip
    result = {
        "rank": collective.rank if collective is not None else 0,
        "blas": blas_threads(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "n_params": n_params,
        "warmup": records[0],
        "epochs": records[1:],
        "final_loss": trainer.state.history.loss[-1],
    }
    if collective is not None:
        result["standalone"] = standalone_allreduce(collective, n_params, iterations)
        gathered = collective.gather(result)
        if collective.rank != 0:
            return
    else:
        gathered = [result]
    print(MARK + json.dumps({"config": config, "batch_size": batch_size, "ranks": gathered}), flush=True)


# -- the driver: interleaved runs of every configuration ----------------------------------------------


def command_for(config: str, args: argparse.Namespace, batch_size: int) -> tuple[list[str], dict]:
    ranks, threads, _ = CONFIGS[config]
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    script = [
        sys.executable, str(Path(__file__).resolve()), "--worker", config, "--batch-sizes", str(batch_size),
        "--epochs", str(args.epochs), "--samples", str(args.samples), "--iterations", str(args.iterations),
    ]  # fmt: skip
    if ranks > 1:
        return [args.mpiexec, "-n", str(ranks), *script], env
    return script, env


class Watch:
    """Watches, from a thread, for other processes whose command line contains ``pattern`` (another benchmark
    on this shared machine): a run they overlapped is thrown away and run again once they are gone."""

    def __init__(self, pattern: str | None, interval: float = 1.0):
        self.pattern, self.interval, self.disturbed, self.discarded = pattern, interval, False, 0
        if pattern:
            threading.Thread(target=self._watch, daemon=True).start()

    def busy(self) -> bool:
        if not self.pattern:
            return False
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) != os.getpid():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if self.pattern.encode() in f.read():
                            return True
                except OSError:
                    pass
        return False

    def _watch(self) -> None:
        while True:
            if self.busy():
                self.disturbed = True
            time.sleep(self.interval)

    def wait_quiet(self, limit: float = 2400.0) -> None:
        deadline = time.monotonic() + limit
        while self.busy():
            if time.monotonic() > deadline:
                raise SystemExit(f"processes matching {self.pattern!r} still run after {limit:.0f} s")
            log(f"  waiting: a process matching {self.pattern!r} runs")
            time.sleep(30)
        self.disturbed = False


def run_once(config: str, args: argparse.Namespace, batch_size: int, watch: Watch) -> dict:
    for _ in range(10):
        watch.wait_quiet()
        result = run_process(config, args, batch_size)
        if not (watch.disturbed or watch.busy()):
            return result
        watch.discarded += 1
        log(f"  B={batch_size} {config}: another process matching {watch.pattern!r} ran meanwhile; run again")
    raise SystemExit("disturbed ten times in a row")


def run_process(config: str, args: argparse.Namespace, batch_size: int) -> dict:
    cmd, env = command_for(config, args, batch_size)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if len(lines) != 1:
        raise SystemExit(f"{config}: expected one result line, got {len(lines)}:\n{done.stdout[-2000:]}")
    result = json.loads(lines[0][len(MARK) :])
    result["process_seconds"] = time.perf_counter() - start
    return result


def measure(args: argparse.Namespace, watch: Watch) -> dict[str, dict[str, list[dict]]]:
    """Every configuration's runs per batch size, in a round-robin rotated by one each repeat."""
    runs: dict[str, dict[str, list[dict]]] = {str(B): {c: [] for c in args.configs} for B in args.batch_sizes}
    for repeat in range(args.repeats):
        shift = repeat % len(args.configs)
        order = args.configs[shift:] + args.configs[:shift]
        for B in args.batch_sizes:
            for config in order:
                if config in SLOW and repeat >= args.slow_repeats:
                    continue
                result = run_once(config, args, B, watch)
                runs[str(B)][config].append(result)
                epochs = ", ".join(f"{r['seconds']:.3f}" for r in result["ranks"][0]["epochs"])
                log(f"  repeat {repeat + 1} B={B:<5} {config:<10} epochs {epochs} s")
    return runs


# -- summaries ----------------------------------------------------------------------------------------


def epoch_values(results: list[dict], key: str, rank: int | None = None) -> list[float]:
    """``key`` of every timed epoch of every run: of one rank, or (rank None) the largest over the ranks."""
    values = []
    for result in results:
        ranks = result["ranks"]
        for e in range(len(ranks[0]["epochs"])):
            per_rank = [r["epochs"][e][key] for r in ranks]
            values.append(max(per_rank) if rank is None else per_rank[rank])
    return values


def per_step(results: list[dict], key: str, rank: int) -> list[float]:
    return [
        e[key] / e["steps"] for result in results for e in result["ranks"][rank]["epochs"] if e["steps"]
    ]  # fmt: skip


def summarise_batch(runs: dict[str, list[dict]], samples: int) -> dict:
    out: dict = {"configs": {}}
    for config, results in runs.items():
        if not results:
            continue
        n_ranks = len(results[0]["ranks"])
        seconds = median(epoch_values(results, "seconds"))
        entry = {
            "seconds": seconds,
            "samples_per_s": samples / seconds,
            "steps_per_epoch": results[0]["ranks"][0]["epochs"][0]["steps"],
            "cpu_per_rank": [median(epoch_values(results, "cpu", r)) for r in range(n_ranks)],
            "blas_threads": sorted({p["num_threads"] for res in results for r in res["ranks"] for p in r["blas"]}),
            "affinity": results[0]["ranks"][0]["affinity"],
            "epoch_values": epoch_values(results, "seconds"),
        }
        if n_ranks > 1:
            entry["allreduce_per_step"] = [median(per_step(results, "allreduce", r)) for r in range(n_ranks)]
            entry["reduce_step_per_step"] = [median(per_step(results, "reduce_step", r)) for r in range(n_ranks)]
            # A rank's own work per step: its epoch minus what it spent inside Allreduce (which includes
            # waiting for the other rank); packing and unpacking the gradient buffer count as work.
            compute = [
                [(e["seconds"] - e["allreduce"]) / e["steps"] for res in results for e in res["ranks"][r]["epochs"]]
                for r in range(n_ranks)
            ]
            entry["compute_per_step"] = [median(c) for c in compute]
            entry["allreduce_calls_per_step"] = median(per_step(results, "allreduce_calls", 0))
            standalone = {}
            for res in results:
                for row in res["ranks"][0]["standalone"]:
                    standalone.setdefault(row["elements"], []).append(row["seconds"])
            entry["standalone"] = {n: median(v) for n, v in standalone.items()}
            entry["n_params"] = results[0]["ranks"][0]["n_params"]
        out["configs"][config] = entry
    return out


def fit_shared_memory(standalone: dict[int, float]) -> tuple[float, float]:
    """Least-squares ``t = a + bytes / beta`` over the standalone sizes; for K = 2 the ring's ``2(K-1)alpha``
    is ``2 alpha``, so returns ``(alpha, beta)`` in seconds and bytes per second."""
    sizes = np.array([4.0 * n for n in standalone])
    times = np.array(list(standalone.values()))
    slope, intercept = np.polyfit(sizes, times, 1)
    return intercept / 2, 1 / slope if slope > 0 else float("inf")


def ring_seconds(k: int, n_bytes: float, alpha: float, beta: float) -> float:
    """Ring all-reduce (reduce-scatter + all-gather): 2(K-1) messages of bytes/K each, one after another."""
    return 2 * (k - 1) * alpha + 2 * (k - 1) / k * n_bytes / beta


def halving_seconds(k: int, n_bytes: float, alpha: float, beta: float) -> float:
    """Rabenseifner's all-reduce (recursive halving + doubling, K a power of 2): the ring's bandwidth term with
    2 log2(K) messages instead of 2(K-1); what MPI libraries pick for mid-sized buffers on many ranks."""
    return 2 * np.log2(k) * alpha + 2 * (k - 1) / k * n_bytes / beta


def model_rows(summary: dict) -> list[dict]:
    rows = []
    for B, entry in summary["batches"].items():
        mpi = entry["configs"].get("2x1")
        if mpi is None:
            continue
        compute = float(np.mean(mpi["compute_per_step"]))
        n_bytes = 4 * (mpi["n_params"] + 3)
        for label, gbit in LINKS:
            beta = gbit * 1e9 / 8
            for k in MODEL_RANKS:
                times = [ring_seconds(k, n_bytes, a * 1e-6, beta) for a in LATENCIES_US]
                halving = [halving_seconds(k, n_bytes, a * 1e-6, beta) for a in LATENCIES_US]
                rows.append({
                    "per_rank_batch": int(B) // 2, "compute": compute, "link": label, "ranks": k,
                    "allreduce": times, "efficiency": [compute / (compute + t) for t in times],
                    "efficiency_halving": [compute / (compute + t) for t in halving],
                })  # fmt: skip
    return rows


def summarise(runs: dict, args: argparse.Namespace) -> dict:
    summary: dict = {"batches": {B: summarise_batch(r, args.samples) for B, r in runs.items()}}
    for entry in summary["batches"].values():
        cfg = entry["configs"]
        if "2x1" in cfg:
            for other in ("1x2", "1x2-fused", "1x1"):
                if other in cfg:
                    entry[f"throughput 2x1/{other}"] = cfg[other]["seconds"] / cfg["2x1"]["seconds"]
                    entry[f"cpu 2x1/{other}"] = [c / cfg[other]["cpu_per_rank"][0] for c in cfg["2x1"]["cpu_per_rank"]]
        if "2x2" in cfg and BASELINE in cfg:
            entry[f"throughput 2x2/{BASELINE}"] = cfg[BASELINE]["seconds"] / cfg["2x2"]["seconds"]
    mpi_entries = [e["configs"]["2x1"] for e in summary["batches"].values() if "2x1" in e["configs"]]
    if mpi_entries:
        standalone = mpi_entries[0]["standalone"]
        merged = {n: median([e["standalone"][n] for e in mpi_entries]) for n in standalone}
        alpha, beta = fit_shared_memory(merged)
        summary["shared_memory"] = {"standalone": merged, "alpha": alpha, "beta": beta}
        summary["model"] = model_rows(summary)
    return summary


# -- report -------------------------------------------------------------------------------------------


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def speed_table(summary: dict) -> list[str]:
    batches = summary["batches"]
    cols = list(batches)
    names = [c for c in CONFIGS if any(c in batches[B]["configs"] for B in cols)]
    rows = []
    for name in names:
        cells = []
        for B in cols:
            e = batches[B]["configs"].get(name)
            cells.append("–" if e is None else f"{e['seconds']:.3f} ({e['samples_per_s']:,.0f}/s)")
        rows.append([name, *cells])
    for other in ("1x2", "1x2-fused", "1x1"):
        key = f"throughput 2x1/{other}"
        if any(key in batches[B] for B in cols):
            rows.append([f"throughput 2x1 / {other}", *(f"{batches[B].get(key, float('nan')):.2f}" for B in cols)])
    key = f"throughput 2x2/{BASELINE}"
    if any(key in batches[B] for B in cols):
        rows.append([f"throughput 2x2 / {BASELINE}", *(f"{batches[B].get(key, float('nan')):.2f}" for B in cols)])
    return table(["configuration", *(f"B={B}: s/epoch (samples/s)" for B in cols)], rows)


def allreduce_table(summary: dict) -> list[str]:
    rows = []
    for name in ("2x1", "2x2"):
        for B, entry in summary["batches"].items():
            e = entry["configs"].get(name)
            if e is not None:
                rows.append(allreduce_row(name, B, e))
    head = [
        "ranks × threads", "B", "steps/epoch", "step (ms)", "own work per step, rank 0 / 1 (ms)",
        "in Allreduce per step, rank 0 / 1 (ms, share of step)", "in reduce_step (ms, share)",
        "standalone Allreduce of the gradient buffer (ms, share)",
    ]  # fmt: skip
    return table(head, rows)


def allreduce_row(name: str, B: str, e: dict) -> list[str]:
    step = e["seconds"] / e["steps_per_epoch"]
    grad = e["standalone"][e["n_params"] + 3]
    return [
        name, str(B), str(e["steps_per_epoch"]), f"{step * 1e3:.3f}",
        " / ".join(f"{c * 1e3:.3f}" for c in e["compute_per_step"]),
        " / ".join(f"{a * 1e3:.3f} ({a / step:.0%})" for a in e["allreduce_per_step"]),
        " / ".join(f"{a * 1e3:.3f} ({a / step:.0%})" for a in e["reduce_step_per_step"]),
        f"{grad * 1e3:.3f} ({grad / step:.0%})",
    ]  # fmt: skip


def cpu_table(summary: dict) -> list[str]:
    rows = []
    for B, entry in summary["batches"].items():
        cfg = entry["configs"]
        row = [str(B)]
        for name in ("2x1", "1x2", "1x2-fused", "1x1"):
            e = cfg.get(name)
            row.append("–" if e is None else " / ".join(f"{c:.3f}" for c in e["cpu_per_rank"]))
        for other in ("1x2", "1x1"):
            ratios = entry.get(f"cpu 2x1/{other}")
            row.append("–" if ratios is None else " / ".join(f"{r:.0%}" for r in ratios))
        rows.append(row)
    head = [
        "B", "2x1 CPU s/epoch, rank 0 / 1", "1x2", "1x2-fused", "1x1", "2x1 rank / 1x2", "2x1 rank / 1x1",
    ]  # fmt: skip
    return table(head, rows)


def model_table(summary: dict) -> list[str]:
    rows = []
    for r in summary["model"]:
        rows.append([
            str(r["per_rank_batch"]), f"{r['compute'] * 1e3:.2f}", r["link"], str(r["ranks"]),
            " / ".join(f"{t * 1e3:.2f}" for t in r["allreduce"]),
            " / ".join(f"{e:.0%}" for e in r["efficiency"]),
            " / ".join(f"{e:.0%}" for e in r["efficiency_halving"]),
        ])  # fmt: skip
    lat = " / ".join(f"{a:g} µs" for a in LATENCIES_US)
    head = [
        "per-rank batch", "compute per step (ms, measured)", "link", "ranks K",
        f"ring all-reduce (ms, α = {lat})", f"efficiency, ring (α = {lat})",
        f"efficiency, halving/doubling (α = {lat})",
    ]  # fmt: skip
    return table(head, rows)


def goals(summary: dict) -> list[str]:
    lines = []
    top = summary["batches"].get("1024", {})
    ratio = top.get(f"throughput 2x1/{BASELINE}")
    if ratio is not None:
        lines.append(
            f"- throughput of 2x1 at B=1024: {ratio:.0%} of {BASELINE} (goal >= {THROUGHPUT_GOAL:.0%}): "
            f"{_verdict(ratio >= THROUGHPUT_GOAL)}"
        )
    for B, entry in summary["batches"].items():
        for other in (BASELINE, "1x1"):
            ratios = entry.get(f"cpu 2x1/{other}")
            if ratios is not None:
                worst = max(ratios)
                lines.append(
                    f"- CPU time per rank at B={B}: at most {worst:.0%} of {other}'s (goal <= {CPU_GOAL:.0%}): "
                    f"{_verdict(worst <= CPU_GOAL)}"
                )
    return lines


def threads_line(summary: dict) -> str:
    """The BLAS thread counts threadpoolctl saw inside every configuration's processes, and rank 0's CPUs."""
    seen: dict[str, tuple] = {}
    for entry in summary["batches"].values():
        for name, e in entry["configs"].items():
            seen.setdefault(name, (set(), e["affinity"]))[0].update(e["blas_threads"])
    parts = []
    for name, (threads, affinity) in seen.items():
        wanted = CONFIGS[name][1]
        check = "as set" if threads == {wanted} else f"NOT the {wanted} set"
        parts.append(f"{name} {sorted(threads)} ({check}; CPUs {affinity})")
    return "BLAS threads per process, per threadpoolctl inside the workers: " + ", ".join(parts)


def report_text(report: dict) -> str:
    summary, cfg = report["summary"], report["config"]
    lines = [
        describe_machine(report["machine"]),
        f"mpi: {report['mpi_library']}",
        f"date: {report['date']}; command: {cfg['command']}; wall time {report['wall_seconds'] / 60:.1f} min",
        f"{cfg['repeats']} runs × {cfg['epochs']} timed epochs per configuration and batch size (after one "
        f"warm-up epoch each; 2x2: {cfg['slow_repeats']} run), runs interleaved; medians; "
        f"{cfg['samples']:,} samples; runs thrown away because another benchmark overlapped them: "
        f"{report['discarded_runs']}",
        threads_line(summary),
        "",
        "Seconds per epoch (samples per second):",
        "",
        *speed_table(summary),
        "",
        "Where a data-parallel step's time goes (medians per step):",
        "",
        *allreduce_table(summary),
        "",
        "CPU time per epoch (user + system, resource.getrusage of each process):",
        "",
        *cpu_table(summary),
        "",
        *goals(summary),
    ]
    shm = summary.get("shared_memory")
    if shm:
        sizes = ", ".join(f"{4 * n:,} B: {t * 1e6:.1f} µs" for n, t in shm["standalone"].items())
        lines += [
            "",
            f"Standalone Allreduce, 2 ranks, this machine (shared memory), best block of {cfg['iterations']} calls: "
            f"{sizes}; fit t = 2α + bytes/β: α = {shm['alpha'] * 1e6:.1f} µs, β = {shm['beta'] / 1e9:.2f} GB/s",
            "",
            "Weak-scaling model (fixed per-rank batch; ring all-reduce 2(K−1)α + 2(K−1)/K · bytes/β of the "
            "float32 gradient buffer, no overlap with compute; the links are modelled, not measured):",
            "",
            *model_table(summary),
        ]
    return "\n".join(lines)


def mpi_library() -> str:
    try:
        from mpi4py import MPI
        from mpi4py import __version__ as mpi4py_version
    except ImportError:
        return "mpi4py not installed"
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in MPI.Get_library_version().splitlines())
    )
    name = f"MPICH {fields['MPICH Version']}, device {fields.get('MPICH Device')}" if "MPICH Version" in fields else ""
    return f"mpi4py {mpi4py_version}, " + (name or MPI.Get_library_version().splitlines()[0].strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="runs per configuration and batch size (default 5)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per run, after one warm-up (default 3)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 1024], metavar="B")
    p.add_argument("--samples", type=int, default=N_SAMPLES, help="rows of the reference data (default 60000)")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--slow-repeats", type=int, default=1, help="runs of 2x2 per batch size (default 1)")
    p.add_argument("--iterations", type=int, default=200, help="calls per block of the standalone Allreduce")
    p.add_argument("--mpiexec", default=str(Path(sys.executable).parent / "mpiexec"))
    p.add_argument(
        "--wait-for", metavar="PATTERN", default="benchmarks/stream.py",
        help="wait while a process whose command line contains PATTERN runs, and run again a run it "
        "overlapped (default: benchmarks/stream.py; '' to turn off)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, metavar="FILE", help="also write the report (Markdown) to FILE")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every measurement as JSON to FILE")
    p.add_argument("--worker", choices=list(CONFIGS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.repeats, args.epochs, args.samples, args.iterations, *args.batch_sizes) < 1:
        p.error("--repeats, --epochs, --samples, --iterations and --batch-sizes must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, args.batch_sizes[0], args.epochs, args.samples, args.iterations)
        return 0
    start = time.perf_counter()
    watch = Watch(args.wait_for)
    runs = measure(args, watch)
    report = {
        "config": {
            "repeats": args.repeats,
            "epochs": args.epochs,
            "batch_sizes": args.batch_sizes,
            "samples": args.samples,
            "configs": args.configs,
            "iterations": args.iterations,
            "slow_repeats": args.slow_repeats,
            "command": " ".join(["python", "benchmarks/mpi.py", *sys.argv[1:]]),
        },
        "date": date.today().isoformat(),
        "machine": machine_info(),
        "mpi_library": mpi_library(),
        "summary": summarise(runs, args),
        "wall_seconds": time.perf_counter() - start,
        "discarded_runs": watch.discarded,
    }
    text = report_text(report)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        report["runs"] = runs
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
