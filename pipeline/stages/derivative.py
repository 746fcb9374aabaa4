"""``derivative``: one axis of a discrete derivative, optionally mapped to uint8."""

from __future__ import annotations

import numpy as np

from pipeline import ops
from pipeline.config.registry import Param, register
from pipeline.stages import kinds
from pipeline.stages.base import Stage, require_default

DERIVATIVE_MAPPINGS = ("none",) + ops.MAPPINGS


def require_grey(stage: str, image: np.ndarray) -> None:
    """Raise ValueError unless ``image`` is a 2-D array (a grey image)."""
    if isinstance(image, np.ndarray) and image.ndim != 2:
        raise ValueError(f"{stage} needs a grey (H, W) image; got shape {image.shape} "
                         f"(put grayscale before it)")


@register("stage", "derivative")
class Derivative(Stage):
    """Derivative along one axis, by :func:`pipeline.ops.derivative`.

    With ``mapping: none`` the output is the raw derivative (int16 for uint8 input,
    float32 for float32 input), for a ``map`` stage to render.  ``abs`` and ``shift``
    render it here (:func:`pipeline.ops.map_abs`, :func:`pipeline.ops.map_shift`), which
    is how the seed's pictures are made: ``{kind: forward, mapping: abs}``,
    ``{kind: central, mapping: shift}``...
    """

    params = (
        Param("kind", str, "sobel", choices=ops.KINDS, help="derivative stencil"),
        Param("axis", str, "x", choices=ops.AXES, help="x: along rows, y: along columns"),
        Param("border", str, "reflect101", choices=ops.BORDERS,
              help="pixels outside the image; zero reproduces the seed's loops"),
        Param("mapping", str, "none", choices=DERIVATIVE_MAPPINGS,
              help="none: raw int16/float32; abs: |d|*scale; shift: d*scale+offset (uint8)"),
        Param("scale", float, 1.0, min=-1e6, max=1e6, help="factor before mapping (abs, shift)"),
        Param("offset", float, 127.5, min=-1e6, max=1e6, help="added after scaling (shift)"),
    )
    accepts = (kinds.GREY,)

    def output_kind(self, kind: str) -> str:
        return kinds.DERIVATIVE if self.mapping == "none" else kinds.EDGE_MAP

    def check(self) -> None:
        if self.mapping == "none":
            require_default(self, "scale", "applies only with mapping abs or shift")
        if self.mapping != "shift":
            require_default(self, "offset", "applies only with mapping shift")

    def apply(self, image: np.ndarray) -> np.ndarray:
        require_grey("derivative", image)
        d = ops.derivative(image, self.kind, self.axis, self.border)
        if self.mapping == "abs":
            return ops.map_abs(d, self.scale)
        if self.mapping == "shift":
            return ops.map_shift(d, self.offset, self.scale)
        return d
