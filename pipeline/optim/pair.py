"""Tuning a threshold *pair* ``(low, high)`` (Canny's) on a 256-bin histogram."""

from __future__ import annotations

import inspect

import numpy as np

from pipeline.optim.minimize import Trajectory, minimize
from pipeline.optim.objectives import PAIR_OBJECTIVES, _MultiOtsuSurface
from pipeline.optim.optimizers import Optimizer

__all__ = ["project_ordered", "tune_pair"]

_SURFACES = {"multiotsu": _MultiOtsuSurface}
_DEFAULT_SETTINGS = {
    name: {parameter.name: parameter.default
           for parameter in list(inspect.signature(value).parameters.values())[3:]}  # after hist, low, high
    for name, (value, _) in PAIR_OBJECTIVES.items()
}


def project_ordered(point: np.ndarray) -> np.ndarray:
    """The nearest point with ``low <= high``: an out-of-order pair moves to its mean.

    The Euclidean projection onto the half-plane ``x0 <= x1``; applied after the box
    (the same box for both coordinates), it stays inside the box.
    """
    low, high = float(point[0]), float(point[1])
    if low <= high:
        return point
    middle = 0.5 * (low + high)
    return np.array([middle, middle])


def tune_pair(hist, start, optimizer: Optimizer, iterations: int, objective: str = "multiotsu",
              bounds=(0, 255), **objective_kwargs) -> Trajectory:
    """Run ``optimizer`` on a pair objective of ``hist`` from ``start = (low, high)``.

    Parameters
    ----------
    hist : array_like, shape (256,)
        The magnitude histogram (:func:`pipeline.stages.canny.magnitude_histogram`).
    start : (float, float)
        ``(low, high)`` with ``low <= high``, inside ``bounds``.
    optimizer : Optimizer
        Any of :data:`pipeline.optim.OPTIMIZERS`; it works on the 2-vector as
        :func:`~pipeline.optim.minimize.minimize` does.
    iterations : int
    objective : str
        A key of :data:`pipeline.optim.objectives.PAIR_OBJECTIVES`.
    bounds : (float, float)
        The box for both values.
    **objective_kwargs
        The objective's settings (``tau``).

    Returns
    -------
    Trajectory
        ``points[k] = (low, high)``; after the box, every point is projected with
        :func:`project_ordered`, so ``low <= high`` all along the path.

    Raises
    ------
    ValueError
        An unknown objective or keyword, a start with ``low > high``, or anything
        :func:`minimize` refuses.
    """
    if objective not in _SURFACES:
        raise ValueError(f"unknown pair objective {objective!r}; allowed: {', '.join(_SURFACES)}")
    settings = dict(_DEFAULT_SETTINGS[objective])
    for key in objective_kwargs:
        if key not in settings:
            raise ValueError(f"unknown keyword {key!r} for objective {objective!r}; "
                             f"allowed: {', '.join(settings)}")
    settings.update(objective_kwargs)
    start = [float(value) for value in start]
    if len(start) != 2 or start[0] > start[1]:
        raise ValueError(f"start must be a pair (low, high) with low <= high; got {start!r}")
    surface = _SURFACES[objective](hist, **settings)
    return minimize(lambda low, high: surface.evaluate(low, high)[0], start, optimizer,
                    iterations, grad=lambda low, high: surface.evaluate(low, high)[1],
                    bounds=bounds, project=project_ordered)
