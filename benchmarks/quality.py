"""How good are the predictions of ``bprop train`` with its default settings, on 23 real tables, next to
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
import multiprocessing
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import quality_tables as qt  # noqa: E402
from quality_jobs import THREAD_VARS, Job, run_job, worker_init  # noqa: E402
from quality_report import METHODS, TableStats, build_report, compare, make_plot  # noqa: E402

RESULTS = Path(__file__).parent / "results"


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


def collect(prepared: list[Prepared], args: argparse.Namespace, store: Store) -> list[TableStats]:
    """The stored results of the repeats this run asks for (``--splits`` × ``--seeds``), per table and method."""
    stats = []
    for item in prepared:
        keys = [f"{item.table.name}|{s}|{r}" for s in range(args.splits) for r in range(args.seeds)]
        records = {m: {k: rec for k in keys if (rec := store.get(args.label, k, m)) is not None} for m in METHODS}
        stats.append(TableStats(item.table, item.rows, records))
    return stats


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
