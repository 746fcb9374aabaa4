"""Numerical gradient, optimizers, ``minimize``, and the threshold objectives they tune.

* :mod:`~pipeline.optim.gradient`: :func:`numerical_gradient`, the seed's central difference.
* :mod:`~pipeline.optim.optimizers`: :class:`Sign`, :class:`SGD`, :class:`Momentum`,
  :class:`Nesterov`, :class:`Adam`, the :data:`OPTIMIZERS` registry, :func:`make_optimizer`.
* :mod:`~pipeline.optim.minimize`: :func:`minimize` and its :class:`Trajectory`.
* :mod:`~pipeline.optim.objectives`: Otsu, edge-density and agreement objectives of a
  threshold on 256-bin histograms, and :func:`tune_threshold`.
"""

from pipeline.optim.gradient import numerical_gradient
from pipeline.optim.minimize import Trajectory, minimize
from pipeline.optim.objectives import (
    OBJECTIVES,
    agreement,
    agreement_grad,
    density,
    density_grad,
    joint_histogram,
    otsu,
    otsu_grad,
    tune_threshold,
)
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
    "OBJECTIVES",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "Sign",
    "Trajectory",
    "agreement",
    "agreement_grad",
    "density",
    "density_grad",
    "joint_histogram",
    "make_optimizer",
    "minimize",
    "numerical_gradient",
    "otsu",
    "otsu_grad",
    "tune_threshold",
]

# The two-threshold objective (Canny's pair), appended apart from the imports above.
from pipeline.optim.objectives import PAIR_OBJECTIVES, multiotsu, multiotsu_grad

__all__ += ["PAIR_OBJECTIVES", "multiotsu", "multiotsu_grad"]
from pipeline.optim.pair import project_ordered, tune_pair

__all__ += ["project_ordered", "tune_pair"]
