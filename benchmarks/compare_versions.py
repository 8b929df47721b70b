"""Is one version of bprop as fast as another? Interleaved runs of ``benchmarks/speed.py``, one process each.

    python benchmarks/compare_versions.py --old-python /tmp/old/bin/python --old-tree /tmp/old-checkout \\
        --new-python .venv/bin/python --new-tree . --runs 9

Each tree's own ``benchmarks/speed.py`` runs under its own interpreter (two virtual environments, each
with its version of bprop installed), alternating old, new, old, new …, so drift of a shared machine
hits both alike. Every run times ``bprop.fit`` on the reference data at the chosen batch sizes; the
table shows, per batch size, the median over runs of each version's epoch time, the spread (min–max),
and new/old.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def one_run(python: str, tree: Path, batch_sizes: list[int], epochs: int) -> dict[int, float]:
    """Median epoch seconds of ``bprop.fit`` per batch size, from one process of ``speed.py``."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "speed.json"
        command = [python, str(tree / "benchmarks" / "speed.py"), "--systems", "bprop", "--no-gemm"]
        command += ["--epochs", str(epochs), "--json", str(out), "--batch-sizes", *map(str, batch_sizes)]
        subprocess.run(command, check=True, capture_output=True, cwd=tree)
        results = json.loads(out.read_text())["results"]
    return {int(B): entry["median"]["bprop"] for B, entry in results.items()}


def compare(args: argparse.Namespace) -> dict:
    versions = {"old": (args.old_python, args.old_tree), "new": (args.new_python, args.new_tree)}
    times: dict[str, dict[int, list[float]]] = {name: {B: [] for B in args.batch_sizes} for name in versions}
    for run in range(args.runs):
        order = list(versions) if run % 2 == 0 else list(reversed(versions))
        for name in order:
            python, tree = versions[name]
            for B, seconds in one_run(python, tree, args.batch_sizes, args.epochs).items():
                times[name][B].append(seconds)
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr, flush=True)
    return times


def table(times: dict[str, dict[int, list[float]]]) -> str:
    lines = [
        "| batch size | old median s (min–max) | new median s (min–max) | new/old |",
        "|---|---|---|---|",
    ]
    for B in times["old"]:
        cells = []
        for name in ("old", "new"):
            values = times[name][B]
            cells.append(f"{statistics.median(values):.4f} ({min(values):.4f}–{max(values):.4f})")
        ratio = statistics.median(times["new"][B]) / statistics.median(times["old"][B])
        lines.append(f"| {B} | {cells[0]} | {cells[1]} | {ratio:.3f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--old-python", required=True)
    p.add_argument("--old-tree", type=Path, required=True, help="checkout of the old version (its benchmarks/)")
    p.add_argument("--new-python", default=sys.executable)
    p.add_argument("--new-tree", type=Path, default=Path(__file__).resolve().parents[1])
    p.add_argument("--runs", type=int, default=9, help="processes per version (default 9)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per batch size in each process")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 128])
    p.add_argument("--json", type=Path, help="also write every run's times here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    times = compare(args)
    print(table(times))
    if args.json:
        args.json.write_text(json.dumps(times, indent=1))


if __name__ == "__main__":
    main()
