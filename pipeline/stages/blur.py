"""``blur``: Gaussian smoothing before differentiating (cv2.GaussianBlur)."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.config.registry import Param, ParamError, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage


@register("stage", "blur")
class Blur(Stage):
    """Gaussian blur with an odd square kernel (border reflect101, as the derivatives).

    ``sigma: 0`` derives sigma from ``ksize`` as OpenCV does
    (``0.3 * ((ksize - 1) * 0.5 - 1) + 0.8``).
    """

    params = (
        Param("ksize", int, 5, min=1, max=99, help="odd kernel size in pixels"),
        Param("sigma", float, 0.0, min=0.0, max=100.0, help="standard deviation; 0: from ksize"),
    )

    def output_kind(self, kind: str) -> str:
        # Any image in, the same kind out; a blurred 0/255 map is no longer binary.
        return kinds.EDGE_MAP if kind == kinds.BINARY else kind

    def check(self) -> None:
        if self.ksize % 2 == 0:
            raise ParamError("ksize", f"ksize must be odd (1, 3, 5, ...); got {self.ksize}")

    def apply(self, image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            shape = getattr(image, "shape", None)
            raise ValueError(f"blur needs a non-empty (H, W) or (H, W, C) image; got shape {shape}")
        return cv2.GaussianBlur(image, (self.ksize, self.ksize), self.sigma,
                                borderType=cv2.BORDER_REFLECT_101)
