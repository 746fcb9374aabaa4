"""Central-difference gradient of a function of one positional argument per coordinate."""

import math
import numbers

__all__ = ["numerical_gradient"]


def numerical_gradient(f, *point, eps=1e-4):
    """Gradient of ``f`` at ``point`` by central differences, one coordinate at a time.

    Parameters
    ----------
    f : callable
        Called as ``f(x0, x1, ...)`` with one positional argument per coordinate, as the
        seed's ``func(x, y)``; returns a real number.
    *point : float
        The coordinates at which to differentiate.  At least one.
    eps : float, optional
        Width of the difference: coordinate ``i`` is moved by ``+eps/2`` and ``-eps/2``
        while the others are passed unchanged.  Must be finite and > 0.

    Returns
    -------
    tuple of float
        ``(df/dx0, df/dx1, ...)``, always a tuple, one entry per coordinate, also for a
        single coordinate (``numerical_gradient(lambda x: x * x, 3.0)`` is a 1-tuple
        close to ``(6.0,)``), so callers never branch on the dimension.

    Raises
    ------
    ValueError
        If no coordinate is given or ``eps`` is not a finite number > 0.

    Notes
    -----
    Coordinate ``i`` gets ``(f(..., x_i + eps/2, ...) - f(..., x_i - eps/2, ...)) / eps``,
    evaluated in exactly that order with Python floats, so the seed's printed numbers
    come out to the last bit: with ``eps=1e-7`` and ``f(x, y) = x**2 + y**2``,
    ``numerical_gradient(f, -1, 1, eps=1e-7) == (-1.9999999967268423,
    1.9999999967268423)``.  The error is ``O(eps**2 * f''')`` from truncation plus about
    ``1e-16 * |f| / eps`` from rounding, so ``eps = 1e-4`` balances the two for smooth
    ``f`` of moderate size.
    """
    if not point:
        raise ValueError("numerical_gradient needs at least one coordinate; got none")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0; got {eps!r}")
    half_step = eps / 2
    gradient = []
    for i, coordinate in enumerate(point):
        forward = list(point)
        backward = list(point)
        forward[i] = coordinate + half_step
        backward[i] = coordinate - half_step
        gradient.append(float((f(*forward) - f(*backward)) / eps))
    return tuple(gradient)
