"""TargetEncoder and task detection: labels kept as labels, one-hot, scaling, errors, JSON round trip."""

import json

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from bprop.tables.targets import MAX_AUTO_CLASSES, TargetEncoder, detect_task  # noqa: E402


@pytest.mark.parametrize(
    "values,task",
    [
        (["cat", "dog", "cat"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 9, 3], "classification"),
        ([1.0, 2.0, 1.0], "classification"),  # whole numbers stored as floats
        (list(range(MAX_AUTO_CLASSES)), "classification"),
        (list(range(MAX_AUTO_CLASSES + 1)), "regression"),  # too many distinct integers
        ([0.5, 1.25, 3.0], "regression"),
    ],
)
def test_detect_task_rules(values, task):
    assert detect_task(pd.Series(values)) == task


def test_string_labels_stay_strings_one_hot_and_back():
    y = pd.Series(["setosa", "virginica", "setosa", "versicolor"], name="species")
    enc = TargetEncoder().fit(y)
    assert enc.task_ == "classification"
    assert enc.name_ == "species"
    assert enc.classes_ == ["setosa", "versicolor", "virginica"]
    Y = enc.transform(y)
    assert Y.tolist() == [[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]]
    assert enc.n_outputs == 3
    labels = enc.inverse_transform(Y * 0.8 + 0.05)
    assert labels.tolist() == y.tolist()
    assert all(type(label) is str for label in labels)


def test_integer_labels_stay_integers():
    enc = TargetEncoder().fit(np.array([3, 1, 2, 1]))
    assert enc.classes_ == [1, 2, 3]
    assert all(type(c) is int for c in enc.classes_)
    assert enc.encode_labels([3, 1]).tolist() == [2, 0]
    out = enc.inverse_transform(np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]]))
    assert out.tolist() == [3, 1]
    assert out.dtype.kind == "i"


def test_forced_classification_of_numbers_and_boolean_labels():
    enc = TargetEncoder("classification").fit(pd.Series([0.5, 1.5, 0.5]))
    assert enc.classes_ == [0.5, 1.5]
    enc = TargetEncoder().fit(pd.Series([True, False, True]))
    assert enc.classes_ == [False, True]
    assert enc.inverse_transform([[0.2, 0.8]]).tolist() == [True]


def test_regression_targets_are_standardised_and_mapped_back():
    y = pd.Series([10.5, 20.25, 30.0, 41.0], name="price")
    enc = TargetEncoder("regression").fit(y)
    Y = enc.transform(y)
    assert Y.shape == (4, 1)
    assert abs(Y.mean()) < 1e-12
    assert abs(Y.std() - 1) < 1e-12
    assert np.allclose(enc.inverse_transform(Y), y.to_numpy(), rtol=0, atol=1e-12)
    assert enc.n_outputs == 1
    raw = TargetEncoder("regression", scale_regression=False).fit(y)
    assert raw.transform(y).ravel().tolist() == y.tolist()


def test_error_target_with_one_class():
    with pytest.raises(ValueError, match="target column 'label' has a single class 'yes'; .* at least two"):
        TargetEncoder().fit(pd.Series(["yes", "yes"], name="label"))


def test_error_non_numeric_target_for_regression():
    with pytest.raises(ValueError, match="'label' is not numeric .* task is regression; use task 'classification'"):
        TargetEncoder("regression").fit(pd.Series(["a", "b"], name="label"))


def test_error_missing_values_in_target():
    y = pd.Series([1.0, np.nan, 2.0, np.nan], name="t")
    with pytest.raises(
        ValueError, match=r"target column 't' has 2 missing value\(s\) \(e.g. at row index 1, 3\); remove"
    ):
        TargetEncoder().fit(y)
    enc = TargetEncoder().fit(pd.Series([1, 2], name="t"))
    with pytest.raises(ValueError, match="has 2 missing value"):
        enc.transform(y)


def test_error_label_unseen_at_fit():
    enc = TargetEncoder().fit(pd.Series(["a", "b"], name="t"))
    with pytest.raises(
        ValueError, match=r"label\(s\) 'zebra' that the model was not trained on; known classes: \['a', 'b'\]"
    ):
        enc.transform(pd.Series(["a", "zebra"]))


def test_other_errors():
    with pytest.raises(ValueError, match="task must be one of"):
        TargetEncoder("clustering")
    with pytest.raises(ValueError, match="not fitted yet"):
        TargetEncoder().transform([1, 2])
    with pytest.raises(ValueError, match="one column"):
        TargetEncoder().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="infinite"):
        TargetEncoder("regression").fit([1.0, np.inf])
    enc = TargetEncoder().fit(["a", "b", "c"])
    with pytest.raises(ValueError, match=r"outputs must have shape \(n_samples, 3\), got \(2, 2\)"):
        enc.inverse_transform(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="encode_labels is for classification"):
        TargetEncoder("regression").fit([1.0, 2.0]).encode_labels([1.0])


