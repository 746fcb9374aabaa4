"""Activation functions and their derivatives, for numpy and for numba kernels.

Every function here is elementwise.  The one-argument ones (``sigmoid``, ``tanh``,
``softplus``, ``relu``, ``selu``, ``swish`` and their ``*_grad``) are numpy ufuncs
compiled by :func:`numba.vectorize`; ``elu``, ``prelu`` and their gradients take an
``alpha`` with a default, which a ufunc cannot have, so they are ``@njit`` functions
over a two-argument ufunc.  Either way:

* a Python or numpy scalar in gives a float out, an array in gives a float64 array out
  (integer and float32 inputs are computed in float64);
* a function compiled with ``numba.njit`` can call them, on scalars or arrays, and gets
  the same numbers, because both paths run the same compiled scalar code;
* for every finite float64 ``x`` the result is finite and no overflow, divide-by-zero
  or invalid flag is raised, so ``np.errstate(over="raise", divide="raise",
  invalid="raise")`` is safe around them.  Underflow is not an error: ``exp(-|x|)``
  for ``|x| > 708`` is a subnormal or 0, which is the correctly rounded value (numpy
  ignores underflow by default for the same reason).

Piecewise functions take the left branch at ``x <= 0``: ``relu_grad(0) == 0``,
``elu_grad(0) == alpha``, ``prelu_grad(0) == alpha``, ``selu_grad(0) == SELU_SCALE *
SELU_ALPHA``.  A NaN input gives a NaN value (numpy may warn "invalid value" for it).

:data:`ACTIVATIONS` maps each name to its ``(function, gradient)`` pair, for lookup
from a configuration.
"""

import functools
import math

import numba
import numpy as np

from pipeline.kernels.logistic import sigmoid_scalar as _sigmoid_scalar
from pipeline.kernels.options import JIT

__all__ = [
    "ACTIVATIONS",
    "SELU_ALPHA",
    "SELU_SCALE",
    "elu",
    "elu_grad",
    "prelu",
    "prelu_grad",
    "relu",
    "relu_grad",
    "selu",
    "selu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softplus",
    "softplus_grad",
    "swish",
    "swish_grad",
    "tanh",
    "tanh_grad",
]

#: SELU's fixed constants (Klambauer et al., 2017, "Self-Normalizing Neural Networks").
SELU_SCALE = 1.0507009873554805
SELU_ALPHA = 1.6732632423543772

# numba.vectorize accepts only some of the jit flags (no nogil, no error_model); take
# those from the one place where flags are chosen rather than writing literals here.
_UFUNC_FLAGS = {flag: JIT[flag] for flag in ("cache", "fastmath")}
_UNARY = ["float64(float64)"]
_WITH_ALPHA = ["float64(float64, float64)"]


def _ufunc(signatures: list[str]):
    """``numba.vectorize(signatures)``; with ``NUMBA_DISABLE_JIT=1``, the same body as
    plain Python over float64 arrays (:func:`_python_ufunc`), as every kernel runs then.

    ``numba.vectorize`` compiles even with the JIT disabled, but ``@njit`` then returns
    plain Python functions, which a compiled body cannot call (``_sigmoid_scalar``):
    importing this module failed from an empty numba cache (a cached ufunc loads
    without typing its body, which hid it), and with it every test module that imports
    one that imports this.
    """
    if not numba.config.DISABLE_JIT:
        return numba.vectorize(signatures, **_UFUNC_FLAGS)
    return _python_ufunc


def _python_ufunc(function):
    """``function`` elementwise over its arguments cast to float64 (as the ufunc's
    signature casts them): a float64 array out, or a float for scalars."""
    vectorized = np.vectorize(function, otypes=[np.float64])

    @functools.wraps(function)
    def elementwise(*args):
        out = vectorized(*(np.asarray(arg, dtype=np.float64) for arg in args))
        return out[()] if out.ndim == 0 else out

    return elementwise


