"""Run an exported graph in onnxruntime on a table's rows and compare it with bprop's own prediction."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..modelfile import Model
from .features import onnx_inputs
from .model import stored_encoder

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CheckResult", "Comparison", "check_export", "TOLERANCE"]

#: Largest absolute difference accepted between onnxruntime and bprop (probabilities; values are compared
#: in units of the target's standard deviation, since a float32 network's rounding scales with it).
TOLERANCE = 1e-5


@dataclass(frozen=True)
class CheckResult:
    """How an export's predictions compare with bprop's on ``n_rows`` rows.

    Attributes:
        n_rows: rows compared.
        what: ``"probabilities"``, ``"values"`` or ``"outputs"`` (an export without preprocessing).
        label_mismatches: rows whose label differs (classification), else 0.
        largest_difference: the largest absolute difference of ``what``.
        tolerance: what the difference may reach for the check to pass.
    """

    n_rows: int
    what: str
    label_mismatches: int
    largest_difference: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.label_mismatches == 0 and self.largest_difference <= self.tolerance

    def summary(self) -> str:
        labels = "" if self.what != "probabilities" else (
            "the same labels on every row" if self.label_mismatches == 0
            else f"a different label on {self.label_mismatches} row(s)"
        )  # fmt: skip
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"check {verdict} on {self.n_rows} rows: onnxruntime vs bprop predict: {labels + '; ' if labels else ''}"
            f"largest difference in {self.what} {self.largest_difference:.3g} (tolerance {self.tolerance:.3g})"
        )


def _session(path: str | os.PathLike):
    try:
        import onnxruntime
    except ImportError:
        raise ValueError("checking an export needs onnxruntime: pip install onnxruntime") from None
    return onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])


class Comparison:
    """bprop's predictions of a table's raw rows and the graph inputs for the same rows, ready to compare
    with any export of ``model``: built first, so rows that cannot be encoded fail before anything is written.

    ``table`` holds raw rows read as ``bprop predict`` reads them; the target column, if present, is ignored.
    """

    def __init__(self, model: Model, table: pd.DataFrame) -> None:
        self.model = model
        self.encoder = encoder = stored_encoder(model)
        self.X = encoder.features.transform(table.drop(columns=[encoder.target.name_], errors="ignore"))
        self.reference = model.net.forward(self.X)
        self.feeds = onnx_inputs(encoder.features, table)

    def run(self, path: str | os.PathLike) -> CheckResult:
        """Run the ONNX file at ``path`` in onnxruntime and compare."""
        session = _session(path)
        n_rows, reference, target = len(self.X), self.reference, self.encoder.target
        if [node.name for node in session.get_inputs()] == ["input"]:  # the network alone
            (output,) = session.run(["output"], {"input": self.X.astype(self.model.net.dtype)})
            difference = float(np.abs(output.astype(np.float64) - reference).max(initial=0.0))
            return CheckResult(n_rows, "outputs", 0, difference, TOLERANCE)
        outputs = [o.name for o in session.get_outputs()]
        results = dict(zip(outputs, session.run(outputs, self.feeds)))
        if target.task_ == "regression":
            values = target.inverse_transform(reference)
            difference = float(np.abs(results["value"] - values).max(initial=0.0))
            return CheckResult(n_rows, "values", 0, difference, TOLERANCE * max(1.0, target.scale_))
        labels = np.array([str(c) for c in target.inverse_transform(reference)], dtype=object)
        mismatches = int((np.array([str(c) for c in results["label"]], dtype=object) != labels).sum())
        difference = float(np.abs(results["probabilities"].astype(np.float64) - reference).max(initial=0.0))
        return CheckResult(n_rows, "probabilities", mismatches, difference, TOLERANCE)


def check_export(path: str | os.PathLike, model: Model, table: pd.DataFrame) -> CheckResult:
    """Predict ``table``'s raw rows with the ONNX file at ``path`` (onnxruntime) and with ``model`` (bprop)."""
    return Comparison(model, table).run(path)
