"""``threshold``: binary edges, at a fixed value or following the tuner."""

from __future__ import annotations

import numpy as np

from pipeline import ops
from pipeline.frame import Frame
from pipeline.registry import Param, ParamError, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage

AUTO = "auto"


def otsu_threshold(hist: np.ndarray) -> float:
    """Otsu's threshold of a 256-bin histogram: levels ``> t`` are the upper class.

    Parameters
    ----------
    hist : ndarray, (256,)
        Counts of levels 0..255.

    Returns
    -------
    float
        The ``t`` in 0..254 maximizing the between-class variance of ``[0, t]`` and
        ``(t, 255]`` (the smallest such ``t``; 0 for an empty or one-level histogram).
    """
    counts = np.asarray(hist, dtype=np.float64)
    if counts.shape != (256,):
        raise ValueError(f"hist must have 256 bins; got shape {counts.shape}")
    total = counts.sum()
    if total <= 0:
        return 0.0
    levels = np.arange(256, dtype=np.float64)
    weight_low = np.cumsum(counts)[:-1]
    sum_low = np.cumsum(counts * levels)[:-1]
    weight_high = total - weight_low
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = sum_low / weight_low
        mean_high = (sum_low[-1] + counts[255] * 255.0 - sum_low) / weight_high
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
    between = np.where((weight_low > 0) & (weight_high > 0), between, -1.0)
    return float(np.argmax(between)) if between.max() > 0 else 0.0


@register("stage", "threshold")
class Threshold(Stage):
    """255 where the image is above the threshold, else 0 (:func:`pipeline.ops.threshold`).

    The value used, in order of precedence: a manual threshold set through the run's
    controls (window keys, HTTP); with ``value: auto``, the tuner's latest answer (while
    the tuner is enabled); then the number given as ``value``; for ``auto`` before the
    tuner's first answer (or with no tuner), Otsu's threshold of the frame's histogram
    (``frame.side["histogram"]``, else the image's own, ``|image|`` clipped to 255).
    Leaves ``frame.side["threshold"]`` and reports it to the controls (for the hud).
    """

    params = (
        Param("value", (float, str), AUTO, min=0, max=255,
              help="a level in [0, 255], or auto: tuner, else Otsu"),
    )
    # Any (H, W) strength; a colour frame has no single level to compare.
    accepts = (kinds.EDGE_MAP, kinds.MAGNITUDE, kinds.DERIVATIVE, kinds.GREY, kinds.BINARY)
    gives = kinds.BINARY

    def check(self) -> None:
        if isinstance(self.value, str) and self.value != AUTO:
            raise ParamError("value", f"value must be a number in [0, 255] or {AUTO!r}; "
                                      f"got {self.value!r}")

    def level(self, frame: Frame) -> float:
        """The threshold to use on ``frame`` (see the class docstring for the order)."""
        if self.controls is not None:
            chosen = (self.controls.threshold_for_auto() if self.value == AUTO
                      else self.controls.threshold)
            if chosen is not None:
                return chosen
        if self.value != AUTO:
            return float(self.value)
        hist = frame.side.get("histogram")
        if hist is None:
            image = frame.image if frame.image.dtype == np.uint8 else ops.map_abs(frame.image)
            hist = ops.histogram(image)
        return otsu_threshold(hist)

    def apply(self, image: np.ndarray, level: float | None = None) -> np.ndarray:
        if level is None:
            level = float(self.value) if self.value != AUTO else self.level(
                Frame(0, 0.0, image, image))
        return ops.threshold(image, level)

    def __call__(self, frame: Frame) -> Frame:
        if not isinstance(frame.image, np.ndarray) or frame.image.ndim != 2:
            shape = getattr(frame.image, "shape", None)
            raise ValueError(f"threshold needs an (H, W) edge image; got shape {shape} "
                             f"(put gradient and map before it)")
        level = self.level(frame)
        frame.image = ops.threshold(frame.image, level)
        frame.side["threshold"] = level
        if self.controls is not None:
            self.controls.record_threshold_used(level)
        return frame
