"""Tests for pipeline.activations: values, gradients, stability, types, numba use."""

import math

import numba
import numpy as np
import pytest

from pipeline import activations
from pipeline.activations import (
    ACTIVATIONS,
    SELU_ALPHA,
    SELU_SCALE,
    elu,
    elu_grad,
    prelu,
    prelu_grad,
    relu,
    relu_grad,
    selu,
    selu_grad,
    sigmoid,
    sigmoid_grad,
    softplus,
    softplus_grad,
    swish,
    swish_grad,
    tanh,
    tanh_grad,
)

NAMES = sorted(ACTIVATIONS)
PIECEWISE = {"relu", "elu", "prelu", "selu"}

# Straight transcriptions of the definitions, fine wherever exp() does not overflow.
REFERENCE = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "softplus": lambda x: np.log(1.0 + np.exp(x)),
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "elu": lambda x: np.where(x > 0, x, 1.0 * (np.exp(x) - 1.0)),
    "prelu": lambda x: np.where(x > 0, x, 0.25 * x),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1.0)),
    "swish": lambda x: x / (1.0 + np.exp(-x)),
}

# Between the kinks at 0 and the exp() overflow of the reference formulas.
MODERATE = np.linspace(-30.0, 30.0, 6001)
# Every float64 an edge map can produce, and the far ends of the spec's range.
WIDE = np.concatenate(
    [
        np.linspace(-1e4, 1e4, 200_001),
        [-745.0, -720.0, -708.5, -700.0, -40.0, -1e-300, 0.0, 1e-300, 40.0, 710.0],
    ]
)
NOT_NEAR_ZERO = MODERATE[np.abs(MODERATE) > 1e-3]

RAISE_ON_BAD_FLOATS = dict(over="raise", divide="raise", invalid="raise")


def central_difference(function, x, step):
    """(f(x + step/2) - f(x - step/2)) / step, elementwise."""
    return (function(x + step / 2) - function(x - step / 2)) / step


def test_registry_holds_every_activation_and_its_gradient():
    assert NAMES == ["elu", "prelu", "relu", "selu", "sigmoid", "softplus", "swish", "tanh"]
    for name, (function, gradient) in ACTIVATIONS.items():
        assert function is getattr(activations, name)
        assert gradient is getattr(activations, name + "_grad")