# Every exp() and expm1() below takes -|x|, never x, even in a branch that only runs for
# x <= 0: LLVM may evaluate a cheap branch on both paths (exp is an intrinsic it can
# speculate), and exp(1e4) evaluated "for nothing" would still raise the overflow flag.


@_ufunc(_UNARY)
def sigmoid(x):
    """Logistic function, ``1 / (1 + exp(-x))``.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        Values in [0, 1].

    Notes
    -----
    Only ``e = exp(-|x|)`` is evaluated, as ``1 / (1 + e)`` for ``x >= 0`` and
    ``e / (1 + e)`` for ``x < 0``, so ``x = -1e4`` gives 0 without overflow.
    """
    return _sigmoid_scalar(x)


@_ufunc(_UNARY)
def sigmoid_grad(x):
    """Derivative of :func:`sigmoid`, ``sigmoid(x) * (1 - sigmoid(x))``.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        Values in [0, 0.25].

    Notes
    -----
    The derivative is even in ``x``, so it is evaluated at ``-|x|``, where
    ``sigmoid`` is small and carries full relative precision; at ``+|x|`` the factor
    ``1 - sigmoid(x)`` would be a difference of nearly equal numbers.
    """
    s = _sigmoid_scalar(-abs(x))
    return s * (1.0 - s)


@_ufunc(_UNARY)
def tanh(x):
    """Hyperbolic tangent.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        Values in [-1, 1].
    """
    return math.tanh(x)


@_ufunc(_UNARY)
def tanh_grad(x):
    """Derivative of :func:`tanh`, ``1 - tanh(x)**2``.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        Values in [0, 1].

    Notes
    -----
    Written as ``(1 - t) * (1 + t)``: for ``t`` near 1, ``1 - t`` is exact, and for
    tiny ``t`` no ``t * t`` underflows.
    """
    t = math.tanh(x)
    return (1.0 - t) * (1.0 + t)


@_ufunc(_UNARY)
def softplus(x):
    """Softplus, ``log(1 + exp(x))``, a smooth :func:`relu`.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        Positive values; ``softplus(x) == x`` to float64 precision for large ``x``.

    Notes
    -----
    Evaluated as ``max(x, 0) + log1p(exp(-|x|))``, the rearrangement behind
    ``np.logaddexp(0, x)``: the exponential never overflows.
    """
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@_ufunc(_UNARY)
def softplus_grad(x):
    """Derivative of :func:`softplus`, which is :func:`sigmoid`.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        Values in [0, 1].
    """
    return _sigmoid_scalar(x)


@_ufunc(_UNARY)
def relu(x):
    """Rectified linear unit, ``x if x > 0 else 0``.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        Non-negative values.
    """
    if x <= 0.0:
        return 0.0
    return x


@_ufunc(_UNARY)
def relu_grad(x):
    """Derivative of :func:`relu`: 1 for ``x > 0``, else 0 (so 0 at the kink).

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        0.0 or 1.0.
    """
    if x <= 0.0:
        return 0.0
    return 1.0


@_ufunc(_WITH_ALPHA)
def _elu(x, alpha):
    if x <= 0.0:
        # expm1 keeps full precision for small |x|, where exp(x) - 1 cancels.
        return alpha * math.expm1(-abs(x))
    return x


@_ufunc(_WITH_ALPHA)
def _elu_grad(x, alpha):
    if x <= 0.0:
        return alpha * math.exp(-abs(x))
    return 1.0


@_ufunc(_WITH_ALPHA)
def _prelu(x, alpha):
    if x <= 0.0:
        return alpha * x
    return x


@_ufunc(_WITH_ALPHA)
def _prelu_grad(x, alpha):
    if x <= 0.0:
        return alpha
    return 1.0


#: The docstring of a function with an ``alpha`` (see :func:`_with_alpha`).
_ALPHA_DOC = """{summary}

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.
    alpha : float, optional
        {alpha}

    Returns
    -------
    float or ndarray of float64
        {returns}
    """


