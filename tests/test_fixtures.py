"""Training reproduces, bit for bit, the weights recorded before the package was reshaped (issue 13).

The recipes live in ``scripts/record_fixtures.py``, one definition for recording and checking; the
fixtures in ``tests/data/fixtures`` were recorded by it from the commit named in ``index.json``. A
failure here means a change moved a number. Bit-identity holds on the recording platform only (NumPy,
OpenBLAS, CPU family): elsewhere, re-record from that commit, never from the changed code.
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


def platform_note() -> str:
    here, recorded = recorder.platform_facts(), INDEX["platform"]
    if here == recorded:
        return "same platform as the recording, so a real change of a number"
    return f"recorded on {recorded}, running on {here}: re-record from {INDEX['recorded_from']} on this platform"


def difference(name: str, key: str, got: np.ndarray, want: np.ndarray) -> str | None:
    """None when ``got`` is ``want`` bit for bit, else what differs."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"{key} is {got.dtype}{list(got.shape)}, the fixture {want.dtype}{list(want.shape)}"
    if got.tobytes() == want.tobytes():
        return None
    gap = np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)), initial=0.0)
    return f"{key} differs, max abs difference {gap:.3g}"


def test_every_configuration_is_recorded():
    assert sorted(CONFIGURATIONS) == sorted(INDEX["configurations"]), "re-run scripts/record_fixtures.py"


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_training_reproduces_the_recorded_weights(name, retrain):
    run = retrain(name)
    with np.load(FIXTURES / INDEX["configurations"][name]["file"], allow_pickle=False) as archive:
        fixture = {key: archive[key] for key in archive.files}
    assert sorted(run.arrays) == sorted(fixture), f"{name}: the run's arrays are not the fixture's"
    problems = [difference(name, key, run.arrays[key], fixture[key]) for key in sorted(fixture)]
    problems = [p for p in problems if p]
    assert not problems, f"configuration {name}: {'; '.join(problems)} ({platform_note()})"


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_training_stops_as_recorded(name, retrain):
    recorded = INDEX["configurations"][name]["facts"]
    assert retrain(name).facts == recorded, f"configuration {name}: epochs or stopping differ from the recording"
