"""Training reproduces, bit for bit, the weights recorded before the package was reshaped (issue 13).

The recipes live in ``scripts/record_fixtures.py``, one definition for recording and checking; the
fixtures in ``tests/data/fixtures`` were recorded by it from the commit named in ``index.json``. A
failure here means a change moved a number. Bit-identity holds on the recording platform only (NumPy,
OpenBLAS and the CPU kernels it picks): elsewhere the weights must agree to the rounding that a different
order of BLAS sums leaves after a few epochs (``TOLERANCE``), far below what a changed formula moves;
re-record from that commit, never from the changed code, to check bit-identity on another platform.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "fixtures"


def load_recorder():
    spec = importlib.util.spec_from_file_location("record_fixtures", ROOT / "scripts" / "record_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


recorder = load_recorder()
INDEX = json.loads((FIXTURES / "index.json").read_text())
CONFIGURATIONS = {config.name: config for config in recorder.CONFIGURATIONS}


@pytest.fixture(scope="session")
def retrain(tmp_path_factory):
    """Train a configuration once per session; the weights test and the facts test share the run."""
    runs = {}

    def run(name: str):
        if name not in runs:
            runs[name] = CONFIGURATIONS[name].train(tmp_path_factory.mktemp(name))
        return runs[name]

    return run


# Off the recording platform: the largest difference (relative to the array's scale) a different BLAS summation
# order may leave, by the dtype the run computed in (float64 loss histories of a float32 run round as float32).
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


def same_platform() -> bool:
    return recorder.platform_facts() == INDEX["platform"]


def platform_note() -> str:
    here, recorded = recorder.platform_facts(), INDEX["platform"]
    if here == recorded:
        return "same platform as the recording, so a real change of a number"
    return f"recorded on {recorded}, running on {here}: re-record from {INDEX['recorded_from']} on this platform"


def difference(key: str, got: np.ndarray, want: np.ndarray, tolerance: float) -> str | None:
    """None when ``got`` is ``want`` bit for bit, else what differs."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"{key} is {got.dtype}{list(got.shape)}, the fixture {want.dtype}{list(want.shape)}"
    if got.tobytes() == want.tobytes():
        return None
    gap = np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)), initial=0.0)
    scale = max(1.0, float(np.max(np.abs(want.astype(np.float64)), initial=0.0)))
    if not same_platform() and gap <= tolerance * scale:
        return None
    return f"{key} differs, max abs difference {gap:.3g}"


def test_every_configuration_is_recorded():
    assert sorted(CONFIGURATIONS) == sorted(INDEX["configurations"]), "re-run scripts/record_fixtures.py"


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_training_reproduces_the_recorded_weights(name, retrain):
    run = retrain(name)
    with np.load(FIXTURES / INDEX["configurations"][name]["file"], allow_pickle=False) as archive:
        fixture = {key: archive[key] for key in archive.files}
    assert sorted(run.arrays) == sorted(fixture), f"{name}: the run's arrays are not the fixture's"
    computed_in = min((a.dtype for a in fixture.values() if a.dtype.kind == "f"), key=lambda d: d.itemsize)
    problems = [difference(key, run.arrays[key], fixture[key], TOLERANCE[computed_in]) for key in sorted(fixture)]
    problems = [p for p in problems if p]
    assert not problems, f"configuration {name}: {'; '.join(problems)} ({platform_note()})"


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_training_stops_as_recorded(name, retrain):
    recorded = INDEX["configurations"][name]["facts"]
    assert retrain(name).facts == recorded, f"configuration {name}: epochs or stopping differ from the recording"


def test_a_change_beyond_the_rounding_is_reported_on_any_platform():
    want = np.linspace(-1, 1, 5, dtype=np.float32)
    assert difference("w", want.copy(), want, TOLERANCE[want.dtype]) is None
    moved = want + np.float32(1e-3)  # what a changed formula moves, at the least
    assert difference("w", moved, want, TOLERANCE[want.dtype]) == "w differs, max abs difference 0.001"