@pytest.mark.parametrize("name", NAMES)
def test_values_match_the_definition(name):
    function, _ = ACTIVATIONS[name]
    np.testing.assert_allclose(function(MODERATE), REFERENCE[name](MODERATE), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_a_central_difference(name):
    function, gradient = ACTIVATIONS[name]
    x = NOT_NEAR_ZERO if name in PIECEWISE else MODERATE
    # Truncation error ~ step**2 |f'''| / 24 ~ 1e-12; rounding ~ 1e-16 |f| / step ~ 1e-10.
    np.testing.assert_allclose(gradient(x), central_difference(function, x, 1e-5), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("alpha", [0.1, 1.0, 2.5])
@pytest.mark.parametrize(
    "function, gradient, reference",
    [
        (elu, elu_grad, lambda x, a: np.where(x > 0, x, a * np.expm1(x))),
        (prelu, prelu_grad, lambda x, a: np.where(x > 0, x, a * x)),
    ],
)
def test_alpha_is_used_by_value_and_gradient(function, gradient, reference, alpha):
    np.testing.assert_allclose(function(MODERATE, alpha), reference(MODERATE, alpha), rtol=1e-14)
    np.testing.assert_allclose(function(MODERATE, alpha=alpha), reference(MODERATE, alpha), rtol=1e-14)
    np.testing.assert_allclose(
        gradient(NOT_NEAR_ZERO, alpha),
        central_difference(lambda x: function(x, alpha), NOT_NEAR_ZERO, 1e-5),
        rtol=1e-7,
        atol=1e-8,
    )
    assert gradient(0.0, alpha) == alpha


@pytest.mark.parametrize(
    "function, x, expected",
    [
        (sigmoid, 0.0, 0.5),
        (sigmoid_grad, 0.0, 0.25),
        (tanh, 0.0, 0.0),
        (tanh_grad, 0.0, 1.0),
        (softplus, 0.0, math.log(2.0)),
        (softplus_grad, 0.0, 0.5),
        (relu, 0.0, 0.0),
        (relu_grad, 0.0, 0.0),  # the left branch at the kink
        (relu, 2.5, 2.5),
        (relu_grad, 2.5, 1.0),
        (elu, 0.0, 0.0),
        (elu_grad, 0.0, 1.0),  # alpha * exp(0)
        (prelu, -4.0, -1.0),
        (prelu_grad, 0.0, 0.25),
        (selu, 0.0, 0.0),
        (selu_grad, 0.0, SELU_SCALE * SELU_ALPHA),
        (selu_grad, 1.0, SELU_SCALE),
        (swish, 0.0, 0.0),
        (swish_grad, 0.0, 0.5),
    ],
)
def test_values_at_the_kinks_and_the_origin(function, x, expected):
    assert function(x) == expected


def test_seed_identities():
    x = MODERATE
    s = sigmoid(x)
    left = x <= 0
    np.testing.assert_array_equal(sigmoid_grad(x[left]), (s * (1 - s))[left])
    # For x > 0, s * (1 - s) itself loses digits (1 - s cancels); sigmoid_grad does not.
    np.testing.assert_allclose(sigmoid_grad(x), s * (1 - s), rtol=0, atol=2e-16)
    np.testing.assert_allclose(tanh_grad(x), 1 - tanh(x) ** 2, rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(swish(x), x * s)
    np.testing.assert_allclose(swish_grad(x), swish(x) + s * (1 - swish(x)), rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(softplus_grad(x), s)


@pytest.mark.parametrize("name", NAMES)
def test_finite_without_overflow_over_the_whole_range(name):
    function, gradient = ACTIVATIONS[name]
    with np.errstate(**RAISE_ON_BAD_FLOATS):
        values = function(WIDE)
        slopes = gradient(WIDE)
    assert np.isfinite(values).all()
    assert np.isfinite(slopes).all()


@pytest.mark.parametrize(
    "ufunc", [activations._elu, activations._elu_grad, activations._prelu, activations._prelu_grad]
)
@pytest.mark.parametrize("alpha", [0.1, 1.0, 3.0])
def test_alpha_ufuncs_raise_no_overflow(ufunc, alpha):
    # elu and prelu are @njit wrappers, whose loops numpy does not check for flags;
    # the ufuncs they call are the code that runs, so check those.
    with np.errstate(**RAISE_ON_BAD_FLOATS):
        assert np.isfinite(ufunc(WIDE, alpha)).all()


@pytest.mark.parametrize(
    "function, x, expected",
    [
        (sigmoid, -1e4, 0.0),
        (sigmoid, 1e4, 1.0),
        (sigmoid_grad, -1e4, 0.0),
        (sigmoid_grad, 1e4, 0.0),
        (sigmoid_grad, 40.0, math.exp(-40.0)),  # relative precision kept far out
        (tanh, -1e4, -1.0),
        (tanh_grad, 1e4, 0.0),
        (softplus, -1e4, 0.0),
        (softplus, 1e4, 1e4),
        (softplus_grad, 1e4, 1.0),
        (elu, -1e4, -1.0),
        (elu_grad, -1e4, 0.0),
        (elu, 1e4, 1e4),
        (selu, -1e4, -SELU_SCALE * SELU_ALPHA),
        (selu_grad, -1e4, 0.0),
        (selu, 1e4, SELU_SCALE * 1e4),
        (swish, -1e4, 0.0),
        (swish, 1e4, 1e4),
        (swish_grad, -1e4, 0.0),
        (swish_grad, 1e4, 1.0),
    ],
)
def test_limits_at_the_ends_of_the_range(function, x, expected):
    assert function(x) == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scalar", [0.75, -2, np.float32(1.5), np.float64(-0.25), np.int64(3)])
def test_scalar_in_gives_float_out(name, scalar):
    for function in ACTIVATIONS[name]:
        result = function(scalar)
        assert isinstance(result, float)
        assert result == function(np.array([scalar], dtype=np.float64))[0]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8])
def test_array_in_gives_float64_array_of_the_same_shape(name, dtype):
    x = np.arange(-7, 8).reshape(3, 5).astype(dtype)
    for function in ACTIVATIONS[name]:
        result = function(x)
        assert result.dtype == np.float64
        assert result.shape == (3, 5)
        np.testing.assert_array_equal(result, function(x.astype(np.float64)))


@numba.njit
def logistic_and_slope(x):
    values = np.empty_like(x)
    slopes = np.empty_like(x)
    for i in range(x.size):
        values[i] = sigmoid(x[i])
        slopes[i] = sigmoid_grad(x[i])
    return values, slopes


@numba.njit
def every_activation_on_scalars(x):
    rows = np.empty((18, x.size))
    for i in range(x.size):
        v = x[i]
        rows[0, i] = sigmoid(v)
        rows[1, i] = sigmoid_grad(v)
        rows[2, i] = tanh(v)
        rows[3, i] = tanh_grad(v)
        rows[4, i] = softplus(v)
        rows[5, i] = softplus_grad(v)
        rows[6, i] = relu(v)
        rows[7, i] = relu_grad(v)
        rows[8, i] = elu(v)
        rows[9, i] = elu_grad(v, 0.5)
        rows[10, i] = prelu(v)
        rows[11, i] = prelu_grad(v, 0.1)
        rows[12, i] = selu(v)
        rows[13, i] = selu_grad(v)
        rows[14, i] = swish(v)
        rows[15, i] = swish_grad(v)
        rows[16, i] = elu(v, 0.5)
        rows[17, i] = prelu(v, alpha=0.1)
    return rows


@numba.njit
def sigmoid_on_a_whole_array(x):
    return sigmoid(x) + sigmoid_grad(x)


def test_njit_kernel_calling_sigmoid_compiles_and_agrees():
    x = np.linspace(-50.0, 50.0, 1001)
    values, slopes = logistic_and_slope(x)
    np.testing.assert_array_equal(values, sigmoid(x))
    np.testing.assert_array_equal(slopes, sigmoid_grad(x))
    np.testing.assert_array_equal(sigmoid_on_a_whole_array(x), sigmoid(x) + sigmoid_grad(x))


def test_njit_kernel_calling_every_activation_agrees():
    x = np.concatenate([np.linspace(-20.0, 20.0, 401), [-1e4, 0.0, 1e4]])
    rows = every_activation_on_scalars(x)
    expected = [
        sigmoid(x), sigmoid_grad(x), tanh(x), tanh_grad(x), softplus(x), softplus_grad(x),
        relu(x), relu_grad(x), elu(x), elu_grad(x, 0.5), prelu(x), prelu_grad(x, 0.1),
        selu(x), selu_grad(x), swish(x), swish_grad(x), elu(x, 0.5), prelu(x, 0.1),
    ]  # fmt: skip
    for row, values in zip(rows, expected):
        np.testing.assert_array_equal(row, values)


def test_nan_propagates_through_values():
    for name in NAMES:
        function, _ = ACTIVATIONS[name]
        with np.errstate(invalid="ignore"):
            assert math.isnan(function(float("nan"))), name
