"""read_csv, split_target, split_indices, TableEncoder and prepare."""

import gzip
import json
import os

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from bprop.data import TableEncoder, prepare, read_csv, split_indices, split_target  # noqa: E402
from bprop.datasets import digits_path  # noqa: E402


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# -- read_csv -----------------------------------------------------------------------------------
def test_read_csv_reads_plain_and_gzip(tmp_path):
    text = "x,c,y\n1.5,a,0\n2.5,b,1\n"
    plain = read_csv(write(tmp_path, text))
    with gzip.open(tmp_path / "d.csv.gz", "wt") as f:
        f.write(text)
    packed = read_csv(tmp_path / "d.csv.gz")
    assert list(plain.columns) == ["x", "c", "y"] and plain.shape == (2, 3)
    pd.testing.assert_frame_equal(plain, packed)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_read_csv_reads_semicolon_and_tab_files(tmp_path, sep):
    table = read_csv(write(tmp_path, f"x{sep}y\n1{sep}2\n3{sep}4\n"))
    assert list(table.columns) == ["x", "y"] and table["y"].tolist() == [2, 4]


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
        (b"a,empty,b\n1,,2\n3,,4\n", r"column\(s\) \['empty'\] .* entirely empty"),
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


# -- split_target -------------------------------------------------------------------------------
def test_split_target_defaults_to_last_column_and_lists_columns_when_unknown():
    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "label": [0, 1]})
    features, y = split_target(table)
    assert list(features.columns) == ["a", "b"] and y.name == "label"
    features, y = split_target(table, "a")
    assert list(features.columns) == ["b", "label"] and y.name == "a"
    with pytest.raises(ValueError, match="unknown target column 'lbl'; the columns are: a, b, label"):
        split_target(table, "lbl")
    with pytest.raises(ValueError, match="at least one feature column"):
        split_target(table[["a"]])


# -- split_indices ------------------------------------------------------------------------------
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


# -- prepare and TableEncoder -------------------------------------------------------------------
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
    assert Y2 is None and np.array_equal(X2, X)


def test_table_encoder_from_dict_rejects_garbage():
    with pytest.raises(ValueError, match="not a TableEncoder state"):
        TableEncoder.from_dict({"features": {}})


def test_prepare_on_the_bundled_digits():
    prepared = prepare(read_csv(digits_path()), rng=np.random.default_rng(0))
    assert prepared.encoder.target.classes_ == list(range(10))
    assert prepared.X_train.shape[1] == 64 and prepared.Y_train.shape[1] == 10
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
    assert Y is None and report.extra_columns == ["id"] and report.unknown == {"city": 1}
    assert np.array_equal(model.net.forward(X), net.forward(prepared.encoder.features.transform(new)))
    assert set(encoder.target.inverse_transform(model.net.forward(X)).tolist()) <= {"yes", "no"}
