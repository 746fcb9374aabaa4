"""A whole tuner run in one compiled call: descent on a 1-D threshold objective.

:func:`pipeline.optim.minimize.minimize` steps an :class:`~pipeline.optim.optimizers.Optimizer`
on one-element numpy arrays and calls the objective through Python for every point: a
20-step update spent about 1 ms of interpreter time per histogram, most of the tuner's
CPU share.  :func:`descend` runs the same steps on plain floats, with the objective's
soft class sums (:func:`~pipeline.kernels.soft_threshold.soft_class_sums`) called in
place, and fills the same points and values.

Every expression below is the one in ``objectives.py``, ``optimizers.py`` and
``minimize.py``, operand for operand and in the same order, and ``fastmath`` is off
(see :mod:`pipeline.kernels.options`), so each IEEE operation rounds as numpy's does
and the path is bit for bit the Python one (``tests/kernels/test_descent.py``).  Where numpy
has a rule of its own for signed zeros or NaN (``np.sign``, ``np.maximum``,
``np.minimum``), it is written out.  The checks and the preparation of the histogram
stay in Python (:mod:`pipeline.optim.fast`).
"""

import math

import numba
import numpy as np

from pipeline.kernels.options import JIT
from pipeline.kernels.soft_threshold import soft_class_sums

#: Objective codes: which ``_Curve._evaluate`` of ``objectives.py`` is run.
OTSU, DENSITY = 0, 1
#: Update-rule codes, and what ``settings`` holds for each, in this order.
SIGN, SGD, MOMENTUM, NESTEROV, ADAM = 0, 1, 2, 3, 4
SETTINGS = {SIGN: ("step",), SGD: ("lr",), MOMENTUM: ("lr", "gamma"),
            NESTEROV: ("lr", "gamma"), ADAM: ("lr", "beta1", "beta2", "eps")}


@numba.njit(**JIT)
def _otsu(moments, t, inverse_tau, total_variance, sums, slopes):
    """``Otsu._evaluate``: (value, derivative) at ``t``."""
    if total_variance == 0.0:
        return 0.0, 0.0
    soft_class_sums(moments, t, inverse_tau, sums, slopes)
    mass_edge, mass_background = sums[0, 0], sums[0, 1]
    deviation_edge, deviation_background = sums[1, 0], sums[1, 1]
    masses = mass_edge * mass_background
    if masses == 0.0:
        return 0.0, 0.0
    offset = -deviation_edge if mass_edge <= mass_background else deviation_background
    between_variance = offset * offset / masses
    value = -between_variance / total_variance
    d_mass_edge, d_deviation_edge = slopes[0], slopes[1]
    d_offset = -d_deviation_edge
    d_between_variance = (
        2.0 * offset * d_offset - between_variance * (mass_background - mass_edge) * d_mass_edge
    ) / masses
    return value, -d_between_variance / total_variance


@numba.njit(**JIT)
def _density(moments, t, inverse_tau, target, sums, slopes):
    """``Density._evaluate``: (value, derivative) at ``t``."""
    soft_class_sums(moments, t, inverse_tau, sums, slopes)
    miss = sums[0, 0] - target
    return miss * miss, 2.0 * miss * slopes[0]


@numba.njit(**JIT)
def _evaluate(objective, moments, t, inverse_tau, constant, sums, slopes):
    if objective == OTSU:
        return _otsu(moments, t, inverse_tau, constant, sums, slopes)
    return _density(moments, t, inverse_tau, constant, sums, slopes)


@numba.njit(**JIT)
def _sign(g):
    """``np.sign`` of a float: +0.0 for either zero, NaN for NaN."""
    if g > 0.0:
        return 1.0
    if g < 0.0:
        return -1.0
    if g == 0.0:
        return 0.0
    return g


@numba.njit(**JIT)
def _clip(x, lower, upper):
    """``np.minimum(np.maximum(x, lower), upper)``: NaN stays, a tie keeps the bound."""
    if x != x:
        return x
    x = x if x > lower else lower
    return x if x < upper else upper


@numba.njit(**JIT)
def descend(objective, moments, inverse_tau, constant, rule, settings, x0, lower, upper,
            points, values):
    """Take ``len(values) - 1`` steps of ``rule`` on ``objective`` from ``x0``.

    Parameters
    ----------
    objective : int
        :data:`OTSU` or :data:`DENSITY`.
    moments : float64 array (k, 256)
        The curve's ``moments`` (``Otsu``: k = 2, ``Density``: k = 1).
    inverse_tau : float
        ``1 / tau``, tau > 0 (the hard step has no gradient and stays in Python).
    constant : float
        Otsu's ``total_variance`` or density's ``target``.
    rule : int
        :data:`SIGN` .. :data:`ADAM`.
    settings : float64 array
        The rule's settings in the order of :data:`SETTINGS`.
    x0, lower, upper : float
        Start and box (``-inf, inf`` for none); ``lower <= x0 <= upper``.
    points, values : float64 arrays (iterations + 1,)
        Filled: ``points[k]`` after step ``k`` (``x0`` first), ``values[k]`` there.
    """
    k = moments.shape[0]
    sums = np.empty((k, 2))
    slopes = np.empty(k)
    lr = settings[0]
    velocity = 0.0  # momentum, nesterov
    mean = 0.0  # adam
    second_moment = 0.0
    x = x0
    value, g = _evaluate(objective, moments, x, inverse_tau, constant, sums, slopes)
    points[0] = x
    values[0] = value
    for iteration in range(1, values.shape[0]):
        if rule == SIGN:
            x = x - lr * _sign(g)
        elif rule == SGD:
            x = x - lr * g
        elif rule == MOMENTUM or rule == NESTEROV:
            gamma = settings[1]
            velocity = gamma * velocity + lr * g
            x = x - velocity if rule == MOMENTUM else x - (gamma * velocity + lr * g)
        else:
            beta1, beta2, eps = settings[1], settings[2], settings[3]
            mean = beta1 * mean + (1.0 - beta1) * g
            second_moment = beta2 * second_moment + (1.0 - beta2) * (g * g)
            # Python's float ** int is C's pow() of two doubles: a float exponent makes
            # numba call pow() too, not its repeated squaring for integer powers.
            mean_hat = mean / (1.0 - beta1 ** float(iteration))
            second_moment_hat = second_moment / (1.0 - beta2 ** float(iteration))
            x = x - lr * mean_hat / (math.sqrt(second_moment_hat) + eps)
        x = _clip(x, lower, upper)
        value, g = _evaluate(objective, moments, x, inverse_tau, constant, sums, slopes)
        points[iteration] = x
        values[iteration] = value
