"""What a tuner can tune: one :class:`TunerTarget` per kind of tuned value.

A target ties a key of the run's tuned values (:class:`pipeline.tuned.Target`: its
name and the names of its values) to the objectives that can move it, the way to run
them on a histogram, and where an update starts when nothing is known yet.  The tuner
thread (:mod:`~pipeline.runtime.tuner.thread`) is the same for every target; a new
tuned value is a new subclass here, added to :data:`TARGETS`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pipeline.tuned import CANNY, THRESHOLD, Target
from pipeline.histograms import canny_rule_of_thumb
from pipeline.ops import otsu_threshold
from pipeline.optim import Optimizer, make_optimizer, tune_pair
# Drop-ins for optim.tune_threshold: the same path bit for bit, the loop compiled where it can be.
from pipeline.optim.fast import ThresholdRun
from pipeline.optim.fast import tune_threshold_fast as tune_threshold
from pipeline.optim.minimize import Trajectory
from pipeline.optim.tune import objective_names
from pipeline.config.registry import REGISTRIES

__all__ = ["CANNY_TARGET", "TARGETS", "THRESHOLD_TARGET", "CannyTarget", "ThresholdTarget",
           "TunerTarget"]

THRESHOLD_TARGET = THRESHOLD.name
CANNY_TARGET = CANNY.name

#: A made-up histogram to compile an objective on before the first frame.
_WARM_HISTOGRAM = np.arange(256, dtype=np.int64)[::-1].copy()


class TunerTarget:
    """The interface: one tuned value, its objectives and how to optimize them.

    Subclasses set :attr:`key` and :attr:`thresholds` and implement :meth:`fallback`
    and :meth:`run`.

    Parameters
    ----------
    optimizer : Optimizer
        The update rule (reset at each run).
    iterations : int
    objective : str
        One of :meth:`objectives`.
    bounds : (float, float)
        The box every value stays in.
    objective_settings : mapping
        The objective's own settings (``tau``; ``target`` for density).
    """

    #: The tuned values' key in :class:`pipeline.tuned.TunedValues`.
    key: Target
    #: How many thresholds its objectives take (1: a level, 2: a pair).
    thresholds: int

    def __init__(self, optimizer: Optimizer, iterations: int, objective: str,
                 bounds: tuple[float, float], objective_settings: Mapping):
        self.optimizer = optimizer
        self.iterations = iterations
        self.objective = objective
        self.bounds = tuple(bounds)
        self.objective_settings = dict(objective_settings)

    @classmethod
    def objectives(cls) -> tuple[str, ...]:
        """The registered objectives that can move this target from the magnitude histogram."""
        return tuple(name for name in objective_names(cls.thresholds)
                     if REGISTRIES["objective"][name].histogram == "magnitude")

    def fallback(self, histogram: np.ndarray) -> tuple[float, ...]:
        """Where an update starts before any value is known (the stage's own automatic one)."""
        raise NotImplementedError

    def start(self, values) -> np.ndarray:
        """``values`` (in the key's order) as the point an optimizer starts from, in the box."""
        low, high = self.bounds
        return np.clip(np.array(values, dtype=np.float64), low, high)

    def run(self, histogram: np.ndarray, start: np.ndarray) -> Trajectory:
        """Run the optimizer from ``start`` on ``histogram``; ``points[k]`` in the key's order."""
        raise NotImplementedError

    def warm(self) -> None:
        """Run the objective once on a made-up histogram, so numba compiles it now."""
        raise NotImplementedError


class ThresholdTarget(TunerTarget):
    """The ``threshold`` stage's level, with ``otsu`` or ``density``; starts at Otsu's."""

    key = THRESHOLD
    thresholds = 1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Checked and prepared once; each update then pays only the histogram's part.
        self.threshold_run = ThresholdRun(self.optimizer, self.iterations, self.objective,
                                          self.bounds, **self.objective_settings)

    def fallback(self, histogram):
        return (otsu_threshold(histogram),)

    def run(self, histogram, start):
        return self.threshold_run(histogram, float(start[0]))

    def warm(self):
        tune_threshold(_WARM_HISTOGRAM, 128.0, make_optimizer(self.optimizer.spec()), 1,
                       objective=self.objective, bounds=self.bounds, **self.objective_settings)


class CannyTarget(TunerTarget):
    """The ``canny`` stage's pair ``(low, high)``, with ``multiotsu``; starts at the rule of thumb.

    Every optimizer steps on the 2-vector, each step projected back onto ``low <= high``
    (:func:`pipeline.optim.tune_pair`).
    """

    key = CANNY
    thresholds = 2

    def fallback(self, histogram):
        return canny_rule_of_thumb(histogram)

    def start(self, values):
        return super().start(np.sort(np.array(values, dtype=np.float64)))

    def run(self, histogram, start):
        return tune_pair(histogram, start, self.optimizer, self.iterations,
                         objective=self.objective, bounds=self.bounds, **self.objective_settings)

    def warm(self):
        tune_pair(_WARM_HISTOGRAM, (64.0, 128.0), make_optimizer(self.optimizer.spec()), 1,
                  objective=self.objective, bounds=self.bounds, **self.objective_settings)


#: Targets by name (the ``tuner:`` section's ``targets``).
TARGETS: dict[str, type[TunerTarget]] = {
    target.key.name: target for target in (ThresholdTarget, CannyTarget)}
