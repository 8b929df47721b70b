"""read_csv, split_target, split_indices, TableEncoder and prepare."""

import bz2
import gzip
import json
import lzma
import os
import threading

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from bprop.tables.data import TableEncoder, prepare, read_csv, split_indices, split_target  # noqa: E402
from bprop.tables.datasets import digits_path  # noqa: E402


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# -- read_csv ------------------------------------------------------------------------------------------
def test_read_csv_reads_plain_and_gzip(tmp_path):
    text = "x,c,y\n1.5,a,0\n2.5,b,1\n"
    plain = read_csv(write(tmp_path, text))
    with gzip.open(tmp_path / "d.csv.gz", "wt") as f:
        f.write(text)
    packed = read_csv(tmp_path / "d.csv.gz")
    assert list(plain.columns) == ["x", "c", "y"]
    assert plain.shape == (2, 3)
    pd.testing.assert_frame_equal(plain, packed)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_read_csv_reads_semicolon_and_tab_files(tmp_path, sep):
    table = read_csv(write(tmp_path, f"x{sep}y\n1{sep}2\n3{sep}4\n"))
    assert list(table.columns) == ["x", "y"]
    assert table["y"].tolist() == [2, 4]


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"a,b,c\n", "no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file .*binary"),
        ("a,b\ncaf\u00e9,1\n".encode("latin-1"), "not UTF-8"),
        (b"a,b\n1,2\n1,2,3,4\n", "not valid CSV .*Expected 2 fields"),
        (b'a,b\n"x,1\n', "not valid CSV"),
    ],
)
def test_read_csv_bad_files(tmp_path, content, match):
    with pytest.raises(ValueError, match=match):
        read_csv(write(tmp_path, content))


def test_read_csv_missing_file_and_folder(tmp_path):
    with pytest.raises(ValueError, match="not found; check the path"):
        read_csv(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="is a folder"):
        read_csv(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_read_csv_unreadable_file(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    path.chmod(0)
    with pytest.raises(ValueError, match="cannot read .*permission"):
        read_csv(path)


def test_read_csv_os_errors_become_value_errors(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pd, "read_csv", denied)
    with pytest.raises(ValueError, match="cannot read .*Permission denied; check the file and its permissions"):
        read_csv(write(tmp_path, "a,b\n1,2\n"))


# -- split_target --------------------------------------------------------------------------------------
def test_split_target_defaults_to_last_column_and_lists_columns_when_unknown():
    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "label": [0, 1]})
    features, y = split_target(table)
    assert list(features.columns) == ["a", "b"]
    assert y.name == "label"
    features, y = split_target(table, "a")
    assert list(features.columns) == ["b", "label"]
    assert y.name == "a"
    with pytest.raises(ValueError, match="unknown target column 'lbl'; the columns are: a, b, label"):
        split_target(table, "lbl")
    with pytest.raises(ValueError, match="at least one feature column"):
        split_target(table[["a"]])


# -- split_indices -------------------------------------------------------------------------------------
def test_stratified_split_partitions_rows_and_keeps_class_proportions():
    labels = np.repeat(np.arange(3), [500, 300, 200])
    split = split_indices(labels, val_fraction=0.1, test_fraction=0.2, rng=np.random.default_rng(0))
    everything = np.concatenate(split)
    assert np.array_equal(np.sort(everything), np.arange(1000))  # disjoint and complete
    assert (len(split.train), len(split.val), len(split.test)) == (700, 100, 200)
    assert np.bincount(labels[split.test]).tolist() == [100, 60, 40]
    assert np.bincount(labels[split.val]).tolist() == [50, 30, 20]


def test_split_is_reproducible_and_depends_on_the_generator():
    labels = np.arange(200) % 4
    a = split_indices(labels, rng=np.random.default_rng(5))
    b = split_indices(labels, rng=np.random.default_rng(5))
    c = split_indices(labels, rng=np.random.default_rng(6))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a.test, c.test)


