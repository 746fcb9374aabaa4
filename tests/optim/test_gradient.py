"""numerical_gradient: the seed's central difference, bit for bit."""

import inspect
import math

import numpy as np
import pytest

from pipeline.optim import (
    numerical_gradient,
)
from tests.harness import bowl, square


@pytest.mark.parametrize(
    "point, printed",
    [
        ((-1, 1), (-1.9999999967268423, 1.9999999967268423)),
        ((0, 5), (0.0, 9.99999993922529)),
        ((5, -5), (9.999999974752427, -9.999999974752427)),
    ],
)
def test_numerical_gradient_reproduces_the_seed_to_the_last_bit(point, printed):
    assert numerical_gradient(bowl, *point, eps=1e-7) == printed


def test_numerical_gradient_defaults_to_the_seed_code_eps():
    assert inspect.signature(numerical_gradient).parameters["eps"].default == 1e-4
    by_default = numerical_gradient(bowl, 0.3, -1.7)
    assert by_default == numerical_gradient(bowl, 0.3, -1.7, eps=1e-4)
    assert by_default != numerical_gradient(bowl, 0.3, -1.7, eps=1e-7)


def test_numerical_gradient_moves_one_coordinate_at_a_time():
    calls = []

    def spy(x, y, z):
        calls.append((x, y, z))
        return 0.0

    numerical_gradient(spy, 1, 2.5, -3, eps=0.5)
    assert calls == [
        (1.25, 2.5, -3),
        (0.75, 2.5, -3),
        (1, 2.75, -3),
        (1, 2.25, -3),
        (1, 2.5, -2.75),
        (1, 2.5, -3.25),
    ]
    # The untouched coordinates are passed as given, ints included.
    assert type(calls[0][2]) is int


def test_numerical_gradient_returns_a_tuple_of_floats_also_for_one_coordinate():
    gradient = numerical_gradient(square, 3)
    assert type(gradient) is tuple
    assert len(gradient) == 1
    assert type(gradient[0]) is float
    assert gradient[0] == pytest.approx(6.0, abs=1e-9)
    assert type(numerical_gradient(lambda x: np.float64(x) ** 2, 3.0)[0]) is float


@pytest.mark.parametrize("x, y", [(0.0, 0.0), (0.7, -1.3), (-2.0, 0.5), (3.1, 2.2)])
def test_numerical_gradient_is_accurate_on_a_smooth_function(x, y):
    def wave(x, y):
        return math.sin(x) * math.exp(0.5 * y) + x * y**3

    exact = (math.cos(x) * math.exp(0.5 * y) + y**3, 0.5 * math.sin(x) * math.exp(0.5 * y) + 3 * x * y**2)
    assert numerical_gradient(wave, x, y) == pytest.approx(exact, rel=1e-7, abs=1e-8)


@pytest.mark.parametrize("eps", [0, -1e-4, float("nan"), float("inf"), True, "1e-4"])
def test_numerical_gradient_refuses_a_bad_eps(eps):
    with pytest.raises(ValueError, match=r"eps must be a finite number > 0; got"):
        numerical_gradient(bowl, 1.0, 2.0, eps=eps)


def test_numerical_gradient_needs_a_coordinate():
    with pytest.raises(ValueError, match="at least one coordinate"):
        numerical_gradient(lambda: 0.0)