@pytest.mark.parametrize(
    "values,task",
    [
        (["b", "a", "c"], "auto"),
        ([7, 3, 5], "auto"),
        ([0.5, 1.5], "classification"),
        ([True, False], "auto"),
        ([0.1, 0.7, 2.9], "regression"),
    ],
)
def test_state_round_trips_exactly_through_json(values, task):
    enc = TargetEncoder(task).fit(pd.Series(values, name="y"))
    again = TargetEncoder.from_dict(json.loads(json.dumps(enc.to_dict(), allow_nan=False)))
    assert again.to_dict() == enc.to_dict()
    assert [type(c) for c in again.classes_ or []] == [type(c) for c in enc.classes_ or []]
    outputs = np.random.default_rng(0).normal(size=(6, enc.n_outputs))
    assert enc.inverse_transform(outputs).tolist() == again.inverse_transform(outputs).tolist()


def test_from_dict_rejects_garbage():
    with pytest.raises(ValueError, match="TargetEncoder state has missing field"):
        TargetEncoder.from_dict({"type": "TargetEncoder"})
    with pytest.raises(ValueError, match="not a TargetEncoder state"):
        TargetEncoder.from_dict(["TargetEncoder"])


# -- state checks, overflowing targets, labels read as text --------------------------------------------

BAD_STATES = {
    "column not a string": (["a", "b"], {"column": 3}, "'column' must be a string"),
    "classes not a list": (["a", "b"], {"classes": "ab"}, "'classes' must be a list of at least 2"),
    "a single class": (["a", "b"], {"classes": ["a"]}, "'classes' must be a list of at least 2"),
    "classes repeated": (["a", "b"], {"classes": ["a", "a"]}, "distinct values in ascending order"),
    "classes swapped": (["a", "b"], {"classes": ["b", "a"]}, "distinct values in ascending order"),
    "classes of mixed types": ([1, 2], {"classes": [1, "2"]}, "'classes' must hold values of one type"),
    "classes of objects": ([1, 2], {"classes": [{}, {}]}, "'classes' must hold values of one type"),
    "classes for regression": ([0.5, 1.5], {"classes": [1, 2]}, "'classes' must be null for a regression"),
    "scale zero": ([0.5, 1.5], {"scale": 0.0}, "'scale' must be above 0"),
    "scale a string": ([0.5, 1.5], {"scale": "1"}, "'scale' must be a finite number"),
    "mean null": ([0.5, 1.5], {"mean": None}, "'mean' must be a finite number"),
    "task unknown": ([0.5, 1.5], {"task": "ranking"}, "'task' must be 'classification' or 'regression'"),
    "extra field": ([0.5, 1.5], {"unit": "m"}, "unknown field(s) ['unit']"),
}


@pytest.mark.parametrize("case", BAD_STATES)
def test_from_dict_checks_every_field(case):
    import re

    values, edit, match = BAD_STATES[case]
    task = "regression" if isinstance(values[0], float) else "classification"
    state = TargetEncoder(task).fit(pd.Series(values, name="y")).to_dict()
    state.update(edit)
    with pytest.raises(ValueError, match=re.escape(match)):
        TargetEncoder.from_dict(state)


@pytest.mark.parametrize("peak", [1e155, 1e300, -1e200])
def test_regression_targets_whose_squares_overflow_are_refused_with_the_fix(peak):
    y = pd.Series([1.0, 2.0, peak, 3.0], name="wealth")
    with pytest.raises(ValueError, match=r"'wealth' has values as large as .* overflow float64 .* divide it by 1e\+"):
        TargetEncoder("regression").fit(y)
    TargetEncoder("regression").fit(y / 1e150)  # well within range once scaled


def test_string_labels_are_read_back_as_text_but_booleans_and_numbers_are_not():
    assert TargetEncoder().fit(pd.Series(["007", "042", "x"])).reads_as_text
    assert not TargetEncoder().fit(pd.Series([True, False])).reads_as_text
    assert not TargetEncoder().fit(pd.Series(["True", "False"])).reads_as_text
    assert not TargetEncoder().fit(pd.Series([7, 42])).reads_as_text
    assert not TargetEncoder().fit(pd.Series([0.5, 1.5, 2.5])).reads_as_text
