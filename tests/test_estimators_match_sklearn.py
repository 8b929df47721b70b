"""bprop's estimators compute what scikit-learn's do: same weights in, same training out."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from numpy.testing import assert_allclose  # noqa: E402
from sklearn.neural_network import MLPClassifier as SklearnClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SklearnRegressor  # noqa: E402

from bprop.estimators.mlp import MLPClassifier, MLPRegressor  # noqa: E402
from estimator_support import small  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# -- same computation as scikit-learn ----------------------------------------------------------------


def copy_sklearn_weights(ours, theirs):
    for W, W_sk in zip(ours.coefs_, theirs.coefs_):
        W[...] = W_sk
    for b, b_sk in zip(ours.intercepts_, theirs.intercepts_):
        b[...] = b_sk


@pytest.mark.parametrize(
    ("ours", "theirs", "params"),
    [
        (MLPClassifier, SklearnClassifier, dict(solver="adam", alpha=0.5)),
        # With momentum the two SGDs differ once the rate changes (bprop scales the velocity by today's rate).
        (MLPRegressor, SklearnRegressor, dict(solver="sgd", alpha=0.3, learning_rate="invscaling", momentum=0.0)),
        (MLPClassifier, SklearnClassifier, dict(solver="sgd", alpha=0.1, nesterovs_momentum=False)),
    ],
)
def test_from_the_same_weights_training_matches_scikit_learn(ours, theirs, params, iris, regression):
    """Same start, full batch, no shuffling: loss (with alpha's penalty), optimiser and schedule agree."""
    X, y = iris if ours is MLPClassifier else (regression[0], regression[1][:, 0])
    common = dict(hidden_layer_sizes=(6,), random_state=0, shuffle=False, warm_start=True, max_iter=1, **params)
    sk = theirs(**common).fit(X, y)
    bp = ours(dtype="float64", **common).fit(X, y)
    copy_sklearn_weights(bp, sk)
    sk.set_params(max_iter=15).fit(X, y)
    bp.set_params(max_iter=15).fit(X, y)
    # The epoch loss adds the penalty at the epoch's end (scikit-learn: at its start), hence rtol 1e-3.
    assert_allclose(bp.loss_curve_[1:], sk.loss_curve_[1:], rtol=1e-3)
    # Adam's ε sits on the bias-corrected v̂ in bprop (as in the paper), on raw v in scikit-learn.
    for W, W_sk in zip(bp.coefs_ + bp.intercepts_, sk.coefs_ + sk.intercepts_):
        assert_allclose(W, W_sk, rtol=1e-4, atol=1e-5)


def test_lbfgs_matches_scikit_learn_from_the_same_weights(iris):
    X, y = iris
    common = dict(hidden_layer_sizes=(5,), random_state=0, solver="lbfgs", alpha=0.01, warm_start=True)
    sk = SklearnClassifier(max_iter=1, **common).fit(X, y)
    bp = MLPClassifier(max_iter=1, **common).fit(X, y)
    copy_sklearn_weights(bp, sk)
    sk.set_params(max_iter=8).fit(X, y)
    bp.set_params(max_iter=8).fit(X, y)
    assert bp.loss_ == pytest.approx(sk.loss_, rel=1e-6)
    assert bp.n_iter_ == sk.n_iter_ == 8
    assert bp.stop_reason_ == "max_iter"


@pytest.mark.parametrize("early_stopping", [False, True])
def test_stopping_rule_is_scikit_learns(early_stopping, iris):
    """tol so large that nothing counts as progress: both stop after the same number of epochs."""
    X, y = iris
    params = dict(hidden_layer_sizes=(5,), random_state=0, tol=1e3, n_iter_no_change=3, early_stopping=early_stopping)
    sk = SklearnClassifier(**params).fit(X, y)
    bp = MLPClassifier(**params).fit(X, y)
    assert bp.n_iter_ == sk.n_iter_ == 5
    assert bp.stop_reason_ == "no_improvement"


def test_adaptive_learning_rate_divides_by_five_then_stops(iris):
    X, y = iris
    params = dict(solver="sgd", learning_rate="adaptive", tol=1e3, n_iter_no_change=2, learning_rate_init=0.01)
    bp = small(MLPClassifier, max_iter=100, **params).fit(X, y)
    lr = np.array(bp.history_.lr)
    # Reduced after epoch 4 (count 3 > 2), then every 3 epochs until the rate is at most 1e-6.
    assert_allclose(lr[:4], 0.01)
    assert_allclose(lr[4:7], 0.002)
    assert_allclose(lr[7:10], 0.0004)
    sk = SklearnClassifier(hidden_layer_sizes=(8,), random_state=0, max_iter=100, **params).fit(X, y)
    assert bp.n_iter_ == sk.n_iter_
    assert bp.stop_reason_ == "no_improvement"


def test_invscaling_rate_follows_samples_seen(iris):
    X, y = iris
    bp = small(MLPClassifier, solver="sgd", learning_rate="invscaling", power_t=0.5, max_iter=4).fit(X, y)
    n = X.shape[0]
    assert_allclose(bp.history_.lr, [0.001 / np.sqrt(e * n + 1) for e in range(4)])
