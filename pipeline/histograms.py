"""Histograms of edge pictures, and the automatic levels read from them.

The ``threshold`` and ``canny`` stages and the tuner all read a 256-bin histogram of the
picture being thresholded; they make it here, once per frame, and keep it in
``frame.side["histogram"]`` (:func:`frame_histogram`), so that a stage and the tuner
agree on the same counts:

* :func:`edge_histogram`: the uint8 edge picture the ``threshold`` stage compares (a
  float magnitude rendered as ``map`` with mode abs and scale 1 renders it);
* :func:`magnitude_histogram`: the Sobel magnitude ``cv2.Canny`` compares;
* :func:`nms_histogram`: the same magnitude over the pixels some Canny pair could keep;
* :func:`~pipeline.ops.otsu_threshold` and :func:`canny_rule_of_thumb`: the levels used
  before (or without) a tuner's answer.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from pipeline import ops
from pipeline.frame import Frame

__all__ = ["LOW_RATIO", "canny_rule_of_thumb", "edge_histogram", "frame_histogram",
           "magnitude_histogram", "nms_histogram"]

#: ``low = LOW_RATIO * high`` in Canny's rule of thumb: the recommended 2:1 high:low ratio.
LOW_RATIO = 0.5


def edge_histogram(image: np.ndarray) -> np.ndarray:
    """256-bin histogram of an (H, W) edge picture, ``|image|`` clipped to 255 if not uint8."""
    return ops.histogram(image if image.dtype == np.uint8 else ops.map_abs(image))


def magnitude_histogram(image: np.ndarray, l2: bool = False) -> np.ndarray:
    """256-bin histogram of the Sobel magnitude that ``cv2.Canny`` thresholds, clipped to 255.

    The magnitude is ``|dx| + |dy|`` (``l2``: ``rint(sqrt(dx**2 + dy**2))``) of the 3x3
    Sobel derivatives of the grey image with the replicated border, as in OpenCV's
    ``canny.cpp``, so a level ``v`` of this histogram is compared with the thresholds as
    ``v > low`` and ``v > high`` (exactly for L1, to rounding for L2); magnitudes above
    255 all count in bin 255.  This is the histogram the ``multiotsu`` objective and the
    rule of thumb read.  One fused pass (:func:`pipeline.ops.edges`).
    """
    _, hist = ops.edges(image, kind="sobel", norm="l2" if l2 else "l1", mapping="abs",
                        scale=1.0, border="replicate", hist=True)
    return hist


def nms_histogram(grey, l2=False):
    """256-bin histogram of the Sobel magnitude over the non-maximum-suppression survivors.

    The survivors are the pixels ``cv2.Canny(grey, 0, 0)`` keeps: local maxima of the
    gradient magnitude across the edge, with a magnitude above 0, i.e. every pixel that
    some Canny pair could make an edge.  Their magnitude is the one ``cv2.Canny``
    thresholds (``|dx| + |dy|`` of the 3x3 Sobel, replicated border; ``l2``: the
    Euclidean norm), clipped to 255 as in :func:`pipeline.histograms.magnitude_histogram`.
    The histogram of all pixels is dominated by flat regions; this one is the population
    of candidate edges the pair actually splits.

    Parameters
    ----------
    grey : ndarray, uint8, (H, W)
    l2 : bool

    Returns
    -------
    ndarray of int64, shape (256,)
    """
    grey = np.asarray(grey)
    if grey.dtype != np.uint8 or grey.ndim != 2:
        raise ValueError(f"grey must be a uint8 (H, W) image; got {grey.dtype} {grey.shape}")
    magnitude = ops.edges(grey, kind="sobel", norm="l2" if l2 else "l1", mapping="abs",
                          scale=1.0, border="replicate")
    survivors = ops.canny(grey, 0.0, 0.0, l2=l2) != 0
    return np.bincount(magnitude[survivors], minlength=256).astype(np.int64)


def frame_histogram(frame: Frame, make: Callable[[np.ndarray], np.ndarray] = edge_histogram
                    ) -> np.ndarray:
    """``frame.side["histogram"]``, made once from ``frame.image`` by ``make`` if no stage left one."""
    hist = frame.side.get("histogram")
    if hist is None:
        hist = frame.side["histogram"] = make(frame.image)
    return hist


def canny_rule_of_thumb(hist: np.ndarray) -> tuple[float, float]:
    """``(low, high)`` with ``high`` Otsu's threshold of the magnitude histogram, ``low = high / 2``.

    Canny recommends a high:low ratio of 2:1 to 3:1 (J. Canny, "A Computational Approach
    to Edge Detection", IEEE PAMI 8(6), 1986; repeated in OpenCV's Canny tutorial,
    "Canny recommended a upper:lower ratio between 2:1 and 3:1").  For the high one this
    takes Otsu's split of the gradient magnitudes into edge and background, the same
    automatic level as ``threshold: auto`` (:func:`pipeline.ops.otsu_threshold`), so it
    adapts to the footage.  The median rule (``0.66`` and ``1.33`` times the grey median)
    was not chosen: it reads brightness, not gradient strength, and a dark scene gets
    thresholds near 0.
    """
    high = float(ops.otsu_threshold(hist))
    return LOW_RATIO * high, high
