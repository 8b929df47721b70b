"""How good are the predictions of ``bprop train`` with its default settings, on 15 real tables, next to
scikit-learn's MLP and HistGradientBoosting (the tables: ``benchmarks/quality_tables.py``; nothing downloads).

    pip install -e ".[bench]"
    python benchmarks/quality.py                                         # full suite, all three methods
    python benchmarks/quality.py --tables iris,diabetes --splits 1 --seeds 2      # smoke run
    python benchmarks/quality.py --methods bprop --label wd --bprop-args "--l2 0.01"   # a bprop variant;
                                                                         # the peers come from the cache
    python benchmarks/quality.py --compare bprop,wd                      # paired difference of two variants

Repeats: ``--splits`` stratified (for classes) 75/25 resplits ``train_test_split(random_state=r)`` ×
``--seeds`` method seeds, each split written once as train.csv / test.csv in ``--work`` (default: a temporary
folder) and read back by every method. Methods, all scored on test.csv (accuracy, or R² for regression):

* ``bprop``: ``bprop.cli.main(["train", train.csv, "--target", T, "--test", test.csv, "--out", M, "--quiet",
  "--seed", s, *BPROP_ARGS])`` in-process, then ``bprop evaluate M test.csv --json``;
* ``sklearn-mlp``: median-impute + standardise numbers, most-frequent-impute + one-hot strings, then
  ``MLPClassifier(random_state=s)`` or ``MLPRegressor`` on a standardised target; ConvergenceWarnings silenced;
* ``hgb``: ``HistGradientBoosting*(random_state=s, categorical_features="from_dtype")`` with string columns
  as pandas categories (fitted on train).

Fit seconds: the wall time from reading train.csv to a fitted model (for bprop: the whole ``train`` call,
which also writes the model file and, with ``--test``, scores the test rows). Jobs run in ``--jobs`` worker
processes (biggest table first), each with BLAS and OpenMP limited to one thread, so all methods run alike.

Results: peers in ``benchmarks/results/quality_cache.json`` keyed by table, split, seed, method and the
scikit-learn version (reused unless ``--rerun``); bprop under its ``--label`` in
``benchmarks/results/quality_<label>.json`` (rerun whenever bprop is in ``--methods``). The Markdown report is
printed and written to ``benchmarks/results/quality_<label>.md``, the plot to ``quality_<label>.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import multiprocessing
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

import quality_tables as qt  # noqa: E402
from _common import describe_machine, machine_info, median  # noqa: E402

RESULTS = Path(__file__).parent / "results"
METHODS = ("bprop", "sklearn-mlp", "hgb")
PEERS = ("sklearn-mlp", "hgb")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
GOAL_MLP, GOAL_HGB, TABLE_FLOOR = 0.01, -0.005, 0.005
GROUPS = {
    "all tables": lambda t: True,
    "tuning tables": lambda t: not t.held_out,
    "held-out tables": lambda t: t.held_out,
    "fresh held-out tables": lambda t: t.fresh,  # added held out after the first look at the others
}
KINDS = {"classification": "accuracy", "regression": "R²"}


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


# ---------------------------------------------------------------- results on disk


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _save_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


class Store:
    """Peers in ``quality_cache.json`` (keyed with scikit-learn's version), each bprop label in its own file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sklearn = metadata.version("scikit-learn")
        self.peer_path = folder / "quality_cache.json"
        self.peers: dict = _load_json(self.peer_path).get("results", {})
        self.labels: dict[str, dict] = {}

    def label_path(self, label: str) -> Path:
        return self.folder / f"quality_{label}.json"

    def bprop(self, label: str) -> dict:
        if label not in self.labels:
            self.labels[label] = _load_json(self.label_path(label)).get("results", {})
        return self.labels[label]

    def peer_key(self, key: str, method: str) -> str:
        return f"{key}|{method}|scikit-learn {self.sklearn}"

    def get(self, label: str, key: str, method: str) -> dict | None:
        if method == "bprop":
            return self.bprop(label).get(key)
        return self.peers.get(self.peer_key(key, method))

    def put(self, label: str, job: Job, record: dict) -> None:
        if job.method == "bprop":
            self.bprop(label)[job.key] = record
            _save_json(self.label_path(label), {"label": label, "results": self.bprop(label)})
        else:
            self.peers[self.peer_key(job.key, job.method)] = record
            _save_json(self.peer_path, {"results": self.peers})


# ---------------------------------------------------------------- the run


@dataclass
class Prepared:
    table: qt.Table
    rows: int
    splits: list[tuple[str, str]] = field(default_factory=list)


def prepare_tables(tables: list[qt.Table], splits: int, work: Path, max_rows: int | None) -> list[Prepared]:
    """Each table loaded once and its resplits written as CSV; tables over ``max_rows`` are left out."""
    from sklearn.model_selection import train_test_split

    prepared = []
    for table in tables:
        df = table.frame()
        if max_rows is not None and len(df) > max_rows:
            print(f"skipping {table.name}: {len(df)} rows > --max-rows {max_rows}", file=sys.stderr)
            continue
        item = Prepared(table, len(df))
        for r in range(splits):
            stratify = df[table.target] if table.kind == "classification" else None
            train, test = train_test_split(df, test_size=0.25, random_state=r, stratify=stratify)
            folder = work / table.name / f"split{r}"
            folder.mkdir(parents=True, exist_ok=True)
            train.to_csv(folder / "train.csv", index=False)
            test.to_csv(folder / "test.csv", index=False)
            item.splits.append((str(folder / "train.csv"), str(folder / "test.csv")))
        prepared.append(item)
    return prepared


def plan(prepared: list[Prepared], args: argparse.Namespace, store: Store, work: Path) -> list[Job]:
    """The jobs to run now: bprop whenever asked, a peer when asked and not cached (or ``--rerun``)."""
    jobs = []
    for item in prepared:
        t = item.table
        for split, (train_csv, test_csv) in enumerate(item.splits):
            for seed in range(args.seeds):
                for method in args.methods:
                    job = Job(
                        t.name, t.kind, t.target, item.rows, split, seed, method, train_csv, test_csv,
                        str(work / "models"), tuple(args.extra), not args.no_test_flag,
                    )  # fmt: skip
                    if method == "bprop" or args.rerun or store.get(args.label, job.key, method) is None:
                        jobs.append(job)
    order = {m: i for i, m in enumerate(METHODS)}
    return sorted(jobs, key=lambda j: (-j.rows, order[j.method], j.split, j.seed))  # biggest table first


def _bprop_record(result: dict, args: argparse.Namespace) -> dict:
    return {
        **result,
        "bprop_args": list(args.extra),
        "test_flag": not args.no_test_flag,
        "bprop_version": metadata.version("bprop"),
    }


def run_jobs(jobs: list[Job], args: argparse.Namespace, store: Store) -> list[str]:
    """Runs the jobs in the pool, storing each result as it comes; returns the failures (one line each)."""
    if not jobs:
        return []
    # Spawned workers import numpy before their initializer runs: they inherit these from the start.
    for var in THREAD_VARS:
        os.environ[var] = "1"
    Path(jobs[0].model_dir).mkdir(parents=True, exist_ok=True)
    failures = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context, initializer=worker_init) as pool:
        futures = {pool.submit(run_job, job): job for job in jobs}
        for done, future in enumerate(as_completed(futures), 1):
            job = futures[future]
            where = f"[{done}/{len(jobs)}] {job.table} split {job.split} seed {job.seed} {job.method}"
            try:
                result = future.result()
            except Exception as exc:  # one failed fit must not lose the others
                failures.append(f"{where}: {' '.join(str(exc).split())}")
                print(f"FAILED {failures[-1]}", file=sys.stderr, flush=True)
                continue
            record = _bprop_record(result, args) if job.method == "bprop" else result
            store.put(args.label, job, record)
            print(f"{where}: {result['score']:.4f} in {result['fit_seconds']:.1f} s", file=sys.stderr, flush=True)
    return failures


