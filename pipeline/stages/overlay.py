"""``overlay``: paint the edges onto the original colour frame."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.frame import Frame
from pipeline.config.registry import Param, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage, bgr_color, require_uint8_image


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A BGR (H, W, 3) uint8 view or copy of a grey, BGR or BGRA uint8 image."""
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def paint_edges(original: np.ndarray, strength: np.ndarray, color, alpha: float) -> np.ndarray:
    """Blend ``color`` into ``original`` where ``strength`` is non-zero.

    Each pixel becomes ``rint(o + (color - o) * alpha * s / 255)``: a binary edge map
    (0/255) paints edges with ``alpha`` opacity, a soft one (a ``map`` output) in
    proportion to its strength.  Pixels with ``s == 0`` keep the original exactly.

    Parameters
    ----------
    original : ndarray, uint8, (H, W, 3) BGR, or (H, W) / (H, W, 4)
    strength : ndarray, uint8, (H, W)
        Resized to ``original`` (nearest) when the sizes differ is the caller's job.
    color : sequence of 3 ints
        B, G, R.
    alpha : float
        Opacity at full strength, in [0, 1].

    Returns
    -------
    ndarray, uint8, (H, W, 3)
        A new array.
    """
    out = as_bgr(original).copy()
    rows, cols = np.nonzero(strength)
    if rows.size:
        weight = strength[rows, cols].astype(np.float32) * np.float32(alpha / 255.0)
        pixels = out[rows, cols].astype(np.float32)
        target = np.asarray(color, dtype=np.float32)
        pixels += (target - pixels) * weight[:, None]
        out[rows, cols] = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return out


@register("stage", "overlay")
class Overlay(Stage):
    """Paint the current edge image onto ``frame.original`` (:func:`paint_edges`).

    The current image must be a uint8 (H, W) edge map (after ``threshold`` or ``map``);
    the output is the BGR original with edges in ``color``.  When an earlier ``resize``
    changed the size, the original is resized to the edge map (``INTER_AREA``).
    """

    params = (
        Param("color", list, [0, 255, 0], min=0, max=255, help="edge colour as [B, G, R]"),
        Param("alpha", float, 1.0, min=0.0, max=1.0, help="opacity of fully strong edges"),
    )
    accepts = (kinds.EDGE_MAP, kinds.BINARY)
    gives = kinds.COLOUR
    reads_original = True

    def check(self) -> None:
        self.color = bgr_color(self.color)

    def __call__(self, frame: Frame) -> Frame:
        require_uint8_image("overlay", frame.image, grey=True)
        require_uint8_image("overlay (original frame)", frame.original)
        original = frame.original
        height, width = frame.image.shape
        if original.shape[:2] != (height, width):
            original = cv2.resize(original, (width, height), interpolation=cv2.INTER_AREA)
        frame.image = paint_edges(original, frame.image, self.color, self.alpha)
        return frame
