"""Preprocessor: scaling, one-hot, imputation, column matching, exact JSON round trip."""

import json

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from bprop.preprocessing import Preprocessor, label_str  # noqa: E402


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "x": [0.1, 0.2, 0.7, np.nan, 1.9],
            "n": [3, 3, 3, 3, 3],  # constant
            "c": ["b", "a", np.nan, "b", "c"],
        }
    )


def test_numeric_columns_are_imputed_then_standardised_with_training_stats(table):
    pre = Preprocessor().fit(table)
    X = pre.transform(table)
    observed = np.array([0.1, 0.2, 0.7, 1.9])
    mean, std, median = observed.mean(), observed.std(), np.median(observed)
    assert pre.columns_[0] == {"name": "x", "kind": "numeric", "mean": mean, "scale": std, "fill": median}
    expected = (np.array([0.1, 0.2, 0.7, median, 1.9]) - mean) / std
    assert np.array_equal(X[:, 0], expected)
    assert X.dtype == np.float64


def test_constant_column_maps_to_zero_without_dividing_by_zero(table):
    X = Preprocessor().fit_transform(table)
    assert np.array_equal(X[:, 1], np.zeros(5))


def test_categorical_columns_are_one_hot_over_sorted_categories_and_imputed_by_mode(table):
    pre = Preprocessor().fit(table)
    assert pre.output_names == ["x", "n", "c=a", "c=b", "c=c"]
    assert pre.n_outputs == 5
    X = pre.transform(table)
    # rows: b, a, <missing → most frequent "b">, b, c
    assert X[:, 2:].tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_mode_ties_go_to_the_smallest_category():
    pre = Preprocessor().fit(pd.DataFrame({"c": ["z", "y", "z", "y"]}))
    assert pre.columns_[0]["fill"] == "y"


def test_report_counts_imputed_unknown_and_extra(table):
    pre = Preprocessor().fit(table)
    new = pd.DataFrame({"extra": [1, 2], "c": ["a", "purple"], "x": [np.nan, np.nan], "n": [3, np.nan]})
    X, report = pre.transform_with_report(new)
    assert report.n_rows == 2
    assert report.imputed == {"x": 2, "n": 1}
    assert report.n_imputed == 3
    assert report.unknown == {"c": 1}
    assert report.extra_columns == ["extra"]
    assert X[1, 2:].tolist() == [0, 0, 0]  # unknown category → all zeros
    notices = report.notices()
    assert any("imputed 3 missing value(s)" in line for line in notices)
    assert any("1 unseen category" in line for line in notices)
    assert any("ignored 1 column(s)" in line and "extra" in line for line in notices)


def test_clean_data_gives_no_notices(table):
    clean = table.fillna({"x": 1.0, "c": "a"})
    _, report = Preprocessor().fit(clean).transform_with_report(clean)
    assert report.notices() == [] and report.n_imputed == 0


def test_columns_are_matched_by_name_not_position(table):
    pre = Preprocessor().fit(table)
    assert np.array_equal(pre.transform(table[["c", "x", "n"]]), pre.transform(table))


def test_missing_feature_column_is_named(table):
    pre = Preprocessor().fit(table)
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['c'\]; the model was trained on columns"):
        pre.transform(table.drop(columns=["c"]))


def test_numeric_column_read_as_text(table):
    pre = Preprocessor().fit(table)
    as_text = table.assign(x=["0.1", "0.2", "0.7", None, "1.9"])
    assert np.array_equal(pre.transform(as_text), pre.transform(table))
    with pytest.raises(ValueError, match="column 'x' was numeric .* contains 'oops'"):
        pre.transform(table.assign(x=["0.1", "oops", "0.7", None, "1.9"]))


def test_categories_read_as_numbers_still_match():
    pre = Preprocessor().fit(pd.DataFrame({"code": ["1", "2", "x"]}))
    # pandas reads a column of "1", "2" with a gap as floats 1.0, 2.0, NaN.
    X = pre.transform(pd.DataFrame({"code": [1.0, 2.0, np.nan]}))
    assert X.tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 0]]
    assert label_str(3.0) == "3" and label_str(2.5) == "2.5" and label_str("a") == "a"


@pytest.mark.parametrize(
    "features,match",
    [
        (pd.DataFrame({"x": [1.0, 2.0], "e": [np.nan, np.nan]}), "column 'e' is entirely empty"),
        (pd.DataFrame({"x": [1.0, np.inf]}), "column 'x' contains infinite values"),
        (pd.DataFrame({0: [1.0, 2.0]}), "column names must be strings, got 0"),
        (pd.DataFrame(index=range(3)), "features has no columns"),
        (pd.DataFrame({"x": []}), "features has no rows"),
        (np.zeros((2, 2)), "features must be a pandas DataFrame, got ndarray"),
    ],
)
def test_fit_rejects_bad_features(features, match):
    with pytest.raises(ValueError, match=match):
        Preprocessor().fit(features)


def test_transform_rejects_infinite_values_and_unfitted_use(table):
    with pytest.raises(ValueError, match="not fitted yet; call fit"):
        Preprocessor().transform(table)
    pre = Preprocessor().fit(table)
    with pytest.raises(ValueError, match="column 'x' contains infinite values"):
        pre.transform(table.assign(x=np.inf))


def test_state_round_trips_exactly_through_json(table):
    pre = Preprocessor().fit(table)
    state = pre.to_dict()
    text = json.dumps(state, allow_nan=False)
    again = Preprocessor.from_dict(json.loads(text))
    assert again.to_dict() == state
    stats = state["columns"][0]
    assert all(type(stats[k]) is float for k in ("mean", "scale", "fill"))
    new = table.assign(x=[5.5, -1.25, np.nan, 0.3, 1e-7], c=["c", "q", "a", np.nan, "b"])
    assert pre.transform(new).tobytes() == again.transform(new).tobytes()


@pytest.mark.parametrize(
    "state",
    [
        {"type": "Scaler", "columns": []},
        {"type": "Preprocessor"},
        {"type": "Preprocessor", "columns": [{"name": "x", "kind": "numeric", "mean": 0.0}]},
        {"type": "Preprocessor", "columns": [{"name": "x", "kind": "weird", "fill": 0.0}]},
    ],
)
def test_from_dict_rejects_malformed_state(state):
    with pytest.raises(ValueError, match="Preprocessor state"):
        Preprocessor.from_dict(state)
