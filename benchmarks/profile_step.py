"""Where one training step's time goes: each piece timed alone on one batch of the reference data.

    python benchmarks/profile_step.py                 # B = 1, 32, 128
    python benchmarks/profile_step.py --batch-sizes 128

Microseconds per call, best of 5 blocks (a tight loop keeps caches warm, so the pieces sum to a little
less than a real epoch's step).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from _common import LEARNING_RATE, one_hot, reference_data  # noqa: E402
from _systems import gemm_step_seconds, reference_net  # noqa: E402

import bprop  # noqa: E402


def best_of(run, calls: int, blocks: int = 5) -> float:
    for _ in range(max(3, calls // 10)):
        run()
    times = []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        times.append((time.perf_counter() - start) / calls)
    return min(times) * 1e6


def profile(batch_size: int, X: np.ndarray, Y: np.ndarray) -> dict[str, float]:
    calls = max(20, 20_000 // (batch_size + 10))
    net = reference_net(X.shape[1])
    loss, sgd = bprop.get_loss("categorical_cross_entropy"), bprop.SGD(LEARNING_RATE)
    idx = np.random.default_rng(0).permutation(X.shape[0])[:batch_size]
    xb, yb = X[idx], Y[idx]
    params = net.parameters()
    z = net.forward_unchecked(xb, training=True, logits=True)

    def unfused():
        _, grads = net.loss_and_gradients_unchecked(xb, yb, loss)
        sgd.step(params, grads)

    out = np.empty_like(xb)
    return {
        "GEMM-shape lower bound": gemm_step_seconds(batch_size, [X.shape[1], 256, 128, 10]) * 1e6,
        "train_step, fused (whole step)": best_of(lambda: net.train_step(xb, yb, loss, sgd), calls),
        "loss_and_gradients + SGD.step": best_of(unfused, calls),
        "forward to the logits": best_of(lambda: net.forward_unchecked(xb, training=True, logits=True), calls),
        "cross-entropy value + gradient": best_of(lambda: loss.value_and_gradient(z, yb), calls),
        'gather X batch, np.take mode="raise"': best_of(lambda: np.take(X, idx, axis=0, out=out), calls),
        'gather X batch, np.take mode="clip"': best_of(lambda: np.take(X, idx, axis=0, out=out, mode="clip"), calls),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 128], metavar="B")
    args = p.parse_args(argv)
    X, y = reference_data()
    Y = one_hot(y)
    columns = {B: profile(B, X, Y) for B in args.batch_sizes}
    print("| µs per call | " + " | ".join(f"B={B}" for B in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for piece in next(iter(columns.values())):
        print(f"| {piece} | " + " | ".join(f"{columns[B][piece]:.0f}" for B in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
