"""Stages: one small class each, registered by name for configs.

Importing this package registers every stage: ``grayscale``, ``derivative``,
``gradient``, ``map``, ``threshold``, ``canny``, ``overlay``, ``hud``, ``resize``, ``blur``.
"""

from pipeline.stages import (  # noqa: F401  (each module registers its stage)
    blur,
    canny,
    derivative,
    gradient,
    grayscale,
    hud,
    map,
    overlay,
    resize,
    threshold,
)
from pipeline.stages.base import Stage, StageError
from pipeline.stages.chain import Chain

__all__ = ["Chain", "Stage", "StageError"]
