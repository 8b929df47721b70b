"""bprop.estimators: scikit-learn semantics, partial_fit, warm_start, weights, curves, stopping, integration."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.class_weight import compute_sample_weight  # noqa: E402

import bprop  # noqa: E402
from bprop.estimators.mlp import MLPClassifier, MLPRegressor  # noqa: E402

# Most fits here stop at max_iter on purpose; tests that are about the warning ask for it explicitly.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


from estimator_support import assert_same_weights, small, weights_of  # noqa: E402

# -- partial_fit -----------------------------------------------------------------------------------


def test_partial_fit_needs_classes_on_the_first_call(iris):
    X, y = iris
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        MLPClassifier().partial_fit(X, y)


def test_partial_fit_epochs_equal_one_fit(iris):
    """Documented: each call is one epoch that continues weights and optimiser state (full batch here)."""
    X, y = iris
    incremental = small(MLPClassifier, shuffle=False)
    for _ in range(6):
        incremental.partial_fit(X, y, classes=np.unique(y))
    whole = small(MLPClassifier, shuffle=False, max_iter=6).fit(X, y)
    assert_same_weights(weights_of(incremental), weights_of(whole))
    assert_allclose(incremental.loss_curve_, whole.loss_curve_, rtol=1e-12)
    assert incremental.n_iter_ == 1
    assert incremental.t_ == 6 * len(X) == whole.t_
    assert incremental.stop_reason_ == "partial_fit"


def test_partial_fit_with_some_classes_and_unknown_labels(iris):
    X, y = iris
    clf = small(MLPClassifier).partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match="not seen on the first call"):
        clf.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="early_stopping"):
        small(MLPClassifier, early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_partial_fit_is_not_offered_by_lbfgs():
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPRegressor(solver="adam"), "partial_fit")


# -- warm_start ------------------------------------------------------------------------------------


def test_warm_start_continues_where_the_last_fit_ended(iris):
    # Plain full-batch gradient descent has no optimiser state, so 3 + 2 epochs equal 5.
    X, y = iris
    params = dict(solver="sgd", momentum=0.0, shuffle=False, learning_rate_init=0.1)
    warm = small(MLPClassifier, warm_start=True, max_iter=3, **params).fit(X, y)
    warm.set_params(max_iter=2).fit(X, y)
    whole = small(MLPClassifier, max_iter=5, **params).fit(X, y)
    assert_same_weights(weights_of(warm), weights_of(whole))
    assert len(warm.loss_curve_) == 5
    assert warm.t_ == 5 * len(X)


def test_without_warm_start_fit_starts_afresh(iris):
    X, y = iris
    clf = small(MLPClassifier, max_iter=5).fit(X, y)
    first = weights_of(clf)
    clf.fit(X, y)
    assert_same_weights(weights_of(clf), first)
    assert len(clf.loss_curve_) == 5


def test_warm_start_refuses_other_classes(iris):
    X, y = iris
    clf = small(MLPClassifier, warm_start=True, max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 2], y[y < 2])


# -- sample_weight and class_weight ----------------------------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_weight_two_equals_a_duplicated_row(solver, iris):
    """Full batch (150 rows < 200): weighting and duplicating give the same objective at every step."""
    X, y = iris
    rows = np.r_[np.arange(len(X)), [3, 77, 140]]
    weight = np.ones(len(X))
    weight[[3, 77, 140]] = 2.0
    weighted = small(MLPClassifier, solver=solver, max_iter=30, alpha=0.1).fit(X, y, sample_weight=weight)
    repeated = small(MLPClassifier, solver=solver, max_iter=30, alpha=0.1).fit(X[rows], y[rows])
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6, atol=1e-9)
    assert_same_weights(weights_of(weighted), weights_of(repeated), rtol=1e-6, atol=1e-9)


def test_weight_zero_equals_a_removed_row(regression):
    X, y = regression
    weight = np.ones(len(X))
    weight[:10] = 0
    weighted = small(MLPRegressor, max_iter=20).fit(X, y, sample_weight=weight)
    removed = small(MLPRegressor, max_iter=20).fit(X[10:], y[10:])
    assert_allclose(weighted.predict(X), removed.predict(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("class_weight", [{0: 3.0, 2: 0.5}, "balanced"])
def test_class_weight_equals_the_matching_sample_weight(class_weight, iris):
    X, y = iris
    keep = np.r_[0:50, 50:70, 100:150]  # imbalanced, so 'balanced' is not uniform
    X, y = X[keep], y[keep]
    by_class = small(MLPClassifier, max_iter=10, class_weight=class_weight).fit(X, y)
    by_sample = small(MLPClassifier, max_iter=10).fit(X, y, sample_weight=compute_sample_weight(class_weight, y))
    assert_same_weights(weights_of(by_class), weights_of(by_sample))
    plain = small(MLPClassifier, max_iter=10).fit(X, y)
    assert not np.allclose(plain.coefs_[0], by_class.coefs_[0])


def test_class_weight_limits(iris):
    X, y = iris
    with pytest.raises(ValueError, match="not available in partial_fit"):
        small(MLPClassifier, class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])
    Y = np.eye(3, dtype=int)[y]
    with pytest.raises(ValueError, match="not multilabel"):
        small(MLPClassifier, class_weight="balanced").fit(X, Y)


# -- loss curves, early stopping, restoring ------------------------------------------------------


class WeightRecorder(bprop.Callback):
    def __init__(self):
        self.snapshots = []

    def on_epoch_end(self, state):
        self.snapshots.append([p.copy() for p in state.net.parameters()])


def test_training_loss_curve(iris):
    X, y = iris
    clf = small(MLPClassifier, max_iter=40, learning_rate_init=0.01).fit(X, y)
    assert len(clf.loss_curve_) == clf.n_iter_ == 40
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_loss_curve_ is None
    assert clf.validation_scores_ is None


@pytest.mark.parametrize("restore", [None, False])
def test_validation_curves_and_restored_weights(restore, iris):
    X, y = iris
    recorder = WeightRecorder()
    clf = small(
        MLPClassifier, early_stopping=True, n_iter_no_change=4, max_iter=60, learning_rate_init=0.01,
        restore_best_weights=restore, callbacks=[recorder], validation_fraction=0.2,
    ).fit(X, y)  # fmt: skip
    assert len(clf.validation_loss_curve_) == len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_
    assert all(np.isfinite(clf.validation_loss_curve_))
    assert clf.best_loss_ is None
    assert clf.validation_loss_curve_[-1] < clf.validation_loss_curve_[0]
    assert set(np.round(np.array(clf.validation_scores_) * 30, 6)) <= set(range(31))  # accuracy on 30 rows
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # None (scikit-learn's behaviour): the first epoch with the best validation score; False: the last.
    chosen = int(np.argmax(clf.validation_scores_)) if restore is None else -1
    assert_same_weights(weights_of(clf), recorder.snapshots[chosen], rtol=0, atol=0)


def test_restore_best_weights_without_early_stopping_keeps_the_lowest_loss_epoch(iris):
    X, y = iris
    recorder = WeightRecorder()
    # A large rate makes the loss jump about, so the best epoch is not the last.
    clf = small(MLPClassifier, solver="sgd", learning_rate_init=3.0, max_iter=15, restore_best_weights=True)
    clf.set_params(callbacks=[recorder]).fit(X, y)
    best = int(np.argmin(clf.loss_curve_))
    assert best != len(clf.loss_curve_) - 1
    assert_same_weights(weights_of(clf), recorder.snapshots[best], rtol=0, atol=0)


def test_convergence_warning_when_max_iter_ends_training(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=3).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs did not converge"):
        MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=3).fit(X, y)


def test_callbacks_and_schedule_reach_fit(iris):
    X, y = iris

    class StopAtThree(bprop.Callback):
        def on_epoch_end(self, state):
            if state.epoch == 3:
                state.stop()

    clf = small(MLPClassifier, callbacks=[StopAtThree()], schedule=bprop.schedules.StepDecay(2, 0.5)).fit(X, y)
    assert clf.n_iter_ == 3
    assert clf.stop_reason_ == "callback"
    assert_allclose(clf.history_.lr, [0.001, 0.001, 0.0005])


# -- targets ---------------------------------------------------------------------------------------


def test_string_labels_binary_and_multiclass(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = small(MLPClassifier, solver="lbfgs").fit(X, names)
    assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    assert clf.out_activation_ == "softmax"
    assert clf.score(X, names) > 0.95
    binary = np.where(y == 0, "yes", "no")
    clf = small(MLPClassifier, solver="lbfgs").fit(X, binary)
    assert clf.out_activation_ == "logistic"
    assert clf.n_outputs_ == 1
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-9, atol=1e-12)


def test_log_proba_stays_finite_where_proba_underflows(iris):
    X, y = iris
    clf = small(MLPClassifier, solver="lbfgs").fit(X, y)
    far = 1e3 * X[:5]
    assert np.isfinite(clf.predict_log_proba(far)).all()


def test_multilabel(iris):
    X, y = iris
    Y = np.c_[y == 0, y == 2, X[:, 0] > 0].astype(int)
    clf = small(MLPClassifier, solver="lbfgs", max_iter=300).fit(X, Y)
    assert clf.out_activation_ == "logistic"
    assert clf.n_outputs_ == 3
    assert clf.predict(X).shape == Y.shape
    assert clf.predict_proba(X).shape == Y.shape
    assert clf.score(X, Y) > 0.9  # subset accuracy


def test_multi_output_regression(regression):
    X, y = regression
    reg = small(MLPRegressor, solver="lbfgs", max_iter=500).fit(X, y)
    assert reg.predict(X).shape == y.shape
    assert reg.n_outputs_ == 2
    assert reg.out_activation_ == "identity"
    assert reg.score(X, y) > 0.95
    column = small(MLPRegressor, max_iter=2).fit(X, y[:, :1])
    assert column.predict(X).shape == (len(X), 1)
    assert small(MLPRegressor, max_iter=2).fit(X, y[:, 0]).predict(X).shape == (len(X),)


def test_dtype_and_dropout(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, dropout=0.2, random_state=0).fit(X, y)
    assert clf.net_.dtype == np.float32
    assert clf.coefs_[0].dtype == np.float32
    assert any(isinstance(layer, bprop.Dropout) for layer in clf.net_.layers)
    assert clf.predict_proba(X).dtype == np.float64
    with pytest.raises(ValueError, match="dropout=0.2 needs a stochastic solver"):
        clf.set_params(solver="lbfgs").fit(X, y)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (dict(solver="newton"), "'solver' parameter of MLPClassifier must be a str among"),
        (dict(hidden_layer_sizes=(4, 0)), "hidden_layer_sizes must hold integers >= 1"),
        (dict(solver="sgd", learning_rate="invscaling", schedule="step"), "not both"),
        (dict(callbacks=["print"]), "callbacks must be bprop.Callback objects"),
        (dict(dtype="float16"), "'dtype' parameter of MLPClassifier must be a str among"),
        (dict(early_stopping=True, validation_fraction=0.0), "needs validation_fraction in"),
    ],
)
def test_bad_parameters_name_themselves(params, match, iris):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        MLPClassifier(max_iter=2, **params).fit(X, y)


# -- scikit-learn integration --------------------------------------------------------------------------


def test_pipeline_grid_search_cross_val_score_clone(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0))
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.9
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1.0]}, cv=3).fit(X, y)
    assert grid.best_params_["mlpclassifier__alpha"] in (1e-4, 1.0)
    twin = clone(MLPClassifier(dropout=0.1, class_weight="balanced", schedule="cosine"))
    assert twin.get_params()["schedule"] == "cosine"
    assert not hasattr(twin, "net_")


def test_import_bprop_does_not_import_sklearn():
    code = "import sys, bprop; assert 'sklearn' not in sys.modules; bprop.MLPRegressor; assert 'sklearn' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_diagnostics_and_findings_are_exposed():
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0, diagnostics=True).fit(X, y)
        plain = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    assert len(model.diagnostics_) == model.n_iter_ == 5
    assert {"grad_norm", "update_ratio", "dead_fraction", "loss"} <= set(model.diagnostics_[0])
    assert isinstance(model.findings_, list)
    assert plain.diagnostics_ is None
    assert plain.findings_ is None
    # Watching the training does not change it.
    for a, b in zip(model.coefs_, plain.coefs_):
        np.testing.assert_array_equal(a, b)
