"""bprop's scikit-learn estimators against scikit-learn's own MLPClassifier, default parameters.

Both run in ``Pipeline(StandardScaler(), MLPClassifier(random_state=R))`` under the same 5-fold
``StratifiedKFold(shuffle=True, random_state=R)`` on four datasets bundled with scikit-learn (no download):
iris, wine, breast cancer, digits. Reported: mean test accuracy over the folds (and over the seeds R given
with ``--seeds``: on iris one misclassified flower more moves a 5-fold mean by 0.0067, so a single seed
cannot decide a 0.01 margin) and the total fit time of all folds. The two libraries alternate fold by
fold, so background load hits both alike. BLAS is limited to ``--threads`` threads (default 1: on a small
shared machine multi-threaded BLAS on these tiny matrices mostly measures contention). ConvergenceWarnings
(max_iter=200 reached) are silenced, as they are the default behaviour of both.

Run: ``python benchmarks/compare_sklearn.py [--seeds 0 1 2 3 4] [--threads 1] [--repeats 1]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from bprop.estimators.mlp import MLPClassifier as BpropMLP

DATASETS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer, "digits": load_digits}


def run(seeds: list[int], repeats: int) -> list[dict]:
    rows = []
    for name, load in DATASETS.items():
        X, y = load(return_X_y=True)
        scores: dict[str, list[float]] = {"bprop": [], "sklearn": []}
        times: dict[str, list[float]] = {"bprop": [], "sklearn": []}
        for seed in seeds:
            models = {"bprop": make_pipeline(StandardScaler(), BpropMLP(random_state=seed))}
            models["sklearn"] = make_pipeline(StandardScaler(), SklearnMLP(random_state=seed))
            for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
                for lib, model in models.items():
                    fold_times = []
                    for _ in range(repeats):
                        fitted = clone(model)
                        start = time.perf_counter()
                        fitted.fit(X[train], y[train])
                        fold_times.append(time.perf_counter() - start)
                    times[lib].append(min(fold_times))  # the least disturbed of the repeats
                    scores[lib].append(fitted.score(X[test], y[test]))
        rows.append(
            {
                "dataset": name,
                "shape": X.shape,
                **{f"{lib}_accuracy": float(np.mean(scores[lib])) for lib in scores},
                **{f"{lib}_fit_s": float(np.sum(times[lib])) for lib in times},
            }
        )
    return rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import sklearn

    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, NumPy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both libraries")
    parser.add_argument("--repeats", type=int, default=1, help="fits per fold; the fastest is kept")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    with threadpool_limits(args.threads):
        rows = run(args.seeds, args.repeats)
    print(f"machine: {machine()}; BLAS threads: {args.threads}; seeds {args.seeds}")
    header = ["dataset", "n × d", "bprop accuracy", "sklearn accuracy", "Δ accuracy", "bprop fit s", "sklearn fit s"]
    print("| " + " | ".join(header) + " | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        n, d = r["shape"]
        delta = r["bprop_accuracy"] - r["sklearn_accuracy"]
        print(
            f"| {r['dataset']} | {n} × {d} | {r['bprop_accuracy']:.4f} | {r['sklearn_accuracy']:.4f} | {delta:+.4f} "
            f"| {r['bprop_fit_s']:.2f} | {r['sklearn_fit_s']:.2f} | {r['sklearn_fit_s'] / r['bprop_fit_s']:.2f}× |"
        )
    total_b = sum(r["bprop_fit_s"] for r in rows)
    total_s = sum(r["sklearn_fit_s"] for r in rows)
    print(f"| **total** | | | | | **{total_b:.2f}** | **{total_s:.2f}** | **{total_s / total_b:.2f}×** |")
    met = all(r["bprop_accuracy"] >= r["sklearn_accuracy"] - 0.01 for r in rows) and total_b < total_s
    print(f"goal (accuracy >= sklearn - 0.01 on each, total fit time lower): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
