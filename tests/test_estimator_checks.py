"""scikit-learn's own API checks over both estimators (``parametrize_with_checks``)."""

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from bprop.estimators.mlp import MLPClassifier, MLPRegressor  # noqa: E402

# The defaults stay as in scikit-learn; only the budget is smaller, so the checks run in seconds.
ESTIMATORS = [
    MLPClassifier(max_iter=100),
    MLPRegressor(max_iter=100),
]

# Some checks fit on purpose with too few iterations to converge.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
