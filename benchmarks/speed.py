"""Training speed of bprop against PyTorch CPU eager and scikit-learn, per ``shared/BENCHMARK.md``.

    python benchmarks/speed.py                      # the reference run (a few minutes)
    python benchmarks/speed.py --json speed.json    # also write the figures as JSON
    python benchmarks/speed.py --epochs 1 --batch-sizes 128 --samples 6000   # quick smoke run
    python benchmarks/speed.py --optimizer adam --batch-sizes 32 128 1024      # Adam rows (issue 20)

Systems run interleaved (A B C A B C …) after one warm-up epoch each, so drift of a shared machine hits
all of them alike; the table shows medians with the range of the timed epochs. At B=1 every system
trains 2,000 per-example steps (one epoch over the first 2,000 samples) and the table shows samples per
second. ``--optimizer`` picks the optimiser every system trains with (same hyper-parameters in each: see
``_systems.OPTIMIZERS``); with one other than plain SGD the default systems are bprop's ``fit``, its
scikit-learn estimator and PyTorch's default and ``fused=True`` implementations. ``bprop-cli`` rows run
``bprop train`` on a CSV of the reference data in a fresh process per epoch and time its first epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    HIDDEN,
    N_CLASSES,
    N_SAMPLES,
    STEPS_AT_BATCH_1,
    copy_bandwidth,
    describe_machine,
    machine_info,
    median,
    reference_data,
    wait_for_bandwidth,
    wait_for_quiet,
)
from _systems import OPTIMIZERS, Bprop, Cli, Estimator, SkippedError, Sklearn, Torch, gemm_epoch_seconds  # noqa: E402

SYSTEMS = (
    "bprop", "bprop-engine", "bprop-estimator", "bprop-cli", "bprop-cli-cold",
    "pytorch", "pytorch-fused", "sklearn-float64", "sklearn-float32",
)  # fmt: skip
DEFAULT_SYSTEMS = {  # by optimiser: the reference run of issue 6, and the rows of issue 20
    "sgd": ["bprop", "bprop-engine", "pytorch", "sklearn-float64", "sklearn-float32"],
    "other": ["bprop", "bprop-estimator", "pytorch", "pytorch-fused"],
}
# bprop.fit (what users run), the engine loop (Sequential.train_step), the scikit-learn estimator, the CLI.
BPROP = ("bprop", "bprop-engine", "bprop-estimator", "bprop-cli", "bprop-cli-cold")
PEERS = ("pytorch", "pytorch-fused", "sklearn-float64", "sklearn-float32")
GOALS = {  # batch size → largest allowed bprop/PyTorch time ratio: plain SGD (issue 6), the others (issue 20)
    "sgd": {1: 0.33, 32: 0.75, 128: 0.75, 1024: 1.0},
    "other": {32: 0.65, 128: 0.65, 1024: 0.9},
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_systems(names: list[str], optimizer: str = "sgd", threads: int = 2) -> tuple[list, dict[str, str]]:
    factories = {
        "bprop": lambda: Bprop("fit", optimizer=optimizer),
        "bprop-engine": lambda: Bprop("engine", optimizer=optimizer),
        "bprop-estimator": lambda: Estimator(optimizer=optimizer),
        "bprop-cli": lambda: Cli(optimizer=optimizer),
        "bprop-cli-cold": lambda: Cli(optimizer=optimizer, cold=True),
        "pytorch": lambda: Torch(optimizer=optimizer, threads=threads),
        "pytorch-fused": lambda: Torch(optimizer=optimizer, fused=True, threads=threads),
        "sklearn-float64": lambda: Sklearn(np.float64),
        "sklearn-float32": lambda: Sklearn(np.float32),
    }
    systems, skipped = [], {}
    for name in names:
        if optimizer != "sgd" and name.startswith("sklearn"):
            skipped[name] = "scikit-learn's own MLP is a peer of the plain-SGD run only"
            continue
        try:
            systems.append(factories[name]())
        except SkippedError as why:
            skipped[name] = str(why)
    return systems, skipped


def measure(
    systems: list,
    batch_size: int,
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    quiet: float | None = None,
    clock=time.perf_counter,
    bandwidth: float | None = None,
) -> dict[str, list[float]]:
    """Seconds per epoch of every system, interleaved round by round after one warm-up round.

    A system whose ``epoch()`` returns a number (the CLI: a process's first epoch) is timed by it instead.
    With ``quiet``, each round starts once other processes use less than that share of the CPU (waiting
    at most 5 minutes): on a shared machine a burst of someone else's work can make one epoch 10x slower.
    ``clock=time.process_time`` times the CPU this process used instead of the wall clock. Each round
    records the machine's memory-copy bandwidth before it starts (see ``_common.copy_bandwidth``); with
    ``bandwidth``, a round waits (at most 5 minutes) until that reaches ``bandwidth`` GB/s.
    """
    for system in systems:
        system.setup(batch_size, X, y)
    times: dict[str, list[float]] = {s.name: [] for s in systems}
    times["_waits"], times["_bandwidth"] = [], []
    for round_ in range(epochs + 1):
        if quiet is not None:
            waited, share = wait_for_quiet(quiet, timeout=300)
            times["_waits"].append([waited, share])
            log(f"  (waited {waited:.1f} s for others' CPU use to fall to {share:.0%})")
        if bandwidth is not None:
            waited, gbps = wait_for_bandwidth(bandwidth, timeout=300)
            log(f"  (waited {waited:.1f} s for the memory-copy bandwidth to reach {gbps:.1f} GB/s)")
        if round_:
            times["_bandwidth"].append(copy_bandwidth())
        for system in systems:
            own: list = []
            start = clock()
            own.append(system.epoch())
            seconds = own[0] if own[0] is not None else clock() - start
            if round_:  # round 0 is the warm-up
                times[system.name].append(seconds)
            label = f"epoch {round_}" if round_ else "warm-up"
            log(f"  B={batch_size:<5} {label:<8} {system.name:<16} {seconds:.3f} s  (load {os.getloadavg()[0]:.2f})")
    return times


def run(args: argparse.Namespace) -> dict:
    X_all, y_all = reference_data(args.samples)
    if args.threads != 2:  # NumPy's OpenBLAS (bprop) and torch alike; the reference configuration is 2
        import threadpoolctl

        threadpoolctl.threadpool_limits(args.threads, user_api="blas")
    systems, skipped = build_systems(args.systems, args.optimizer, args.threads)
    sizes = [X_all.shape[1], *HIDDEN, N_CLASSES]
    results: dict = {}
    for B in args.batch_sizes:
        n = min(STEPS_AT_BATCH_1, args.samples) if B == 1 else args.samples
        X, y = X_all[:n], y_all[:n]
        load_before = os.getloadavg()
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        times = measure(systems, B, X, y, args.epochs, args.wait_quiet, clock, args.min_bandwidth)
        entry: dict = {"n_samples": n, "seconds": {}, "median": {}, "load": [load_before, os.getloadavg()]}
        entry["quiet_waits"] = times.pop("_waits")
        entry["bandwidth_gbps"] = times.pop("_bandwidth")
        for name, values in times.items():
            entry["seconds"][name] = values
            entry["median"][name] = median(values)
        if not args.no_gemm:
            entry["gemm_bound"] = gemm_epoch_seconds(n, B, sizes)
        results[B] = entry
    return {
        "config": {
            "optimizer": args.optimizer,
            "threads": args.threads,
            "clock": args.clock,
            "hyper_parameters": OPTIMIZERS[args.optimizer],
            "samples": args.samples,
            "epochs_timed": args.epochs,
            "batch_sizes": args.batch_sizes,
            "steps_at_batch_1": STEPS_AT_BATCH_1,
            "command": " ".join(["python", "benchmarks/speed.py", *sys.argv[1:]]),
        },
        "machine": machine_info(),
        "skipped": skipped,
        "results": {str(B): add_ratios(entry) for B, entry in results.items()},
    }


def add_ratios(entry: dict) -> dict:
    """Ratios of medians, and the range of the ratios of epochs timed in the same round (paired)."""
    med, seconds = entry["median"], entry["seconds"]
    ratios, ranges = {}, {}
    for ours in BPROP:
        if ours not in med:
            continue
        for peer in PEERS:
            if peer in med:
                ratios[f"{ours}/{peer}"] = med[ours] / med[peer]
                paired = [a / b for a, b in zip(seconds[ours], seconds[peer])]
                ranges[f"{ours}/{peer}"] = [min(paired), max(paired)]
                # Of the fastest epochs: on a shared machine the least disturbed one is the closest to
                # an idle machine's figure (BENCHMARK.md's GEMM bound takes the best block too).
                ratios[f"{ours}/{peer} best"] = min(seconds[ours]) / min(seconds[peer])
        if "gemm_bound" in entry:
            ratios[f"{ours} gemm_share"] = entry["gemm_bound"] / med[ours]
    entry["ratios"], entry["ratio_ranges"] = ratios, ranges
    return entry


def format_table(report: dict) -> str:
    results = report["results"]
    cols = list(results)
    head = ["system", *(f"B={b}" + (" (samples/s)" if b == "1" else "") for b in cols)]

    def cell(B: str, seconds: float | None, spread: list[float] | None = None) -> str:
        if seconds is None:
            return "–"
        if B == "1":
            return f"{results[B]['n_samples'] / seconds:,.0f}"
        return f"{seconds:.3f}" + (f" ({min(spread):.3f}–{max(spread):.3f})" if spread else "")

    rows = []
    for name in SYSTEMS:
        if any(name in results[B]["median"] for B in cols):
            rows.append(
                [name, *(cell(B, results[B]["median"].get(name), results[B]["seconds"].get(name)) for B in cols)]
            )
    if all("gemm_bound" in results[B] for B in cols):
        rows.append(["GEMM-shape lower bound", *(cell(B, results[B]["gemm_bound"]) for B in cols)])
    keys = [f"{ours}/{peer}{kind}" for ours in BPROP for peer in PEERS for kind in ("", " best")]
    keys += [f"{ours} gemm_share" for ours in BPROP]
    for key in keys:
        label = f"{key.split()[0]} share of GEMM bound" if key.endswith("gemm_share") else f"ratio {key} (time)"
        label = label.replace(" best (time)", " (time, fastest epochs)")
        values = [results[B]["ratios"].get(key) for B in cols]
        spans = [results[B].get("ratio_ranges", {}).get(key) for B in cols]
        if any(v is not None for v in values):
            shown = ["–" if v is None else f"{v:.2f}" + (f" ({r[0]:.2f}–{r[1]:.2f})" if r else "")
                     for v, r in zip(values, spans)]  # fmt: skip
            rows.append([label, *shown])
    loads = [" → ".join(f"{load[0]:.2f}" for load in results[B]["load"]) for B in cols if "load" in results[B]]
    if len(loads) == len(cols):
        rows.append(["1-min load average (before → after)", *loads])
    copies = [results[B].get("bandwidth_gbps") for B in cols]
    if all(copies):
        rows.append(["memory-copy GB/s before each round (median, range)",
                     *(f"{median(c):.1f} ({min(c):.1f}–{max(c):.1f})" for c in copies)])  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def format_goals(report: dict) -> str:
    results, lines = report["results"], []
    optimizer = report["config"]["optimizer"]
    goals = GOALS["sgd" if optimizer == "sgd" else "other"]
    for ours in BPROP:
        for B, limit in goals.items():
            ratios = results.get(str(B), {}).get("ratios", {})
            ratio, best = ratios.get(f"{ours}/pytorch"), ratios.get(f"{ours}/pytorch best")
            if ratio is not None:
                lines.append(
                    f"{ours}/PyTorch ({optimizer}) at B={B}: {ratio:.2f} (goal <= {limit}) {_verdict(ratio <= limit)}"
                    f"; fastest epochs {best:.2f} {_verdict(best <= limit)}"
                )
        if ours == "bprop-estimator":  # issue 20: the estimator's path within 5 % of fit's
            for B in goals:
                med = results.get(str(B), {}).get("median", {})
                if "bprop" in med and ours in med:
                    excess = med[ours] / med["bprop"] - 1
                    lines.append(f"estimator vs fit at B={B}: {excess:+.1%} (goal <= +5%) {_verdict(excess <= 0.05)}")
        r128 = results.get("128", {}).get("ratios", {})
        if f"{ours} gemm_share" in r128:
            share = r128[f"{ours} gemm_share"]
            lines.append(f"{ours} share of GEMM bound at B=128: {share:.0%} (goal >= 60%) {_verdict(share >= 0.6)}")
        if f"{ours}/sklearn-float64" in r128:
            speedup = 1 / r128[f"{ours}/sklearn-float64"]
            lines.append(
                f"{ours} speed-up over sklearn float64 at B=128: {speedup:.1f}x (goal >= 3x) {_verdict(speedup >= 3)}"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5, help="timed epochs per system and batch size (default 5)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 128, 1024], metavar="B")
    p.add_argument("--samples", type=int, default=N_SAMPLES, help="rows of the reference data (default 60000)")
    p.add_argument("--optimizer", default="sgd", choices=sorted(OPTIMIZERS), help="what every system trains with")
    p.add_argument("--systems", nargs="+", choices=SYSTEMS, help="default: by optimiser (see DEFAULT_SYSTEMS)")
    p.add_argument("--no-gemm", action="store_true", help="skip timing the GEMM-shape lower bound")
    p.add_argument("--threads", type=int, default=2, help="BLAS/torch threads (reference: 2)")
    p.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: elapsed time (reference); cpu: this process's CPU time, steadier on a busy machine with 1 thread",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        metavar="SHARE",
        help="start each round once other processes use less than SHARE of the CPU (e.g. 0.15; shared machines)",
    )
    p.add_argument(
        "--min-bandwidth",
        type=float,
        metavar="GBPS",
        help="start each round once copying memory reaches GBPS GB/s (a shared VM's neighbours can halve it)",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON to FILE")
    args = p.parse_args(argv)
    if args.systems is None:
        args.systems = DEFAULT_SYSTEMS["sgd" if args.optimizer == "sgd" else "other"]
    if args.epochs < 1 or args.samples < 1 or min(args.batch_sizes) < 1:
        p.error("--epochs, --samples and --batch-sizes must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print(describe_machine(report["machine"]))
    print("bprop = bprop.fit(..., epochs=1, verbose=0); bprop-engine = a loop over Sequential.train_step;")
    print("bprop-estimator = bprop.MLPClassifier(..., max_iter=1).fit; bprop-cli = bprop train's first epoch")
    print(f"optimizer: {args.optimizer} {OPTIMIZERS[args.optimizer]}")
    print(
        f"median (range) of {args.epochs} timed epochs after one warm-up; seconds per epoch (B=1: samples per "
        "second); ratios: of medians, (range of the ratios of epochs timed in the same round)"
    )
    for name, why in report["skipped"].items():
        print(f"skipped {name}: {why}")
    print()
    print(format_table(report))
    print()
    print(format_goals(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
