"""minimize: the seed's tables, trajectories, gradients given or numerical, bounds."""

import numpy as np
import pytest

from pipeline.optim import (
    SGD,
    Adam,
    Momentum,
    Nesterov,
    Sign,
    Trajectory,
    minimize,
    numerical_gradient,
)
from tests.harness import bowl, square


def test_seed_table_one_variable_sign_walk():
    path = minimize(square, 70, Sign(1), 80)
    expected = np.concatenate([np.arange(70, -1, -1), np.zeros(10)]).astype(np.float64)
    np.testing.assert_array_equal(path.x, expected)
    assert path.x[70] == 0.0
    np.testing.assert_array_equal(path.values, expected**2)


def test_seed_table_two_variable_sign_walk():
    path = minimize(bowl, (3, 4), Sign(1), 6)
    np.testing.assert_array_equal(path.points, [[3, 4], [2, 3], [1, 2], [0, 1], [0, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(path.values, [25, 13, 5, 1, 0, 0, 0])


@pytest.mark.parametrize(
    "x0, dimensions", [(2.5, 1), ([2.5], 1), ((1, 2), 2), (np.array([1.0, -2.0, 0.5]), 3)]
)
@pytest.mark.parametrize("iterations", [0, 1, 9])
def test_trajectory_shapes_and_accessors(x0, dimensions, iterations):
    def f(*point):
        return sum(c * c for c in point)

    path = minimize(f, x0, SGD(0.1), iterations)
    assert isinstance(path, Trajectory)
    assert path.points.shape == (iterations + 1, dimensions) and path.points.dtype == np.float64
    assert path.values.shape == (iterations + 1,) and path.values.dtype == np.float64
    np.testing.assert_array_equal(path.points[0], np.ravel(x0))
    np.testing.assert_array_equal(path.x, path.points[:, 0])
    np.testing.assert_array_equal(path.final, path.points[-1])
    assert path.final_value == path.values[-1] == f(*path.final)
    assert path.iterations == iterations


def test_default_gradient_is_numerical_gradient():
    by_default = minimize(bowl, (3.0, -1.5), SGD(0.1), 12)
    explicit = minimize(bowl, (3.0, -1.5), SGD(0.1), 12, grad=lambda x, y: numerical_gradient(bowl, x, y))
    np.testing.assert_array_equal(by_default.points, explicit.points)


def test_given_gradient_is_used():
    # A gradient that always says "uphill is +x" walks left by lr each step, whatever f is.
    path = minimize(bowl, (0.0, 0.0), SGD(0.5), 4, grad=lambda x, y: (1.0, 0.0))
    np.testing.assert_array_equal(path.points, [[0, 0], [-0.5, 0], [-1, 0], [-1.5, 0], [-2, 0]])
    one_variable = minimize(square, 1.0, SGD(0.5), 2, grad=lambda x: 1.0)  # a bare number is fine
    np.testing.assert_array_equal(one_variable.x, [1.0, 0.5, 0.0])


def test_bounds_project_every_step_onto_the_box():
    # The seed's -100 <= x <= 100: descending f(x) = -x walks right until the wall.
    path = minimize(lambda x: -x, 0, Sign(30), 6, bounds=(-100, 100))
    np.testing.assert_array_equal(path.x, [0, 30, 60, 90, 100, 100, 100])
    per_coordinate = minimize(lambda x, y: -x + y, (0, 0), Sign(4), 3, bounds=[(-1, 5), (-6, 6)])
    np.testing.assert_array_equal(per_coordinate.points, [[0, 0], [4, -4], [5, -6], [5, -6]])
    shared = minimize(lambda x, y: -x + y, (0, 0), Sign(4), 3, bounds=(-5, 5))
    np.testing.assert_array_equal(shared.points, [[0, 0], [4, -4], [5, -5], [5, -5]])


def test_minimize_resets_the_optimizer_first():
    momentum = Momentum(0.1, 0.9)
    first = minimize(bowl, (3.0, 4.0), momentum, 10)
    second = minimize(bowl, (3.0, 4.0), momentum, 10)
    np.testing.assert_array_equal(first.points, second.points)


@pytest.mark.parametrize(
    "optimizer", [SGD(0.1), Momentum(0.05, 0.9), Nesterov(0.05, 0.9), Adam(0.3)], ids=repr
)
def test_every_optimizer_gets_down_the_bowl(optimizer):
    path = minimize(bowl, (3.0, 4.0), optimizer, 300)
    assert path.final_value < 1e-6 * path.values[0]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(iterations=-1), ValueError, r"iterations must be an integer >= 0; got -1"),
        (dict(iterations=2.0), ValueError, r"iterations must be an integer >= 0; got 2.0"),
        (dict(iterations=True), ValueError, r"iterations must be an integer >= 0; got True"),
        (dict(x0=[]), ValueError, r"x0 must be a finite number or a non-empty sequence"),
        (dict(x0=[[1.0, 2.0]]), ValueError, r"x0 must be a finite number or a non-empty sequence"),
        (dict(x0=float("nan")), ValueError, r"x0 must be a finite number"),
        (dict(x0="abc"), ValueError, r"x0 must be a number or a sequence of numbers; got 'abc'"),
        (
            dict(optimizer={"name": "sgd", "lr": 0.1}),
            TypeError,
            r"optimizer must be an Optimizer \(see make_optimizer\)",
        ),
        (dict(bounds=(5, -5)), ValueError, r"bounds need lo <= hi for every coordinate; got \(5, -5\)"),
        (dict(bounds=(0, float("nan"))), ValueError, r"bounds need lo <= hi"),
        (
            dict(bounds=(1, 2, 3)),
            ValueError,
            r"bounds must be \(lo, hi\) or 2 such pairs, one per coordinate",
        ),
        (dict(bounds=[(0, 1)] * 3), ValueError, r"bounds must be \(lo, hi\) or 2 such pairs"),
        (dict(bounds=(-1, 1)), ValueError, r"x0 = \[3.0, 4.0\] lies outside bounds \(-1, 1\)"),
        (
            dict(grad=lambda x, y: (1.0,)),
            ValueError,
            r"grad must return 2 number\(s\), one per coordinate; got shape \(1,\)",
        ),
    ],
)
def test_minimize_refuses_bad_arguments(kwargs, error, message):
    arguments = dict(f=bowl, x0=(3.0, 4.0), optimizer=SGD(0.1), iterations=3)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        minimize(**arguments)
