"""The streamed path decides what the in-memory path decides: column types, categories, statistics, target
encoding and the split, on the same file and seed; and its batch source encodes rows to the same numbers."""

import numpy as np
import pandas as pd
import pytest

from bprop.tables import data
from bprop.tables.stream import open_streamed, prepare_streamed
from stream_support import assert_same_encoder, mixed_table, write

pytest.importorskip("pyarrow")


def both(path, target, tmp_path, *, read=data.read_csv, **options):
    cache = open_streamed(path, target, cache=tmp_path / "cache", log=None)
    streamed = prepare_streamed(cache, rng=np.random.default_rng(7), **options)
    in_memory = data.prepare(read(path), target, rng=np.random.default_rng(7), **options)
    return streamed, in_memory


def test_csv_mixed_types_match_the_in_memory_path(tmp_path):
    path = write(mixed_table(600), tmp_path / "t.csv", "csv")
    streamed, in_memory = both(path, "y", tmp_path, clip=3.0)
    assert_same_encoder(streamed, in_memory)
    kinds = {c["name"]: c["kind"] for c in streamed.encoder.to_dict()["features"]["columns"]}
    assert kinds["zip"] == "categorical" and kinds["count"] == "numeric" and kinds["flag"] == "categorical"
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(streamed.split, part), getattr(in_memory.split, part))
        source = streamed.source(part, "float64")
        X, Y, weights = source.take(source.order(None))
        assert weights is None
        np.testing.assert_allclose(X, getattr(in_memory, f"X_{part}"), rtol=1e-12, atol=1e-12)
        assert np.array_equal(Y, getattr(in_memory, f"Y_{part}"))
    assert streamed.report.imputed == in_memory.report.imputed
    assert streamed.report.unknown == in_memory.report.unknown


def test_parquet_keeps_its_stored_types(tmp_path):
    path = write(mixed_table(400, seed=1), tmp_path / "t.parquet", "parquet")
    streamed, in_memory = both(path, "y", tmp_path, read=pd.read_parquet)
    assert_same_encoder(streamed, in_memory)


@pytest.mark.parametrize("target", ["count", "x_whole", "wide"])
def test_numeric_targets_match(tmp_path, target):
    table = mixed_table(500, seed=2).drop(columns=["y"])
    table["x_whole"] = np.arange(500) % 3 + 1  # classes 1, 2, 3 (ints)
    table["count"] = table["count"].fillna(1.0)
    path = write(table, tmp_path / "t.csv", "csv")
    streamed, in_memory = both(path, target, tmp_path)
    assert_same_encoder(streamed, in_memory)
    source = streamed.source("test", "float64")
    _, Y, _ = source.take(source.order(None))
    np.testing.assert_allclose(Y, in_memory.Y_test, rtol=1e-15)


def test_the_digits_encode_identically(tmp_path):
    from bprop.tables.datasets import digits_path

    streamed, in_memory = both(digits_path(), "label", tmp_path)
    assert_same_encoder(streamed, in_memory)
    source = streamed.source("train", "float32")
    X, _, _ = source.take(source.order(None))
    assert X.dtype == np.float32
    assert np.array_equal(X, in_memory.X_train.astype(np.float32))


def test_high_cardinality_and_semicolons(tmp_path):
    n = 300
    table = pd.DataFrame({"id": [f"user{i}" for i in range(n)], "v": np.arange(n) % 7, "y": np.arange(n) % 2})
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False, sep=";")
    streamed, in_memory = both(path, "y", tmp_path)
    assert streamed.encoder.features.left_out_ == ["id"] == in_memory.encoder.features.left_out_
    assert_same_encoder(streamed, in_memory)


