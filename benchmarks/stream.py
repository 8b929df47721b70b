"""Tables larger than memory (issue 15): streamed vs in-memory training on generated CSV files.

    python benchmarks/stream.py                        # 0.1, 1 and 4 GB: about 35 minutes on 2 cores
    python benchmarks/stream.py --sizes 0.05 --repeats 1 --build-repeats 1      # quick run (about 1 minute)
    python benchmarks/stream.py --out benchmarks/results/stream.md --json /tmp/stream.json

For every size the script writes a CSV (40 numeric columns, a quarter of them with about 5 % gaps; 9
low-cardinality string columns, three with gaps; a binary string target ``y``; about 450 bytes a row) in
blocks, so the generator never holds the table, and runs every measured job as a subprocess whose anonymous
memory (``RssAnon`` of ``/proc/PID/status``; the kernel keeps no peak of it) is sampled every 50 ms from a
thread of this process; the tables show the peak. This machine is shared: a job starts only once the machine
has been quiet for a few seconds, and a job during which other processes kept over 0.1 core busy on average
is run again (up to ``--attempts`` times; the least disturbed run is kept).

- **cache build** (``--build-repeats``, medians): ``open_streamed`` on a fresh cache folder, the two passes
  timed apart (the module's own ``_first_pass`` / ``_second_pass`` wrapped with a timer in the worker
  process), then the same call again on the unchanged file (**reuse**: the file is only hashed).
- **train**: ``bprop train DATA --target y --stream --cache DIR`` and ``--no-stream`` on the same rows (same
  seed, so the same split), the same network (one hidden layer of 128 ReLU, Adam, batch 200, float32), a
  fixed number of epochs without validation, the two paths in turn (S M, M S, S M, ...). Epoch times come
  from the History stored in the model file (cumulative seconds per epoch); the first epoch of every run is
  left out of the median. The in-memory path is skipped above ``--in-memory-up-to`` GB.
- **score**: ``bprop predict MODEL DATA --stream --out preds.csv`` and ``bprop evaluate MODEL DATA --stream``
  on the whole file (and ``--no-stream`` where the in-memory path runs).
- **breakdown**: in one process, where a streamed epoch's time goes, per batch of 200 rows: the source's
  ``take`` and the training step alone, take + step loops over the streamed and the in-memory source
  alternating every 25 batches, and whole ``bprop.fit`` epochs alternating streamed / in memory. Separate
  processes minutes apart see this machine's speed drift by tens of percent; this interleaved comparison
  does not, so it is the one the epoch-time goal is judged on.

Generated data and caches go to ``--workdir`` (default /tmp/bprop-stream-bench) and are deleted at the end
unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from _common import describe_machine, machine_info, median  # noqa: E402

HERE = Path(__file__).resolve()
VENV_BIN = Path(sys.executable).parent
GB, MB = 1e9, 1e6
SAMPLE_SECONDS = 0.05
GOAL_ANON_MB = 512
GOAL_EPOCH_RATIO = 1.25
GOAL_FIRST_PASS_MBS = 100
BATCH = 200
BLOCK, FIT_ROUNDS = 25, 7  # the breakdown's interleaving: batches per block, timed fit epochs per source

# -- the generated table -------------------------------------------------------------------------------
N_NUMERIC = 40
CARDINALITIES = (3, 4, 5, 6, 8, 10, 12, 16, 24)  # the 9 string columns
PREFIXES = ("region", "colour", "channel", "segment", "product", "weekday", "store", "brand", "city")
GAPPY_TEXT = (1, 4, 7)  # string columns with gaps
GAP_RATE = 0.05
CHUNK_ROWS = 200_000


def _numeric_column(j: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """Four kinds in turn: normal (6 decimals), wide normal (4 decimals), integers, log-normal (4 decimals)."""
    kind = j % 4
    if kind == 0:
        return np.round(rng.standard_normal(n), 6)
    if kind == 1:
        return np.round(rng.standard_normal(n) * 1000 + j, 4)
    if kind == 2:
        return rng.integers(0, 10_000_000, n)
    return np.round(np.exp(rng.standard_normal(n)) * 1000, 4)


def _chunk(rng: np.random.Generator, n: int):
    """One block of rows as a pyarrow RecordBatch."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns, names = [], []
    logit = np.zeros(n)
    for j in range(N_NUMERIC):
        values = _numeric_column(j, rng, n)
        if j in (0, 4, 9):  # the target leans on a few columns
            z = (values - values.mean()) / (values.std() or 1.0)
            logit += (0.9, -0.6, 0.4)[(0, 4, 9).index(j)] * z
        mask = rng.random(n) < GAP_RATE if j % 4 == 0 else None  # 10 numeric columns with gaps
        columns.append(pa.array(values, mask=mask))
        names.append(f"n{j:02d}")
    for k, (size, prefix) in enumerate(zip(CARDINALITIES, PREFIXES)):
        codes = rng.integers(0, size, n)
        if k in (0, 5):
            logit += np.linspace(-0.8, 0.8, size)[codes]
        mask = rng.random(n) < GAP_RATE if k in GAPPY_TEXT else None
        labels = pa.array([f"{prefix}_{i:02d}" for i in range(size)])
        columns.append(pc.take(labels, pa.array(codes, mask=mask)))
        names.append(f"s{k}")
    positive = logit + rng.logistic(size=n) > 0
    columns.append(pa.array(np.where(positive, "yes", "no")))
    names.append("y")
    return pa.RecordBatch.from_arrays(columns, names=names)


