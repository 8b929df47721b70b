"""Feature preprocessing for tables: impute, standardise numeric columns, one-hot encode the others.

The fitted state is plain JSON (column names, categories, float64 statistics) so it is stored inside
model files and reapplied to raw rows at prediction time. Needs pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Preprocessor", "TransformReport", "is_numeric_column", "label_str"]

NUMERIC = "numeric"
CATEGORICAL = "categorical"


def is_numeric_column(column: pd.Series) -> bool:
    """Numbers are scaled; everything else (strings, booleans, categories) is one-hot encoded."""
    from pandas.api import types

    return types.is_numeric_dtype(column) and not types.is_bool_dtype(column)


def label_str(value: Any) -> str:
    """Text of a category value; ``3.0`` reads as ``"3"`` because pandas turns int columns with gaps into floats."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _check_frame(features: Any) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(features, pd.DataFrame):
        raise ValueError(f"features must be a pandas DataFrame, got {type(features).__name__}; use bprop.data.read_csv")
    bad = [c for c in features.columns if not isinstance(c, str)]
    if bad:
        raise ValueError(
            f"column names must be strings, got {bad[0]!r}; rename with df.columns = df.columns.astype(str)"
        )
    return features


@dataclass(frozen=True)
class TransformReport:
    """What a transform had to fix up, for one-line notices.

    Attributes:
        n_rows: rows transformed.
        imputed: per column, how many missing values were filled (only columns with some).
        unknown: per categorical column, how many values were unseen at fit (encoded as all zeros).
        extra_columns: input columns the preprocessor does not use (ignored).
    """

    n_rows: int
    imputed: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)

    @property
    def n_imputed(self) -> int:
        return sum(self.imputed.values())

    def notices(self) -> list[str]:
        """Human-readable one-liners (empty when nothing needed fixing)."""
        lines = []
        if self.imputed:
            cols = ", ".join(f"{name} ({count})" for name, count in self.imputed.items())
            lines.append(f"imputed {self.n_imputed} missing value(s) (median / most frequent) in: {cols}")
        if self.unknown:
            cols = ", ".join(f"{name} ({count})" for name, count in self.unknown.items())
            lines.append(f"{sum(self.unknown.values())} unseen category value(s) encoded as all zeros in: {cols}")
        if self.extra_columns:
            lines.append(f"ignored {len(self.extra_columns)} column(s) not used by the model: {self.extra_columns}")
        return lines


