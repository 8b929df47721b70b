"""Learning-rate schedules: the formulas, ReduceOnPlateau, and get_schedule by name."""

import math

import pytest

from bprop import schedules


def test_schedule_formulas():
    assert [schedules.Constant().rate(e, 0.1) for e in (0, 5)] == [0.1, 0.1]
    assert [schedules.StepDecay(2, 0.5).rate(e, 1.0) for e in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert schedules.ExponentialDecay(0.9).rate(3, 2.0) == pytest.approx(2 * 0.9**3)
    cos = schedules.CosineDecay(10, min_rate=0.01)
    assert cos.rate(0, 1.0) == 1.0
    assert cos.rate(5, 1.0) == pytest.approx(0.01 + 0.5 * 0.99)
    assert cos.rate(10, 1.0) == pytest.approx(0.01)
    assert cos.rate(20, 1.0) == pytest.approx(0.01)


def test_reduce_on_plateau():
    plateau = schedules.ReduceOnPlateau(factor=0.5, patience=2, min_delta=0.0)
    rates = []
    for value in [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8]:
        rates.append(plateau.rate(0, 1.0))
        plateau.observe(value)
    assert rates == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    assert plateau.rate(0, 1.0) == 0.25


@pytest.mark.parametrize(
    "bad",
    [
        lambda: schedules.StepDecay(0),
        lambda: schedules.CosineDecay(0),
        lambda: schedules.ReduceOnPlateau(factor=1.5),
        lambda: schedules.get_schedule("warm"),
    ],
)
def test_schedule_errors(bad):
    with pytest.raises(ValueError):
        bad()


def test_get_schedule_gives_cosine_its_length_from_epochs():
    cosine = schedules.get_schedule("cosine", epochs=4)
    assert isinstance(cosine, schedules.CosineDecay)
    assert cosine.total_epochs == 4
    assert schedules.get_schedule("cosine", epochs=4, total_epochs=9).total_epochs == 9  # explicit wins
    with pytest.raises(ValueError, match="schedule='cosine' needs its length"):
        schedules.get_schedule("cosine")


@pytest.mark.parametrize(
    "name, kwargs, fragment",
    [
        ("step", {"step_size": 0}, "step_size must be an integer >= 1, got 0"),
        ("step", {"step_size": 2.5}, "step_size must be an integer >= 1, got 2.5"),
        ("step", {"size": 3}, "unexpected keyword argument 'size'"),
        ("exponential", {"gamma": "0.9"}, "gamma must be a number, got '0.9'"),
        ("cosine", {"min_rate": math.nan}, "min_rate must be a finite number, got nan"),
        ("plateau", {"factor": 1.0}, "factor must be in (0, 1)"),
        ("plateau", {"min_delta": math.nan}, "min_delta must be a finite number, got nan"),
    ],
)
def test_get_schedule_turns_bad_parameters_into_a_value_error_naming_schedule(name, kwargs, fragment):
    with pytest.raises(ValueError) as caught:
        schedules.get_schedule(name, epochs=5, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"schedule={name!r}")
    assert fragment in message
    assert "Schedule instance" in message
