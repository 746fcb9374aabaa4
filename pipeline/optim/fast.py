""":func:`tune_threshold` with the descent loop compiled: the runtime tuner's per-update path.

:func:`tune_threshold_fast` takes the arguments of
:func:`~pipeline.optim.objectives.tune_threshold` and returns the same
:class:`~pipeline.optim.minimize.Trajectory`, bit for bit.  The histogram is checked
and prepared by the objective's own curve class, exactly as there; then, when the run
is one that :func:`pipeline.kernels.descent.descend` knows, the whole loop is one
compiled call instead of ``iterations`` rounds of one-element numpy arrays and Python
calls.  Anything else (the ``agreement`` objective, the hard step ``tau = 0``, an
optimizer subclass, a start of more than one coordinate, a bad argument) goes to the
Python path, which runs it or raises its usual error.
"""

import numbers

import numpy as np

from pipeline.kernels import descent
from pipeline.optim.minimize import Trajectory, _as_box, _as_start_point, minimize
from pipeline.optim.objectives import _CURVES, _DEFAULT_SETTINGS, tune_threshold
from pipeline.optim.optimizers import SGD, Adam, Momentum, Nesterov, Sign

__all__ = ["FAST_OBJECTIVES", "supported", "tune_threshold_fast"]

#: Objectives the compiled loop evaluates, by name.
FAST_OBJECTIVES = {"otsu": descent.OTSU, "density": descent.DENSITY}
# Exact classes: a subclass may change ``step``, so it keeps the Python path.
_RULES = {Sign: descent.SIGN, SGD: descent.SGD, Momentum: descent.MOMENTUM,
          Nesterov: descent.NESTEROV, Adam: descent.ADAM}
# Where each optimizer keeps the settings descent.SETTINGS lists (Sign's step is step_size).
_ATTRIBUTES = {"step": "step_size", "lr": "lr", "gamma": "gamma", "beta1": "beta1",
               "beta2": "beta2", "eps": "eps"}


def supported(objective, optimizer, objective_kwargs=None):
    """Whether :func:`tune_threshold_fast` runs this objective and optimizer compiled.

    Parameters
    ----------
    objective : str
        An objective name.
    optimizer : Optimizer
        The update rule.
    objective_kwargs : mapping, optional
        The objective's settings; ``tau = 0`` (the hard step) is not compiled.

    Returns
    -------
    bool
    """
    kwargs = {} if objective_kwargs is None else objective_kwargs
    if objective not in FAST_OBJECTIVES or type(optimizer) not in _RULES:
        return False
    if any(key not in _DEFAULT_SETTINGS[objective] for key in kwargs):
        return False
    tau = kwargs.get("tau", _DEFAULT_SETTINGS[objective]["tau"])
    return isinstance(tau, numbers.Real) and not isinstance(tau, bool) and tau > 0


def tune_threshold_fast(hist, t0, optimizer, iterations, objective="otsu", bounds=(0, 255),
                        **objective_kwargs):
    """:func:`~pipeline.optim.objectives.tune_threshold`, compiled where it can be.

    Parameters and errors are those of ``tune_threshold``.

    Returns
    -------
    Trajectory
        Equal, point for point and value for value, to what ``tune_threshold`` returns.
        ``optimizer`` is reset as there, but a compiled run leaves no state in it (the
        velocity and moments live in the compiled loop).
    """
    if not supported(objective, optimizer, objective_kwargs):
        return tune_threshold(hist, t0, optimizer, iterations, objective=objective,
                              bounds=bounds, **objective_kwargs)
    settings = dict(_DEFAULT_SETTINGS[objective])
    settings.update(objective_kwargs)
    curve = _CURVES[objective](hist, **settings)  # checks hist, tau and target
    start = _start_inside(t0, iterations, bounds)
    if start is None:  # let minimize run it or say what is wrong
        return minimize(curve.value, t0, optimizer, iterations, grad=curve.derivative, bounds=bounds)
    x0, lower, upper = start
    optimizer.reset()
    rule = _RULES[type(optimizer)]
    rule_settings = np.array([getattr(optimizer, _ATTRIBUTES[name]) for name in descent.SETTINGS[rule]],
                             dtype=np.float64)
    constant = curve.total_variance if objective == "otsu" else curve.target
    points = np.empty(iterations + 1, dtype=np.float64)
    values = np.empty(iterations + 1, dtype=np.float64)
    descent.descend(FAST_OBJECTIVES[objective], curve.moments, 1.0 / curve.tau, constant, rule,
                    rule_settings, x0, lower, upper, points, values)
    return Trajectory(points=points.reshape(-1, 1), values=values)


def _start_inside(t0, iterations, bounds):
    """``(x0, lower, upper)`` as floats when minimize would accept the run, else None."""
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 0:
        return None
    try:
        start = _as_start_point(t0)
        box = None if bounds is None else _as_box(bounds, 1)
    except ValueError:
        return None
    if start.size != 1:
        return None
    x0 = float(start[0])
    # No box: infinite bounds, which the clipping leaves every float (and NaN) alone for.
    lower, upper = (-np.inf, np.inf) if box is None else (float(box[0][0]), float(box[1][0]))
    if not lower <= x0 <= upper:
        return None
    return x0, lower, upper
