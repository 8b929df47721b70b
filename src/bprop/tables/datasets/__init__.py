"""Datasets shipped inside the package, so examples and ``bprop train`` work offline.

``digits.csv.gz`` is the UCI "Optical Recognition of Handwritten Digits" test set as bundled with
scikit-learn (E. Alpaydin, C. Kaynak, 1998; UCI Machine Learning Repository, CC BY 4.0):
1,797 images of 8×8 pixels with intensities 0–16, labels 0–9. Columns ``pixel_<row>_<col>`` then
``label``. It was produced once by ``scripts/make_digits_csv.py``.
"""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["digits_path", "load_digits", "DIGITS_TARGET"]

DIGITS_TARGET = "label"
_DIGITS_FILE = "digits.csv.gz"


def digits_path() -> Path:
    """Filesystem path of the bundled digits CSV (gzip-compressed; pandas reads it directly)."""
    path = Path(str(resources.files(__name__).joinpath(_DIGITS_FILE)))
    if not path.is_file():
        # Only a broken install gets here; say so rather than failing later with a vague error.
        raise ValueError(f"the bundled digits dataset is missing at {path}; reinstall bprop")
    return path


def load_digits(*, as_frame: bool = False) -> tuple[np.ndarray, np.ndarray] | pd.DataFrame:
    """Load the bundled 8×8 handwritten digits.

    Args:
        as_frame: return one pandas DataFrame (64 pixel columns and ``label``) instead of arrays.

    Returns:
        ``(X, y)`` with X ``(1797, 64)`` float64 pixel intensities 0–16 and y ``(1797,)`` int64
        labels 0–9; or the DataFrame when ``as_frame`` (needs pandas).

    Example:
        >>> X, y = load_digits()
        >>> X.shape, y.shape, sorted(set(y.tolist()))[:3]
        ((1797, 64), (1797,), [0, 1, 2])
    """
    path = digits_path()
    if as_frame:
        import pandas as pd

        return pd.read_csv(path)
    # numpy alone is enough for the arrays, so the core install can use the dataset too.
    with gzip.open(path, "rt", encoding="ascii") as f:
        table = np.loadtxt(f, delimiter=",", skiprows=1, dtype=np.int64)
    return table[:, :-1].astype(np.float64), table[:, -1]
