"""Soft boundary maps of a quality experiment's methods, and the tuner's settled maps.

* a **chain** runs its stages on the BGR photo (a :class:`~pipeline.stages.chain.Chain`);
  its uint8 output is the soft map, read as the benchmark reads a PNG (``v / 255``).
* **canny** sweeps the pair: at the benchmark's threshold ``t_k`` the pair is
  ``(ratio * t_k * high_max, t_k * high_max)``, and a pixel's soft value is
  ``ceil(255 t_k)`` for the largest ``k`` whose Canny map holds it.  Raising both
  thresholds at a fixed ratio only removes Canny pixels (non-maximum suppression does not
  depend on them, hysteresis keeps fewer), so thresholding the soft map at ``t_k`` gives
  back exactly the Canny map of pair ``k``.
* **maps** reads ``DIR/NAME.png`` (grey uint8), any detector's output.

A tuned method runs the runtime :class:`~pipeline.runtime.tuner.Tuner` on the image's
histogram (the soft map's, or for canny the Sobel magnitude's that ``cv2.Canny``
thresholds, of all pixels or, with ``histogram: nms``, of the non-maximum-suppression
survivors only: :func:`pipeline.histograms.nms_histogram`), ``updates`` times as
on a still scene, and keeps the value it publishes last: the threshold (the map is then
``soft > t``, as the ``threshold`` stage does), Canny's pair (``multiotsu``), or Canny's
high with ``low = ratio * high`` (a one-threshold objective on a canny method).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline import ops
from pipeline.frame import Frame
from pipeline.io.base import SourceError
from pipeline.histograms import nms_histogram
from pipeline.controls import Controls
from pipeline.tuned import CANNY_TARGET, CANNY_VALUES, THRESHOLD_TARGET
from pipeline.runtime.tuner import Tuner
from pipeline.histograms import magnitude_histogram
from pipeline.stages.chain import Chain


def read_image(path) -> np.ndarray:
    """The BGR photo at ``path``; SourceError naming it if it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{path}: cannot read the image")
    return image


def _blurred_grey(image: np.ndarray, sigma: float) -> np.ndarray:
    grey = ops.grayscale(image)
    return cv2.GaussianBlur(grey, (0, 0), sigma) if sigma > 0 else grey


def canny_levels(settings: dict, levels: np.ndarray) -> list[tuple[float, float]]:
    """The swept pairs ``(ratio * t * high_max, t * high_max)``, one per threshold t."""
    return [(settings["ratio"] * t * settings["high_max"], t * settings["high_max"]) for t in levels]


def canny_soft_map(image: np.ndarray, settings: dict, levels: np.ndarray) -> np.ndarray:
    """The canny sweep's soft map (see the module docstring)."""
    grey = _blurred_grey(image, settings["sigma"])
    soft = np.zeros(grey.shape, np.uint8)
    for t, (low, high) in zip(levels, canny_levels(settings, levels)):
        edges = ops.canny(grey, low, high, l2=settings["l2"])
        soft[edges > 0] = min(255, math.ceil(255 * t))
    return soft


def soft_map(method, name: str, image: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Method ``method``'s soft uint8 map of the photo ``image`` named ``name``."""
    if method.kind == "chain":
        out = Chain(method.spec)(Frame(0, 0.0, image, image.copy())).image
    elif method.kind == "canny":
        out = canny_soft_map(image, method.spec, levels)
    else:
        path = method.spec / f"{name}.png"
        out = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if out is None:
            raise SourceError(f"{path}: no readable soft map for image {name} (method {method.name})")
    if out.dtype != np.uint8 or out.shape != image.shape[:2]:
        raise SourceError(f"method {method.name} gave a {out.dtype} map of shape {out.shape} for "
                          f"{name}; the benchmark needs uint8 of shape {image.shape[:2]}")
    return out


def settle(tuned, histogram: np.ndarray) -> dict:
    """The values the tuner publishes after ``tuned.updates`` updates on one histogram."""
    tuner = Tuner(dict(tuned.settings, every=1), Controls())
    step = None
    for _ in range(tuned.updates):
        step = tuner.handle(histogram)
    return dict(step.values)


def tuned_map(tuned, method, image: np.ndarray, soft: np.ndarray) -> tuple[np.ndarray, dict]:
    """The binary map at the tuner's settled value, and that value (``threshold`` or pair)."""
    if method.kind == "canny":
        grey = _blurred_grey(image, method.spec["sigma"])
        histogram = (nms_histogram if tuned.histogram == "nms" else magnitude_histogram)(
            grey, method.spec["l2"])
        values = settle(tuned, histogram)
        if tuned.settings["targets"] == CANNY_TARGET:
            low, high = (values[name] for name in CANNY_VALUES)
        else:  # one threshold: Canny's high, and low at the ratio
            high = values[THRESHOLD_TARGET]
            low = tuned.ratio * high
            values = {"low": low, "high": high}
        return ops.canny(grey, low, high, l2=method.spec["l2"]), values
    values = settle(tuned, np.bincount(soft.ravel(), minlength=256).astype(np.int64))
    return ops.threshold(soft, values[THRESHOLD_TARGET]), values
