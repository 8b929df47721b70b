"""Helpers shared by the tests of streamed tables (tests/test_stream_*.py)."""

import numpy as np
import pandas as pd
import pytest


def mixed_table(n: int, seed: int = 0) -> pd.DataFrame:
    """Every kind of column the readers tell apart, with gaps."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "x": rng.normal(size=n) * 10 + 3,
            "count": rng.integers(0, 50, size=n).astype(float),
            "city": rng.choice(["Oslo", "Bergen", "Tromsø", "Bodø"], size=n),
            "flag": rng.choice(["True", "False"], size=n),
            "zip": [f"{v:04d}" for v in rng.integers(0, 30, size=n)],  # codes with leading zeros: text
            "spaced": rng.choice([" a", "b ", " c "], size=n),
            "wide": rng.normal(size=n) * 1e6,
        }
    )
    table.loc[rng.random(n) < 0.1, "x"] = np.nan
    table.loc[rng.random(n) < 0.05, "city"] = None
    table.loc[rng.random(n) < 0.05, "count"] = np.nan
    table["y"] = np.where(table["x"].fillna(0) + rng.normal(size=n) > 3, "yes", "no")
    return table


def write(table: pd.DataFrame, path, kind: str):
    if kind == "csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)
    return path


def assert_same_encoder(streamed, in_memory):
    """The same column types, categories, fill values and target; statistics equal up to rounding."""
    a, b = (x.to_dict() if hasattr(x, "to_dict") else x.encoder.to_dict() for x in (streamed, in_memory))
    assert a["target"] == b["target"]
    assert a["features"]["left_out"] == b["features"]["left_out"]
    assert [c["name"] for c in a["features"]["columns"]] == [c["name"] for c in b["features"]["columns"]]
    for mine, theirs in zip(a["features"]["columns"], b["features"]["columns"]):
        assert mine.keys() == theirs.keys()
        for key in mine:
            if isinstance(mine[key], float):
                assert mine[key] == pytest.approx(theirs[key], rel=1e-12, abs=1e-12), (mine["name"], key)
            else:
                assert mine[key] == theirs[key], (mine["name"], key)


def write_wide_csv(path, n_rows: int, seed: int = 0) -> None:
    """A CSV of 20 numeric columns (some with gaps) and 4 string columns, binary string target: about 200
    bytes a row. Written in blocks by pyarrow, so a large file costs little memory or time to make."""
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    block = 100_000
    with pcsv.CSVWriter(path, _wide_block(rng, 1).schema) as writer:
        for begin in range(0, n_rows, block):
            writer.write_table(_wide_block(rng, min(block, n_rows - begin)))


def _wide_block(rng, n: int):
    import pyarrow as pa

    columns = {}
    for j in range(20):
        values = rng.normal(size=n).round(5) * 10 ** (j % 3)
        mask = rng.random(n) < 0.05 if j % 4 == 0 else None
        columns[f"n{j}"] = pa.array(values, mask=mask)
    for j in range(4):
        columns[f"s{j}"] = pa.array(rng.choice([f"level{k}" for k in range(3 + 4 * j)], size=n))
    signal = columns["n1"].to_numpy(zero_copy_only=False) + rng.normal(size=n)
    columns["y"] = pa.array(np.where(signal > 0, "pos", "neg"))
    return pa.table(columns)


def peak_rss_anon(argv: list[str], cwd, timeout: float = 600) -> tuple[int, int]:
    """``(exit status, peak RssAnon in bytes)`` of a process running ``argv``, sampled every 10 ms from
    /proc/PID/status (the kernel keeps no peak of anonymous memory)."""
    import subprocess
    import time
    from pathlib import Path

    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status = Path(f"/proc/{process.pid}/status")
    peak, started = 0, time.monotonic()
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            break
        if time.monotonic() - started > timeout:
            process.kill()
        time.sleep(0.01)
    stderr = process.communicate()[1].decode()
    assert process.returncode == 0, stderr
    return process.returncode, peak