def generate(path: Path, target_bytes: float, seed: int = 0) -> dict:
    """Write a CSV of about ``target_bytes`` bytes in blocks of CHUNK_ROWS rows (the last block trimmed)."""
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    tmp = path.with_suffix(".partial")
    rows = 0
    options = pcsv.WriteOptions(quoting_style="none")
    with open(tmp, "wb") as f:
        writer = None
        while f.tell() < target_bytes:
            batch = _chunk(rng, CHUNK_ROWS)
            if writer is None:
                writer = pcsv.CSVWriter(f, batch.schema, write_options=options)
                writer.write_batch(batch.slice(0, 1000))  # measure the bytes per row, then size the blocks
                f.flush()
                per_row = f.tell() / 1000
                batch, rows = batch.slice(1000), 1000
            left = int(max(1, (target_bytes - f.tell()) / per_row))
            if left < batch.num_rows:
                batch = batch.slice(0, left)
            writer.write_batch(batch)
            f.flush()
            rows += batch.num_rows
        writer.close()
    tmp.replace(path)
    info = {"rows": rows, "columns": N_NUMERIC + len(CARDINALITIES) + 1, "bytes": path.stat().st_size}
    info["seconds"] = time.perf_counter() - started
    (path.parent / (path.name + ".json")).write_text(json.dumps(info | {"target_bytes": target_bytes, "seed": seed}))
    return info


