"""Numerical gradient, optimizers and ``minimize``.

* :mod:`~pipeline.optim.gradient`: :func:`numerical_gradient`, the seed's central difference.
* :mod:`~pipeline.optim.optimizers`: :class:`Sign`, :class:`SGD`, :class:`Momentum`,
  :class:`Nesterov`, :class:`Adam`, the :data:`OPTIMIZERS` registry, :func:`make_optimizer`.
* :mod:`~pipeline.optim.minimize`: :func:`minimize` and its :class:`Trajectory`.
"""

from pipeline.optim.gradient import numerical_gradient
from pipeline.optim.minimize import Trajectory, minimize
from pipeline.optim.optimizers import (
    OPTIMIZERS,
    SGD,
    Adam,
    Momentum,
    Nesterov,
    Optimizer,
    Sign,
    make_optimizer,
)

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "Sign",
    "Trajectory",
    "make_optimizer",
    "minimize",
    "numerical_gradient",
]
