"""Learning-rate schedules: the rate for each epoch from the base rate η₀ (epochs count from 0).

A schedule is asked once at the start of every epoch; :class:`ReduceOnPlateau` also watches the
monitored loss reported at the end of each epoch.
"""

from __future__ import annotations

import math


class Schedule:
    def rate(self, epoch: int, base_rate: float) -> float:
        raise NotImplementedError

    def observe(self, value: float) -> None:
        """Called with the monitored loss at the end of every epoch (most schedules ignore it)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """η = η₀."""

    def rate(self, epoch, base_rate):
        return base_rate


class StepDecay(Schedule):
    """η = η₀ · γ^⌊epoch / step_size⌋."""

    def __init__(self, step_size: int = 10, gamma: float = 0.1):
        if int(step_size) < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size!r}")
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def rate(self, epoch, base_rate):
        return base_rate * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """η = η₀ · γ^epoch."""

    def __init__(self, gamma: float = 0.95):
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        self.gamma = float(gamma)

    def rate(self, epoch, base_rate):
        return base_rate * self.gamma**epoch


class CosineDecay(Schedule):
    """η = η_min + ½ (η₀ − η_min)(1 + cos(π · min(epoch, T) / T)) over ``T = total_epochs``."""

    def __init__(self, total_epochs: int, min_rate: float = 0.0):
        if int(total_epochs) < 1:
            raise ValueError(f"total_epochs must be >= 1, got {total_epochs!r}")
        if min_rate < 0:
            raise ValueError(f"min_rate must be >= 0, got {min_rate!r}")
        self.total_epochs, self.min_rate = int(total_epochs), float(min_rate)

    def rate(self, epoch, base_rate):
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return self.min_rate + 0.5 * (base_rate - self.min_rate) * (1 + math.cos(math.pi * progress))


class ReduceOnPlateau(Schedule):
    """Multiply η by ``factor`` when the monitored loss has not improved by ``min_delta`` for
    ``patience`` epochs; never below ``min_rate``. The counter restarts after each reduction."""

    def __init__(self, factor: float = 0.1, patience: int = 10, min_delta: float = 1e-4, min_rate: float = 0.0):
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        if int(patience) < 1:
            raise ValueError(f"patience must be >= 1, got {patience!r}")
        self.factor, self.patience = float(factor), int(patience)
        self.min_delta, self.min_rate = float(min_delta), float(min_rate)
        self._scale, self._best, self._wait = 1.0, math.inf, 0

    def rate(self, epoch, base_rate):
        return max(base_rate * self._scale, self.min_rate)

    def observe(self, value):
        if value < self._best - self.min_delta:
            self._best, self._wait = value, 0
            return
        self._wait += 1
        if self._wait >= self.patience:
            self._scale *= self.factor
            self._wait = 0

    def state_dict(self):
        return {"scale": self._scale, "best": self._best, "wait": self._wait}

    def load_state_dict(self, state):
        self._scale, self._best, self._wait = state["scale"], state["best"], state["wait"]


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": StepDecay,
    "exponential": ExponentialDecay,
    "cosine": CosineDecay,
    "plateau": ReduceOnPlateau,
}


def get_schedule(spec: str | Schedule | None, **kwargs) -> Schedule:
    """A schedule from a name (keyword arguments go to its constructor), an instance, or ``None``."""
    if spec is None:
        return Constant()
    if isinstance(spec, Schedule):
        return spec
    cls = SCHEDULES.get(spec) if isinstance(spec, str) else None
    if cls is None:
        raise ValueError(f"unknown learning-rate schedule {spec!r}; choose one of {sorted(SCHEDULES)}")
    return cls(**kwargs)
