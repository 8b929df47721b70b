"""Cost of ``fit(..., diagnostics=True)`` on the reference benchmark of ``shared/BENCHMARK.md``.

    python benchmarks/diagnostics_overhead.py                    # 60,000 samples, 7 epochs per arm
    python benchmarks/diagnostics_overhead.py --samples 6000     # quick smoke run

784-256(ReLU)-128(ReLU)-10 softmax + cross-entropy, plain SGD 0.01, B=128, float32, random data drawn as
BENCHMARK.md says. After one warm-up epoch per arm, epochs with and without diagnostics alternate
(A B, B A, …) so drift of this shared machine hits both alike. Reported: the ratio of the medians, and
the median of the ratios of back-to-back pairs (robust to a burst of load hitting a few epochs).
Epoch time is read from ``History.time`` so that fit's one-off input checks are not counted.

On a busy machine the difference of two medians is noisy, so the script also times the diagnostics
hooks themselves (their summed wall time inside the epoch) and reports that share of the epoch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import bprop
from bprop.training.diagnostics import Diagnostics

GOAL = 0.05  # issue 8: diagnostics must cost less than 5 % of training time


def reference_data(n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, 784), dtype=np.float32)
    y = rng.integers(0, 10, n_samples)
    return X, np.eye(10, dtype=np.float32)[y]


class TimedDiagnostics(Diagnostics):
    """Diagnostics that add up the time spent in their own hooks."""

    seconds = 0.0

    def _timed(name):  # noqa: N805 - a decorator factory used in the class body
        def hook(self, state):
            start = time.perf_counter()
            getattr(Diagnostics, name)(self, state)
            self.seconds += time.perf_counter() - start

        return hook

    on_epoch_begin = _timed("on_epoch_begin")
    on_batch_end = _timed("on_batch_end")
    on_epoch_end = _timed("on_epoch_end")


def epoch_seconds(net: bprop.Sequential, X: np.ndarray, Y: np.ndarray, diagnostics, seed: int) -> float:
    history = bprop.fit(
        net, X, Y, loss="cce", optimizer="sgd", learning_rate=0.01, epochs=1, batch_size=128, seed=seed,
        diagnostics=diagnostics, verbose=0,
    )  # fmt: skip
    return history.time[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60_000, help="rows of random data (default 60000)")
    parser.add_argument("--epochs", type=int, default=7, help="timed epochs per arm (default 7)")
    args = parser.parse_args(argv)
    if args.samples < 128 or args.epochs < 1:
        parser.error("--samples must be >= 128 and --epochs >= 1")
    X, Y = reference_data(args.samples)
    nets = {arm: bprop.mlp([784, 256, 128, 10], "relu", "softmax", seed=0) for arm in (False, True)}
    times: dict[bool, list[float]] = {False: [], True: []}
    hook_share: list[float] = []
    hook_seconds: list[float] = []
    for arm in (False, True):
        epoch_seconds(nets[arm], X, Y, arm, seed=0)  # warm-up: caches, BLAS threads, buffers
    for k in range(args.epochs):
        for arm in (False, True) if k % 2 == 0 else (True, False):
            timed = TimedDiagnostics() if arm else False
            times[arm].append(epoch_seconds(nets[arm], X, Y, timed, seed=k + 1))
            if arm:
                hook_share.append(timed.seconds / times[arm][-1])
                hook_seconds.append(timed.seconds)
    plain, with_diag = statistics.median(times[False]), statistics.median(times[True])
    overhead = with_diag / plain - 1
    # Each pair ran back to back, so it shares the machine's state; the median ignores a pair hit by a burst.
    paired = statistics.median(b / a for a, b in zip(times[False], times[True])) - 1
    print(f"data: {args.samples:,} x 784 float32, B=128, SGD 0.01, median of {args.epochs} epochs per arm")
    print(f"without diagnostics: {plain:.3f} s/epoch   with: {with_diag:.3f} s/epoch")
    print(f"overhead, ratio of medians:        {100 * overhead:+.1f} % (goal < {100 * GOAL:.0f} %)")
    print(f"overhead, median of paired ratios: {100 * paired:+.1f} %")
    print(f"overhead, time inside the hooks:   {100 * statistics.median(hook_share):.2f} % of the epoch (median)")
    steps = -(-int(args.samples) // 128)
    per_step = statistics.median(hook_seconds) / steps
    # BENCHMARK.md's floor: the GEMMs alone take 0.301 s per 60,000-sample epoch at B=128 on 2 idle cores.
    floor = 0.301 / 469
    print(
        f"hooks: {1000 * statistics.median(hook_seconds):.1f} ms per epoch, {1e6 * per_step:.1f} µs per step = "
        f"{100 * per_step / floor:.2f} % of the GEMM-only step time of an idle machine (a worst case)"
    )
    print("epochs without:", " ".join(f"{t:.3f}" for t in times[False]))
    print("epochs with:   ", " ".join(f"{t:.3f}" for t in times[True]))
    return 0 if paired < GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
