"""Target encoding: detect the task, one-hot class labels (kept as the original labels), scale regression targets.

Task auto-detection rules (:func:`detect_task`):

1. a non-numeric target (strings, booleans, categories) → classification;
2. a numeric target whose values are all whole numbers and take at most ``MAX_AUTO_CLASSES`` (20)
   distinct values → classification (digit labels, ratings 1–5, 0/1 flags);
3. any other numeric target → regression.

Pass ``task`` explicitly to override.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..nn.checks import state_keys, state_labels, state_number, state_text
from .preprocessing import is_numeric_column, label_str

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TargetEncoder", "detect_task", "TASKS", "MAX_AUTO_CLASSES"]

TASKS = ("auto", "classification", "regression")
MAX_AUTO_CLASSES = 20
# Larger regression targets overflow float64 when the loss or the metrics square the errors.
MAX_REGRESSION_MAGNITUDE = float(np.sqrt(np.finfo(np.float64).max))


def _as_series(y: Any, name: str | None = None) -> pd.Series:
    import pandas as pd

    if isinstance(y, pd.Series):
        return y
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"the target must be one column (n_samples,), got shape {arr.shape}")
    return pd.Series(arr, name=name)


def detect_task(y: Any) -> str:
    """``"classification"`` or ``"regression"`` by the rules in the module docstring (``y`` without missing values)."""
    y = _as_series(y)
    if not is_numeric_column(y):
        return "classification"
    values = y.to_numpy(dtype=np.float64)
    whole = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    return "classification" if whole and len(np.unique(values)) <= MAX_AUTO_CLASSES else "regression"


def _check_no_missing(y: pd.Series, name: str) -> None:
    missing = y.isna().to_numpy()
    if missing.any():
        rows = [str(r) for r in y.index[missing][:5]]
        raise ValueError(
            f"target column {name!r} has {int(missing.sum())} missing value(s) (e.g. at row index {', '.join(rows)}); "
            "remove those rows or fill in their targets"
        )


class TargetEncoder:
    """Encode a target column for training and decode network outputs back to labels or values.

    Args:
        task: ``"auto"`` (see the module docstring), ``"classification"`` or ``"regression"``.
        scale_regression: standardise regression targets (train on ``(y - mean) / scale``); outputs are
            mapped back by :meth:`inverse_transform`. Keeps the output layer's job well-conditioned.

    After :meth:`fit`: ``task_``, ``name_`` and ``classes_`` (sorted original labels: strings stay
    strings, integers stay integers) or ``mean_``/``scale_`` for regression.
    """

    def __init__(self, task: str = "auto", *, scale_regression: bool = True) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.task = task
        self.scale_regression = scale_regression
        self.task_: str | None = None
        self.name_: str | None = None
        self.classes_: list | None = None
        self.mean_ = 0.0
        self.scale_ = 1.0

    @property
    def n_outputs(self) -> int:
        """Network outputs needed: one per class, or one for regression."""
        self._check_fitted()
        return 1 if self.task_ == "regression" else len(self.classes_)

    def _check_fitted(self) -> None:
        if self.task_ is None:
            raise ValueError("this TargetEncoder is not fitted yet; call fit(y) first")

    def fit(self, y: Any) -> TargetEncoder:
        """Learn the task and the classes (or the scaling) from the whole target column."""
        y = _as_series(y)
        name = "target" if y.name is None else str(y.name)
        if len(y) == 0:
            raise ValueError(f"target column {name!r} has no rows")
        _check_no_missing(y, name)
        task = detect_task(y) if self.task == "auto" else self.task
        if task == "regression":
            if not is_numeric_column(y):
                raise _not_numeric(name, y.iloc[0])
            values = y.to_numpy(dtype=np.float64)
            _check_regression_values(values, name)
            std = float(values.std())
            if self.scale_regression:
                self.mean_, self.scale_ = float(values.mean()), (std if std > 0 else 1.0)
            self.classes_ = None
        else:
            self.classes_ = _check_classes(name, _sorted_labels(y))
        self.task_, self.name_ = task, name
        return self

    @classmethod
    def from_classes(cls, name: str, classes: list, task: str = "auto") -> TargetEncoder:
        """The encoder :meth:`fit` makes of a text or True/False column whose distinct labels, sorted, are
        ``classes`` (what the streamed reader finds without holding the column as Python objects)."""
        encoder = cls(task)
        if task == "regression":
            raise _not_numeric(name, classes[0])
        encoder.classes_ = _check_classes(name, list(classes))
        encoder.task_, encoder.name_ = "classification", name
        return encoder

    # -- encode ---------------------------------------------------------------------------------
    def encode_labels(self, y: Any) -> np.ndarray:
        """Class indices ``(n_samples,)`` int64 into ``classes_`` (classification only)."""
        self._check_fitted()
        if self.task_ != "classification":
            raise ValueError("encode_labels is for classification targets; this encoder does regression")
        y = _as_series(y, self.name_)
        _check_no_missing(y, self.name_)
        index = {c: i for i, c in enumerate(self.classes_)}
        strings = isinstance(self.classes_[0], str)
        keys = [label_str(v) if strings else v.item() if isinstance(v, np.generic) else v for v in y]
        codes = np.array([index.get(k, -1) for k in keys], dtype=np.int64)
        if (codes < 0).any():
            unseen = sorted({repr(k) for k, c in zip(keys, codes) if c < 0})[:5]
            raise ValueError(
                f"target column {self.name_!r} has label(s) {', '.join(unseen)} that the model was not "
                f"trained on; known classes: {self.classes_}"
            )
        return codes

    def transform(self, y: Any) -> np.ndarray:
        """Training targets: one-hot ``(n, n_classes)`` or scaled values ``(n, 1)``, float64."""
        self._check_fitted()
        if self.task_ == "classification":
            return np.eye(len(self.classes_), dtype=np.float64)[self.encode_labels(y)]
        y = _as_series(y, self.name_)
        _check_no_missing(y, self.name_)
        if not is_numeric_column(y):
            raise ValueError(f"target column {self.name_!r} must be numeric for regression, got {y.iloc[0]!r}")
        return ((y.to_numpy(dtype=np.float64) - self.mean_) / self.scale_).reshape(-1, 1)

    def fit_transform(self, y: Any) -> np.ndarray:
        return self.fit(y).transform(y)

    # -- decode ---------------------------------------------------------------------------------
    def inverse_transform(self, outputs: Any) -> np.ndarray:
        """Network outputs ``(n, n_outputs)`` → original labels (argmax) or values in target units ``(n,)``."""
        self._check_fitted()
        outputs = np.asarray(outputs)
        if outputs.ndim == 1 and self.n_outputs == 1:
            outputs = outputs.reshape(-1, 1)
        if outputs.ndim != 2 or outputs.shape[1] != self.n_outputs:
            raise ValueError(f"outputs must have shape (n_samples, {self.n_outputs}), got {outputs.shape}")
        if self.task_ == "regression":
            return outputs[:, 0].astype(np.float64) * self.scale_ + self.mean_
        return self.classes_array()[np.argmax(outputs, axis=1)]

    def classes_array(self) -> np.ndarray:
        """``classes_`` as an array (object dtype for strings, so labels keep their Python type)."""
        self._check_fitted()
        if self.classes_ is None:
            raise ValueError("a regression target has no classes")
        strings = isinstance(self.classes_[0], str)
        return np.array(self.classes_, dtype=object if strings else None)

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        self._check_fitted()
        return {
            "type": "TargetEncoder",
            "task": self.task_,
            "column": self.name_,
            "classes": None if self.classes_ is None else list(self.classes_),
            "mean": self.mean_,
            "scale": self.scale_,
        }

    @classmethod
    def from_dict(cls, state: dict) -> TargetEncoder:
        """Restore :meth:`to_dict`'s state, checking every field: a ``ValueError`` names the first bad one."""
        keys = {"type", "task", "column", "classes", "mean", "scale"}
        if not isinstance(state, dict) or state.get("type") != "TargetEncoder":
            raise ValueError(f"not a TargetEncoder state: expected a JSON object with keys {sorted(keys)}")
        state_keys(state, "TargetEncoder state", keys)
        task = state["task"]
        if task not in ("classification", "regression"):
            raise ValueError(f"field 'task' must be 'classification' or 'regression', got {task!r:.60}")
        enc = cls(task)
        enc.task_, enc.name_ = task, state_text(state["column"], "column")
        if task == "classification":
            enc.classes_ = state_labels(state["classes"], "classes", (str, bool, int, float), min_length=2)
        elif state["classes"] is not None:
            raise ValueError(f"field 'classes' must be null for a regression target, got {state['classes']!r:.60}")
        enc.mean_ = state_number(state["mean"], "mean")
        enc.scale_ = state_number(state["scale"], "scale", positive=True)
        return enc

    @property
    def reads_as_text(self) -> bool:
        """Whether new files must read the target column as text: string class labels (so "007" stays
        "007"), except True/False labels, which pandas reads as booleans at fit time too."""
        self._check_fitted()
        return (
            self.classes_ is not None
            and isinstance(self.classes_[0], str)
            and not set(self.classes_) <= {"True", "False"}
        )

    def __repr__(self) -> str:
        if self.task_ is None:
            return f"TargetEncoder(task={self.task!r})"
        detail = f"{len(self.classes_)} classes" if self.classes_ is not None else "regression"
        return f"TargetEncoder({self.name_!r}: {detail})"