def _with_alpha(ufunc, default: float, name: str, summary: str, alpha: str, returns: str):
    """``name(x, alpha=default)``, an ``@njit`` function over the two-argument ``ufunc``.

    A ufunc cannot have a default argument; this thin compiled function gives it one,
    for numpy callers and for other numba functions alike.
    """
    def function(x, alpha=default):
        return ufunc(x, alpha)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = _ALPHA_DOC.format(summary=summary, alpha=alpha, returns=returns)
    return numba.njit(**JIT)(function)


elu = _with_alpha(_elu, 1.0, "elu", "Exponential linear unit, ``x if x > 0 else alpha * (exp(x) - 1)``.",
                  "Scale of the negative branch, which tends to ``-alpha``.",
                  "Values above ``-alpha`` (for ``alpha > 0``).")
elu_grad = _with_alpha(_elu_grad, 1.0, "elu_grad",
                       "Derivative of :func:`elu`: 1 for ``x > 0``, else ``alpha * exp(x)``.",
                       "As in :func:`elu`.", "``elu_grad(0) == alpha`` (the left branch).")
prelu = _with_alpha(_prelu, 0.25, "prelu", "Parametric (leaky) ReLU, ``x if x > 0 else alpha * x``.",
                    "Slope of the negative branch; 0.25 is the initial value in He et al. (2015).",
                    "Elementwise values.")
prelu_grad = _with_alpha(_prelu_grad, 0.25, "prelu_grad",
                         "Derivative of :func:`prelu`: 1 for ``x > 0``, else ``alpha``.",
                         "As in :func:`prelu`.", "``prelu_grad(0) == alpha`` (the left branch).")


@_ufunc(_UNARY)
def selu(x):
    """Scaled ELU, ``SELU_SCALE * (x if x > 0 else SELU_ALPHA * (exp(x) - 1))``.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        Values above ``-SELU_SCALE * SELU_ALPHA`` (about -1.7581).
    """
    if x <= 0.0:
        return SELU_SCALE * (SELU_ALPHA * math.expm1(-abs(x)))
    return SELU_SCALE * x


@_ufunc(_UNARY)
def selu_grad(x):
    """Derivative of :func:`selu`: ``SELU_SCALE`` for ``x > 0``, else
    ``SELU_SCALE * SELU_ALPHA * exp(x)``.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        ``selu_grad(0) == SELU_SCALE * SELU_ALPHA`` (the left branch).
    """
    if x <= 0.0:
        return SELU_SCALE * (SELU_ALPHA * math.exp(-abs(x)))
    return SELU_SCALE


@_ufunc(_UNARY)
def swish(x):
    """Swish (SiLU), ``x * sigmoid(x)``.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        Values above about -0.2785.
    """
    return x * _sigmoid_scalar(x)


@_ufunc(_UNARY)
def swish_grad(x):
    """Derivative of :func:`swish`, ``swish(x) + sigmoid(x) * (1 - swish(x))``.

    Parameters
    ----------
    x : float or ndarray
        Input, elementwise.

    Returns
    -------
    float or ndarray of float64
        Values in about [-0.0998, 1.0998].

    Notes
    -----
    The identity follows from ``sigmoid' = sigmoid * (1 - sigmoid)``:
    ``(x s)' = s + x s (1 - s) = x s + s (1 - x s)``.
    """
    s = _sigmoid_scalar(x)
    swish_x = x * s
    return swish_x + s * (1.0 - swish_x)


#: Each activation's name mapped to its ``(function, gradient)`` pair.
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "softplus": (softplus, softplus_grad),
    "relu": (relu, relu_grad),
    "elu": (elu, elu_grad),
    "prelu": (prelu, prelu_grad),
    "selu": (selu, selu_grad),
    "swish": (swish, swish_grad),
}
