"""Helpers of the ONNX export tests: tables with numbers, strings and gaps, and onnxruntime runs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

import bprop
from bprop.export import onnx_inputs
from bprop.tables.data import TableEncoder, read_csv
from cli_support import run


def table_text(n: int, seed: int, *, task: str = "classification", unseen: bool = False) -> str:
    """CSV text: numeric ``size`` (gaps) and ``year`` (large offset), string ``colour`` (gaps), a code
    ``zip`` with leading zeros, and the target last (string classes, or a number for regression).

    ``unseen``: some rows carry a colour and a zip code the training rows never had.
    """
    rng = np.random.default_rng(seed)
    colours = ["red", "green", "blue", "violet"]
    zips = ["007", "010", "123"]
    lines = ["size,year,colour,zip,target"]
    for i in range(n):
        size, year = rng.normal(), 1990 + int(rng.integers(0, 30))
        colour, code = colours[i % 4], zips[i % 3]
        if unseen and i % 5 == 1:
            colour, code = "mauve", "999"
        score = size + (colour == "red") - 0.05 * (year - 2005)
        target = f"{10 + 3 * score + 0.1 * rng.normal():.4f}" if task == "regression" else ("hi" if score > 0 else "lo")
        cells = [f"{size:.4f}", str(year), colour, code, target]
        if i % 7 == 2:
            cells[0] = ""
        if i % 9 == 4:
            cells[2] = ""
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def session(path: Path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(path: Path, model_path: Path, data: Path) -> dict[str, np.ndarray]:
    """The ONNX graph's outputs on DATA's raw columns, read as ``bprop predict`` reads them."""
    encoder = TableEncoder.from_dict(bprop.load(model_path).preprocessing)
    table = read_csv(data, **encoder.read_options())
    s = session(path)
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, onnx_inputs(encoder.features, table))))


def bprop_predict(capsys, model_path: Path, data: Path, *flags: str) -> pd.DataFrame:
    """What ``bprop predict MODEL DATA`` prints, as a table."""
    code, out, err = run(capsys, "predict", model_path, data, *flags)
    assert code == 0, err
    return pd.read_csv(io.StringIO(out), dtype={"target": str})
