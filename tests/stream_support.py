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