def train_has_test_flag() -> bool:
    """Whether this bprop's ``train`` takes ``--test FILE`` (read from its help text)."""
    from bprop.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["train", "--help"])
    return re.search(r"--test(?![-\w])", out.getvalue()) is not None


# ---------------------------------------------------------------- statistics


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def mean_score(records: dict[str, dict]) -> float:
    values = _finite([r["score"] for r in records.values()])
    return statistics.fmean(values) if values else math.nan


def paired(a: dict[str, dict], b: dict[str, dict]) -> tuple[float, float, int]:
    """Mean, standard error and count of the per-repeat differences ``a − b`` over the repeats both have."""
    diffs = _finite([a[k]["score"] - b[k]["score"] for k in sorted(a.keys() & b.keys())])
    if not diffs:
        return math.nan, math.nan, 0
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
    return statistics.fmean(diffs), se, len(diffs)


@dataclass
class TableStats:
    table: qt.Table
    rows: int | None
    records: dict[str, dict[str, dict]]  # method → repeat key → record

    def mean(self, method: str) -> float:
        return mean_score(self.records[method])

    def diff(self, peer: str, subject: str = "bprop") -> tuple[float, float, int]:
        return paired(self.records[subject], self.records[peer])

    def passes(self) -> bool | None:
        """The per-table goal: bprop − sklearn-mlp ≥ −max(0.005, 2·SE); None when it cannot be judged."""
        mean, se, n = self.diff("sklearn-mlp")
        if n == 0:
            return None
        return mean >= -max(TABLE_FLOOR, 2 * se if math.isfinite(se) else 0.0)

    def fit_median(self, method: str) -> float:
        return median([r["fit_seconds"] for r in self.records[method].values()])


