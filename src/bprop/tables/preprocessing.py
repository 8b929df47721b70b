"""Feature preprocessing for tables: impute, standardise numeric columns, one-hot encode the others.

The fitted state is plain JSON (column names and types, categories, float64 statistics, the decimal
separator, the columns left out) so it is stored inside model files and reapplied to raw rows at
prediction time, where new files are read with the recorded types (a code ``007`` stays text). Needs pandas.

Fit-time safeguards, each a notice or a ``ValueError`` naming the column:

- a text column whose cells are mostly numbers (>= 90 %) is refused with examples of the stray text, and
  numbers written with a decimal comma ask for ``decimal=","``: neither silently becomes categories;
- a string column with more than ``MAX_CATEGORIES`` distinct values, or more distinct values than half
  the rows (when above ``FEW_CATEGORIES``), is left out with a notice unless ``keep_high_cardinality``:
  one-hot over an ID column learns nothing and can need gigabytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..nn.checks import check_number, state_bool, state_keys, state_labels, state_number, state_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Preprocessor",
    "TransformReport",
    "NumberCounts",
    "is_numeric_column",
    "label_str",
    "mostly_numeric_problem",
    "numbers_problem",
    "scale_numbers",
    "column_scale",
    "too_many_categories",
]

NUMERIC = "numeric"
CATEGORICAL = "categorical"
DECIMALS = (".", ",")
# A string column with more distinct values than this is an identifier or free text, not a category.
MAX_CATEGORIES = 1000
# ... and so is one with more distinct values than half its rows, once it has more than this many
# (below it the one-hot block is small, and tiny tables would lose every column).
FEW_CATEGORIES = 20
# Share of the filled cells of a text column that, when they parse as numbers, makes it a numeric
# column with stray text rather than a categorical one.
MOSTLY_NUMERIC = 0.9
# What pandas reads as booleans; a column of these is left to pandas at prediction time too, so that
# "TRUE" is read as True there exactly as it was when the model was trained.
BOOLEAN_WORDS = {"True", "False"}
# A cell like 007: a code (zip code, product code), not a quantity.
LEADING_ZERO = r"^[+-]?0\d"


def is_numeric_column(column: pd.Series) -> bool:
    """Numbers are scaled; everything else (strings, booleans, categories) is one-hot encoded."""
    from pandas.api import types

    return types.is_numeric_dtype(column) and not types.is_bool_dtype(column)


def label_str(value: Any) -> str:
    """Text of a category value; ``3.0`` reads as ``"3"`` because pandas turns int columns with gaps into floats."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def parse_numbers(text: pd.Series, decimal: str) -> pd.Series:
    """The cells of ``text`` as float (NaN where a cell is not a number written with ``decimal``)."""
    import pandas as pd

    if decimal != ".":
        text = text.str.replace(".", "\x00", regex=False).str.replace(decimal, ".", regex=False)
    return pd.to_numeric(text, errors="coerce")


def mostly_numeric_problem(what: str, present: pd.Series, decimal: str = ".") -> str | None:
    """Why the non-empty text cells ``present`` of column ``what`` should have been numbers, or None.

    Mostly numbers with a few words (">= 90 %"): the words are typos or markers to empty. Numbers with a
    decimal comma while ``decimal`` is ".": the file needs ``decimal=","``. Codes with leading zeros are fine.
    """
    text = present.astype(str).str.strip()
    if len(text) == 0:
        return None
    numbers = parse_numbers(text, decimal)
    n_comma = int(parse_numbers(text, ",").notna().sum()) if decimal == "." else 0
    return numbers_problem(
        what,
        NumberCounts(
            n_present=len(text),
            n_numbers=int(numbers.notna().sum()),
            n_comma_numbers=n_comma,
            examples=[str(v) for v in text[numbers.isna()].unique()[:3]],
            leading_zero=bool(text.str.contains(LEADING_ZERO, regex=True).any()),
        ),
        decimal,
    )