class Preprocessor:
    """Turn a feature table into a float64 matrix.

    Numeric columns: missing values → the training median, then ``(x - mean) / scale`` with the training
    mean and standard deviation (``scale`` 1 for a constant column). Other columns: missing values → the
    most frequent training category, then one-hot over the sorted training categories; a category
    unseen at fit time becomes all zeros. Columns are matched by name, so order does not matter and
    extra columns are ignored.

    Example:
        >>> import pandas as pd
        >>> pre = Preprocessor().fit(pd.DataFrame({"x": [1.0, 3.0], "c": ["a", "b"]}))
        >>> pre.output_names
        ['x', 'c=a', 'c=b']
        >>> pre.transform(pd.DataFrame({"c": ["b"], "x": [None]})).tolist()
        [[0.0, 0.0, 1.0]]
    """

    def __init__(self) -> None:
        self.columns_: list[dict] | None = None

    # -- fitted state ---------------------------------------------------------------------------
    def _fitted(self) -> list[dict]:
        if self.columns_ is None:
            raise ValueError("this Preprocessor is not fitted yet; call fit(features) first")
        return self.columns_

    @property
    def feature_names(self) -> list[str]:
        """Input column names, in fit order."""
        return [spec["name"] for spec in self._fitted()]

    @property
    def output_names(self) -> list[str]:
        """Names of the output matrix columns: ``name`` for numeric, ``name=category`` for one-hot."""
        names = []
        for spec in self._fitted():
            if spec["kind"] == NUMERIC:
                names.append(spec["name"])
            else:
                names += [f"{spec['name']}={c}" for c in spec["categories"]]
        return names

    @property
    def n_outputs(self) -> int:
        return len(self.output_names)

    # -- fit / transform ------------------------------------------------------------------------
    def fit(self, features: pd.DataFrame) -> Preprocessor:
        """Learn medians, means, scales and categories from ``features`` (no target column in it)."""
        features = _check_frame(features)
        if features.shape[1] == 0:
            raise ValueError("features has no columns; a model needs at least one input column")
        if features.shape[0] == 0:
            raise ValueError("features has no rows; fit needs at least one sample")
        specs = []
        for name in features.columns:
            column = features[name]
            present = column[column.notna()]
            if present.empty:
                raise ValueError(f"column {name!r} is entirely empty; delete it or fill it in")
            specs.append(_fit_numeric(name, present) if is_numeric_column(column) else _fit_categorical(name, present))
        self.columns_ = specs
        return self

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Matrix ``(n_samples, n_outputs)`` float64; see :meth:`transform_with_report` for the notices."""
        return self.transform_with_report(features)[0]

    def fit_transform(self, features: pd.DataFrame) -> np.ndarray:
        return self.fit(features).transform(features)

    def transform_with_report(self, features: pd.DataFrame) -> tuple[np.ndarray, TransformReport]:
        """Transform and say what was imputed, unseen or ignored."""
        specs = self._fitted()
        features = _check_frame(features)
        missing = [spec["name"] for spec in specs if spec["name"] not in features.columns]
        if missing:
            raise ValueError(
                f"missing feature column(s) {missing}; the model was trained on columns {self.feature_names}"
            )
        blocks, imputed, unknown = [], {}, {}
        for spec in specs:
            column = features[spec["name"]]
            n_missing = int(column.isna().sum())
            if n_missing:
                imputed[spec["name"]] = n_missing
            if spec["kind"] == NUMERIC:
                blocks.append(_transform_numeric(spec, column))
            else:
                block, n_unknown = _transform_categorical(spec, column)
                blocks.append(block)
                if n_unknown:
                    unknown[spec["name"]] = n_unknown
        used = set(self.feature_names)
        extra = [c for c in features.columns if c not in used]
        return np.concatenate(blocks, axis=1), TransformReport(len(features), imputed, unknown, extra)

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-able fitted state; :meth:`from_dict` restores it exactly."""
        return {"type": "Preprocessor", "columns": [dict(spec) for spec in self._fitted()]}

    @classmethod
    def from_dict(cls, state: dict) -> Preprocessor:
        if not isinstance(state, dict) or state.get("type") != "Preprocessor" or "columns" not in state:
            raise ValueError("not a Preprocessor state: expected a dict with type 'Preprocessor' and 'columns'")
        specs = []
        for spec in state["columns"]:
            kind = spec.get("kind") if isinstance(spec, dict) else None
            keys = {
                NUMERIC: {"name", "kind", "mean", "scale", "fill"},
                CATEGORICAL: {"name", "kind", "categories", "fill"},
            }
            if kind not in keys or set(spec) != keys[kind]:
                raise ValueError(f"malformed column entry in Preprocessor state: {spec!r}")
            specs.append(dict(spec))
        pre = cls()
        pre.columns_ = specs
        return pre

    def __repr__(self) -> str:
        if self.columns_ is None:
            return "Preprocessor()"
        return f"Preprocessor({len(self.columns_)} columns -> {self.n_outputs} features)"


def _fit_numeric(name: str, present: pd.Series) -> dict:
    values = present.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"column {name!r} contains infinite values; replace them with numbers or leave them empty")
    std = float(values.std())
    # A constant column carries no information; scale 1 maps it to 0 instead of dividing by zero.
    return {
        "name": name,
        "kind": NUMERIC,
        "mean": float(values.mean()),
        "scale": std if std > 0 else 1.0,
        "fill": float(np.median(values)),
    }


def _fit_categorical(name: str, present: pd.Series) -> dict:
    labels = np.array([label_str(v) for v in present], dtype=object)
    categories, counts = np.unique(labels, return_counts=True)
    # np.unique sorts, and argmax takes the first maximum: ties go to the smallest category.
    return {
        "name": name,
        "kind": CATEGORICAL,
        "categories": [str(c) for c in categories],
        "fill": str(categories[int(np.argmax(counts))]),
    }


def _transform_numeric(spec: dict, column: pd.Series) -> np.ndarray:
    import pandas as pd

    if is_numeric_column(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        # A numeric column may arrive as text (e.g. one stray word makes pandas read it as strings).
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = column[np.isnan(values) & column.notna().to_numpy()]
        if len(bad):
            raise ValueError(
                f"column {spec['name']!r} was numeric when the model was trained but contains "
                f"{bad.iloc[0]!r}; fix or empty those cells"
            )
    if np.isinf(values).any():
        raise ValueError(f"column {spec['name']!r} contains infinite values; replace them or leave them empty")
    values = np.where(np.isnan(values), spec["fill"], values)
    return ((values - spec["mean"]) / spec["scale"]).reshape(-1, 1)


def _transform_categorical(spec: dict, column: pd.Series) -> tuple[np.ndarray, int]:
    index = {c: i for i, c in enumerate(spec["categories"])}
    present = column.notna().to_numpy()
    labels = [label_str(v) if ok else spec["fill"] for v, ok in zip(column, present)]
    codes = np.array([index.get(label, -1) for label in labels], dtype=np.int64)
    out = np.zeros((len(codes), len(index)), dtype=np.float64)
    known = codes >= 0
    out[np.flatnonzero(known), codes[known]] = 1.0
    return out, int((~known).sum())
