"""The bundled 8×8 digits: shape, values, agreement with scikit-learn's copy, packaging."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from bprop.tables.datasets import DIGITS_TARGET, digits_path, load_digits


def test_arrays_have_the_documented_shape_and_values():
    X, y = load_digits()
    assert X.shape == (1797, 64)
    assert X.dtype == np.float64
    assert y.shape == (1797,)
    assert y.dtype == np.int64
    assert X.min() == 0
    assert X.max() == 16
    assert np.array_equal(X, np.round(X))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_frame_has_pixel_columns_then_label():
    pytest.importorskip("pandas")
    frame = load_digits(as_frame=True)
    assert frame.shape == (1797, 65)
    assert list(frame.columns[:2]) == ["pixel_0_0", "pixel_0_1"]
    assert frame.columns[-1] == DIGITS_TARGET
    X, y = load_digits()
    assert np.array_equal(frame.iloc[:, :-1].to_numpy(), X)
    assert np.array_equal(frame[DIGITS_TARGET], y)


def test_identical_to_scikit_learns_copy():
    datasets = pytest.importorskip("sklearn.datasets")
    reference = datasets.load_digits()
    X, y = load_digits()
    assert np.array_equal(X, reference.data)
    assert np.array_equal(y, reference.target)


def test_file_is_small_and_declared_as_package_data():
    path = digits_path()
    assert path.name == "digits.csv.gz"
    assert path.stat().st_size < 100_000
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    package_data = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["bprop"]
    assert any(Path("tables", "datasets", path.name).match(pattern) for pattern in package_data)
