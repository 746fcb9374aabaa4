"""``canny``: thin edges by ``cv2.Canny``'s rules, at fixed thresholds or following the tuner."""

from __future__ import annotations

import numpy as np

from pipeline import ops
from pipeline.frame import Frame
from pipeline.histograms import canny_rule_of_thumb, frame_histogram, magnitude_histogram
from pipeline.config.registry import Param, ParamError, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage, require_uint8_image
from pipeline.tuned import AUTO, CANNY_TARGET, CANNY_VALUES

@register("stage", "canny")
class Canny(Stage):
    """Canny edges (:func:`pipeline.ops.canny`), bit for bit ``cv2.Canny(grey, low, high, 3, l2)``.

    Takes a BGR or grey uint8 frame (colour converted exactly as ``grayscale`` does) and
    gives a binary map, 255 on edges.  ``low`` and ``high`` are each a number in
    [0, 255] or ``auto``; the value used for each, in order of precedence: one set by hand
    (window keys, ``POST /control``); for ``auto``, the tuner's latest pair (target
    ``canny``, while the tuner is enabled); the number given; for ``auto`` without a
    tuner's answer, the rule of thumb (:func:`~pipeline.histograms.canny_rule_of_thumb`:
    Otsu's threshold of the magnitude histogram as ``high``, half of it as ``low``).

    The 256-bin magnitude histogram (:func:`~pipeline.histograms.magnitude_histogram`) is
    made, and left in ``frame.side["histogram"]`` for the tuner, only when a value is
    ``auto`` and a canny tuner runs (on the frames it takes) or the rule of thumb is
    needed.  Leaves ``frame.side["canny"] = {"low": l, "high": h}`` (sorted, as
    ``cv2.Canny`` takes them), which the stats sink writes on each line, and records it
    as the pair used in the controls' tuned values (hud, http, the tuner's start).
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
        configured = {name: getattr(self, name) for name in CANNY_VALUES}
        if controls is None:
            chosen = {name: None if value == AUTO else float(value)
                      for name, value in configured.items()}
        else:
            chosen = controls.tuned.choose(CANNY_TARGET, configured)
            if (self.automatic and self.leaves_histogram
                    and controls.tuned.tuner_runs(CANNY_TARGET)):
                self.histogram(frame)  # the tuner reads it after the chain, whoever decides
        if None in chosen.values():
            rule = dict(zip(CANNY_VALUES, canny_rule_of_thumb(self.histogram(frame))))
            chosen = {name: rule[name] if value is None else value
                      for name, value in chosen.items()}
        low, high = chosen["low"], chosen["high"]
        return (low, high) if low <= high else (high, low)

    #: Whether to leave the histogram for a canny tuner;
    #: :meth:`~pipeline.stages.chain.Chain.leave_histograms` turns it off on the frames
    #: the tuner will not take.  The rule of thumb makes one whenever it needs it.
    leaves_histogram = True

    def histogram(self, frame: Frame) -> np.ndarray:
        """``frame.side["histogram"]``, the magnitude histogram, made once from ``frame.image``."""
        return frame_histogram(frame, lambda image: magnitude_histogram(image, self.l2))

    def apply(self, image: np.ndarray) -> np.ndarray:
        low, high = self.pair(Frame(0, 0.0, image, image))
        return ops.canny(image, low, high, l2=self.l2)

    def __call__(self, frame: Frame) -> Frame:
        require_uint8_image("canny", frame.image)
        low, high = self.pair(frame)
        frame.image = ops.canny(frame.image, low, high, l2=self.l2)
        frame.side["canny"] = {"low": low, "high": high}
        if self.controls is not None:
            self.controls.tuned.record_used(CANNY_TARGET, low=low, high=high)
        return frame