def _not_numeric(name: str, example: Any) -> ValueError:
    return ValueError(
        f"target column {name!r} is not numeric (e.g. {example!r}) but the task is regression; "
        "use task 'classification' (or 'auto'), or choose a numeric target column"
    )


def _check_classes(name: str, classes: list) -> list:
    if len(classes) < 2:
        raise ValueError(
            f"target column {name!r} has a single class {classes[0]!r}; classification needs at "
            "least two classes: check the --target column or add rows of other classes"
        )
    return classes


def _check_regression_values(values: np.ndarray, name: str) -> None:
    if not np.isfinite(values).all():
        raise ValueError(f"target column {name!r} contains infinite values; remove those rows")
    peak = float(np.abs(values).max())
    if peak > MAX_REGRESSION_MAGNITUDE:
        divisor = 10.0 ** (int(np.log10(peak)) - 3)
        raise ValueError(
            f"target column {name!r} has values as large as {peak:.3g}, which overflow float64 when the loss and "
            f"the metrics square the errors (the limit is about {MAX_REGRESSION_MAGNITUDE:.3g}); scale the "
            f"target down first, e.g. divide it by {divisor:.0e} (other units)"
        )


def _sorted_labels(y: pd.Series) -> list:
    """Distinct labels as JSON-able Python values of one type, sorted."""
    from pandas.api import types

    if types.is_bool_dtype(y):
        return sorted({bool(v) for v in y})
    if is_numeric_column(y):
        return np.unique(y.to_numpy()).tolist()  # .tolist() gives Python int / float, exact in JSON
    # Mixed or string labels compare as text; sorting strings avoids comparing str with int.
    return sorted({label_str(v) for v in y})
