"""Statistics, Markdown report, plot and variant comparison of ``benchmarks/quality.py``'s results."""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import quality_tables as qt  # noqa: E402
from _common import describe_machine, machine_info, median  # noqa: E402

METHODS = ("bprop", "sklearn-mlp", "hgb")
PEERS = ("sklearn-mlp", "hgb")
GOAL_MLP, GOAL_HGB, TABLE_FLOOR = 0.01, -0.005, 0.005
GROUPS = {
    "all tables": lambda t: True,
    "tuning tables": lambda t: not t.held_out,
    "held-out tables": lambda t: t.held_out,
    "fresh held-out tables": lambda t: t.fresh,  # added held out after the first look at the others
}
KINDS = {"classification": "accuracy", "regression": "R²"}


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


def compare(labels: list[str], tables: list[qt.Table], store) -> str:
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
