"""scikit-learn estimators (``MLPClassifier``, ``MLPRegressor``) over the same engine and trainer.
Needs the ``sklearn`` extra.
May import: nn, training, insight (and scikit-learn, scipy)."""

from .mlp import MLPClassifier as MLPClassifier
from .mlp import MLPRegressor as MLPRegressor
