"""The one-weight mode: y = W·x on (0, 0), (1, 2), (2, 4); drag W, step down the error curve.

The numbers are :mod:`bprop.insight.one_weight`'s, which are the engine's (one real step of a one-unit
network per table). A ``sample`` step descends on one example's error (cycling through them), a
``batch`` or ``epoch`` step on the error summed over the three, as the article does.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..insight.explain import json_safe
from ..insight.one_weight import ONE_WEIGHT_DATA, ONE_WEIGHT_RATE, ONE_WEIGHT_TRIES, one_weight_curve, one_weight_try

#: The W axis the page draws; ``set_weight`` accepts the protocol's wider range.
CURVE_RANGE = (-1.0, 5.0)


class OneWeightSession:
    """W, the path it took, and the engine's table at the current W."""

    mode = "one-weight"

    def __init__(self, *, learning_rate: float | None = None, start: float = ONE_WEIGHT_TRIES[0]) -> None:
        self.learning_rate = ONE_WEIGHT_RATE if learning_rate is None else learning_rate
        self.W = float(start)
        self.path: list[float] = [self.W]
        self.steps = 0
        self.sample_cursor = 0
        self.curve = one_weight_curve(np.linspace(*CURVE_RANGE, 121))
        self.notice: str | None = None

    def set_weight(self, W: float) -> None:
        self.W = float(W)
        self.path = [self.W]
        self.notice = None

    def step(self, unit: str, count: int = 1, budget: float | None = None) -> int:
        """Take ``count`` descent steps (fewer when ``budget`` seconds run out); returns how many."""
        started = time.perf_counter()
        for done in range(count):
            if budget is not None and done and time.perf_counter() - started > budget:
                return done
            if unit == "sample":
                data = [ONE_WEIGHT_DATA[self.sample_cursor % len(ONE_WEIGHT_DATA)]]
                self.sample_cursor += 1
            else:
                data = ONE_WEIGHT_DATA
            with np.errstate(over="ignore", invalid="ignore"):
                W = one_weight_try(self.W, learning_rate=self.learning_rate, data=data)["W_next"]
            if not np.isfinite(W) or abs(W) > 1e6:
                self.notice = f"W ran away to {W:.3g}; use a smaller learning rate, or press reset"
                raise ValueError(self.notice)
            self.W = W
            self.steps += 1
            self.path.append(W)
            self.path = self.path[-200:]
        return count

    def state(self) -> dict[str, Any]:
        with np.errstate(over="ignore", invalid="ignore"):
            table = one_weight_try(self.W, learning_rate=self.learning_rate)
        E_path = one_weight_curve(self.path)["E"]
        return json_safe({
            "type": "state",
            "mode": self.mode,
            "settings": {"learning_rate": self.learning_rate},
            "steps": self.steps,
            "W": self.W,
            "table": table,
            "curve": self.curve,
            "path": {"W": self.path, "E": E_path},
            "tries": ONE_WEIGHT_TRIES,
            "stopped": self.notice,
        })[0]  # fmt: skip
