"""The record that travels the chain of stages."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass
class Frame:
    """One video frame on its way from a source to the sinks.

    Attributes
    ----------
    index : int
        0-based position in the source's stream.
    timestamp : float
        Capture time, ``time.perf_counter()`` when the source delivered the frame;
        latency is measured from here.
    original : ndarray
        The image as captured (BGR uint8, or grey); stages never modify it.
    image : ndarray
        The current image; each stage replaces it with the next one.
    side : dict
        Named side values left by stages (``"histogram"``, ``"threshold"``, ...).
    pts : float or None
        Presentation time in seconds: the stream's pts for files and streams, the
        source's own clock for cameras, pictures and the synthetic pattern.  Sinks that
        write video place the frame at this time, so gaps and variable rates survive.
        None only for frames made by hand; writers then use ``index / fps``.
    """

    index: int
    timestamp: float
    original: np.ndarray
    image: np.ndarray
    side: dict[str, Any] = dataclasses.field(default_factory=dict)
    pts: float | None = None


class LimitedLuma(np.ndarray):
    """A decoder's limited-range luma plane (16-235), handed out before its expansion.

    With ``grayscale: {from: luma}`` folded into the fused edge pass (``grayscale,
    gradient, map``), a file, url or stdin source hands out a limited-range frame's Y
    plane as it was decoded, viewed as this class; the fused pass expands it row by row
    as it reads it (:func:`pipeline.ops.edges` with ``limited=True``), which saves a
    pass over the frame, and a ``grayscale`` stage that runs on its own expands it
    (:func:`pipeline.ops.expand_luma`).  Either way the chain sees the same full-range
    grey as without the deferral.  Only the frame's ``original`` keeps the plane as
    decoded (nothing in such a chain paints on the original: the config refuses
    ``overlay`` after ``from: luma``).

    Nothing more than a marker: ``np.asarray`` of one is the plain (H, W) uint8 plane.
    """


def stage_image(image: Any) -> np.ndarray | None:
    """``image`` as the stages take it: uint8 grey (H, W) or BGR (H, W, 3); None if it
    is not a frame.

    (H, W, 1) becomes (H, W) (a view) and BGRA becomes BGR (a copy without the alpha
    channel).  The one frame contract, for frames from a source
    (:func:`pipeline.io.base.frame_image`) and pushed by a caller (:mod:`pipeline.api`).
    """
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.size:
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3):
            return image
        if image.ndim == 3 and image.shape[2] == 1:
            return image[:, :, 0]
        if image.ndim == 3 and image.shape[2] == 4:
            return np.ascontiguousarray(image[:, :, :3])
    return None


def describe_image(image: Any) -> str:
    """What ``image`` is, for an error: ``a float32 array of shape (4, 4)`` or a type name."""
    if isinstance(image, np.ndarray):
        return f"a {image.dtype} array of shape {image.shape}"
    return type(image).__name__
