""":func:`tune_threshold` with the descent loop compiled: the runtime tuner's per-update path.

:func:`tune_threshold_fast` takes the arguments of
:func:`~pipeline.optim.tune.tune_threshold` and returns the same
:class:`~pipeline.optim.minimize.Trajectory`, bit for bit.  The histogram is checked
and prepared by the objective's own curve class, exactly as there; then, when the run
is one that :func:`pipeline.kernels.descent.descend` knows, the whole loop is one
compiled call instead of ``iterations`` rounds of one-element numpy arrays and Python
calls.  Anything else (the ``agreement`` objective, the hard step ``tau = 0``, an
optimizer subclass, a start of more than one coordinate, a bad argument) goes to the
Python path, which runs it or raises its usual error.
"""

import importlib
import numbers

import numpy as np

from pipeline.optim.minimize import Trajectory, _as_box, _as_start_point, minimize
from pipeline.optim.tune import objective_class, objective_settings, tune_threshold
from pipeline.optim.optimizers import SGD, Adam, Momentum, Nesterov, Sign

__all__ = ["FAST_OBJECTIVES", "ThresholdRun", "supported", "tune_threshold_fast"]


def _descent():
    # Imported at the first compiled run, not with this module: the config loads every
    # module that registers components, and the kernels bring numba (0.3-0.8 s) with them.
    return importlib.import_module("pipeline.kernels.descent")


#: Objectives the compiled loop evaluates, by name: the name of each one's code in
#: :mod:`pipeline.kernels.descent`.
FAST_OBJECTIVES = {"otsu": "OTSU", "density": "DENSITY"}
# Exact classes: a subclass may change ``step``, so it keeps the Python path.  Each with
# the name of its rule's code in pipeline.kernels.descent.
_RULES = {Sign: "SIGN", SGD: "SGD", Momentum: "MOMENTUM", Nesterov: "NESTEROV", Adam: "ADAM"}
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
    try:
        settings = objective_settings(objective, kwargs)
    except ValueError:
        return False
    tau = settings["tau"]
    return isinstance(tau, numbers.Real) and not isinstance(tau, bool) and tau > 0


def tune_threshold_fast(hist, t0, optimizer, iterations, objective="otsu", bounds=(0, 255),
                        **objective_kwargs):
    """:func:`~pipeline.optim.tune.tune_threshold`, compiled where it can be.

    Parameters and errors are those of ``tune_threshold``.

    Returns
    -------
    Trajectory
        Equal, point for point and value for value, to what ``tune_threshold`` returns.
        ``optimizer`` is reset as there, but a compiled run leaves no state in it (the
        velocity and moments live in the compiled loop).
    """
    return ThresholdRun(optimizer, iterations, objective, bounds, **objective_kwargs)(hist, t0)


class ThresholdRun:
    """:func:`tune_threshold_fast` with everything but the histogram and the start prepared once.

    ``ThresholdRun(optimizer, iterations, objective, bounds, **objective_kwargs)(hist, t0)``
    is ``tune_threshold_fast(hist, t0, optimizer, iterations, objective, bounds,
    **objective_kwargs)``.  The runtime tuner makes one and calls it on every update:
    the checks of the optimizer, the objective's settings, ``iterations`` and ``bounds``,
    and the optimizer's settings as an array, are then paid once, not per update (each
    update runs on a core whose caches the frames have just evicted, where that Python
    cost several times what it costs in a loop).  The optimizer's settings are read
    here: change them and make a new run.
    """

    def __init__(self, optimizer, iterations, objective="otsu", bounds=(0, 255), **objective_kwargs):
        self._arguments = (optimizer, iterations, objective, bounds, objective_kwargs)
        box = _run_box(iterations, bounds) if supported(objective, optimizer, objective_kwargs) else None
        self._compiled = box is not None
        if not self._compiled:
            return
        self._lower, self._upper = box
        self._curve_class = objective_class(objective)
        self._settings = objective_settings(objective, objective_kwargs)
        descent = _descent()
        self._rule = getattr(descent, _RULES[type(optimizer)])
        self._rule_settings = np.array(
            [getattr(optimizer, _ATTRIBUTES[name]) for name in descent.SETTINGS[self._rule]],
            dtype=np.float64)

    def __call__(self, hist, t0):
        optimizer, iterations, objective, bounds, objective_kwargs = self._arguments
        if not self._compiled:
            return tune_threshold(hist, t0, optimizer, iterations, objective=objective,
                                  bounds=bounds, **objective_kwargs)
        curve = self._curve_class(hist, **self._settings)  # checks hist, tau and target
        x0 = _start_value(t0, self._lower, self._upper)
        if x0 is None:  # let minimize run it or say what is wrong
            return minimize(curve.value, t0, optimizer, iterations, grad=curve.derivative, bounds=bounds)
        optimizer.reset()
        constant = curve.total_variance if objective == "otsu" else curve.target
        points = np.empty(iterations + 1, dtype=np.float64)
        values = np.empty(iterations + 1, dtype=np.float64)
        descent = _descent()
        descent.descend(getattr(descent, FAST_OBJECTIVES[objective]), curve.moments, 1.0 / curve.tau, constant,
                        self._rule, self._rule_settings, x0, self._lower, self._upper, points, values)
        return Trajectory(points=points.reshape(-1, 1), values=values)


def _run_box(iterations, bounds):
    """``(lower, upper)`` as floats when minimize would accept ``iterations`` and ``bounds``, else None."""
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 0:
        return None
    try:
        box = None if bounds is None else _as_box(bounds, 1)
    except ValueError:
        return None
    # No box: infinite bounds, which the clipping leaves every float (and NaN) alone for.
    return (-np.inf, np.inf) if box is None else (float(box[0][0]), float(box[1][0]))


def _start_value(t0, lower, upper):
    """``t0`` as a float when minimize would accept it as a one-coordinate start in the box, else None."""
    try:
        start = _as_start_point(t0)
    except ValueError:
        return None
    if start.size != 1:
        return None
    x0 = float(start[0])
    return x0 if lower <= x0 <= upper else None
