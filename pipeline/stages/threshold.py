"""``threshold``: binary edges, at a fixed value or following the tuner."""

from __future__ import annotations

import numpy as np

from pipeline import ops
from pipeline.tuned import AUTO, THRESHOLD_TARGET, single
from pipeline.frame import Frame
from pipeline.histograms import frame_histogram
from pipeline.config.registry import Param, ParamError, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage
from pipeline.stages.gradient import BINARIZED_AT


@register("stage", "threshold")
class Threshold(Stage):
    """255 where the image is above the threshold, else 0 (:func:`pipeline.ops.threshold`).

    The value used, in order of precedence: a manual threshold set through the run's
    controls (window keys, HTTP); with ``value: auto``, the tuner's latest answer (while
    the tuner is enabled); then the number given as ``value``; for ``auto`` before the
    tuner's first answer (or with no tuner), Otsu's threshold
    (:func:`pipeline.ops.otsu_threshold`) of the frame's histogram
    (:func:`pipeline.histograms.edge_histogram`).

    Right after a fused edge step (``gradient, map``), the step makes the binary image in
    its own pass when the level is known before the frame (all but the Otsu case): it
    reads :meth:`level_ahead` as it starts and leaves that level in
    ``frame.side["binarized_at"]``, which this stage takes out and records as the level
    used.  The bytes are those of this stage's own pass at that level.

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
        return self.controls is None or self._chosen() is None

    #: Whether to leave the histogram for the tuner (or a caller of ``frames()``) when
    #: no earlier stage did; :meth:`~pipeline.stages.chain.Chain.leave_histograms` sets it.
    leaves_histogram = True

    def check(self) -> None:
        if isinstance(self.value, str) and self.value != AUTO:
            raise ParamError("value", f"value must be a number in [0, 255] or {AUTO!r}; "
                                      f"got {self.value!r}")

    def level(self, frame: Frame) -> float:
        """The threshold to use on ``frame`` (see the class docstring for the order)."""
        chosen = self._chosen() if self.controls is not None else None
        if chosen is not None:
            return chosen
        if self.value != AUTO:
            return float(self.value)
        return ops.otsu_threshold(frame_histogram(frame))

    def level_ahead(self) -> float | None:
        """The level the next frame will get if it is known before that frame is made
        (a hand value, the configured number, the tuner's answer); None for Otsu of the
        frame's own histogram.  The fused edge pass asks it (see there)."""
        if self.controls is not None:
            return self._chosen()
        return None if self.value == AUTO else float(self.value)

    @property
    def reads_own_histogram(self) -> bool:
        """Whether :meth:`__call__` makes a histogram from its input when none was left."""
        return self.value == AUTO and self.leaves_histogram

    def _chosen(self) -> float | None:
        """The controls' choice: hand value, configured number, tuner's answer (or None)."""
        return single(self.controls.tuned.choose(THRESHOLD_TARGET, {"threshold": self.value}))

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
        ahead = frame.side.pop(BINARIZED_AT, None)
        if self.reads_own_histogram:
            frame_histogram(frame)  # the tuner reads it after the chain, whoever decides
        if ahead is not None:  # the fused pass before this stage binarized at this level
            level = ahead
        else:
            level = self.level(frame)
            frame.image = ops.threshold(frame.image, level)
        frame.side["threshold"] = level
        if self.controls is not None:
            self.controls.tuned.record_used(THRESHOLD_TARGET, threshold=level)
        return frame
