"""How bprop's training time grows with the data and the width, and the peak memory of a training run.

    python benchmarks/scaling.py                    # the reference run (about two minutes)
    python benchmarks/scaling.py --json scaling.json
    python benchmarks/scaling.py --epochs 1 --samples 7500 15000 --widths 128 256   # quick smoke run

Samples: the reference network at B=128 on the first n rows of the reference data; seconds per epoch
should grow linearly, so seconds per 1,000 samples should stay flat. Width: 784 → w → w/2 → 10 on the
full data. Memory: a fresh process builds the 60,000 × 784 float32 data and trains one epoch; its peak
resident set size is compared with the issue's budget, data + 2 × model + 64 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import N_CLASSES, N_SAMPLES, describe_machine, machine_info, median, reference_data, timed  # noqa: E402
from _systems import Bprop  # noqa: E402

MB = 1024 * 1024

# Run in a fresh interpreter so the peak belongs to one training run alone.
MEMORY_CHILD = """
import json, resource, sys
sys.path.insert(0, {bench_dir!r})
import numpy as np
import bprop
from _common import one_hot, reference_data
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
X, y = reference_data()
Y = one_hot(y)
net = bprop.mlp([784, 256, 128, 10], activation="relu", output_activation="softmax", seed=0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
bprop.fit(net, X, Y, loss="categorical_cross_entropy", optimizer=bprop.SGD(0.01), epochs=1, batch_size=128,
          seed=0, verbose=0)
print(json.dumps({{"data_bytes": X.nbytes + Y.nbytes, "model_bytes": sum(p.nbytes for p in net.parameters()),
                  "peak_before_fit_kb": before, "after_imports_kb": imported}}))
"""


def time_per_epoch(system: Bprop, batch_size: int, X, y, epochs: int) -> float:
    system.setup(batch_size, X, y)
    system.epoch()  # warm-up
    return median([timed(system.epoch) for _ in range(epochs)])


def sample_sweep(sizes: list[int], epochs: int, path: str) -> list[dict]:
    X, y = reference_data(max(sizes))
    rows = []
    for n in sizes:
        seconds = time_per_epoch(Bprop(path), 128, X[:n], y[:n], epochs)
        rows.append({"samples": n, "seconds": seconds, "seconds_per_1k": 1000 * seconds / n})
        print(f"  samples {n:>6}: {seconds:.3f} s/epoch", file=sys.stderr, flush=True)
    return rows


def width_sweep(widths: list[int], n_samples: int, epochs: int, path: str) -> list[dict]:
    X, y = reference_data(n_samples)
    rows = []
    for w in widths:
        hidden = (w, max(1, w // 2))
        seconds = time_per_epoch(Bprop(path, hidden=hidden), 128, X, y, epochs)
        sizes = [X.shape[1], *hidden, N_CLASSES]
        flops = 6 * n_samples * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))  # fwd + two backward GEMMs
        rows.append({"width": w, "hidden": hidden, "seconds": seconds, "gflops": flops / seconds / 1e9})
        print(f"  width {w:>5}: {seconds:.3f} s/epoch", file=sys.stderr, flush=True)
    return rows


def peak_memory() -> dict:
    code = MEMORY_CHILD.format(bench_dir=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    child = json.loads(done.stdout)
    # ru_maxrss is in kilobytes on Linux; RUSAGE_CHILDREN covers the (only) finished child.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    budget = child["data_bytes"] + 2 * child["model_bytes"] + 64 * MB
    return {
        **child,
        "peak_rss_bytes": peak,
        "peak_before_fit_bytes": child.pop("peak_before_fit_kb") * 1024,
        "after_imports_bytes": child.pop("after_imports_kb") * 1024,
        "budget_bytes": budget,
        "within_budget": peak <= budget,
    }


def report_text(report: dict) -> str:
    lines = ["| samples | s/epoch (B=128) | s per 1,000 samples |", "|---|---|---|"]
    lines += [f"| {r['samples']:,} | {r['seconds']:.3f} | {r['seconds_per_1k']:.4f} |" for r in report["samples"]]
    lines += ["", "| hidden widths | s/epoch (B=128) | GFLOP/s |", "|---|---|---|"]
    lines += [
        f"| {r['hidden'][0]}, {r['hidden'][1]} | {r['seconds']:.3f} | {r['gflops']:.1f} |" for r in report["widths"]
    ]
    m = report.get("memory")
    if m:
        lines += [
            "",
            f"peak RSS of one training epoch on the reference data: {m['peak_rss_bytes'] / MB:.1f} MB "
            f"(Python + NumPy + bprop imported: {m['after_imports_bytes'] / MB:.1f} MB; "
            f"data built, before fit: {m['peak_before_fit_bytes'] / MB:.1f} MB)",
            f"budget data + 2 × model + 64 MB = {m['data_bytes'] / MB:.1f} + 2 × {m['model_bytes'] / MB:.2f} + 64 "
            f"= {m['budget_bytes'] / MB:.1f} MB: {'met' if m['within_budget'] else 'NOT met'}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per point (default 3)")
    p.add_argument("--samples", type=int, nargs="+", default=[7_500, 15_000, 30_000, 60_000])
    p.add_argument("--widths", type=int, nargs="+", default=[128, 256, 512, 1024])
    p.add_argument("--width-samples", type=int, default=N_SAMPLES, help="rows for the width sweep (default 60000)")
    p.add_argument("--bprop-path", choices=("fit", "engine"), default="fit")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess")
    p.add_argument("--json", type=Path, metavar="FILE")
    args = p.parse_args(argv)
    # Memory first: Linux carries the parent's peak RSS into a child's ru_maxrss across fork + exec, so
    # the child must start while this process is still small.
    memory = None if args.no_memory else peak_memory()
    report = {
        "command": " ".join(["python", "benchmarks/scaling.py", *sys.argv[1:]]),
        "machine": machine_info(),
        "bprop_path": args.bprop_path,
        "samples": sample_sweep(sorted(args.samples), args.epochs, args.bprop_path),
        "widths": width_sweep(sorted(args.widths), args.width_samples, args.epochs, args.bprop_path),
    }
    if memory is not None:
        report["memory"] = memory
    print(describe_machine(report["machine"]))
    print(f"bprop timed through: {args.bprop_path}; median of {args.epochs} epochs\n")
    print(report_text(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