def test_decimal_comma(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a;b;y\n" + "".join(f"{i},5;{i % 3};{i % 2}\n" for i in range(60)))
    cache = open_streamed(path, "y", cache=tmp_path / "c", decimal=",", log=None)
    streamed = prepare_streamed(cache, rng=np.random.default_rng(0))
    in_memory = data.prepare(data.read_csv(path, decimal=","), "y", rng=np.random.default_rng(0))
    assert_same_encoder(streamed, in_memory)
    with pytest.raises(ValueError, match="decimal comma"):
        open_streamed(path, "y", cache=tmp_path / "d", log=None)


def test_refusals_match(tmp_path):
    path = tmp_path / "t.csv"
    rows = [f"{i},{i % 2}" for i in range(40)] + ["oops,1"]
    path.write_text("a,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"column 'a' looks numeric \(40 of its 41 filled cells"):
        open_streamed(path, "y", cache=tmp_path / "c", log=None)
    empty = tmp_path / "e.csv"
    empty.write_text("a,b,y\n" + "".join(f"{i},,{i % 2}\n" for i in range(10)))
    with pytest.raises(ValueError, match="entirely empty"):
        open_streamed(empty, "y", cache=tmp_path / "c2", log=None)
    gaps = tmp_path / "g.csv"
    gaps.write_text("a,y\n1,0\n2,\n3,1\n")
    with pytest.raises(ValueError, match=r"target column 'y' has 1 missing value\(s\) \(e.g. at row index 1\)"):
        open_streamed(gaps, "y", cache=tmp_path / "c3", log=None)


def test_windowed_shuffling_keeps_batches_local(tmp_path, monkeypatch):
    from bprop.tables.stream import source as source_module

    monkeypatch.setattr(source_module, "WINDOW_BLOCK", 16)
    monkeypatch.setattr(source_module, "WINDOW_BLOCKS", 3)
    path = write(mixed_table(1000), tmp_path / "t.csv", "csv")
    prepared = prepare_streamed(open_streamed(path, "y", cache=tmp_path / "c", log=None), rng=np.random.default_rng(0))
    source = prepared.source("train", shuffle="window")
    assert prepared.source("train").shuffle == "global"  # a small cache fits in memory
    first, again = source.order(np.random.default_rng(1)), source.order(np.random.default_rng(1))
    assert np.array_equal(first, again)  # from the seed
    assert sorted(first) == sorted(source.rows)  # every training row once
    assert not np.array_equal(first, source.order(np.random.default_rng(2)))
    # Each window holds the rows of 3 blocks of 16 consecutive training rows (blocks in the seed's order).
    n = source.n_rows
    blocks = np.random.default_rng(1).permutation(-(-n // 16))
    position = {row: i for i, row in enumerate(source.rows)}
    begin = 0
    for w in range(0, blocks.size, 3):
        chosen = blocks[w : w + 3]
        size = sum(min(n, (b + 1) * 16) - b * 16 for b in chosen)
        window = first[begin : begin + size]
        assert {position[row] // 16 for row in window} == set(chosen)
        begin += size
    assert not np.array_equal(np.sort(first[:48]), first[:48])  # shuffled within the window
    with pytest.raises(ValueError, match="shuffle must be one of"):
        prepared.source("train", shuffle="sometimes")


def test_header_names_as_pandas_makes_them(tmp_path):
    """Blank names become 'Unnamed: i', repeated ones 'x.1'; a quoted name may hold the separator."""
    rows = "".join(f"{i},{i % 5},{i % 3},{i % 7},{i % 2}\n" for i in range(200))
    path = tmp_path / "t.csv"
    path.write_text('\ufeff\n,x,x,"a,b",y\n' + rows)
    streamed, in_memory = both(path, "y", tmp_path)
    assert streamed.encoder.features.feature_names == ["Unnamed: 0", "x", "x.1", "a,b"]
    assert_same_encoder(streamed, in_memory)


def test_parquet_index_columns_are_not_features(tmp_path):
    table = mixed_table(300, seed=4)
    table.index = np.arange(300) * 3
    path = tmp_path / "t.parquet"
    table.to_parquet(path)  # the index is stored as a column pandas reads back as the index
    streamed, in_memory = both(path, None, tmp_path, read=pd.read_parquet)
    assert streamed.encoder.target.name_ == "y"
    assert_same_encoder(streamed, in_memory)
    categories = table.assign(city=table["city"].astype("category"))
    categories.to_parquet(path)
    streamed, in_memory = both(path, "y", tmp_path / "again", read=pd.read_parquet)
    assert_same_encoder(streamed, in_memory)


@pytest.mark.parametrize(
    "cells",
    [["NAN", "1.5", "2"], [" 007", " 012", " 003"], ["+1", "+2", "+3"], ["9007199254740993", "9007199254740992", "1"]],
)
def test_cells_pyarrow_and_pandas_read_differently(tmp_path, cells):
    rng = np.random.default_rng(0)
    n = 300
    table = pd.DataFrame({"x": rng.normal(size=n), "c": [cells[i % 3] for i in range(n)]})
    table["y"] = [cells[i % 3] for i in range(n)]
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    streamed, in_memory = both(path, "y", tmp_path)
    assert_same_encoder(streamed, in_memory)


def test_a_constant_column_gets_scale_one_in_both_paths(tmp_path):
    n = 300
    table = pd.DataFrame({"k": np.full(n, 0.1), "x": np.arange(n) % 7, "y": np.arange(n) % 2})
    path = write(table, tmp_path / "t.csv", "csv")
    streamed, in_memory = both(path, "y", tmp_path)
    for prepared in (streamed, in_memory):
        spec = prepared.encoder.features.columns_[0]
        assert spec["scale"] == 1.0  # not the 1e-17 of rounding noise, which blows 0.2 up to 1e16
        X = prepared.encoder.features.transform(pd.DataFrame({"k": [0.2], "x": [1]}))
        assert abs(X[0, 0] - 0.1) < 1e-12


def test_parquet_decimals_are_numbers_in_both_paths(tmp_path):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    from bprop.tables.data import read_table

    n = 200
    prices = pa.array([decimal.Decimal(f"{i % 37}.{i % 100:02d}") for i in range(n)], pa.decimal128(6, 2))
    pq.write_table(pa.table({"price": prices, "y": pa.array([i % 2 for i in range(n)])}), tmp_path / "t.parquet")
    streamed, in_memory = both(tmp_path / "t.parquet", "y", tmp_path, read=read_table)
    assert streamed.encoder.features.columns_[0]["kind"] == "numeric"
    assert_same_encoder(streamed, in_memory)


@pytest.mark.parametrize("clip", [None, 3.0])
@pytest.mark.parametrize("numbers_first", [True, False])
def test_batches_encode_bit_identically_with_unseen_labels(tmp_path, clip, numbers_first):
    """Any batch of any part, in float32 and float64, has the in-memory encoding's exact bits, including rows
    whose label the training rows never had (all zeros) and a feature column scaled straight into X."""
    table = mixed_table(500, seed=4)
    table.loc[table.index[-3:], "city"] = "Alta"  # three rows, none of them drawn for training
    table.loc[table.index[::7], "wide"] = 1e250  # outliers the clipping bends
    if numbers_first:
        table = table[["x", "count", "wide", "city", "flag", "zip", "spaced", "y"]]
    path = write(table, tmp_path / "t.csv", "csv")
    streamed = prepare_streamed(
        open_streamed(path, "y", cache=tmp_path / "cache", log=None), rng=np.random.default_rng(7), clip=clip
    )
    # The streamed encoder's own statistics applied by the in-memory transform: the bits a batch must have.
    expected = streamed.encoder.features.transform(data.read_csv(path).drop(columns=["y"]))
    unseen = 0
    for part in ("train", "val", "test"):
        rows_of_part = getattr(streamed.split, part)
        for dtype in ("float32", "float64"):
            source = streamed.source(part, dtype)
            order = source.order(np.random.default_rng(3))
            for begin in range(0, order.size, 64):
                rows = order[begin : begin + 64]
                X, _, _ = source.take(rows)
                assert X.dtype == np.dtype(dtype) and np.array_equal(X, expected[rows].astype(dtype)), (part, begin)
        if part != "train":
            unseen += int((table["city"].iloc[rows_of_part] == "Alta").sum())
    city = next(c for c in streamed.encoder.to_dict()["features"]["columns"] if c["name"] == "city")
    assert "Alta" not in city["categories"] and unseen > 0  # the test did meet labels unseen in training
