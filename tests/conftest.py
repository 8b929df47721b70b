import json
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def worked_example() -> dict:
    """The seed's reference values (a copy of shared/reference/worked_example.json)."""
    return json.loads((DATA / "worked_example.json").read_text())


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


# Hypothesis: a small, deterministic profile so the fuzz tests stay within the suite's time budget.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "bprop", max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("bprop")
