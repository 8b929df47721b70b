"""Preprocessor: scaling, one-hot, imputation, column matching, exact JSON round trip."""

import json
import re

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from bprop.tables.preprocessing import MAX_CATEGORIES, Preprocessor, label_str  # noqa: E402


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
    assert report.notices() == []
    assert report.n_imputed == 0


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
    assert label_str(3.0) == "3"
    assert label_str(2.5) == "2.5"
    assert label_str("a") == "a"


@pytest.mark.parametrize(
    "cells",
    [
        ["b", None, "True", "zz", "a", "b"],  # text: one label per distinct cell
        [True, None, False, True, True, False],  # True/False
        [True, 1, 1.0, "1", None, "True"],  # mixed cells a hash table would merge (True == 1 == 1.0)
    ],
)
def test_one_hot_matches_labelling_cell_by_cell(cells):
    pre = Preprocessor().fit(pd.DataFrame({"c": ["a", "b", "True", "1", "a"]}))
    X = pre.transform(pd.DataFrame({"c": pd.Series(cells, dtype=object)}))
    categories = pre.columns_[0]["categories"]
    fill = pre.columns_[0]["fill"]
    labels = [fill if cell is None else label_str(cell) for cell in cells]
    expected = [[float(label == category) for category in categories] for label in labels]
    assert X.tolist() == expected


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


# -- column types, decimal commas, left-out columns, huge values, state checks -------------------------


def test_a_mostly_numeric_column_with_stray_text_is_refused_by_name():
    weights = [str(0.5 * i) for i in range(40)]
    weights[3], weights[17] = "n/a", "heavy"
    with pytest.raises(ValueError, match=r"column 'weight' looks numeric \(38 of its 40 .* 'n/a', 'heavy'; fix"):
        Preprocessor().fit(pd.DataFrame({"weight": weights}))


def test_decimal_commas_ask_for_decimal_comma_and_are_read_with_it():
    text = pd.DataFrame({"weight": [f"{i},5" for i in range(30)]})
    with pytest.raises(ValueError, match=r"column 'weight' holds numbers written with a decimal comma \(e.g. '0,5'\)"):
        Preprocessor().fit(text)
    pre = Preprocessor(decimal=",").fit(pd.DataFrame({"weight": [0.5 + i for i in range(30)]}))
    # A stray word makes pandas keep a column as text: its numbers still read with the stored separator.
    X = pre.transform(pd.DataFrame({"weight": ["1,5", "2,5", None]}))
    assert np.array_equal(X, pre.transform(pd.DataFrame({"weight": [1.5, 2.5, np.nan]})))
    assert Preprocessor.from_dict(pre.to_dict()).decimal == ","


def test_codes_with_leading_zeros_and_word_columns_stay_categorical():
    codes = ["007", "042", "105", "A13"] * 10
    pre = Preprocessor().fit(pd.DataFrame({"code": codes, "word": ["1", "2", "x"] * 10 + ["y"] * 10}))
    assert pre.output_names[:4] == ["code=007", "code=042", "code=105", "code=A13"]
    assert pre.text_columns == ["code", "word"]


@pytest.mark.parametrize(
    "n_rows,n_distinct,left_out",
    [
        (2 * MAX_CATEGORIES + 10, MAX_CATEGORIES + 1, True),  # over 1,000 distinct values
        (2 * MAX_CATEGORIES + 10, MAX_CATEGORIES, False),
        (100, 51, True),  # more distinct values than half the rows
        (100, 50, False),
        (30, 20, False),  # few distinct values: kept, however small the table
    ],
)
def test_high_cardinality_string_columns_are_left_out(n_rows, n_distinct, left_out):
    table = pd.DataFrame({"x": np.arange(n_rows, dtype=float), "id": [f"k{i % n_distinct}" for i in range(n_rows)]})
    pre = Preprocessor().fit(table)
    assert pre.left_out_ == (["id"] if left_out else [])
    assert pre.feature_names == (["x"] if left_out else ["x", "id"])
    assert Preprocessor(keep_high_cardinality=True).fit(table).feature_names == ["x", "id"]


def test_left_out_columns_are_not_required_and_are_named_when_present():
    table = pd.DataFrame({"x": np.arange(100.0), "id": [f"k{i}" for i in range(100)]})
    pre = Preprocessor.from_dict(json.loads(json.dumps(Preprocessor().fit(table).to_dict())))
    assert pre.to_dict()["left_out"] == ["id"]
    assert pre.to_dict()["keep_high_cardinality"] is False
    X, report = pre.transform_with_report(table[["x"]])
    assert X.shape == (100, 1)
    assert report.notices() == []
    _, report = pre.transform_with_report(table)
    assert report.left_out == ["id"]
    assert report.extra_columns == []
    assert "keep_high_cardinality=True" in report.notices()[0]
    with pytest.raises(ValueError, match=r"every feature column was left out .*\['id'\]"):
        Preprocessor().fit(table[["id"]])


def test_huge_finite_values_get_finite_statistics():
    values = np.array([1e300, -2e300, 3e300, 0.0])
    pre = Preprocessor().fit(pd.DataFrame({"x": values}))
    spec = pre.columns_[0]
    unit = values / 1e300  # the same numbers, in range: their statistics scaled back
    assert np.isclose(spec["mean"], unit.mean() * 1e300)
    assert np.isclose(spec["scale"], unit.std() * 1e300)
    X = pre.transform(pd.DataFrame({"x": values}))
    assert np.isfinite(X).all()
    assert np.isclose(X.mean(), 0)
    assert np.isclose(X.std(), 1)


