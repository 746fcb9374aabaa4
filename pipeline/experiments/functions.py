"""The functions an experiment can minimize, with their gradients and known minima."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class TestFunction:
    """A function to minimize, with its gradient and what is known about its minima.

    Attributes
    ----------
    name, formula : str
    dimensions : int
    f, grad : callable
        ``f(x[, y])`` and its analytic gradient (a tuple).
    minimum : float or None
        The global minimum value (None: unbounded below); ``error = f - minimum``.
    landmarks : dict
        Named points (``"global minimum"``, ``"local minimum"``, ``"saddle"``): the
        summary says which one a run ends nearest to.
    """

    __test__ = False  # not a pytest class, despite the name

    name: str
    formula: str
    dimensions: int
    f: Callable
    grad: Callable
    minimum: float | None
    landmarks: dict


def _double_well_points():
    roots = np.sort(np.roots([4.0, 0.0, -6.0, 1.0]).real)  # f'(x) = 4x^3 - 6x + 1
    return float(roots[0]), float(roots[1]), float(roots[2])


_GLOBAL, _HUMP, _LOCAL = _double_well_points()

#: The functions an experiment can name: the seed's spheres and its "challenges".
FUNCTIONS = {
    "square": TestFunction("square", "x^2", 1, lambda x: x**2, lambda x: (2 * x,), 0.0,
                           {"global minimum": (0.0,)}),
    "bowl": TestFunction("bowl", "x^2 + y^2", 2, lambda x, y: x**2 + y**2,
                         lambda x, y: (2 * x, 2 * y), 0.0, {"global minimum": (0.0, 0.0)}),
    "double_well": TestFunction(
        "double_well", "x^4 - 3x^2 + x", 1, lambda x: x**4 - 3 * x**2 + x,
        lambda x: (4 * x**3 - 6 * x + 1,), _GLOBAL**4 - 3 * _GLOBAL**2 + _GLOBAL,
        {"global minimum": (_GLOBAL,), "local minimum": (_LOCAL,), "local maximum": (_HUMP,)}),
    "cubic": TestFunction("cubic", "x^3", 1, lambda x: x**3, lambda x: (3 * x**2,), None,
                          {"inflection": (0.0,)}),
    "saddle": TestFunction("saddle", "x^2 - y^2", 2, lambda x, y: x**2 - y**2,
                           lambda x, y: (2 * x, -2 * y), None, {"saddle": (0.0, 0.0)}),
}

NEAR = 0.05  # a run "ends at" a landmark when its final point is this close



def nearest_landmark(function: TestFunction, point) -> str | None:
    """The landmark of ``function`` within :data:`NEAR` of ``point`` (the closest), or None."""
    best, name = None, None
    for label, landmark in function.landmarks.items():
        distance = math.dist(point, landmark)
        if distance <= NEAR and (best is None or distance < best):
            best, name = distance, label
    return name
