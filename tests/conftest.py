import json
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def worked_example() -> dict:
    """The seed's reference values (a copy of shared/reference/worked_example.json)."""
    return json.loads((DATA / "worked_example.json").read_text())


@pytest.fixture(scope="session")
def iris():
    """Standardised iris (scikit-learn's bundled copy), for the estimator tests."""
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="session")
def regression():
    """A small two-output regression problem with unit-scale targets."""
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=80, n_features=4, n_targets=2, noise=0.1, random_state=0)
    return X, y / y.std(axis=0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


# Hypothesis: a small, deterministic profile so the fuzz tests stay within the suite's time budget.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "bprop", max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("bprop")
