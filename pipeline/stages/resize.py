"""``resize``: scale the current image (cv2.resize)."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.config.registry import Param, ParamError, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage

INTERPOLATIONS = {
    "area": cv2.INTER_AREA,
    "linear": cv2.INTER_LINEAR,
    "nearest": cv2.INTER_NEAREST,
    "cubic": cv2.INTER_CUBIC,
}


def target_size(height: int, width: int, new_width: int | None, new_height: int | None,
                scale: float | None) -> tuple[int, int]:
    """``(width, height)`` for cv2.resize; a missing side keeps the aspect ratio."""
    if scale is not None:
        return max(1, round(width * scale)), max(1, round(height * scale))
    if new_width is None:
        return max(1, round(width * new_height / height)), new_height
    if new_height is None:
        return new_width, max(1, round(height * new_width / width))
    return new_width, new_height


@register("stage", "resize")
class Resize(Stage):
    """Resize by ``scale``, or to ``width`` and/or ``height`` (one alone keeps the aspect).

    Only the current image is resized; ``frame.original`` stays as captured (``overlay``
    resizes it to match).  Any dtype cv2.resize takes (uint8, int16, float32).
    """

    params = (
        Param("width", (int, type(None)), None, min=1, max=16384, help="output width in pixels"),
        Param("height", (int, type(None)), None, min=1, max=16384, help="output height in pixels"),
        Param("scale", (float, type(None)), None, min=0.01, max=16.0, help="factor on both sides"),
        Param("interpolation", str, "area", choices=tuple(INTERPOLATIONS),
              help="area suits shrinking, linear/cubic enlarging"),
    )

    def output_kind(self, kind: str) -> str:
        # Any image in, the same kind out; only nearest keeps a 0/255 map binary.
        if kind == kinds.BINARY and self.interpolation != "nearest":
            return kinds.EDGE_MAP
        return kind

    def check(self) -> None:
        if self.scale is None and self.width is None and self.height is None:
            raise ParamError("scale", "resize needs scale, or width and/or height; got none")
        if self.scale is not None and (self.width is not None or self.height is not None):
            raise ParamError("scale", "give either scale or width/height, not both; "
                                      f"got scale={self.scale!r} with width={self.width!r}, "
                                      f"height={self.height!r}")

    def apply(self, image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            shape = getattr(image, "shape", None)
            raise ValueError(f"resize needs a non-empty (H, W) or (H, W, C) image; got shape {shape}")
        size = target_size(image.shape[0], image.shape[1], self.width, self.height, self.scale)
        return cv2.resize(image, size, interpolation=INTERPOLATIONS[self.interpolation])