@dataclass
class NumberCounts:
    """How many filled cells of a text column read as numbers (the streamed reader adds them up block by block).

    ``n_comma_numbers``: cells that read as numbers with a decimal comma; ``examples``: the first few
    distinct cells that are not numbers; ``leading_zero``: some cell is a code like ``007``.
    """

    n_present: int = 0
    n_numbers: int = 0
    n_comma_numbers: int = 0
    examples: list[str] = field(default_factory=list)
    leading_zero: bool = False


def numbers_problem(what: str, counts: NumberCounts, decimal: str = ".") -> str | None:
    """:func:`mostly_numeric_problem` from the counts of a column's cells."""
    if counts.n_present == 0 or counts.leading_zero:
        return None
    share = counts.n_numbers / counts.n_present
    if decimal == "." and share < MOSTLY_NUMERIC and counts.n_comma_numbers / counts.n_present >= MOSTLY_NUMERIC:
        return (
            f"{what} holds numbers written with a decimal comma (e.g. {counts.examples[0]!r}); read the file with "
            "decimal=',' (bprop train --decimal ,)"
        )
    if MOSTLY_NUMERIC <= share < 1.0:
        n_bad = counts.n_present - counts.n_numbers
        examples = ", ".join(repr(v) for v in counts.examples[:3])
        return (
            f"{what} looks numeric ({counts.n_numbers} of its {counts.n_present} filled cells are numbers) but "
            f"holds text in {n_bad} cell(s), e.g. {examples}; fix those cells or empty them (empty cells are imputed)"
        )
    return None


