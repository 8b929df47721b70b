"""Shared pieces of the benchmarks: the reference data, machine description and timing helpers.

The reference configuration is fixed by ``shared/BENCHMARK.md``; keep it so figures stay comparable.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib import metadata

import numpy as np

N_SAMPLES = 60_000
N_FEATURES = 784
N_CLASSES = 10
HIDDEN = (256, 128)
LEARNING_RATE = 0.01
# At B=1 an epoch of 60,000 per-example steps would dominate the run: time this many steps instead.
STEPS_AT_BATCH_1 = 2_000


def reference_data(n_samples: int = N_SAMPLES, n_features: int = N_FEATURES) -> tuple[np.ndarray, np.ndarray]:
    """Random MNIST-sized data, exactly as BENCHMARK.md draws it: ``X`` float32, ``y`` int labels."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, n_samples)
    return X, y


def one_hot(y: np.ndarray, n_classes: int = N_CLASSES, dtype=np.float32) -> np.ndarray:
    return np.eye(n_classes, dtype=dtype)[y]


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> list[dict]:
    """Which BLAS libraries are loaded, their kernel (architecture) and threads, per threadpoolctl."""
    try:
        import threadpoolctl
    except ImportError:
        return [{"error": "threadpoolctl not installed (pip install -e .[bench])"}]
    keys = ("internal_api", "prefix", "version", "architecture", "num_threads", "threading_layer")
    pools = []
    for info in threadpoolctl.threadpool_info():
        pool = {k: info.get(k) for k in keys if info.get(k) is not None}
        pool["library"] = "/".join(info["filepath"].split("/")[-2:])  # e.g. numpy.libs/… vs scipy.libs/…
        pools.append(pool)
    return pools


def machine_info() -> dict:
    """Everything a reader needs to reproduce or discount the figures."""
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS") if k in os.environ}
    versions = {d: _version(d) for d in ("bprop", "numpy", "scipy", "torch", "scikit-learn", "threadpoolctl")}
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {k: v for k, v in versions.items() if v is not None},
        "blas_env": env or "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE not set",
        "blas": blas_info(),
    }


def describe_machine(info: dict) -> str:
    lines = [
        f"machine: {info['nproc']} CPUs, {info['cpu_model']}, Python {info['python']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"BLAS environment: {info['blas_env']}",
    ]
    for lib in info["blas"]:
        lines.append("  threadpool: " + ", ".join(f"{k}={v}" for k, v in lib.items()))
    return "\n".join(lines)


def busy_fraction(seconds: float = 0.5) -> float:
    """Share of the machine's CPU time spent busy over ``seconds`` (from /proc/stat; NaN where there is none).

    Called while this process idles, it measures the other processes' use of the machine.
    """

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except OSError:
        return float("nan")
    return (busy1 - busy0) / max(total1 - total0, 1)


_COPY_FROM: np.ndarray | None = None


def copy_bandwidth() -> float:
    """GB/s of copying 64 MB within memory, the best of three copies (about 20 ms).

    On a shared virtual machine a neighbour's memory traffic swings it (13-33 GB/s here within seconds),
    so it is recorded with each round as context. The slowest phases seen here (epochs twice as long for
    minutes, the optimiser update 5x slower) did not show in it: they come from the host's cores or caches.
    """
    global _COPY_FROM
    if _COPY_FROM is None:
        _COPY_FROM = np.ones(16_000_000, dtype=np.float32)
    target = np.empty_like(_COPY_FROM)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        np.copyto(target, _COPY_FROM)
        best = min(best, time.perf_counter() - start)
    return 2 * _COPY_FROM.nbytes / best / 1e9  # read and write


def wait_for_bandwidth(limit: float, timeout: float) -> tuple[float, float]:
    """Wait until :func:`copy_bandwidth` reaches ``limit`` GB/s (or ``timeout`` s passed); ``(seconds waited,
    GB/s)``."""
    start = time.perf_counter()
    bandwidth = copy_bandwidth()
    while bandwidth < limit and time.perf_counter() - start < timeout:
        time.sleep(0.5)
        bandwidth = copy_bandwidth()
    return time.perf_counter() - start, bandwidth


def wait_for_quiet(limit: float, timeout: float) -> tuple[float, float]:
    """Wait until others use under ``limit`` of the CPU (or ``timeout`` s passed); ``(seconds waited, share)``."""
    start = time.perf_counter()
    share = busy_fraction()
    while share > limit and time.perf_counter() - start < timeout:
        share = busy_fraction()
    return time.perf_counter() - start, share
