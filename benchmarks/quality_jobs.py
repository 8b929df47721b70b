"""The jobs of ``benchmarks/quality.py``, run in its worker processes: one fit and score of one method on one
split of one table (bprop through its command line; scikit-learn's MLP pipeline; HistGradientBoosting)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# ---------------------------------------------------------------- jobs (run in the worker processes)


@dataclass(frozen=True)
class Job:
    table: str
    kind: str  # "classification" | "regression"
    target: str
    rows: int
    split: int
    seed: int
    method: str
    train_csv: str
    test_csv: str
    model_dir: str
    bprop_args: tuple[str, ...] = ()
    test_flag: bool = True

    @property
    def key(self) -> str:
        return f"{self.table}|{self.split}|{self.seed}"


def worker_init() -> None:
    """One BLAS / OpenMP thread in this worker: the variables for libraries loaded from now on, and
    threadpoolctl for those already loaded (every heavy library is imported first, so all are covered)."""
    for var in THREAD_VARS:
        os.environ[var] = "1"
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.neural_network  # noqa: F401
    from threadpoolctl import threadpool_limits

    import bprop.cli  # noqa: F401

    global _THREAD_LIMITS
    _THREAD_LIMITS = threadpool_limits(limits=1)  # kept for the life of the worker


def run_job(job: Job) -> dict:
    """``{"score", "fit_seconds", ...}`` of one method on one split and seed."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit_bprop(job) if job.method == "bprop" else fit_peer(job)


def _cli(argv: list[str]) -> tuple[str, str]:
    """stdout and stderr of an in-process ``bprop`` command; raises on a nonzero exit status."""
    from bprop.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    if status != 0:
        raise RuntimeError(f"bprop {' '.join(argv)} exited with status {status}: {err.getvalue().strip()}")
    return out.getvalue(), err.getvalue()


def fit_bprop(job: Job) -> dict:
    model = Path(job.model_dir) / f"{job.table}-split{job.split}-seed{job.seed}-{os.getpid()}.safetensors"
    argv = ["train", job.train_csv, "--target", job.target]
    if job.test_flag:
        argv += ["--test", job.test_csv]
    argv += ["--out", str(model), "--quiet", "--seed", str(job.seed), *job.bprop_args]
    start = time.perf_counter()
    _, err = _cli(argv)
    seconds = time.perf_counter() - start
    out, _ = _cli(["evaluate", str(model), job.test_csv, "--json"])
    model.unlink(missing_ok=True)
    metrics = json.loads(out)
    if metrics["task"] != job.kind:
        raise RuntimeError(f"bprop took {job.table} for {metrics['task']}, expected {job.kind}")
    score = metrics["r2" if job.kind == "regression" else "accuracy"]
    notes = sorted({line.strip() for line in err.splitlines() if line.strip()})
    return {"score": math.nan if score is None else float(score), "fit_seconds": seconds, "notes": notes}


def _split_xy(path: str, target: str) -> tuple[pd.DataFrame, pd.Series]:
    df = pd.read_csv(path)
    return df.drop(columns=[target]), df[target]


def _string_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]


def _mlp(job: Job, X: pd.DataFrame):
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    strings = _string_columns(X)
    numbers = [c for c in X.columns if c not in strings]
    prepare = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
            (
                "strings",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                strings,
            ),
        ]
    )
    if job.kind == "classification":
        return make_pipeline(prepare, MLPClassifier(random_state=job.seed))
    model = TransformedTargetRegressor(regressor=MLPRegressor(random_state=job.seed), transformer=StandardScaler())
    return make_pipeline(prepare, model)


def _as_categories(X: pd.DataFrame, categories: dict[str, pd.CategoricalDtype]) -> pd.DataFrame:
    X = X.copy()
    for column, dtype in categories.items():
        X[column] = X[column].astype(dtype)  # a class unseen at fit becomes missing
    return X


def fit_peer(job: Job) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, r2_score

    start = time.perf_counter()
    X, y = _split_xy(job.train_csv, job.target)
    categories: dict[str, pd.CategoricalDtype] = {}
    if job.method == "sklearn-mlp":
        model = _mlp(job, X)
    else:
        categories = {c: pd.CategoricalDtype(sorted(X[c].dropna().unique())) for c in _string_columns(X)}
        X = _as_categories(X, categories)
        hgb = HistGradientBoostingRegressor if job.kind == "regression" else HistGradientBoostingClassifier
        model = hgb(random_state=job.seed, categorical_features="from_dtype")
    model.fit(X, y)
    seconds = time.perf_counter() - start
    X_test, y_test = _split_xy(job.test_csv, job.target)
    predicted = model.predict(_as_categories(X_test, categories))
    score = r2_score(y_test, predicted) if job.kind == "regression" else accuracy_score(y_test, predicted)
    return {"score": float(score), "fit_seconds": seconds}
