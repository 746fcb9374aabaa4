"""``grayscale``: BGR, BGRA or grey uint8 to grey uint8."""

from __future__ import annotations

import numpy as np

from pipeline import ops
from pipeline.config.registry import register
from pipeline.stages import kinds
from pipeline.stages.base import Stage


@register("stage", "grayscale")
class Grayscale(Stage):
    """Grey image of the current image, by :func:`pipeline.ops.grayscale`.

    Bit-exact with ``cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)``; a grey image passes
    through unchanged.
    """

    params = ()
    accepts = (kinds.COLOUR, kinds.GREY)
    gives = kinds.GREY

    def apply(self, image: np.ndarray) -> np.ndarray:
        return ops.grayscale(image)