def _check_frame(features: Any) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(features, pd.DataFrame):
        kind = type(features).__name__
        raise ValueError(f"features must be a pandas DataFrame, got {kind}; read tables with bprop.tables.read_csv")
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
        left_out: input columns left out at fit for having too many distinct values (ignored).
    """

    n_rows: int
    imputed: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)

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
        if self.left_out:
            lines.append(
                f"left out {len(self.left_out)} string column(s) with too many distinct values to learn from "
                f"(more than {MAX_CATEGORIES:,}, or than half the training rows): {self.left_out}; keep them "
                "with keep_high_cardinality=True (bprop train --keep-high-cardinality)"
            )
        return lines


class Preprocessor:
    """Turn a feature table into a float64 matrix.

    Numeric columns: missing values → the training median, then ``z = (x - mean) / scale`` with the training
    mean and standard deviation (``scale`` 1 for a constant column), and with ``clip`` the smooth clipping
    ``z / sqrt(1 + (z / clip)²)``: near z for small z, never beyond ±clip, so an outlier (a price 30
    standard deviations out) cannot saturate a tanh unit or dominate a weight. Other columns: missing values → the
    most frequent training category, then one-hot over the sorted training categories; a category
    unseen at fit time becomes all zeros. Columns are matched by name, so order does not matter and
    extra columns are ignored. Imputation always uses the training statistics, so a column that is
    empty in a batch is filled like any other gap.

    Args:
        decimal: the decimal separator of numbers written as text (``"."`` or ``","``), recorded so that
            new files are read the same way.
        keep_high_cardinality: one-hot encode string columns with very many distinct values too,
            instead of leaving them out (see the module docstring).
        clip: the bound of the smooth clipping of standardised numeric values (e.g. 3, as RealMLP), or None
            (the default) for plain standardisation.

    Example:
        >>> import pandas as pd
        >>> pre = Preprocessor().fit(pd.DataFrame({"x": [1.0, 3.0], "c": ["a", "b"]}))
        >>> pre.output_names
        ['x', 'c=a', 'c=b']
        >>> pre.transform(pd.DataFrame({"c": ["b"], "x": [None]})).tolist()
        [[0.0, 0.0, 1.0]]
    """

    def __init__(self, *, decimal: str = ".", keep_high_cardinality: bool = False, clip: float | None = None) -> None:
        if decimal not in DECIMALS:
            raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
        if not isinstance(keep_high_cardinality, bool):
            raise ValueError(f"keep_high_cardinality must be True or False, got {keep_high_cardinality!r}")
        if clip is not None:
            clip = check_number("clip", clip, above=0)
            if not np.isfinite(clip):
                raise ValueError(f"clip must be a finite number > 0 or None, got {clip!r}; e.g. 3")
        self.clip = clip
        self.decimal = decimal
        self.keep_high_cardinality = keep_high_cardinality
        self.columns_: list[dict] | None = None
        self.left_out_: list[str] = []

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

    @property
    def text_columns(self) -> list[str]:
        """Columns to read as text from a new file (categorical ones, except True/False columns that pandas
        reads as booleans at fit time too), so that e.g. a code ``007`` is not re-read as the number 7."""
        return [
            spec["name"]
            for spec in self._fitted()
            if spec["kind"] == CATEGORICAL and not set(spec["categories"]) <= BOOLEAN_WORDS
        ]

    # -- fit / transform ------------------------------------------------------------------------
    def fit(self, features: pd.DataFrame) -> Preprocessor:
        """Learn medians, means, scales and categories from ``features`` (no target column in it)."""
        features = _check_frame(features)
        if features.shape[1] == 0:
            raise ValueError("features has no columns; a model needs at least one input column")
        if features.shape[0] == 0:
            raise ValueError("features has no rows; fit needs at least one sample")
        specs, left_out = [], []
        for name in features.columns:
            column = features[name]
            present = column[column.notna()]
            if present.empty:
                raise ValueError(f"column {name!r} is entirely empty; delete it or fill it in")
            if is_numeric_column(column):
                specs.append(_fit_numeric(name, present))
                continue
            problem = mostly_numeric_problem(f"column {name!r}", present, self.decimal)
            if problem:
                raise ValueError(problem)
            if not self.keep_high_cardinality and _too_many_categories(present, len(features)):
                left_out.append(name)
            else:
                specs.append(_fit_categorical(name, present))
        if not specs:
            raise ValueError(
                f"every feature column was left out for having too many distinct values ({left_out}); "
                "pass keep_high_cardinality=True (bprop train --keep-high-cardinality) or add other columns"
            )
        self.columns_, self.left_out_ = specs, sorted(left_out)
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
                blocks.append(_transform_numeric(spec, column, self.decimal, self.clip))
            else:
                block, n_unknown = _transform_categorical(spec, column)
                blocks.append(block)
                if n_unknown:
                    unknown[spec["name"]] = n_unknown
        used = set(self.feature_names)
        left_out = [c for c in features.columns if c in self.left_out_]
        extra = [c for c in features.columns if c not in used and c not in self.left_out_]
        report = TransformReport(len(features), imputed, unknown, extra, left_out)
        return np.concatenate(blocks, axis=1), report

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-able fitted state; :meth:`from_dict` restores it exactly."""
        return {
            "type": "Preprocessor",
            "columns": [dict(spec) for spec in self._fitted()],
            "decimal": self.decimal,
            "keep_high_cardinality": self.keep_high_cardinality,
            "left_out": list(self.left_out_),
            "clip": self.clip,
        }

    @classmethod
    def from_dict(cls, state: dict) -> Preprocessor:
        """Restore :meth:`to_dict`'s state, checking every field: a ``ValueError`` names the first bad one.

        States written before ``decimal``, ``keep_high_cardinality``, ``left_out`` and ``clip`` existed read
        with their defaults.
        """
        where = "Preprocessor state"
        if not isinstance(state, dict) or state.get("type") != "Preprocessor":
            raise ValueError(f"not a {where}: expected a JSON object with type 'Preprocessor'")
        optional = {"decimal", "keep_high_cardinality", "left_out", "clip"}
        state_keys(state, where, {"type", "columns"}, optional)
        columns = state["columns"]
        if not isinstance(columns, list) or not columns:
            raise ValueError(f"{where}: field 'columns' must be a non-empty list, got {columns!r:.60}")
        specs = [_checked_spec(spec, f"columns[{i}]") for i, spec in enumerate(columns)]
        names = [spec["name"] for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: field 'columns' names a column twice: {names}")
        decimal = state.get("decimal", ".")
        if decimal not in DECIMALS:
            raise ValueError(f"{where}: field 'decimal' must be '.' or ',', got {decimal!r:.60}")
        clip = state.get("clip")
        pre = cls(
            decimal=decimal,
            keep_high_cardinality=state_bool(state.get("keep_high_cardinality", False), "keep_high_cardinality"),
            clip=None if clip is None else state_number(clip, "clip", positive=True),
        )
        pre.left_out_ = state_labels(state.get("left_out", []), "left_out", min_length=0)
        if set(pre.left_out_) & set(names):
            raise ValueError(f"{where}: field 'left_out' names used columns: {sorted(set(pre.left_out_) & set(names))}")
        pre.columns_ = specs
        return pre

    def __repr__(self) -> str:
        if self.columns_ is None:
            return "Preprocessor()"
        return f"Preprocessor({len(self.columns_)} columns -> {self.n_outputs} features)"


def _checked_spec(spec: Any, field: str) -> dict:
    """One column of a stored Preprocessor state, every field checked (see ``Preprocessor.from_dict``)."""
    kind = spec.get("kind") if isinstance(spec, dict) else None
    keys = {NUMERIC: {"name", "kind", "mean", "scale", "fill"}, CATEGORICAL: {"name", "kind", "categories", "fill"}}
    if kind not in keys:
        raise ValueError(
            f"Preprocessor state: field '{field}.kind' must be 'numeric' or 'categorical', got {kind!r:.60}"
        )
    state_keys(spec, f"Preprocessor state: '{field}'", keys[kind])
    name = state_text(spec["name"], f"{field}.name")
    if kind == NUMERIC:
        return {
            "name": name,
            "kind": kind,
            "mean": state_number(spec["mean"], f"{field}.mean"),
            "scale": state_number(spec["scale"], f"{field}.scale", positive=True),
            "fill": state_number(spec["fill"], f"{field}.fill"),
        }
    categories = state_labels(spec["categories"], f"{field}.categories")
    fill = state_text(spec["fill"], f"{field}.fill")
    if fill not in categories:
        raise ValueError(f"field '{field}.fill' must be one of its categories, got {fill!r:.60}")
    return {"name": name, "kind": kind, "categories": categories, "fill": fill}


def _too_many_categories(present: pd.Series, n_rows: int) -> bool:
    return too_many_categories(int(present.nunique()), n_rows)


def too_many_categories(n_distinct: int, n_rows: int) -> bool:
    """Whether a string column with ``n_distinct`` values over ``n_rows`` training rows is left out."""
    return n_distinct > MAX_CATEGORIES or (n_distinct > FEW_CATEGORIES and n_distinct > n_rows / 2)


def _mean_and_std(name: str, values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation, also of values whose squares overflow float64 (1e200)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(values.mean()), float(values.std())
        if not (np.isfinite(mean) and np.isfinite(std)):
            # Compute on values scaled into range, then scale back: exact up to rounding.
            peak = float(np.abs(values).max())
            scaled = values / peak
            mean, std = float(scaled.mean()) * peak, float(scaled.std()) * peak
    if not (np.isfinite(mean) and np.isfinite(std)):
        raise ValueError(
            f"column {name!r} has values too large for float64 statistics (up to {np.abs(values).max():.3g}); "
            "scale the column down (e.g. other units) first"
        )
    return mean, std


def _fit_numeric(name: str, present: pd.Series) -> dict:
    values = present.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"column {name!r} contains infinite values; replace them with numbers or leave them empty")
    mean, std = _mean_and_std(name, values)
    return {
        "name": name,
        "kind": NUMERIC,
        "mean": mean,
        "scale": column_scale(std, constant=bool(values.min() == values.max())),
        "fill": float(np.median(values)),
    }


def column_scale(std: float, *, constant: bool) -> float:
    """The scale of a numeric column: its standard deviation, or 1 for a constant column, which carries no
    information (a constant like 0.1 has a rounding-noise deviation of 1e-17, which would blow any other
    value up to 1e16 standard deviations: it is told apart by its minimum equal to its maximum)."""
    return 1.0 if constant or not std > 0 else std


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


def _transform_numeric(spec: dict, column: pd.Series, decimal: str = ".", clip: float | None = None) -> np.ndarray:
    if is_numeric_column(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        # A numeric column may arrive as text (e.g. one stray word makes pandas read it as strings).
        text = column.astype(str).str.strip()
        values = parse_numbers(text, decimal).to_numpy(dtype=np.float64, na_value=np.nan)
        bad = column[np.isnan(values) & column.notna().to_numpy()]
        if len(bad):
            raise ValueError(
                f"column {spec['name']!r} was numeric when the model was trained but contains "
                f"{bad.iloc[0]!r}; fix or empty those cells"
            )
    if np.isinf(values).any():
        raise ValueError(f"column {spec['name']!r} contains infinite values; replace them or leave them empty")
    return scale_numbers(values, spec["fill"], spec["mean"], spec["scale"], clip).reshape(-1, 1)


def scale_numbers(values: np.ndarray, fill, mean, scale, clip: float | None = None, *, out=None, overwrite=False):
    """Missing values (NaN) → ``fill``, then ``(x - mean) / scale``, then the smooth clipping: the numeric
    encoding of :class:`Preprocessor`, for one column or (with per-column arrays) a block of columns.

    The arithmetic is float64 whatever ``out`` is (a float32 ``out`` gets the float64 result rounded once),
    so a value encodes to the same bits in every path. ``overwrite``: ``values`` (float64) may be used as
    the work space, which spares the streamed batches their temporaries.
    """
    z = values if overwrite else np.array(values, dtype=np.float64)
    missing = np.isnan(z)
    if missing.any():
        np.copyto(z, fill, where=missing)
    np.subtract(z, mean, out=z)
    if clip is None:
        return np.divide(z, scale, out=z if out is None else out)
    np.divide(z, scale, out=z)
    with np.errstate(over="ignore"):
        ratio = z / clip  # may overflow to ±inf for a huge value and a tiny clip: the limit is ±clip
    if np.isinf(ratio).any():
        # hypot(1, r) = sqrt(1 + r²) without squaring r, so a value of 1e200 comes out as clip, not 0.
        z = np.where(np.isinf(ratio), np.sign(ratio) * clip, z / np.hypot(1.0, ratio))
    else:
        np.divide(z, np.hypot(1.0, ratio, out=ratio), out=z)
    if out is None:
        return z
    out[...] = z
    return out


def _category_codes(column: pd.Series, index: dict[str, int], fill: str) -> np.ndarray:
    """Each cell's category number (-1 for a label not in ``index``; an empty cell counts as ``fill``)."""
    import pandas as pd

    # Cells of one type (all text, or all True/False) are labelled once per distinct value. Mixed cells go
    # one by one: a hash table would merge True with 1 and 1.0, which label as "True", "1" and "1".
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "boolean", "empty"):
        numbers, distinct = pd.factorize(column, use_na_sentinel=True)  # -1 for an empty cell
        lookup = np.array([index.get(label_str(v), -1) for v in distinct] + [index.get(fill, -1)], dtype=np.int64)
        return lookup[numbers]
    present = column.notna().to_numpy()
    labels = [label_str(v) if ok else fill for v, ok in zip(column, present)]
    return np.array([index.get(label, -1) for label in labels], dtype=np.int64)


def _transform_categorical(spec: dict, column: pd.Series) -> tuple[np.ndarray, int]:
    index = {c: i for i, c in enumerate(spec["categories"])}
    codes = _category_codes(column, index, spec["fill"])
    out = np.zeros((len(codes), len(index)), dtype=np.float64)
    known = codes >= 0
    out[np.flatnonzero(known), codes[known]] = 1.0
    return out, int((~known).sum())