def test_split_keeps_a_training_row_of_every_class_and_exact_totals():
    labels = np.array([0] * 20 + [1, 2, 2])  # class 1 has a single row
    split = split_indices(labels, val_fraction=0.2, test_fraction=0.3, rng=np.random.default_rng(1))
    assert set(labels[split.train]) == {0, 1, 2}
    assert (len(split.test), len(split.val)) == (round(23 * 0.3), round(23 * 0.2))


def test_unstratified_split_by_row_count():
    split = split_indices(10, val_fraction=0.0, test_fraction=0.3, rng=np.random.default_rng(0))
    assert (len(split.train), len(split.val), len(split.test)) == (7, 0, 3)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"val_fraction": -0.1}, r"val_fraction must be a fraction in \[0, 1\), got -0.1"),
        ({"test_fraction": 1.0}, r"test_fraction must be a fraction in \[0, 1\), got 1.0"),
        ({"test_fraction": True}, "test_fraction must be a fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must be below 1"),
        ({"rng": 0}, "rng must be a numpy.random.Generator"),
    ],
)
def test_split_rejects_bad_arguments(kwargs, match):
    args = {"val_fraction": 0.1, "test_fraction": 0.2, "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        split_indices(np.arange(50) % 2, **args)


def test_split_rejects_too_few_rows():
    with pytest.raises(ValueError, match="2 rows are too few"):
        split_indices(2, val_fraction=0.1, test_fraction=0.2, rng=np.random.default_rng(0))


# -- prepare and TableEncoder --------------------------------------------------------------------------
@pytest.fixture
def mixed_table():
    rng = np.random.default_rng(3)
    n = 120
    table = pd.DataFrame(
        {
            "size": rng.normal(10, 3, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "species": rng.choice(["cat", "dog"], n),
        }
    )
    table.loc[[3, 17], "size"] = np.nan
    table.loc[[5], "colour"] = np.nan
    return table


def test_prepare_fits_features_on_training_rows_only(mixed_table):
    prepared = prepare(mixed_table, "species", rng=np.random.default_rng(0))
    pre = prepared.encoder.features
    train_sizes = mixed_table["size"].iloc[prepared.split.train].dropna().to_numpy()
    assert pre.columns_[0]["mean"] == float(np.mean(train_sizes))
    assert prepared.encoder.target.classes_ == ["cat", "dog"]
    assert prepared.X_train.shape == (len(prepared.split.train), 1 + 3)
    assert prepared.Y_test.shape == (len(prepared.split.test), 2)
    assert prepared.report.imputed == {"size": 2, "colour": 1}
    assert sum(len(part) for part in prepared.split) == len(mixed_table)


def test_prepare_regression_is_not_stratified_and_scales_target(mixed_table):
    table = mixed_table.assign(size=mixed_table["size"].fillna(10.0))
    prepared = prepare(table[["colour", "species", "size"]], rng=np.random.default_rng(0))
    assert prepared.encoder.target.task_ == "regression"
    assert prepared.Y_train.shape[1] == 1
    all_Y = np.concatenate([prepared.Y_train, prepared.Y_val, prepared.Y_test])
    assert abs(all_Y.mean()) < 1e-12


def test_table_encoder_round_trips_through_json_and_transforms_raw_rows(mixed_table):
    prepared = prepare(mixed_table, "species", rng=np.random.default_rng(0))
    state = json.loads(json.dumps(prepared.encoder.to_dict()))
    encoder = TableEncoder.from_dict(state)
    assert encoder.to_dict() == prepared.encoder.to_dict()
    X, Y, report = encoder.transform(mixed_table.assign(note="ignored"))
    assert np.array_equal(X[prepared.split.test], prepared.X_test)
    assert np.array_equal(Y[prepared.split.test], prepared.Y_test)
    assert report.extra_columns == ["note"]
    X2, Y2, _ = encoder.transform(mixed_table.drop(columns=["species"]))
    assert Y2 is None
    assert np.array_equal(X2, X)


def test_table_encoder_from_dict_rejects_garbage():
    with pytest.raises(ValueError, match="not a TableEncoder state"):
        TableEncoder.from_dict({"features": {}})


def test_prepare_on_the_bundled_digits():
    prepared = prepare(read_csv(digits_path()), rng=np.random.default_rng(0))
    assert prepared.encoder.target.classes_ == list(range(10))
    assert prepared.X_train.shape[1] == 64
    assert prepared.Y_train.shape[1] == 10
    assert np.isfinite(prepared.X_train).all()


def test_csv_with_strings_and_gaps_survives_a_model_file(tmp_path):
    pytest.importorskip("safetensors")
    import bprop

    cities = ["Oslo", "Lima", "Pune", ""]  # every 4th city missing
    rows = ["height,city,member,label"] + [
        f"{150 + i % 37 if i % 11 else ''},{cities[i % 4]},{i % 3 == 0},{'yes' if i % 2 else 'no'}" for i in range(80)
    ]
    prepared = prepare(read_csv(write(tmp_path, "\n".join(rows) + "\n")), rng=np.random.default_rng(0))
    assert prepared.report.imputed == {"height": 8, "city": 20}
    assert prepared.encoder.target.classes_ == ["no", "yes"]
    net = bprop.mlp([prepared.X_train.shape[1], 3, 2], activation="tanh", output_activation="softmax", seed=0)
    path = bprop.save(net, tmp_path / "m.safetensors", preprocessing=prepared.encoder.to_dict())
    model = bprop.load(path)
    encoder = TableEncoder.from_dict(model.preprocessing)
    new = read_csv(write(tmp_path, "id,member,city,height\n7,False,Rome,\n8,True,Lima,160\n", "new.csv"))
    X, Y, report = encoder.transform(new)
    assert Y is None
    assert report.extra_columns == ["id"]
    assert report.unknown == {"city": 1}
    assert np.array_equal(model.net.forward(X), net.forward(prepared.encoder.features.transform(new)))
    assert set(encoder.target.inverse_transform(model.net.forward(X)).tolist()) <= {"yes", "no"}


# -- types, pipes, damaged archives, empty batches, wide and mostly-numeric columns --------------------


def _feed(path_or_fd, payload: bytes) -> threading.Thread:
    """Write ``payload`` into a pipe (fd) or FIFO (path) from another thread, as a shell would."""

    def write():
        with open(path_or_fd, "wb") as f:
            f.write(payload)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def _rows_text(n: int) -> str:
    return "x,y,label\n" + "".join(f"{i},{i * 0.5},{'ab'[i % 2]}\n" for i in range(n))


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_read_csv_reads_a_pipe_whole_with_its_header(compress):
    text = _rows_text(3000)  # about 40 KiB: far beyond the 8 KiB binary-content sniff
    payload = gzip.compress(text.encode()) if compress else text.encode()
    read_end, write_end = os.pipe()
    feeder = _feed(write_end, payload)
    try:
        table = read_csv(f"/dev/fd/{read_end}")
    finally:
        feeder.join()
        os.close(read_end)
    assert list(table.columns) == ["x", "y", "label"]
    assert table["x"].tolist() == list(range(3000))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_read_csv_reads_a_named_pipe_whole(tmp_path):
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    feeder = _feed(fifo, _rows_text(2000).encode())
    table = read_csv(fifo)
    feeder.join()
    assert list(table.columns) == ["x", "y", "label"]
    assert len(table) == 2000


def _truncated(module, text: bytes) -> bytes:
    packed = module.compress(text)
    return packed[: len(packed) // 2]


DAMAGED = {
    "truncated.csv.gz": _truncated(gzip, _rows_text(2000).encode()),
    "truncated.csv.bz2": _truncated(bz2, _rows_text(2000).encode()),
    "truncated.csv.xz": _truncated(lzma, _rows_text(2000).encode()),
    "garbage.csv.gz": b"this is no archive " * 20,
    "garbage.csv.bz2": b"this is no archive " * 20,
    "garbage.csv.xz": b"this is no archive " * 20,
    "garbage.csv.zip": b"this is no archive " * 20,
}


@pytest.mark.parametrize("name", DAMAGED)
def test_read_csv_damaged_archives_are_one_clear_error(tmp_path, name):
    path = write(tmp_path, DAMAGED[name], name)
    with pytest.raises(ValueError, match=rf"'.*{name}' is damaged: it is not a complete \w+ file .*again") as info:
        read_csv(path)
    assert "\n" not in str(info.value)


def test_read_csv_zst_is_damaged_or_needs_zstandard(tmp_path):
    path = write(tmp_path, b"this is no archive " * 20, "garbage.csv.zst")
    try:
        import zstandard  # noqa: F401

        match = "is damaged"
    except ImportError:
        match = "needs the zstandard package: pip install zstandard"
    with pytest.raises(ValueError, match=match):
        read_csv(path)


def test_read_csv_decimal_comma_semicolon_file(tmp_path):
    path = write(tmp_path, "weight;colour;y\n1,5;red;0\n2,25;blue;1\n")
    table = read_csv(path, decimal=",")
    assert table["weight"].tolist() == [1.5, 2.25]
    assert table.attrs["decimal"] == ","
    with pytest.raises(ValueError, match="decimal must be '.' or ','"):
        read_csv(path, decimal=";")


def test_empty_columns_are_read_and_refused_only_when_fitting(tmp_path):
    table = read_csv(write(tmp_path, "a,empty,b\n1,,2\n3,,4\n"))
    assert table["empty"].isna().all()
    with pytest.raises(ValueError, match=r"column\(s\) \['empty'\] are entirely empty; delete them"):
        prepare(table, "b", rng=np.random.default_rng(0))


def _codes_table(n=120):
    """Codes with leading zeros (and one that is not a number) decide the label; a TRUE/FALSE flag."""
    codes = ["007", "042", "105", "A13"]
    rows = ["code,flag,size,label"]
    for i in range(n):
        rows.append(f"{codes[i % 4]},{'TRUE' if i % 3 else 'FALSE'},{i % 7},{'yes' if i % 4 < 2 else 'no'}")
    return "\n".join(rows) + "\n"


def test_new_files_are_read_with_the_types_seen_at_fit(tmp_path):
    prepared = prepare(read_csv(write(tmp_path, _codes_table())), "label", rng=np.random.default_rng(0))
    encoder = TableEncoder.from_dict(json.loads(json.dumps(prepared.encoder.to_dict())))
    # Only number-like codes: pandas alone would read 007 as the number 7, unseen at fit.
    new = write(tmp_path, "code,flag,size\n007,TRUE,1\n042,FALSE,2\n105,TRUE,3\n", "new.csv")
    X, _, report = encoder.transform(read_csv(new, **encoder.read_options()))
    assert report.unknown == {}
    assert X[:, prepared.encoder.features.output_names.index("code=007")].tolist() == [1, 0, 0]
    assert X[:, prepared.encoder.features.output_names.index("flag=True")].tolist() == [1, 0, 1]
    assert encoder.read_options() == {"decimal": ".", "dtype": {"code": str, "label": str}}


def test_string_labels_are_read_as_text_too(tmp_path):
    text = "x,grade\n" + "".join(f"{i},{['01', '02', 'X'][i % 3]}\n" for i in range(60))
    prepared = prepare(read_csv(write(tmp_path, text)), rng=np.random.default_rng(0))
    encoder = prepared.encoder
    assert encoder.target.classes_ == ["01", "02", "X"]
    new = read_csv(write(tmp_path, "x,grade\n1,01\n2,02\n", "new.csv"), **encoder.read_options())
    _, Y, _ = encoder.transform(new)
    assert Y.tolist() == [[1, 0, 0], [0, 1, 0]]


def test_a_batch_with_an_empty_column_is_imputed_with_training_statistics(tmp_path, mixed_table):
    prepared = prepare(mixed_table, "species", rng=np.random.default_rng(0))
    encoder = prepared.encoder
    batch = read_csv(write(tmp_path, "size,colour,unused\n,red,\n", "one.csv"), **encoder.read_options())
    X, _, report = encoder.transform(batch)
    size = encoder.features.columns_[0]
    assert X[0, 0] == (size["fill"] - size["mean"]) / size["scale"]
    assert report.imputed == {"size": 1}
    assert report.extra_columns == ["unused"]


def test_prepare_leaves_out_id_columns_and_records_it(mixed_table):
    table = mixed_table.assign(id=[f"row{i}" for i in range(len(mixed_table))])
    prepared = prepare(table, "species", rng=np.random.default_rng(0))
    assert prepared.encoder.features.feature_names == ["size", "colour"]
    assert prepared.report.left_out == ["id"]
    assert any("left out 1 string column(s)" in line and "['id']" in line for line in prepared.report.notices())
    state = prepared.encoder.to_dict()["features"]
    assert state["left_out"] == ["id"]
    assert state["keep_high_cardinality"] is False
    kept = prepare(table, "species", rng=np.random.default_rng(0), keep_high_cardinality=True)
    assert kept.encoder.features.feature_names == ["size", "colour", "id"]
    assert kept.X_train.shape[1] == prepared.X_train.shape[1] + len(kept.split.train)


def test_prepare_refuses_a_table_too_large_for_memory(mixed_table, monkeypatch):
    import bprop.memory

    monkeypatch.setattr(bprop.memory, "available_bytes", lambda: 1000)
    with pytest.raises(
        ValueError, match=r"encoding 120 rows into 4 inputs needs about .*; leave out .*'colour' \(3 values\)"
    ):
        prepare(mixed_table, "species", rng=np.random.default_rng(0))


def test_prepare_refuses_a_numeric_target_with_stray_text(mixed_table):
    price = [f"{v:.2f}" for v in mixed_table["size"].fillna(1.0)]
    price[4] = "call us"
    with pytest.raises(ValueError, match="target column 'price' looks numeric .* 'call us'"):
        prepare(mixed_table.assign(price=price), "price", rng=np.random.default_rng(0))
    price = [f"{v:.2f}".replace(".", ",") for v in mixed_table["size"].fillna(1.0)]
    with pytest.raises(ValueError, match="target column 'price' holds numbers written with a decimal comma"):
        prepare(mixed_table.assign(price=price), "price", rng=np.random.default_rng(0))


def test_table_encoder_from_dict_rejects_a_target_that_is_also_a_feature(mixed_table):
    state = prepare(mixed_table, "species", rng=np.random.default_rng(0)).encoder.to_dict()
    state["target"]["column"] = "size"
    with pytest.raises(ValueError, match="target column 'size' is also a feature column"):
        TableEncoder.from_dict(state)


def test_whole_numbers_written_with_leading_zeros_are_read_as_text(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("code,amount,label\n007,5,01\n042,,02\n100,7,10\n")
    table = read_csv(path)
    assert table["code"].tolist() == ["007", "042", "100"]
    assert table["label"].tolist() == ["01", "02", "10"]
    assert table["amount"].dtype.kind == "f"  # a number without leading zeros stays a number


def test_whole_numbers_without_leading_zeros_stay_numbers(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("count,zero,label\n7,0,1\n42,0,2\n100,0,3\n")
    table = read_csv(path)
    assert [table[c].dtype.kind for c in table.columns] == ["i", "i", "i"]
