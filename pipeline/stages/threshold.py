"""``threshold``: binary edges, at a fixed value or following the tuner."""

from __future__ import annotations

import numpy as np

from pipeline import ops
from pipeline.ops import otsu_threshold  # noqa: F401  (also imported from here)
from pipeline.frame import Frame
from pipeline.config.registry import Param, ParamError, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage

AUTO = "auto"


def frame_histogram(frame: Frame) -> np.ndarray:
    """``frame.side["histogram"]``, made once from ``frame.image`` if no stage left one.

    A float magnitude is rendered as ``map`` with mode abs and scale 1 would render it,
    so the histogram is always of the uint8 picture the threshold applies to.
    """
    hist = frame.side.get("histogram")
    if hist is None:
        image = frame.image if frame.image.dtype == np.uint8 else ops.map_abs(frame.image)
        hist = frame.side["histogram"] = ops.histogram(image)
    return hist


@register("stage", "threshold")
class Threshold(Stage):
    """255 where the image is above the threshold, else 0 (:func:`pipeline.ops.threshold`).

    The value used, in order of precedence: a manual threshold set through the run's
    controls (window keys, HTTP); with ``value: auto``, the tuner's latest answer (while
    the tuner is enabled); then the number given as ``value``; for ``auto`` before the
    tuner's first answer (or with no tuner), Otsu's threshold
    (:func:`pipeline.ops.otsu_threshold`) of the frame's histogram.

    With ``value: auto`` the frame needs a histogram for Otsu, and the tuner reads one:
    the one ``map`` left in ``frame.side["histogram"]``, else this stage makes it once
    from its input (``|image|`` clipped to 255) and leaves it there.  While a tuner runs,
    only the frames it takes, and those that fall back to Otsu, get one.  Leaves
    ``frame.side["threshold"]`` and reports it to the controls (for the hud).
    """

    params = (
        Param("value", (float, str), AUTO, min=0, max=255,
              help="a level in [0, 255], or auto: tuner, else Otsu"),
    )
    # Any (H, W) strength; a colour frame has no single level to compare.
    accepts = (kinds.EDGE_MAP, kinds.MAGNITUDE, kinds.DERIVATIVE, kinds.GREY, kinds.BINARY)
    gives = kinds.BINARY

    @property
    def reads_histogram(self) -> bool:
        """Whether this frame needs a histogram for Otsu: ``auto`` with no chosen value.

        A manual threshold or the tuner's answer makes Otsu's unneeded; the engine, which
        asks frame by frame while a tuner runs, then has the histogram made only on the
        frames the tuner takes.  Should the answer vanish before this stage runs (the
        tuner switched off in between), :meth:`level` makes the histogram itself.
        """
        if self.value != AUTO:
            return False
        return self.controls is None or self.controls.threshold_for_auto() is None

    #: Whether to leave the histogram for the tuner (or a caller of ``frames()``) when
    #: no earlier stage did; :meth:`~pipeline.stages.chain.Chain.leave_histograms` sets it.
    leaves_histogram = True

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
        return otsu_threshold(frame_histogram(frame))

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
        if self.value == AUTO and self.leaves_histogram:
            frame_histogram(frame)  # the tuner reads it after the chain, whoever decides
        level = self.level(frame)
        frame.image = ops.threshold(frame.image, level)
        frame.side["threshold"] = level
        if self.controls is not None:
            self.controls.record_threshold_used(level)
        return frame
