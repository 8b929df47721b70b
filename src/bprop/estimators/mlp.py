"""scikit-learn estimators on bprop's engine: :class:`MLPClassifier` and :class:`MLPRegressor`.

Parameters shared with scikit-learn's ``sklearn.neural_network`` MLPs have the same names, defaults
and meaning; the differences are listed in :class:`MLPClassifier`'s docstring. Needs the ``sklearn``
extra (scikit-learn and scipy); ``import bprop`` alone does not import scikit-learn.

Example:
    >>> from sklearn.datasets import load_iris
    >>> from bprop.estimators import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_softmax, softmax
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d

from ..nn.losses import BinaryCrossEntropy, CategoricalCrossEntropy, get_loss
from .base import BaseMLP

__all__ = ["MLPClassifier", "MLPRegressor"]


def _stochastic_only(estimator: BaseMLP) -> bool:
    if estimator.solver == "lbfgs":
        raise AttributeError("partial_fit needs a stochastic solver ('adam', 'sgd', 'adamw', 'rmsprop'), not 'lbfgs'")
    return True


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier trained by backpropagation (binary, multiclass, multilabel).

    Outputs: two classes → one sigmoid unit + binary cross-entropy; more → softmax + categorical
    cross-entropy; a 0/1 indicator matrix ``y`` (multilabel) → one sigmoid unit per label + binary
    cross-entropy. Labels may be any sortable values (strings too); ``classes_`` lists them.

    Parameters as in scikit-learn's ``MLPClassifier`` (same names, defaults, meaning): ``hidden_layer_sizes``,
    ``activation`` (``'identity'``, ``'logistic'``, ``'tanh'``, ``'relu'``; also ``'leaky_relu'``), ``solver``
    (``'adam'``, ``'sgd'``, ``'lbfgs'``; also ``'adamw'`` and ``'rmsprop'``), ``alpha`` (L2 penalty
    ½·alpha·Σ‖W‖² divided by the batch's sample count, as in scikit-learn), ``batch_size`` (``'auto'`` =
    min(200, n)), ``learning_rate``, ``learning_rate_init``, ``power_t``, ``max_iter``, ``shuffle``,
    ``random_state``, ``tol``, ``verbose``, ``warm_start``, ``momentum``, ``nesterovs_momentum``,
    ``early_stopping``, ``validation_fraction``, ``beta_1``, ``beta_2``, ``epsilon``,
    ``n_iter_no_change``, ``max_fun``.

    bprop's own:
        weight_decay: decoupled weight decay of ``solver='adamw'`` (default 0.01).
        dropout: dropout rate after every hidden layer while training (stochastic solvers).
        class_weight: ``None``, ``{label: weight}`` or ``'balanced'``; multiplies ``sample_weight``.
        restore_best_weights: ``None`` (default) restores the best-validation-score epoch's weights with
            early stopping, as scikit-learn; ``True`` also restores the lowest-training-loss epoch without
            it; ``False`` keeps the last epoch's weights.
        schedule: learning-rate schedule of the stochastic solvers: a :mod:`bprop.nn.schedules` name
            (``'cosine'`` runs over ``max_iter``) or a ``Schedule`` object; with ``sgd`` it replaces
            ``learning_rate``, which must then be ``'constant'``.
        dtype: ``'float32'`` (default, faster) or ``'float64'`` for the network; ``lbfgs`` always
            optimises in float64.
        callbacks: :class:`bprop.Callback` objects passed to :func:`bprop.fit`.
        diagnostics: record per-layer diagnostics while training (stochastic solvers; about 0.5 % of
            the training time) into ``diagnostics_`` and their plain-English reading into ``findings_``.

    Weights and biases are initialised as scikit-learn does (uniform in ±sqrt(6 / (fan_in + fan_out)),
    2 instead of 6 for logistic units), and from the same weights training follows scikit-learn's.
    Differences from scikit-learn: sparse input is not accepted; ``momentum`` must be < 1; ``alpha`` is
    scaled by the full batch size, so the last, partial batch of an epoch gets the same per-sample
    penalty as the others; rows of zero weight are dropped before training; ``verbose`` shows a
    progress bar (stochastic solvers; lbfgs is silent) instead of printing; with ``sgd`` momentum and a
    changing rate, bprop's SGD (velocity of gradients, today's rate applied to it) moves differently
    from scikit-learn's (velocity of past steps); Adam's ε is added to the bias-corrected √v̂ (as in the
    paper); predictions are computed in float64 from the (float32) weights; ``learning_rate='adaptive'``
    is scikit-learn's rule exactly (rate / 5 after ``n_iter_no_change`` + 1 epochs without a ``tol``
    improvement), not bprop's ``ReduceOnPlateau``, whose baseline moves only on improvements larger
    than its ``min_delta``.

    Attributes:
        classes_, n_features_in_, feature_names_in_, n_outputs_, n_layers_, out_activation_
            (``'softmax'``/``'logistic'``), coefs_, intercepts_ (the network's live arrays), net_ (the
            :class:`bprop.Sequential`), history_ (the last :class:`bprop.History`; ``None`` for lbfgs),
            loss_, loss_curve_ (training loss per epoch, or per L-BFGS iteration), best_loss_ (``None``
            with early stopping), validation_loss_curve_ and validation_scores_ (per epoch with early
            stopping, else ``None``), best_validation_score_, n_iter_ (epochs of the last call), t_
            (training samples seen), stop_reason_ (``'max_iter'``, ``'no_improvement'``, ``'partial_fit'``,
            ``'converged'``, ``'max_fun'``, ``'diverged'``, ``'interrupted'``, ``'callback'``…),
            diagnostics_ and findings_ (with ``diagnostics=True``, else ``None``).

    A ``ConvergenceWarning`` is emitted, as in scikit-learn, when ``max_iter`` ends training.
    """

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        weight_decay=0.01,
        dropout=0.0,
        class_weight=None,
        restore_best_weights=None,
        schedule=None,
        dtype="float32",
        callbacks=None,
        diagnostics=False,
    ):
        _store_verbatim(self, locals())

    @available_if(_stochastic_only)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``(X, y)`` (``max_iter`` is ignored), continuing the weights and optimiser state.

        ``classes`` (every label that will ever be seen) is required on the first call, except for a
        multilabel indicator ``y``.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X) -> np.ndarray:
        """Labels ``(n_samples,)``, or an indicator matrix ``(n_samples, n_labels)`` for multilabel."""
        z = self._forward(X, logits=True)
        if self.out_activation_ == "softmax":
            return self.classes_[z.argmax(axis=1)]
        # p > 0.5 ⇔ z > 0; the binarizer maps 0/1 columns back to labels (also with a single class).
        decided = (z > 0).astype(int)
        return self._binarizer.inverse_transform(decided.ravel() if self.n_outputs_ == 1 else decided)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities ``(n_samples, n_classes)`` in the order of ``classes_`` (float64)."""
        z = self._forward(X, logits=True)
        if self.out_activation_ == "softmax":
            return softmax(z, axis=1)
        if self.n_outputs_ == 1:
            return np.hstack([expit(-z), expit(z)])
        return expit(z)

    def predict_log_proba(self, X) -> np.ndarray:
        """Log-probabilities, computed from the logits so they stay finite where probabilities underflow."""
        z = self._forward(X, logits=True)
        if self.out_activation_ == "softmax":
            return log_softmax(z, axis=1)
        log_p, log_not_p = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)
        return np.hstack([log_not_p, log_p]) if self.n_outputs_ == 1 else log_p

    # -- target handling --------------------------------------------------------------------------
    def _encode_targets(self, y, *, first_pass: bool, incremental: bool, classes=None):
        check_classification_targets(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        multilabel = type_of_target(y).startswith("multilabel")
        if first_pass:
            if incremental and classes is None and not multilabel:
                raise ValueError("classes must be given on the first call to partial_fit, e.g. classes=np.unique(y)")
            self._binarizer = LabelBinarizer().fit(y if classes is None or multilabel else classes)
            self.classes_ = self._binarizer.classes_
        else:
            self._check_known_classes(y, incremental, classes)
        Y = self._binarizer.transform(y)
        if self.class_weight is None:
            return Y, None
        if multilabel:
            raise ValueError("class_weight is supported for binary and multiclass y, not multilabel; use sample_weight")
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not available in partial_fit (one batch does not show the class "
                "frequencies); pass a dict, e.g. from sklearn.utils.class_weight.compute_class_weight"
            )
        return Y, compute_sample_weight(self.class_weight, y)

    def _check_known_classes(self, y, incremental: bool, classes) -> None:
        if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={classes!r} differs from the classes of the first call, {self.classes_!r}")
        present = unique_labels(y)
        if self.warm_start and not incremental and set(present) != set(self.classes_):
            raise ValueError(
                f"warm_start needs y with the same classes as before: had {self.classes_!r}, y has {present!r}"
            )
        unknown = np.setdiff1d(present, self.classes_)
        if unknown.size:
            raise ValueError(f"y has classes {unknown!r} not seen on the first call; known: {self.classes_!r}")

    def _output(self, Y):
        if self._binarizer.y_type_ == "multiclass":
            return "softmax", CategoricalCrossEntropy()
        return "sigmoid", BinaryCrossEntropy()

    def _stratify_labels(self, Y):
        if self._binarizer.y_type_ == "multiclass":
            return Y.argmax(axis=1)
        return Y[:, 0] if Y.shape[1] == 1 else None  # multilabel rows are not stratified

    def _validation_score(self, net, X, Y, w) -> float:
        """Accuracy on the validation set (subset accuracy for multilabel), weighted by ``w``."""
        z = net.forward_unchecked(X, logits=True)
        if z.shape[1] > 1 and net.output_activation == "softmax":
            hits = z.argmax(axis=1) == Y.argmax(axis=1)
        else:
            hits = ((z > 0) == (Y > 0.5)).all(axis=1)
        return float(np.average(hits, weights=w))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor (one or several outputs) trained by backpropagation.

    The output layer is linear and the loss is scikit-learn's ``squared_error``: half the mean squared
    error, averaged over outputs and samples (:class:`~bprop.nn.losses.HalfMSE`). Parameters,
    attributes and differences from scikit-learn are those of :class:`MLPClassifier` without
    ``class_weight``. A 2-D ``y`` with one column gives 2-D predictions (as ``LinearRegression``; no
    warning), a 1-D ``y`` 1-D predictions.
    """

    _numeric_targets = True

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        weight_decay=0.01,
        dropout=0.0,
        restore_best_weights=None,
        schedule=None,
        dtype="float32",
        callbacks=None,
        diagnostics=False,
    ):
        _store_verbatim(self, locals())

    @available_if(_stochastic_only)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)`` (``max_iter`` is ignored), continuing the weights and optimiser state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predictions ``(n_samples,)``, or ``(n_samples, n_outputs)`` when fitted on a 2-D ``y`` (float64)."""
        out = self._forward(X)
        return out if self._y_2d else out.ravel()

    def _encode_targets(self, y, *, first_pass: bool, incremental: bool, classes=None):
        if first_pass:
            self._y_2d = y.ndim == 2
        return (y.reshape(-1, 1) if y.ndim == 1 else y), None

    def _output(self, Y):
        return "identity", get_loss("half_mse")

    def _validation_score(self, net, X, Y, w) -> float:
        """R² on the validation set (averaged over outputs), weighted by ``w``."""
        return float(r2_score(Y, net.forward_unchecked(X), sample_weight=w))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _store_verbatim(estimator: BaseMLP, arguments: dict) -> None:
    """scikit-learn's convention: ``__init__`` stores its arguments unchanged; ``fit`` validates them."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