def _state(table):
    return Preprocessor().fit(table).to_dict()


BAD_STATES = {
    "name not a string": (lambda s: s["columns"][0].update(name=["x"]), "'columns[0].name' must be a string"),
    "mean a string": (lambda s: s["columns"][0].update(mean="0.5"), "'columns[0].mean' must be a finite number"),
    "mean null": (lambda s: s["columns"][0].update(mean=None), "'columns[0].mean' must be a finite number"),
    "scale zero": (lambda s: s["columns"][0].update(scale=0.0), "'columns[0].scale' must be above 0"),
    "scale negative": (lambda s: s["columns"][1].update(scale=-1.0), "'columns[1].scale' must be above 0"),
    "fill a bool": (lambda s: s["columns"][0].update(fill=True), "'columns[0].fill' must be a finite number"),
    "categories a string": (
        lambda s: s["columns"][2].update(categories="abc"),
        "'columns[2].categories' must be a list",
    ),
    "categories empty": (lambda s: s["columns"][2].update(categories=[]), "'columns[2].categories' must be a list"),
    "categories numbers": (lambda s: s["columns"][2].update(categories=[1, 2]), "'columns[2].categories' must hold"),
    "categories repeated": (lambda s: s["columns"][2].update(categories=["a", "a", "b"]), "distinct values"),
    "categories swapped": (lambda s: s["columns"][2].update(categories=["b", "a", "c"]), "ascending order"),
    "fill not a category": (lambda s: s["columns"][2].update(fill="z"), "'columns[2].fill' must be one of its"),
    "extra field": (lambda s: s["columns"][0].update(colour="red"), "unknown field(s) ['colour']"),
    "kind unknown": (lambda s: s["columns"][0].update(kind="date"), "'columns[0].kind' must be 'numeric' or"),
    "column not an object": (lambda s: s["columns"].append("x"), "'columns[3].kind' must be"),
    "columns empty": (lambda s: s.update(columns=[]), "'columns' must be a non-empty list"),
    "columns an object": (lambda s: s.update(columns={}), "'columns' must be a non-empty list"),
    "name twice": (lambda s: s["columns"][1].update(name="x"), "names a column twice"),
    "decimal unknown": (lambda s: s.update(decimal=";"), "'decimal' must be '.' or ','"),
    "keep not a bool": (lambda s: s.update(keep_high_cardinality="no"), "'keep_high_cardinality' must be true"),
    "left out a used column": (lambda s: s.update(left_out=["x"]), "'left_out' names used columns"),
    "left out not a list": (lambda s: s.update(left_out="id"), "'left_out' must be a list"),
    "unknown top-level field": (lambda s: s.update(version=2), "unknown field(s) ['version']"),
}


@pytest.mark.parametrize("case", BAD_STATES)
def test_from_dict_checks_every_field(table, case):
    state = _state(table)
    edit, match = BAD_STATES[case]
    edit(state)
    with pytest.raises(ValueError, match=re.escape(match)):
        Preprocessor.from_dict(state)


def test_from_dict_reads_states_written_before_the_new_fields(table):
    state = _state(table)
    old = {"type": "Preprocessor", "columns": state["columns"]}
    pre = Preprocessor.from_dict(old)
    assert pre.decimal == "."
    assert pre.left_out_ == []
    assert pre.keep_high_cardinality is False
    assert np.array_equal(pre.transform(table), Preprocessor.from_dict(state).transform(table))


# -- clip: smooth clipping of standardised numeric values ------------------------------------------------


def test_clip_bounds_standardised_values_smoothly_and_round_trips():
    frame = pd.DataFrame({"x": [0.0] * 98 + [1.0, 100.0]})
    plain, clipped = Preprocessor().fit(frame), Preprocessor(clip=3.0).fit(frame)
    z, c = plain.transform(frame)[:, 0], clipped.transform(frame)[:, 0]
    np.testing.assert_allclose(c, z / np.sqrt(1 + (z / 3) ** 2), rtol=1e-15)
    assert z.max() > 9 and 2.8 < c.max() < 3  # the outlier, ~10 standard deviations out, comes within ±3
    assert abs(c[0] - z[0]) < 1e-3 * abs(z[0])  # small values are nearly untouched
    restored = Preprocessor.from_dict(json.loads(json.dumps(clipped.to_dict())))
    np.testing.assert_array_equal(restored.transform(frame), clipped.transform(frame))
    older = {k: v for k, v in plain.to_dict().items() if k != "clip"}  # states written before clip existed
    assert Preprocessor.from_dict(older).clip is None


@pytest.mark.parametrize("clip", [0, -1, float("inf"), float("nan"), "3"])
def test_clip_must_be_a_positive_finite_number(clip):
    with pytest.raises(ValueError, match="clip"):
        Preprocessor(clip=clip)


@pytest.mark.parametrize("clip", [3.0, 1e-300])
def test_clip_takes_huge_values_to_the_bound_of_their_sign_without_warnings(clip):
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    pre = Preprocessor(clip=clip).fit(frame)
    out = pre.transform(pd.DataFrame({"x": [1e3, 1e200, -1e300, 1.5]}))[:, 0]  # pytest turns warnings to errors
    assert out[0] == pytest.approx(clip, rel=1e-3) and out[1] == clip and out[2] == -clip
    assert np.all(np.abs(out) <= clip)