def collect(prepared: list[Prepared], args: argparse.Namespace, store: Store) -> list[TableStats]:
    """The stored results of the repeats this run asks for (``--splits`` × ``--seeds``), per table and method."""
    stats = []
    for item in prepared:
        keys = [f"{item.table.name}|{s}|{r}" for s in range(args.splits) for r in range(args.seeds)]
        records = {m: {k: rec for k in keys if (rec := store.get(args.label, k, m)) is not None} for m in METHODS}
        stats.append(TableStats(item.table, item.rows, records))
    return stats


# ---------------------------------------------------------------- report


def _num(value: float, digits: int = 4) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


def _diff(mean: float, se: float, n: int) -> str:
    if n == 0:
        return "n/a"
    return f"{mean:+.4f} ± {se:.4f}" if math.isfinite(se) else f"{mean:+.4f}"


def _mark(ok: bool | None, yes: str = "ok", no: str = "MISS") -> str:
    return "n/a" if ok is None else (yes if ok else no)


def report_table(stats: list[TableStats]) -> list[str]:
    lines = [
        "| table | task | rows | held out | bprop | sklearn-mlp | hgb | bprop − sklearn-mlp | bprop − hgb | "
        "goal vs sklearn | fit s bprop | fit s sklearn-mlp | fit s hgb |",
        "|---|---|---:|:---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for s in stats:
        t = s.table
        cells = [t.name, t.task, "" if s.rows is None else str(s.rows), "yes" if t.held_out else ""]
        cells += [_num(s.mean(m)) for m in METHODS]
        cells += [_diff(*s.diff("sklearn-mlp")), _diff(*s.diff("hgb")), _mark(s.passes())]
        cells += [_num(s.fit_median(m), 2) for m in METHODS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary(stats: list[TableStats], in_group: Callable[[qt.Table], bool], kind: str) -> dict:
    """Mean score per method over the tables of a group that have all three methods' results."""
    chosen = [s for s in stats if s.table.kind == kind and in_group(s.table)]
    complete = [s for s in chosen if all(math.isfinite(s.mean(m)) for m in METHODS)]
    means = {m: statistics.fmean(s.mean(m) for s in complete) if complete else math.nan for m in METHODS}
    mlp_goal = means["bprop"] >= means["sklearn-mlp"] + GOAL_MLP if complete else None
    hgb_goal = means["bprop"] >= means["hgb"] + GOAL_HGB if complete else None
    return {"n": len(complete), "of": len(chosen), "means": means, "mlp_goal": mlp_goal, "hgb_goal": hgb_goal}


def report_summary(stats: list[TableStats]) -> list[str]:
    lines = [
        "| tables | metric | n | bprop | sklearn-mlp | hgb | bprop ≥ sklearn-mlp + 0.01 | bprop ≥ hgb − 0.005 |",
        "|---|---|---:|---:|---:|---:|:---:|:---:|",
    ]
    for group, in_group in GROUPS.items():
        for kind, metric in KINDS.items():
            s = summary(stats, in_group, kind)
            if s["of"] == 0:
                continue
            n = str(s["n"]) if s["n"] == s["of"] else f"{s['n']} of {s['of']}"
            cells = [group, metric, n, *(_num(s["means"][m]) for m in METHODS)]
            cells += [_mark(s["mlp_goal"], "met", "not met"), _mark(s["hgb_goal"], "met", "not met")]
            lines.append("| " + " | ".join(cells) + " |")
    judged = [s.passes() for s in stats if s.passes() is not None]
    lines.append("")
    lines.append(
        f"Per-table goal bprop − sklearn-mlp ≥ −max(0.005, 2·SE): met on {sum(judged)} of {len(judged)} tables."
    )
    return lines


def report_times(stats: list[TableStats], wall: float, ran: dict[str, int]) -> list[str]:
    parts = []
    for m in METHODS:
        seconds = [r["fit_seconds"] for s in stats for r in s.records[m].values()]
        parts.append(f"{m} {sum(seconds):.1f} s over {len(seconds)} fits ({ran.get(m, 0)} run now)")
    return [f"Wall time of this run: {wall:.1f} s. Fit seconds summed: " + "; ".join(parts) + "."]


def report_notes(stats: list[TableStats], failures: list[str]) -> list[str]:
    notes: dict[str, set[str]] = {}
    for s in stats:
        for record in s.records["bprop"].values():
            for line in record.get("notes", []):
                notes.setdefault(re.sub(r"\d+", "#", line), set()).add(s.table.name)  # one line per kind of note
    lines = [f"- bprop said `{text}` on: {', '.join(sorted(names))}" for text, names in sorted(notes.items())]
    lines += [f"- FAILED {f}" for f in failures]
    return ["", "Notes:", *lines] if lines else []


def build_report(stats: list[TableStats], args: argparse.Namespace, wall: float, ran: dict, failures: list) -> str:
    used_args = {" ".join(r.get("bprop_args", [])) for s in stats for r in s.records["bprop"].values()}
    test_flags = {r.get("test_flag") for s in stats for r in s.records["bprop"].values()}
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # the thread pools as every worker limits them
        info = machine_info()
    header = [
        f"# bprop quality: label `{args.label}`",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {args.splits} split(s) × {args.seeds} seed(s) per table; "
        f"bprop args: {', '.join(repr(a) for a in sorted(used_args)) or 'none'}; "
        f"--test flag: {', '.join(str(f) for f in sorted(test_flags, key=str)) or 'n/a'}; "
        f"methods run now: {', '.join(args.methods)}.",
        "Scores: accuracy (classification) or R² (regression) on the 25 % test rows; differences are paired "
        "per repeat, mean ± standard error; fit s: median seconds per fit, one BLAS/OpenMP thread.",
        "",
        "```",
        describe_machine(info),
        "```",
        "",
    ]
    body = [*report_table(stats), "", *report_summary(stats), "", *report_times(stats, wall, ran)]
    return "\n".join([*header, *body, *report_notes(stats, failures)]) + "\n"


# ---------------------------------------------------------------- plot


def _plot_positions(stats: list[TableStats]) -> tuple[list[TableStats], list[float], list[tuple[str, float]]]:
    """Tables top-down grouped by task, a gap between groups; also each group's label position."""
    ordered, ys, groups, y = [], [], [], 0.0
    for task in qt.TASKS:
        members = [s for s in stats if s.table.task == task]
        if not members:
            continue
        groups.append((task, y - (len(members) - 1) / 2))
        for s in members:
            ordered.append(s)
            ys.append(y)
            y -= 1
        y -= 0.8
    return ordered, ys, groups


def make_plot(stats: list[TableStats], path: Path, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered, ys, groups = _plot_positions(stats)
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.42 * len(ordered) + 1.8), sharey=True)
    for ax, peer in zip(axes, PEERS):
        for s, y in zip(ordered, ys):
            mean, se, n = s.diff(peer)
            if n == 0:
                continue
            err = 2 * se if math.isfinite(se) else 0.0
            face = "white" if s.table.held_out else "C0"
            ax.errorbar(mean, y, xerr=err, fmt="o", color="C0", mfc=face, capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.axvline(GOAL_MLP if peer == "sklearn-mlp" else GOAL_HGB, color="C2", lw=0.8, ls="--")
        ax.set_title(f"{label} − {peer}")
        ax.set_xlabel("paired difference (accuracy or R²), ±2 SE")
        ax.grid(axis="x", alpha=0.3)
    names = [s.table.name + (" (held out)" if s.table.held_out else "") for s in ordered]
    axes[0].set_yticks(ys, names)
    for task, y in groups:
        axes[1].annotate(task, (1.01, y), xycoords=("axes fraction", "data"), rotation=-90, va="center")
    fig.suptitle("bprop vs peers per table (hollow: held out; dashed: summary goal)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- compare two bprop variants


def compare(labels: list[str], tables: list[qt.Table], store: Store) -> str:
    """Paired per-table difference ``A − B`` of two stored bprop variants (over the repeats both have)."""
    a, b = labels
    results = {x: store.bprop(x) for x in labels}
    for x in labels:
        if not results[x]:
            raise SystemExit(f"no stored results for label {x!r} ({store.label_path(x)})")
    lines = [
        f"# bprop {a} − {b}",
        "",
        f"| table | task | held out | {a} | {b} | {a} − {b} | n |",
        "|---|---|:---:|---:|---:|---:|---:|",
    ]
    per_kind: dict[tuple[str, bool], list[float]] = {}
    for t in tables:
        ra = {k: v for k, v in results[a].items() if k.split("|")[0] == t.name}
        rb = {k: v for k, v in results[b].items() if k.split("|")[0] == t.name}
        mean, se, n = paired(ra, rb)
        if n == 0:
            continue
        per_kind.setdefault((t.kind, t.held_out), []).append(mean)
        common_a = {k: ra[k] for k in ra.keys() & rb.keys()}
        common_b = {k: rb[k] for k in ra.keys() & rb.keys()}
        cells = [t.name, t.task, "yes" if t.held_out else "", _num(mean_score(common_a)), _num(mean_score(common_b))]
        lines.append("| " + " | ".join([*cells, _diff(mean, se, n), str(n)]) + " |")
    lines.append("")
    for kind, metric in KINDS.items():
        for name, held in (("tuning", False), ("held-out", True)):
            diffs = per_kind.get((kind, held), [])
            if diffs:
                lines.append(
                    f"- mean {metric} difference, {name} tables: {statistics.fmean(diffs):+.4f} ({len(diffs)})"
                )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tables", default="all", help="all (default), tune, heldout, fresh, or a comma list of names")
    p.add_argument("--splits", type=int, default=2, help="train/test resplits per table (default 2)")
    p.add_argument("--seeds", type=int, default=5, help="method seeds per split (default 5)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma list of bprop, sklearn-mlp, hgb (default all)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--work", help="folder for the split CSVs and models (default: a temporary folder, removed)")
    p.add_argument("--label", default="bprop", help="name of this bprop variant in the results (default bprop)")
    p.add_argument("--bprop-args", default="", help='extra flags for bprop train, e.g. "--epochs 50 --l2 0.01"')
    p.add_argument("--no-test-flag", action="store_true", help="do not pass --test test.csv to bprop train")
    p.add_argument("--rerun", action="store_true", help="rerun the asked-for peers even when cached")
    p.add_argument("--max-rows", type=int, help="skip tables with more rows (default: none skipped)")
    p.add_argument("--plot", help="plot file (default benchmarks/results/quality_<label>.png)")
    p.add_argument("--compare", metavar="A,B", help="print the paired difference of two stored bprop labels; no run")
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in args.methods if m not in METHODS]
    if bad or not args.methods:
        p.error(f"--methods: unknown {bad}; choose from {', '.join(METHODS)}")
    if not re.fullmatch(r"[\w.-]+", args.label):
        p.error(f"--label must be letters, digits, '_', '-' or '.', got {args.label!r}")
    if args.splits < 1 or args.seeds < 1 or args.jobs < 1:
        p.error("--splits, --seeds and --jobs must be at least 1")
    args.extra = shlex.split(args.bprop_args)
    return args


def run_suite(args: argparse.Namespace, tables: list[qt.Table], store: Store) -> int:
    started = time.perf_counter()
    if "bprop" in args.methods and not args.no_test_flag and not train_has_test_flag():
        raise SystemExit("this bprop's train has no --test flag yet: add --no-test-flag (bprop then holds out its own)")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bprop-quality-"))
    try:
        prepared = prepare_tables(tables, args.splits, work, args.max_rows)
        jobs = plan(prepared, args, store, work)
        print(f"{len(jobs)} fits to run in {args.jobs} worker(s); work folder {work}", file=sys.stderr)
        failures = run_jobs(jobs, args, store)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    ran = {m: sum(j.method == m for j in jobs) for m in METHODS}
    stats = collect(prepared, args, store)
    report = build_report(stats, args, time.perf_counter() - started, ran, failures)
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"quality_{args.label}.md").write_text(report)
    plot = Path(args.plot) if args.plot else RESULTS / f"quality_{args.label}.png"
    make_plot(stats, plot, args.label)
    print(f"report: {RESULTS / f'quality_{args.label}.md'}; plot: {plot}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        tables = qt.select(args.tables)
    except ValueError as exc:
        raise SystemExit(f"--tables: {exc}") from None
    store = Store(RESULTS)
    if args.compare:
        labels = [x.strip() for x in args.compare.split(",")]
        if len(labels) != 2 or not all(labels):
            raise SystemExit("--compare needs two labels, e.g. --compare bprop,wd")
        print(compare(labels, tables, store))
        return 0
    return run_suite(args, tables, store)


if __name__ == "__main__":
    sys.exit(main())
