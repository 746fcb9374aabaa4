"""``canny``: thin edges by ``cv2.Canny``'s rules, at fixed thresholds or following the tuner."""

from __future__ import annotations

import numpy as np

from pipeline import ops
from pipeline.frame import Frame
from pipeline.config.registry import Param, ParamError, register
from pipeline.runtime.controls import CANNY_TARGET, CANNY_VALUES
from pipeline.stages import kinds
from pipeline.stages.base import Stage, require_uint8_image

AUTO = "auto"

#: ``low = LOW_RATIO * high`` in the rule of thumb: Canny's recommended 2:1 high:low ratio.
LOW_RATIO = 0.5


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


def rule_of_thumb(hist: np.ndarray) -> tuple[float, float]:
    """``(low, high)`` with ``high`` Otsu's threshold of the magnitude histogram, ``low = high / 2``.

    Canny recommends a high:low ratio of 2:1 to 3:1 (J. Canny, "A Computational Approach
    to Edge Detection", IEEE PAMI 8(6), 1986; repeated in OpenCV's Canny tutorial,
    "Canny recommended a upper:lower ratio between 2:1 and 3:1").  For the high one the
    stage takes Otsu's split of the gradient magnitudes into edge and background, the
    same automatic level as ``threshold: auto`` (:func:`pipeline.ops.otsu_threshold`),
    so it adapts to the footage.  The median rule (``0.66`` and ``1.33`` times the grey
    median) was not chosen: it reads brightness, not gradient strength, and a dark scene
    gets thresholds near 0.
    """
    high = float(ops.otsu_threshold(hist))
    return LOW_RATIO * high, high


@register("stage", "canny")
class Canny(Stage):
    """Canny edges (:func:`pipeline.ops.canny`), bit for bit ``cv2.Canny(grey, low, high, 3, l2)``.

    Takes a BGR or grey uint8 frame (colour converted exactly as ``grayscale`` does) and
    gives a binary map, 255 on edges.  ``low`` and ``high`` are each a number in
    [0, 255] or ``auto``; the value used for each, in order of precedence: one set by hand
    (window keys, ``POST /control``); for ``auto``, the tuner's latest pair (target
    ``canny``, while the tuner is enabled); the number given; for ``auto`` without a
    tuner's answer, the rule of thumb (:func:`rule_of_thumb`: Otsu's threshold of the
    magnitude histogram as ``high``, half of it as ``low``).

    The 256-bin magnitude histogram (:func:`magnitude_histogram`) is made, and left in
    ``frame.side["histogram"]`` for the tuner, only when a value is ``auto`` and a canny
    tuner runs (on the frames it takes) or the rule of thumb is needed.  Leaves
    ``frame.side["canny"] = {"low": l, "high": h}`` (sorted, as ``cv2.Canny`` takes them),
    which the stats sink writes on each line, and reports it to the controls (hud, http,
    the tuner's start).
    """

    params = (
        Param("low", (float, str), AUTO, min=0, max=255,
              help="weak-edge threshold in [0, 255], or auto: tuner, else Otsu / 2"),
        Param("high", (float, str), AUTO, min=0, max=255,
              help="strong-edge threshold in [0, 255], or auto: tuner, else Otsu"),
        Param("l2", bool, False, help="Euclidean magnitude instead of |dx| + |dy|"),
    )
    accepts = (kinds.COLOUR, kinds.GREY)
    gives = kinds.BINARY

    def check(self) -> None:
        for name in CANNY_VALUES:
            value = getattr(self, name)
            if isinstance(value, str) and value != AUTO:
                raise ParamError(name, f"{name} must be a number in [0, 255] or {AUTO!r}; "
                                       f"got {value!r}")

    @property
    def automatic(self) -> bool:
        """Whether either value is ``auto``."""
        return AUTO in (self.low, self.high)

    def pair(self, frame: Frame) -> tuple[float, float]:
        """The ``(low, high)`` to use on ``frame`` (see the class docstring), sorted."""
        controls = self.controls
        manual = controls.canny_manual if controls is not None else None
        tuned = controls.canny_for_auto() if controls is not None and self.automatic else None
        chosen = {}
        for name in CANNY_VALUES:
            configured = getattr(self, name)
            if manual is not None and manual[name] is not None:
                chosen[name] = manual[name]
            elif configured != AUTO:
                chosen[name] = float(configured)
            elif tuned is not None:
                chosen[name] = tuned[name]
        if (self.automatic and self.leaves_histogram and controls is not None
                and controls.tuner_runs(CANNY_TARGET)):
            self.histogram(frame)  # the tuner reads it after the chain, whoever decides
        if len(chosen) < 2:
            rule = dict(zip(CANNY_VALUES, rule_of_thumb(self.histogram(frame))))
            chosen = {name: chosen.get(name, rule[name]) for name in CANNY_VALUES}
        low, high = chosen["low"], chosen["high"]
        return (low, high) if low <= high else (high, low)

    #: Whether to leave the histogram for a canny tuner;
    #: :meth:`~pipeline.stages.chain.Chain.leave_histograms` turns it off on the frames
    #: the tuner will not take.  The rule of thumb makes one whenever it needs it.
    leaves_histogram = True

    def histogram(self, frame: Frame) -> np.ndarray:
        """``frame.side["histogram"]``, the magnitude histogram, made once from ``frame.image``."""
        hist = frame.side.get("histogram")
        if hist is None:
            hist = frame.side["histogram"] = magnitude_histogram(frame.image, self.l2)
        return hist

    def apply(self, image: np.ndarray) -> np.ndarray:
        low, high = self.pair(Frame(0, 0.0, image, image))
        return ops.canny(image, low, high, l2=self.l2)

    def __call__(self, frame: Frame) -> Frame:
        require_uint8_image("canny", frame.image)
        low, high = self.pair(frame)
        frame.image = ops.canny(frame.image, low, high, l2=self.l2)
        frame.side["canny"] = {"low": low, "high": high}
        if self.controls is not None:
            self.controls.record_canny_used(low, high)
        return frame
