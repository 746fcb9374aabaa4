"""``gradient``: both derivatives and their magnitude; fused with ``map`` when it can be."""

from __future__ import annotations

import numpy as np

from pipeline import ops
from pipeline.frame import Frame, LimitedLuma
from pipeline.config.registry import Param, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage
from pipeline.stages.derivative import require_grey


def gradient_magnitude(gray: np.ndarray, kind: str, norm: str, border: str) -> np.ndarray:
    """float32 magnitude of the ``kind`` derivatives of a grey image, composed from ops."""
    dx = ops.derivative(gray, kind, "x", border)
    dy = ops.derivative(gray, kind, "y", border)
    return ops.magnitude(dx, dy, norm)


@register("stage", "gradient")
class Gradient(Stage):
    """Gradient magnitude (float32) of a grey image.

    Leaves no histogram: the tuner's histogram is of the uint8 picture, made once a
    frame by ``map`` (or by ``threshold`` when no ``map`` comes between).  A following ``map`` stage with mode ``abs`` or ``shift`` fuses with this stage into
    one :func:`pipeline.ops.edges` pass (see :class:`FusedEdges`); the fused step's
    output and histogram are equal to the unfused ones.
    """

    params = (
        Param("kind", str, "sobel", choices=ops.KINDS, help="derivative stencil"),
        Param("norm", str, "l2", choices=ops.NORMS, help="l2: sqrt(dx²+dy²); l1: |dx|+|dy|"),
        Param("border", str, "reflect101", choices=ops.BORDERS, help="pixels outside the image"),
    )
    accepts = (kinds.GREY,)
    gives = kinds.MAGNITUDE

    def apply(self, image: np.ndarray) -> np.ndarray:
        require_grey("gradient", image)
        return gradient_magnitude(image, self.kind, self.norm, self.border)


#: Side key of a frame the fused pass left binarized, at that level (for the ``threshold``
#: stage right after it, which takes the key out).
BINARIZED_AT = "binarized_at"


class FusedEdges(Stage):
    """``[grayscale,] gradient, map`` (abs or shift) as one :func:`pipeline.ops.edges` pass.

    Built by :class:`~pipeline.stages.chain.Chain`, never from a config.  Leaves the
    histogram of its uint8 output in ``frame.side["histogram"]``, as the unfused ``map``
    stage does, made in the same pass.  With :attr:`leaves_histogram` off (nothing reads
    it) the pass is about a third cheaper at 1080p.

    Parameters
    ----------
    gradient : Gradient
    mapping : Map
        mode ``abs``, or ``shift`` with the default offset (the fused kernel's 127.5).
    grayscale : bool
        Whether a grayscale stage was folded in (then BGR input is accepted).
    threshold : Threshold, optional
        The ``threshold`` stage that runs right after this step.  When its level is known
        before the frame (a number, a hand-set value or the tuner's answer; not Otsu of
        this frame), the pass writes the binary image itself (``ops.edges(binarize=)``),
        one pass over the frame fewer, and leaves the level in
        ``frame.side["binarized_at"]``; the threshold stage then records it and writes
        nothing.  The histogram left is that of the edge image either way.
    """

    params = ()

    def __init__(self, gradient: Stage, mapping: Stage, grayscale: bool, threshold: Stage | None = None):
        super().__init__()
        self.gradient, self.mapping, self.grayscale = gradient, mapping, grayscale
        self.threshold = threshold
        self.leaves_histogram = mapping.leaves_histogram

    @property
    def label(self) -> str:
        return "+".join((["grayscale"] if self.grayscale else []) + ["gradient", "map"])

    def __call__(self, frame: Frame) -> Frame:
        if not self.grayscale:
            require_grey("gradient", frame.image)
        level = self.threshold.level_ahead() if self.threshold is not None else None
        if level is not None and not self.leaves_histogram and self.threshold.reads_own_histogram:
            level = None  # the threshold stage makes the histogram from this step's output
        result = ops.edges(frame.image, kind=self.gradient.kind, norm=self.gradient.norm,
                           mapping=self.mapping.mode, scale=self.mapping.scale,
                           border=self.gradient.border, hist=self.leaves_histogram,
                           limited=isinstance(frame.image, LimitedLuma), binarize=level)
        if self.leaves_histogram:
            frame.image, frame.side["histogram"] = result
        else:
            frame.image = result
        if level is not None:
            frame.side[BINARIZED_AT] = level  # the threshold stage takes it from here
        return frame

    def __repr__(self) -> str:
        parts = (["Grayscale()"] if self.grayscale else []) + [repr(self.gradient), repr(self.mapping)]
        return f"FusedEdges({', '.join(parts)})"
