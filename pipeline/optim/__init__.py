"""Numerical gradient, optimizers, ``minimize``, and the threshold objectives they tune.

* :mod:`~pipeline.optim.gradient`: :func:`numerical_gradient`, the seed's central difference.
* :mod:`~pipeline.optim.optimizers`: :class:`Sign`, :class:`SGD`, :class:`Momentum`,
  :class:`Nesterov`, :class:`Adam` (registered as kind ``optimizer``), :func:`make_optimizer`.
* :mod:`~pipeline.optim.minimize`: :func:`minimize` and its :class:`Trajectory`.
* :mod:`~pipeline.optim.curves`: the soft two-class split every objective is built on.
* :mod:`~pipeline.optim.threshold_objectives`: Otsu, edge-density and agreement
  objectives of one threshold on 256-bin histograms (registered as kind ``objective``).
* :mod:`~pipeline.optim.pair_objectives`: multi-Otsu of a threshold pair (Canny's).
* :mod:`~pipeline.optim.tune`: :func:`tune_threshold` and :func:`tune_pair`.
* :mod:`~pipeline.optim.fast`: :func:`tune_threshold` with the descent loop compiled.
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
from pipeline.optim.pair_objectives import PAIR_OBJECTIVES, multiotsu, multiotsu_grad
from pipeline.optim.threshold_objectives import (
    OBJECTIVES,
    agreement,
    agreement_grad,
    density,
    density_grad,
    joint_histogram,
    otsu,
    otsu_grad,
)
from pipeline.optim.tune import project_ordered, tune_pair, tune_threshold

__all__ = [
    "OBJECTIVES",
    "OPTIMIZERS",
    "PAIR_OBJECTIVES",
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
    "multiotsu",
    "multiotsu_grad",
    "numerical_gradient",
    "otsu",
    "otsu_grad",
    "project_ordered",
    "tune_pair",
    "tune_threshold",
]
