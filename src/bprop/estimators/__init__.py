"""scikit-learn estimators (``MLPClassifier``, ``MLPRegressor``) over the same engine and trainer.
Needs the ``sklearn`` extra.
May import: nn, training, insight, export (and scikit-learn, scipy; skl2onnx for its converters)."""

from .mlp import MLPClassifier as MLPClassifier
from .mlp import MLPRegressor as MLPRegressor
from .onnx_converters import register_skl2onnx as register_skl2onnx
