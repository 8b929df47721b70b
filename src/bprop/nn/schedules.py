"""Learning-rate schedules: the rate for each epoch from the base rate η₀ (epochs count from 0).

A schedule is asked once at the start of every epoch; :class:`ReduceOnPlateau` also watches the
monitored loss reported at the end of each epoch.
"""

from __future__ import annotations

import inspect
import math

from .checks import check_fraction, check_number, check_positive_int


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
        self.step_size = check_positive_int("step_size", step_size)
        self.gamma = check_fraction("gamma", gamma, zero=False, one=True)

    def rate(self, epoch, base_rate):
        return base_rate * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """η = η₀ · γ^epoch."""

    def __init__(self, gamma: float = 0.95):
        self.gamma = check_fraction("gamma", gamma, zero=False, one=True)

    def rate(self, epoch, base_rate):
        return base_rate * self.gamma**epoch


class CosineDecay(Schedule):
    """η = η_min + ½ (η₀ − η_min)(1 + cos(π · min(epoch, T) / T)) over ``T = total_epochs``."""

    def __init__(self, total_epochs: int, min_rate: float = 0.0):
        self.total_epochs, self.min_rate = (
            check_positive_int("total_epochs", total_epochs),
            check_number("min_rate", min_rate, minimum=0),
        )

    def rate(self, epoch, base_rate):
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return self.min_rate + 0.5 * (base_rate - self.min_rate) * (1 + math.cos(math.pi * progress))


class ReduceOnPlateau(Schedule):
    """Multiply η by ``factor`` when the monitored loss has not improved by ``min_delta`` for
    ``patience`` epochs; never below ``min_rate``. The counter restarts after each reduction."""

    def __init__(self, factor: float = 0.1, patience: int = 10, min_delta: float = 1e-4, min_rate: float = 0.0):
        self.factor = check_fraction("factor", factor, zero=False)
        self.patience = check_positive_int("patience", patience)
        self.min_delta, self.min_rate = (
            check_number("min_delta", min_delta, minimum=0),
            check_number("min_rate", min_rate, minimum=0),
        )
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


ACCEPTED_FORMS = (
    f"a schedule name ({', '.join(sorted(SCHEDULES))}), a bprop.nn.schedules.Schedule instance such as"
    " StepDecay(step_size=10), or None for a constant rate"
)


def get_schedule(spec: str | Schedule | None, *, epochs: int | None = None, **kwargs) -> Schedule:
    """A schedule from a name, an instance, or ``None`` (a constant rate).

    A name's keyword arguments go to its constructor; a schedule that needs a length
    (``cosine``'s ``total_epochs``) takes ``epochs`` when not given one. Anything else, or parameters
    its constructor refuses, raises ``ValueError`` naming ``schedule`` and the accepted forms.
    """
    if spec is None:
        return Constant()
    if isinstance(spec, Schedule):
        return spec
    cls = SCHEDULES.get(spec) if isinstance(spec, str) else None
    if cls is None:
        hint = f"; pass an instance, e.g. {spec.__name__}(...)" if isinstance(spec, type) else ""
        raise ValueError(f"schedule={spec!r} is not a learning-rate schedule{hint}; give {ACCEPTED_FORMS}")
    if "total_epochs" in inspect.signature(cls).parameters and "total_epochs" not in kwargs:
        if epochs is None:
            raise ValueError(f"schedule={spec!r} needs its length: give epochs= or total_epochs=")
        kwargs["total_epochs"] = epochs
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"schedule={spec!r} with {kwargs}: {exc}; give {ACCEPTED_FORMS}") from None
