"""Training speed of bprop against PyTorch CPU eager and scikit-learn, per ``shared/BENCHMARK.md``.

    python benchmarks/speed.py                      # the reference run (a few minutes)
    python benchmarks/speed.py --json speed.json    # also write the figures as JSON
    python benchmarks/speed.py --epochs 1 --batch-sizes 128 --samples 6000   # quick smoke run

Systems run interleaved (A B C A B C …) after one warm-up epoch each, so drift of a shared machine hits
all of them alike; the table shows medians. At B=1 every system trains 2,000 per-example steps (one
epoch over the first 2,000 samples) and the table shows samples per second.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    HIDDEN,
    N_CLASSES,
    N_SAMPLES,
    STEPS_AT_BATCH_1,
    describe_machine,
    machine_info,
    median,
    reference_data,
    timed,
)
from _systems import Bprop, SkippedError, Sklearn, Torch, gemm_epoch_seconds  # noqa: E402

SYSTEMS = ("bprop", "bprop-engine", "pytorch", "sklearn-float64", "sklearn-float32")
BPROP = ("bprop", "bprop-engine")  # bprop.fit (what users run) and the engine loop (Sequential.train_step)
PEERS = ("pytorch", "sklearn-float64", "sklearn-float32")
GOALS = {  # batch size → largest allowed bprop/PyTorch time ratio (issue 6)
    1: 0.33,
    32: 0.75,
    128: 0.75,
    1024: 1.0,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_systems(names: list[str]) -> tuple[list, dict[str, str]]:
    factories = {
        "bprop": lambda: Bprop("fit"),
        "bprop-engine": lambda: Bprop("engine"),
        "pytorch": Torch,
        "sklearn-float64": lambda: Sklearn(np.float64),
        "sklearn-float32": lambda: Sklearn(np.float32),
    }
    systems, skipped = [], {}
    for name in names:
        try:
            systems.append(factories[name]())
        except SkippedError as why:
            skipped[name] = str(why)
    return systems, skipped


def measure(systems: list, batch_size: int, X: np.ndarray, y: np.ndarray, epochs: int) -> dict[str, list[float]]:
    """Seconds per epoch of every system, interleaved round by round after one warm-up round."""
    for system in systems:
        system.setup(batch_size, X, y)
    times: dict[str, list[float]] = {s.name: [] for s in systems}
    for round_ in range(epochs + 1):
        for system in systems:
            seconds = timed(system.epoch)
            if round_:  # round 0 is the warm-up
                times[system.name].append(seconds)
            label = f"epoch {round_}" if round_ else "warm-up"
            log(f"  B={batch_size:<5} {label:<8} {system.name:<16} {seconds:.3f} s")
    return times


def run(args: argparse.Namespace) -> dict:
    X_all, y_all = reference_data(args.samples)
    systems, skipped = build_systems(args.systems)
    sizes = [X_all.shape[1], *HIDDEN, N_CLASSES]
    results: dict = {}
    for B in args.batch_sizes:
        n = min(STEPS_AT_BATCH_1, args.samples) if B == 1 else args.samples
        X, y = X_all[:n], y_all[:n]
        times = measure(systems, B, X, y, args.epochs)
        entry: dict = {"n_samples": n, "seconds": {}, "median": {}}
        for name, values in times.items():
            entry["seconds"][name] = values
            entry["median"][name] = median(values)
        if not args.no_gemm:
            entry["gemm_bound"] = gemm_epoch_seconds(n, B, sizes)
        results[B] = entry
    return {
        "config": {
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
    med = entry["median"]
    ratios = {}
    for ours in BPROP:
        if ours not in med:
            continue
        for peer in PEERS:
            if peer in med:
                ratios[f"{ours}/{peer}"] = med[ours] / med[peer]
        if "gemm_bound" in entry:
            ratios[f"{ours} gemm_share"] = entry["gemm_bound"] / med[ours]
    entry["ratios"] = ratios
    return entry


def format_table(report: dict) -> str:
    results = report["results"]
    cols = list(results)
    head = ["system", *(f"B={b}" + (" (samples/s)" if b == "1" else "") for b in cols)]

    def cell(B: str, seconds: float | None) -> str:
        if seconds is None:
            return "–"
        return f"{results[B]['n_samples'] / seconds:,.0f}" if B == "1" else f"{seconds:.3f}"

    rows = []
    for name in SYSTEMS:
        if any(name in results[B]["median"] for B in cols):
            rows.append([name, *(cell(B, results[B]["median"].get(name)) for B in cols)])
    if all("gemm_bound" in results[B] for B in cols):
        rows.append(["GEMM-shape lower bound", *(cell(B, results[B]["gemm_bound"]) for B in cols)])
    keys = [f"{ours}/{peer}" for ours in BPROP for peer in PEERS] + [f"{ours} gemm_share" for ours in BPROP]
    for key in keys:
        label = f"{key.split()[0]} share of GEMM bound" if key.endswith("gemm_share") else f"ratio {key} (time)"
        values = [results[B]["ratios"].get(key) for B in cols]
        if any(v is not None for v in values):
            rows.append([label, *("–" if v is None else f"{v:.2f}" for v in values)])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def format_goals(report: dict) -> str:
    results, lines = report["results"], []
    for ours in BPROP:
        for B, limit in GOALS.items():
            ratio = results.get(str(B), {}).get("ratios", {}).get(f"{ours}/pytorch")
            if ratio is not None:
                lines.append(f"{ours}/PyTorch at B={B}: {ratio:.2f} (goal <= {limit}) {_verdict(ratio <= limit)}")
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
    p.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    p.add_argument("--no-gemm", action="store_true", help="skip timing the GEMM-shape lower bound")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON to FILE")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.samples < 1 or min(args.batch_sizes) < 1:
        p.error("--epochs, --samples and --batch-sizes must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print(describe_machine(report["machine"]))
    print("bprop = bprop.fit(..., epochs=1, verbose=0); bprop-engine = a loop over Sequential.train_step")
    print(f"median of {args.epochs} timed epochs after one warm-up; seconds per epoch (B=1: samples per second)")
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