def generated(path: Path, target_bytes: float, seed: int = 0) -> dict:
    """The CSV at ``path``, generated unless a previous run of this script left the same one."""
    meta = path.parent / (path.name + ".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        same = info.get("target_bytes") == target_bytes and info.get("seed") == seed
        if same and info["bytes"] == path.stat().st_size:
            return info | {"seconds": None}
    return generate(path, target_bytes, seed)


# -- measuring a subprocess ------------------------------------------------------------------------------
TICK = os.sysconf("SC_CLK_TCK")
# Other work on this shared machine (another engineer's tests) slows a run many times over when it competes
# for the 2 cores with OpenBLAS's threads: a job starts only after QUIET_SECONDS in a row with under
# QUIET_CORES busy, and a run during which others used over FOREIGN_CORES on average is run again.
QUIET_CORES, QUIET_SECONDS, FOREIGN_CORES = 0.15, 3, 0.1
ATTEMPTS, MAX_WAIT = 3, 600.0  # set from --attempts and --max-wait


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (user, nice, system, irq, softirq, steal) since boot."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


def wait_quiet(max_seconds: float) -> float:
    """Wait until the machine has been quiet for QUIET_SECONDS in a row (at most ``max_seconds``)."""
    started, quiet = time.perf_counter(), 0
    while quiet < QUIET_SECONDS and time.perf_counter() - started < max_seconds:
        before = _busy_seconds()
        time.sleep(1.0)
        quiet = quiet + 1 if _busy_seconds() - before < QUIET_CORES else 0
    waited = time.perf_counter() - started
    if waited > QUIET_SECONDS + 2:
        log(f"  (waited {waited:.0f} s for other work on the machine to stop)")
    return waited


def _file_refaults() -> int:
    """Pages of files read back in since boot after the kernel had dropped them (``workingset_refault_file``)."""
    with open("/proc/vmstat") as f:
        for line in f:
            if line.startswith("workingset_refault_file "):
                return int(line.split()[1])
    return 0


def _rss_anon_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_once(argv: list[str], log_to: Path) -> dict:
    """Run ``argv``: its wall time, peak RssAnon (sampled), peak RSS (``ru_maxrss``, with mapped file pages)
    and the cores other processes kept busy meanwhile on average (``foreign_cores``)."""
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    with open(log_to, "wb") as out:
        busy_before, refaults_before = _busy_seconds(), _file_refaults()
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        peak, timeline = [0], []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                kb = _rss_anon_kb(proc.pid)
                if kb is not None:
                    peak[0] = max(peak[0], kb)
                    timeline.append((round(time.perf_counter() - started, 2), kb))
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        busy = _busy_seconds() - busy_before
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = log_to.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n{text[-4000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "foreign_cores": max(0.0, busy - cpu) / seconds,
        "peak_anon_mb": peak[0] * 1024 / MB,
        "max_rss_mb": usage.ru_maxrss * 1024 / MB,
        "major_faults": usage.ru_majflt,
        "minor_faults": usage.ru_minflt,
        "machine_file_refaults": _file_refaults() - refaults_before,
        "anon_timeline_kb": timeline[:: max(1, len(timeline) // 2000)],  # (seconds, RssAnon kB), for the JSON
        "output": text,
    }


def run_measured(argv: list[str], log_to: Path, before=None, after=None) -> dict:
    """``run_once`` after waiting for a quiet machine, again (up to ATTEMPTS times) when other work shared
    it; the least disturbed run is kept, with how many were run. ``before()`` runs before every attempt,
    ``after(result)`` after it (to read what the attempt wrote before the next one overwrites it)."""
    best = None
    for attempt in range(1, ATTEMPTS + 1):
        if before is not None:
            before()
        wait_quiet(MAX_WAIT)
        result = run_once(argv, log_to)
        result["attempt"] = attempt
        if after is not None:
            after(result)
        if best is None or result["foreign_cores"] < best["foreign_cores"]:
            best = result
        if result["foreign_cores"] <= FOREIGN_CORES:
            break
        log(f"  (other processes kept {result['foreign_cores']:.2f} cores busy during that run: run again)")
    return best


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the worker (a subprocess of this script): the cache build with the passes timed -----------------------
def worker_build(data: str, cache: str) -> None:
    import bprop.tables.stream.cache as cache_module
    from bprop.tables.stream import open_streamed
    from bprop.tables.stream.reader import TableFile

    seconds: dict[str, float] = {}

    def timed(name: str, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    cache_module._first_pass = timed("first_pass", cache_module._first_pass)
    cache_module._second_pass = timed("second_pass", cache_module._second_pass)
    TableFile.sha256 = timed("hash", TableFile.sha256)
    started = time.perf_counter()
    opened = open_streamed(data, "y", cache=cache, log=None)
    seconds["total"] = time.perf_counter() - started
    print("RESULT " + json.dumps({"seconds": seconds, "n_rows": opened.n_rows}))


def worker_breakdown(data: str, cache: str, in_memory: bool, max_batches: int = 2000) -> None:
    """Where a streamed epoch's time goes, measured in one process so the two sources can be interleaved
    finely (this shared machine's speed drifts by tens of percent from minute to minute, which a comparison of
    separate processes cannot cancel).

    Microseconds per batch of 200 random training rows: the streamed source's ``take`` (and its two gathers
    from the map alone), the in-memory source's ``take`` and the training step alone (median of 3 rounds
    after a warm-up round); a loop of take + step over each source, alternating between the two every
    BLOCK batches; and whole ``bprop.fit`` epochs (with diagnostics, as the command line trains) alternating
    streamed / in memory, divided by their batches.
    """
    import bprop
    from bprop.tables.stream import open_streamed, prepare_streamed
    from bprop.training.sources import ArraySource

    opened = open_streamed(data, "y", cache=cache, log=None)
    prepared = prepare_streamed(opened, val_fraction=0.0, test_fraction=0.2, rng=np.random.default_rng(0))
    sources = {"streamed": prepared.source("train", "float32")}
    if in_memory:
        from bprop.tables.data import prepare, read_csv

        arrays = prepare(read_csv(data), "y", val_fraction=0.0, test_fraction=0.2, rng=np.random.default_rng(0))
        sources["in-memory"] = ArraySource(arrays.X_train.astype(np.float32), arrays.Y_train.astype(np.float32))
        del arrays
    n_batches = min(max_batches, sources["streamed"].n_rows // BATCH) // BLOCK * BLOCK
    rows = {}
    for name, source in sources.items():
        order = source.order(np.random.default_rng(1))
        rows[name] = [order[i * BATCH : (i + 1) * BATCH] for i in range(n_batches)]
    width = prepared.encoder.features.n_outputs

    def network():
        return bprop.mlp([width, 128, 2], activation="relu", output_activation="softmax", seed=0, dtype="float32")

    result = _parts_alone(sources, rows, opened, network())
    loops, block_ratios = _interleaved_loops(sources, rows, network())
    epochs, faults = _interleaved_fits(sources, network)
    result |= loops | {f"{name} fit epoch": median(values) for name, values in epochs.items()}
    result |= {f"{name} fit majflt": median(values) for name, values in faults.items()}
    ratios = {}
    if in_memory:
        ratios["loop_blocks"] = block_ratios
        ratios["fit_epochs"] = [a / b for a, b in zip(epochs["streamed"], epochs["in-memory"])]
    found = {"us_per_batch": result, "batches": n_batches, "ratios": ratios, "epochs": epochs, "faults": faults}
    print("RESULT " + json.dumps(found))


def _parts_alone(sources: dict, rows: dict, opened, net) -> dict[str, float]:
    import bprop

    loss, optimizer = bprop.get_loss("categorical_cross_entropy"), bprop.Adam()
    numeric, codes = np.asarray(opened.numeric), np.asarray(opened.codes)
    X, Y, _ = sources["streamed"].take(rows["streamed"][0])
    X, Y = X.copy(), Y.copy()
    parts = {
        "streamed take": ("streamed", lambda r: sources["streamed"].take(r)),
        "  numeric rows from the map": ("streamed", lambda r: numeric.take(r, axis=0)),
        "  code rows from the map": ("streamed", lambda r: codes.take(r, axis=0)),
        "in-memory take": ("in-memory", lambda r: sources["in-memory"].take(r)),
        "training step": ("streamed", lambda r: net.train_step(X, Y, loss, optimizer)),
    }
    parts = {name: part for name, part in parts.items() if part[0] in sources}
    alone: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(4):  # round 0 pages the maps in and warms up; left out
        for name, (source_name, function) in parts.items():
            started = time.perf_counter()
            for r in rows[source_name]:
                function(r)
            alone[name].append((time.perf_counter() - started) / len(rows[source_name]) * 1e6)
    return {name: median(values[1:]) for name, values in alone.items()}


def _interleaved_loops(sources: dict, rows: dict, net) -> tuple[dict[str, float], list[float]]:
    """Take + step over each source, alternating every BLOCK batches, after one warm-up pass of each."""
    import bprop

    loss, optimizer = bprop.get_loss("categorical_cross_entropy"), bprop.Adam()

    def loop(name: str, batches) -> float:
        started = time.perf_counter()
        for r in batches:
            Xb, Yb, _ = sources[name].take(r)
            net.train_step(Xb, Yb, loss, optimizer)
        return time.perf_counter() - started

    for name in sources:
        loop(name, rows[name])
    n_batches = len(rows["streamed"])
    totals, block_ratios = dict.fromkeys(sources, 0.0), []
    for k in range(n_batches // BLOCK):
        block = {}
        for name in sources if k % 2 == 0 else list(sources)[::-1]:
            block[name] = loop(name, rows[name][k * BLOCK : (k + 1) * BLOCK])
            totals[name] += block[name]
        if "in-memory" in block:
            block_ratios.append(block["streamed"] / block["in-memory"])
    return {f"{name} take + step": total / n_batches * 1e6 for name, total in totals.items()}, block_ratios


def _interleaved_fits(sources: dict, network) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    """Microseconds per batch of whole fit epochs, alternating sources (a warm-up epoch each, then
    FIT_ROUNDS each)."""
    import bprop

    loss = bprop.get_loss("categorical_cross_entropy")
    import resource

    fitted = {name: network() for name in sources}
    epochs: dict[str, list[float]] = {name: [] for name in sources}
    faults: dict[str, list[int]] = {name: [] for name in sources}
    for k in range(FIT_ROUNDS + 1):
        for name in sources if k % 2 == 0 else list(sources)[::-1]:
            source = sources[name]
            faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
            started = time.perf_counter()
            bprop.fit(fitted[name], source=source, loss=loss, optimizer="adam", epochs=1, batch_size=BATCH,
                      seed=k, verbose=0, diagnostics=True)  # fmt: skip
            if k:
                epochs[name].append((time.perf_counter() - started) / -(-source.n_rows // BATCH) * 1e6)
                faults[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_majflt - faults_before)
    return epochs, faults


def _worker_result(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT ") :])


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# -- one size ------------------------------------------------------------------------------------------------
def build_cache(data: Path, cache: Path, logs: Path, repeats: int) -> dict:
    argv = [sys.executable, str(HERE), "--worker", "build", str(data), str(cache)]

    def read_result(result: dict) -> None:
        result |= _worker_result(result.pop("output"))
        result["cache_bytes"] = folder_bytes(cache)

    fresh = lambda: shutil.rmtree(cache, ignore_errors=True)  # noqa: E731
    builds = [run_measured(argv, logs / "build.log", before=fresh, after=read_result) for _ in range(repeats)]
    reused = run_measured(argv, logs / "reuse.log", after=read_result)
    return {"builds": builds, "reuse": reused}


def breakdown(data: Path, cache: Path, in_memory: bool, logs: Path) -> dict:
    job = "breakdown-memory" if in_memory else "breakdown"
    argv = [sys.executable, str(HERE), "--worker", job, str(data), str(cache)]
    result = run_measured(argv, logs / "breakdown.log")
    return result | _worker_result(result.pop("output"))


def train(mode: str, data: Path, cache: Path, model: Path, args, logs: Path, label: str) -> dict:
    argv = [str(VENV_BIN / "bprop"), "train", str(data), "--target", "y", f"--{mode}", "--out", str(model)]
    argv += ["--layers", "128", "--activation", "relu", "--optimizer", "adam", "--batch-size", "200"]
    argv += ["--dtype", "float32", "--epochs", str(args.epochs), "--patience", "0", "--val-split", "0"]
    argv += ["--seed", "0", "--quiet"]
    if mode == "stream":
        argv += ["--cache", str(cache)]

    def read_model(result: dict) -> None:
        from bprop import modelfile

        training = modelfile.load(model).training
        cumulative = training["history"]["time"]
        result["epoch_seconds"] = [b - a for a, b in zip([0.0, *cumulative], cumulative)]
        result["fit_seconds"] = training["summary"]["seconds"]
        result["loss"] = training["history"]["loss"]
        result["scores"] = training["summary"]["scores"]
        result["rows"] = training["summary"]["rows"]
        result.pop("output")
        if result["foreign_cores"] > FOREIGN_CORES:
            epochs = ", ".join(f"{s:.2f}" for s in result["epoch_seconds"])
            log(f"  (disturbed attempt of train --{mode}: epochs {epochs} s)")

    return run_measured(argv, logs / f"train-{label}.log", after=read_model)


def score(command: str, mode: str, data: Path, model: Path, workdir: Path, logs: Path) -> dict:
    argv = [str(VENV_BIN / "bprop"), command, str(model), str(data), f"--{mode}"]
    if command == "predict":
        argv += ["--out", str(workdir / "preds.csv")]
    result = run_measured(argv, logs / f"{command}-{mode}.log")
    tail = result.pop("output").strip().splitlines()
    result["tail"] = tail[-3:]
    (workdir / "preds.csv").unlink(missing_ok=True)
    return result


def measure_size(size_gb: float, args) -> dict:
    workdir = args.workdir
    name = f"table-{size_gb:g}GB"
    data, cache = workdir / f"{name}.csv", workdir / f"{name}.cache"
    logs = workdir / f"{name}.logs"
    logs.mkdir(parents=True, exist_ok=True)
    log(f"[{size_gb:g} GB] generating {data}")
    table = generated(data, size_gb * GB)
    log(f"[{size_gb:g} GB] {table['bytes'] / MB:,.0f} MB, {table['rows']:,} rows x {table['columns']} columns")
    entry: dict = {"size_gb": size_gb, "table": table} | build_cache(data, cache, logs, args.build_repeats)
    for built in entry["builds"]:
        b = built["seconds"]
        log(
            f"[{size_gb:g} GB] build: hash {b.get('hash', 0):.1f} s, pass 1 {b.get('first_pass', 0):.1f} s, pass 2 "
            f"{b.get('second_pass', 0):.1f} s, peak RssAnon {built['peak_anon_mb']:,.0f} MB, others "
            f"{built['foreign_cores']:.2f} cores"
        )
    log(f"[{size_gb:g} GB] reuse {entry['reuse']['seconds']['total']:.1f} s")
    in_memory = size_gb <= args.in_memory_up_to
    modes = ["stream", "no-stream"] if in_memory else ["stream"]
    entry["train"], entry["predict"], entry["evaluate"] = {}, {}, {}
    if "train" in args.jobs:
        entry["train"] = {m: [] for m in modes}
        for r in range(args.repeats):
            for mode in modes if r % 2 == 0 else modes[::-1]:
                model = workdir / f"{name}-{mode}-{r}.safetensors"
                result = train(mode, data, cache, model, args, logs, f"{mode}-{r}")
                entry["train"][mode].append(result)
                epochs = ", ".join(f"{s:.2f}" for s in result["epoch_seconds"])
                log(
                    f"[{size_gb:g} GB] train --{mode} #{r}: {result['seconds']:.1f} s wall, epochs {epochs} s, "
                    f"peak RssAnon {result['peak_anon_mb']:,.0f} MB, others {result['foreign_cores']:.2f} cores"
                )
    if "score" in args.jobs and "train" in args.jobs:
        model = workdir / f"{name}-stream-0.safetensors"
        for mode in modes:
            for command in ("predict", "evaluate"):
                result = score(command, mode, data, model, workdir, logs)
                entry[command][mode] = result
                log(
                    f"[{size_gb:g} GB] {command} --{mode}: {result['seconds']:.1f} s, "
                    f"peak RssAnon {result['peak_anon_mb']:,.0f} MB"
                )
    if "breakdown" in args.jobs:
        entry["breakdown"] = breakdown(data, cache, in_memory, logs)
        parts = ", ".join(f"{k.strip()} {v:.0f}" for k, v in entry["breakdown"]["us_per_batch"].items())
        log(f"[{size_gb:g} GB] per batch of {BATCH}, µs: {parts}")
    if not in_memory:
        entry["in_memory_skipped"] = True
    for path in workdir.glob(f"{name}-*.safetensors"):
        path.unlink()
    summarise(entry)
    return entry


def summarise(entry: dict) -> None:
    """Medians and ratios of one size."""
    table, builds = entry["table"], entry["builds"]
    build = {k: median([b["seconds"][k] for b in builds]) for k in builds[0]["seconds"]}
    mb = table["bytes"] / MB
    s = {
        "file_mb": mb,
        "first_pass_s": build.get("first_pass"),
        "first_pass_mbs": mb / build["first_pass"] if build.get("first_pass") else None,
        "second_pass_s": build.get("second_pass"),
        "second_pass_mbs": mb / build["second_pass"] if build.get("second_pass") else None,
        "hash_s": build.get("hash"),
        "build_s": build["total"],
        "build_anon_mb": max(b["peak_anon_mb"] for b in builds),
        "cache_mb": builds[0]["cache_bytes"] / MB,
        "builds": len(builds),
        "reuse_s": entry["reuse"]["seconds"]["total"],
    }
    for mode, runs in entry["train"].items():
        key = "stream" if mode == "stream" else "memory"
        later = [x for run in runs for x in run["epoch_seconds"][1:]]
        s[f"{key}_epoch_s"] = median(later)
        s[f"{key}_first_epoch_s"] = median([run["epoch_seconds"][0] for run in runs])
        s[f"{key}_train_wall_s"] = median([run["seconds"] for run in runs])
        s[f"{key}_train_anon_mb"] = max(run["peak_anon_mb"] for run in runs)
        s[f"{key}_train_max_rss_mb"] = max(run["max_rss_mb"] for run in runs)
        s[f"{key}_final_loss"] = median([run["loss"][-1] for run in runs])
        s[f"{key}_train_majflt"] = median([run["major_faults"] for run in runs])
        s[f"{key}_test_accuracy"] = runs[0]["scores"].get("test", {}).get("accuracy")
        s["train_rows"] = runs[0]["rows"]["train"]
        for command in ("predict", "evaluate"):
            if mode in entry[command]:
                s[f"{key}_{command}_s"] = entry[command][mode]["seconds"]
                s[f"{key}_{command}_anon_mb"] = entry[command][mode]["peak_anon_mb"]
    jobs = [*builds, entry["reuse"], *(r for runs in entry["train"].values() for r in runs)]
    jobs += [*entry["predict"].values(), *entry["evaluate"].values()]
    s["max_foreign_cores"] = max(job["foreign_cores"] for job in jobs)
    s["reruns"] = sum(job["attempt"] - 1 for job in jobs)
    if "breakdown" in entry:
        us = entry["breakdown"]["us_per_batch"]
        s |= {f"us {name.strip()}": value for name, value in us.items()}
        ratios = entry["breakdown"]["ratios"]
        if ratios:
            s["loop_ratio"] = us["streamed take + step"] / us["in-memory take + step"]
            s["loop_ratio_blocks"] = median(ratios["loop_blocks"])
            s["fit_ratio"] = us["streamed fit epoch"] / us["in-memory fit epoch"]
            s["fit_ratio_pairs"] = median(ratios["fit_epochs"])
    if "memory_epoch_s" in s:
        s["epoch_ratio"] = s["stream_epoch_s"] / s["memory_epoch_s"]
        # Pair each streamed run with the in-memory run next to it (interleaved), epoch by epoch.
        pairs = [
            a / b
            for sr, mr in zip(entry["train"]["stream"], entry["train"]["no-stream"])
            for a, b in zip(sr["epoch_seconds"][1:], mr["epoch_seconds"][1:])
        ]
        s["epoch_ratio_pairs"] = pairs
    entry["summary"] = s


# -- report ------------------------------------------------------------------------------------------------
def _f(value, fmt: str = ".2f", none: str = "–") -> str:
    return none if value is None else format(value, fmt)


def format_tables(report: dict) -> str:
    sizes = report["sizes"]
    head = ["measure", *(f"{e['size_gb']:g} GB" for e in sizes)]
    S = [e["summary"] for e in sizes]

    def row(label: str, key: str, fmt: str = ".2f") -> list[str]:
        return [label, *(_f(s.get(key), fmt) for s in S)]

    rows = [
        ["file", *(f"{e['table']['bytes'] / MB:,.0f} MB, {e['table']['rows']:,} rows" for e in sizes)],
        row("first pass (column types): MB/s", "first_pass_mbs", ",.0f"),
        row("second pass (cache write): MB/s", "second_pass_mbs", ",.0f"),
        row("cache builds timed (medians shown)", "builds", "d"),
        row("whole build (hash + 2 passes), s", "build_s", ",.1f"),
        row("cache on disk, MB", "cache_mb", ",.0f"),
        row("cache reuse (hash only), s", "reuse_s", ".1f"),
        row("peak RssAnon of the build, MB", "build_anon_mb", ",.0f"),
        row("training rows", "train_rows", ",d"),
        row("streamed epoch / in-memory epoch (medians)", "epoch_ratio"),
        row("streamed epoch, s (median of epochs 2+)", "stream_epoch_s"),
        row("in-memory epoch, s (median of epochs 2+)", "memory_epoch_s"),
        row("streamed first epoch, s", "stream_first_epoch_s"),
        row("in-memory first epoch, s", "memory_first_epoch_s"),
        row("`bprop train --stream` wall, s", "stream_train_wall_s", ",.1f"),
        row("`bprop train --no-stream` wall, s", "memory_train_wall_s", ",.1f"),
        row("peak RssAnon `train --stream`, MB", "stream_train_anon_mb", ",.0f"),
        row("peak RssAnon `train --no-stream`, MB", "memory_train_anon_mb", ",.0f"),
        row("peak RSS with mapped pages `train --stream`, MB", "stream_train_max_rss_mb", ",.0f"),
        row("major page faults of `train --stream` (median run)", "stream_train_majflt", ",.0f"),
        row("final training loss streamed / in memory", "stream_final_loss", ".4f"),
        row("", "memory_final_loss", ".4f"),
        row("per batch of 200, µs: streamed `take`", "us streamed take", ",.0f"),
        row("… numeric rows gathered from the map alone", "us numeric rows from the map", ",.0f"),
        row("… code rows gathered from the map alone", "us code rows from the map", ",.0f"),
        row("… in-memory `take`", "us in-memory take", ",.0f"),
        row("… training step alone", "us training step", ",.0f"),
        row("… take + step, streamed (interleaved by blocks of 25)", "us streamed take + step", ",.0f"),
        row("… take + step, in memory (interleaved)", "us in-memory take + step", ",.0f"),
        row(f"… `bprop.fit` epoch, streamed source ({FIT_ROUNDS}, interleaved)", "us streamed fit epoch", ",.0f"),
        row(f"… `bprop.fit` epoch, in-memory arrays ({FIT_ROUNDS}, interleaved)", "us in-memory fit epoch", ",.0f"),
        row("… major page faults per streamed fit epoch", "us streamed fit majflt", ",.0f"),
        row("take + step streamed / in memory: total (median of blocks)", "loop_ratio"),
        row("", "loop_ratio_blocks"),
        row("`fit` epoch streamed / in memory: medians (median of pairs)", "fit_ratio"),
        row("", "fit_ratio_pairs"),
        row("`predict --stream` wall, s", "stream_predict_s", ",.1f"),
        row("peak RssAnon `predict --stream`, MB", "stream_predict_anon_mb", ",.0f"),
        row("peak RssAnon `predict --no-stream`, MB", "memory_predict_anon_mb", ",.0f"),
        row("`evaluate --stream` wall, s", "stream_evaluate_s", ",.1f"),
        row("peak RssAnon `evaluate --stream`, MB", "stream_evaluate_anon_mb", ",.0f"),
        row("peak RssAnon `evaluate --no-stream`, MB", "memory_evaluate_anon_mb", ",.0f"),
        row("most cores other work kept busy in a kept run", "max_foreign_cores", ".2f"),
        row("jobs run again (other work on the machine)", "reruns", "d"),
    ]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(sizes)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _in_memory_bytes_per_file_byte(report: dict) -> float | None:
    """Peak RssAnon of ``train --no-stream`` per byte of CSV, at the largest size measured in memory."""
    measured = [e["summary"] for e in report["sizes"] if "memory_train_anon_mb" in e["summary"]]
    return measured[-1]["memory_train_anon_mb"] / measured[-1]["file_mb"] if measured else None


def format_goals(report: dict) -> str:
    lines = []
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    factor = _in_memory_bytes_per_file_byte(report)
    for e in report["sizes"]:
        s, size = e["summary"], f"{e['size_gb']:g} GB"
        peaks = [s.get(k) for k in ("stream_train_anon_mb", "stream_predict_anon_mb", "stream_evaluate_anon_mb")]
        peaks = [p for p in peaks if p is not None]
        if peaks:
            lines.append(
                f"- {size}: peak RssAnon of streamed train/predict/evaluate {max(peaks):,.0f} MB "
                f"(goal <= {GOAL_ANON_MB} MB at 4 GB) {_verdict(max(peaks) <= GOAL_ANON_MB)}"
            )
        if "fit_ratio" in s:
            lines.append(
                f"- {size}: streamed/in-memory `fit` epoch, interleaved in one process: {s['fit_ratio']:.3f} "
                f"(median of pairs {s['fit_ratio_pairs']:.2f}; take + step loop {s['loop_ratio']:.2f}; goal <= "
                f"{GOAL_EPOCH_RATIO}) {_verdict(s['fit_ratio'] <= GOAL_EPOCH_RATIO)}"
            )
        if "epoch_ratio" in s:
            pairs = s["epoch_ratio_pairs"]
            lines.append(
                f"- {size}: streamed/in-memory epoch of `bprop train`, separate processes: {s['epoch_ratio']:.3f} "
                f"(paired epochs {min(pairs):.2f}–{max(pairs):.2f}; goal <= {GOAL_EPOCH_RATIO}) "
                f"{_verdict(s['epoch_ratio'] <= GOAL_EPOCH_RATIO)}"
            )
        elif e.get("in_memory_skipped") and factor is not None:
            lines.append(
                f"- {size}: in-memory path skipped: it took {factor:.1f} bytes of anonymous memory per CSV byte "
                f"at the largest size run in memory, so about {factor * s['file_mb'] * MB / GB:.0f} GB here, on a "
                f"machine of {ram_gb:.0f} GB"
            )
        if s["first_pass_mbs"] is not None:
            lines.append(
                f"- {size}: first pass {s['first_pass_mbs']:,.0f} MB/s (goal >= {GOAL_FIRST_PASS_MBS}) "
                f"{_verdict(s['first_pass_mbs'] >= GOAL_FIRST_PASS_MBS)}"
            )
    return "\n".join(lines)


def format_report(report: dict) -> str:
    return "\n\n".join(
        [
            f"date: {report['date']}; command: `{report['command']}`; wall time {report['wall_minutes']:.1f} min",
            describe_machine(report["machine"]),
            format_tables(report),
            format_goals(report),
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="0.1,1,4", help="CSV sizes in GB (1e9 bytes), comma-separated")
    p.add_argument("--repeats", type=int, default=3, help="training runs per path and size (default 3)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per training run (default 3; the first is left out)")
    p.add_argument("--in-memory-up-to", type=float, default=1.0, metavar="GB", help="largest size run in memory")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/bprop-stream-bench"))
    p.add_argument(
        "--jobs", default="build,train,score,breakdown", help="which of build (always), train, score, breakdown"
    )
    p.add_argument("--build-repeats", type=int, default=3, help="cache builds timed per size (default 3)")
    p.add_argument("--attempts", type=int, default=3, help="runs of a job disturbed by other work (default 3)")
    p.add_argument("--max-wait", type=float, default=600, help="seconds to wait for a quiet machine per job")
    p.add_argument("--keep", action="store_true", help="keep the generated files and caches")
    p.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    p.add_argument("--json", type=Path, help="also write every figure as JSON to this file")
    p.add_argument("--worker", nargs=3, metavar=("JOB", "DATA", "CACHE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is None:
        args.sizes = [float(s) for s in args.sizes.split(",")]
        args.jobs = set(args.jobs.split(","))
        if args.epochs < 2 or args.repeats < 1:
            p.error("--epochs must be >= 2 (the first epoch is left out) and --repeats >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        job, data, cache = args.worker
        if job == "build":
            worker_build(data, cache)
        else:
            worker_breakdown(data, cache, in_memory=job == "breakdown-memory")
        return 0
    global ATTEMPTS, MAX_WAIT
    ATTEMPTS, MAX_WAIT = args.attempts, args.max_wait
    started = time.perf_counter()
    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "date": date.today().isoformat(),
        "command": " ".join([".venv/bin/python", "benchmarks/stream.py", *(argv or sys.argv[1:])]),
        "machine": machine_info(),
        "sizes": [],
    }
    try:
        for size in args.sizes:
            report["sizes"].append(measure_size(size, args))
            if not args.keep:  # the next size needs the disk more than this one's files
                for path in args.workdir.glob(f"table-{size:g}GB*"):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    report["wall_minutes"] = (time.perf_counter() - started) / 60
    text = format_report(report)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
