"""Run an optimizer from a start point and keep every point and value on the way."""

import numbers
from dataclasses import dataclass

import numpy as np

from pipeline.optim.gradient import numerical_gradient
from pipeline.optim.optimizers import Optimizer

__all__ = ["Trajectory", "minimize"]


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The points and values of one :func:`minimize` run, the start first.

    Attributes
    ----------
    points : ndarray of float64, shape (iterations + 1, n)
        ``points[0]`` is the start, ``points[k]`` the point after iteration ``k``.
    values : ndarray of float64, shape (iterations + 1,)
        ``values[k] = f(*points[k])``.
    """

    points: np.ndarray
    values: np.ndarray

    @property
    def x(self):
        """The first coordinate at every iteration, shape (iterations + 1,).

        For a function of one variable this is the whole path, the seed's ``x`` column:
        ``trajectory.x[70]`` is ``x_70``.
        """
        return self.points[:, 0]

    @property
    def final(self):
        """The last point, shape (n,)."""
        return self.points[-1]

    @property
    def final_value(self):
        """The value at the last point, a float."""
        return float(self.values[-1])

    @property
    def iterations(self):
        """How many steps were taken (one fewer than the points)."""
        return len(self.values) - 1


def _as_start_point(x0):
    try:
        start = np.array(x0, dtype=np.float64, ndmin=1)
    except (TypeError, ValueError):
        raise ValueError(f"x0 must be a number or a sequence of numbers; got {x0!r}") from None
    if start.ndim != 1 or start.size == 0 or not np.isfinite(start).all():
        raise ValueError(f"x0 must be a finite number or a non-empty sequence of finite numbers; got {x0!r}")
    return start


def _as_box(bounds, dimensions):
    """``bounds`` as (lower, upper) arrays of shape (dimensions,)."""
    expected = f"bounds must be (lo, hi) or {dimensions} such pairs, one per coordinate"
    try:
        box = np.array(bounds, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{expected}; got {bounds!r}") from None
    if box.shape == (2,):
        box = np.tile(box, (dimensions, 1))
    if box.shape != (dimensions, 2):
        raise ValueError(f"{expected}; got {bounds!r}")
    lower, upper = box[:, 0].copy(), box[:, 1].copy()
    if not (lower <= upper).all():  # also refuses NaN
        raise ValueError(f"bounds need lo <= hi for every coordinate; got {bounds!r}")
    return lower, upper


def _checked_start(x0, optimizer, iterations, bounds):
    """:func:`minimize`'s arguments checked: the start point and the box (or None)."""
    start = _as_start_point(x0)
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 0:
        raise ValueError(f"iterations must be an integer >= 0; got {iterations!r}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer (see make_optimizer); got {optimizer!r}")
    box = None if bounds is None else _as_box(bounds, start.size)
    if box is not None and not ((box[0] <= start).all() and (start <= box[1]).all()):
        raise ValueError(f"x0 = {start.tolist()} lies outside bounds {bounds!r}")
    return start, box


def minimize(f, x0, optimizer, iterations, grad=None, bounds=None, project=None):
    """Take ``iterations`` steps of ``optimizer`` on ``f`` from ``x0``.

    Parameters
    ----------
    f : callable
        Objective, called with one positional float per coordinate, ``f(x, y)`` as in the
        seed; returns a real number.
    x0 : float or sequence of float
        Start point; a scalar is a point of one coordinate.
    optimizer : Optimizer
        The update rule.  It is :meth:`~Optimizer.reset` first, so every run starts
        without momentum left from an earlier one.
    iterations : int
        Number of steps, >= 0.
    grad : callable, optional
        Gradient of ``f``, called like ``f``; returns one number per coordinate (a bare
        number is fine for one coordinate).  ``None`` means
        :func:`~pipeline.optim.gradient.numerical_gradient` with its default ``eps``.
    bounds : (float, float) or sequence of (float, float), optional
        A box ``lo <= x <= hi``, one pair for every coordinate or one pair per
        coordinate (the seed's ``-100 <= x <= 100``).  Each new point is projected onto
        it (clipped coordinate by coordinate); ``x0`` must lie inside.  ``None``: no box.
    project : callable, optional
        Applied to each new point after the box, ``project(point) -> point`` (an array
        of shape (n,)): a projection onto a further constraint, such as
        :func:`pipeline.optim.tune.project_ordered` keeping ``low <= high``.

    Returns
    -------
    Trajectory
        ``iterations + 1`` points (``x0`` first) and the value of ``f`` at each.

    Raises
    ------
    ValueError
        For a malformed ``x0``, ``iterations`` or ``bounds``, an ``x0`` outside the box,
        or a gradient with the wrong number of components.
    TypeError
        If ``optimizer`` is not an :class:`~pipeline.optim.optimizers.Optimizer`.

    Examples
    --------
    The seed's walk on ``x**2`` from 70, one integer at a time, rests at 0:

    >>> from pipeline.optim import Sign
    >>> path = minimize(lambda x: x * x, 70, Sign(1), 75)
    >>> path.x[:3].tolist(), path.x[70:].tolist()
    ([70.0, 69.0, 68.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    """
    start, box = _checked_start(x0, optimizer, iterations, bounds)
    dimensions = start.size
    if grad is None:

        def grad(*point):
            return numerical_gradient(f, *point)

    optimizer.reset()
    points = np.empty((iterations + 1, dimensions), dtype=np.float64)
    values = np.empty(iterations + 1, dtype=np.float64)
    point = start
    points[0] = point
    values[0] = f(*point.tolist())
    for iteration in range(1, iterations + 1):
        gradient = np.array(grad(*point.tolist()), dtype=np.float64, ndmin=1)  # a bare number too
        if gradient.shape != (dimensions,):
            raise ValueError(
                f"grad must return {dimensions} number(s), one per coordinate; got shape {gradient.shape}"
            )
        point = optimizer.step(point, gradient)
        if box is not None:
            point = np.minimum(np.maximum(point, box[0]), box[1])
        if project is not None:
            point = np.asarray(project(point), dtype=np.float64)
        points[iteration] = point
        values[iteration] = f(*point.tolist())
    return Trajectory(points=points, values=values)
