"""Helpers shared by the tests of the ``bprop`` command line (tests/test_cli_*.py)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bprop.cli import main

# Small, fast training runs: the CSV tests only check the plumbing, not the learning.
FAST = ["--epochs", "5", "--layers", "4", "--quiet", "--val-split", "0.1"]  # validation rows even in tiny tables


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``bprop ARGV`` in-process through the console-script function: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """``bprop ARGV`` as a real process (``python -m bprop.cli``)."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "bprop.cli", *map(str, argv)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def assert_one_error(code: int, out: str, err: str, *fragments: str, alone: bool = True) -> str:
    """Exit 2, exactly one ``error: …`` line on stderr (containing every fragment), no traceback.

    ``alone``: stderr holds that line only; otherwise one-line notices and warnings may precede it.
    """
    assert code == 2, (code, out, err)
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert "Traceback" not in err, err
    assert "Traceback" not in out, err
    if alone:
        assert lines == errors, err
    # Nothing else on stderr but one-line notices/warnings: no source lines, no stack frames.
    assert all(line.startswith(("error: ", "notice: ", "warning: ")) for line in lines), err
    message = errors[0]
    for fragment in fragments:
        assert fragment.lower() in message.lower(), (fragment, message)
    return message


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative name → SHA-256 of its bytes)."""
    return {str(p.relative_to(folder)): _digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


_REAL_OPEN = io.open  # tests may make open() refuse a file; the snapshot must still read it


def _digest(path: Path) -> str:
    with _REAL_OPEN(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def mixed_table(n: int = 60, seed: int = 0, *, gaps: bool = True) -> str:
    """CSV text: numeric x1, x2, a string feature 'colour', a few empty cells, string label 'kind' last.

    The label is a clean function of the features, so even a 5-epoch run learns something.
    """
    rng = np.random.default_rng(seed)
    lines = ["x1,x2,colour,kind"]
    colours = ["red", "green", "blue"]
    for i in range(n):
        x1, x2 = rng.normal(size=2)
        colour = colours[i % 3]
        kind = "cat" if x1 + (colour == "red") > 0.3 else "dog"
        cells = [f"{x1:.4f}", f"{x2:.4f}", colour, kind]
        if gaps and i % 17 == 3:
            cells[1] = ""
        if gaps and i % 19 == 5:
            cells[2] = ""
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def regression_table(n: int = 60, seed: int = 1) -> str:
    rng = np.random.default_rng(seed)
    lines = ["a,b,price"]
    for _ in range(n):
        a, b = rng.normal(size=2)
        lines.append(f"{a:.4f},{b:.4f},{10 + 3 * a - 2 * b + 0.1 * rng.normal():.4f}")
    return "\n".join(lines) + "\n"


def table_rows(out: str) -> dict[str, tuple[float, float]]:
    """The train / validation / test rows of train's results table: name → (loss, metric)."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("train", "validation", "test"):
            rows[parts[0]] = (float(parts[1]), float(parts[2]))
    return rows


def train_model(folder: Path, name: str, text: str, *flags: str) -> tuple[Path, Path]:
    """Write ``text`` to ``folder/name.csv`` and train a small model on it: (model file, CSV)."""
    data = write_csv(folder / f"{name}.csv", text)
    model = folder / f"{name}.safetensors"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(["train", str(data), *FAST, "--layers", "8", "--out", str(model), *flags])
    assert code == 0, err.getvalue()
    return model, data
