"""The tuner: a side thread that keeps ``auto`` values at an edge-quality optimum.

A config turns it on with a top-level section, checked against :data:`TUNER_PARAMS`::

    tuner: {objective: otsu, optimizer: {name: adam, lr: 2.0}, every: 5, iterations: 20,
            smoothing: 0.5, bounds: [0, 255]}

Two targets: ``targets: threshold`` (the default) moves the ``threshold`` stage's one
value with ``otsu`` or ``density``; ``targets: canny`` moves the ``canny`` stage's pair
``(low, high)`` with ``multiotsu``::

    tuner: {objective: multiotsu, optimizer: {name: sign, step: 1}, targets: canny}

The runtime tuner's objectives read only the 256-bin magnitude histogram the chain
already makes, so an update costs the same at any resolution.

* :mod:`~pipeline.runtime.tuner.settings`: the section's settings and their check;
* :mod:`~pipeline.runtime.tuner.targets`: the :class:`TunerTarget` interface, one
  implementation per target;
* :mod:`~pipeline.runtime.tuner.step`: one update, the :class:`TunerStep` it publishes;
* :mod:`~pipeline.runtime.tuner.thread`: the :class:`Tuner` thread and its mailbox.
"""

from pipeline.runtime.tuner.settings import (DEFAULT_OPTIMIZER, DEFAULT_TARGET, DEFAULT_TAU,
                                             TARGET_OBJECTIVES, TUNER_OBJECTIVES, TUNER_PARAMS,
                                             TunerSettings, check_tuner_settings)
from pipeline.runtime.tuner.step import TunerStep
from pipeline.runtime.tuner.targets import TARGETS, CannyTarget, ThresholdTarget, TunerTarget
from pipeline.runtime.tuner.thread import Tuner

__all__ = ["DEFAULT_OPTIMIZER", "DEFAULT_TARGET", "DEFAULT_TAU", "TARGETS", "TARGET_OBJECTIVES",
           "TUNER_OBJECTIVES", "TUNER_PARAMS", "CannyTarget", "ThresholdTarget", "Tuner",
           "TunerSettings", "TunerStep", "TunerTarget", "check_tuner_settings"]
