"""``grayscale``: BGR, BGRA or grey uint8 to grey uint8, or the decoder's luma plane."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline import ops
from pipeline.config.registry import REGISTRIES, Param, register
from pipeline.frame import LimitedLuma
from pipeline.stages import kinds
from pipeline.stages.base import Stage

#: Where ``grayscale`` takes the grey picture from: ``bgr`` converts the source's BGR
#: frame exactly (the default), ``luma`` takes the decoder's luma plane.
GREY_FROM = ("bgr", "luma")


@register("stage", "grayscale")
class Grayscale(Stage):
    """Grey image of the current image, by :func:`pipeline.ops.grayscale`.

    ``from: bgr`` (default): bit-exact with ``cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)``
    of the BGR frame OpenCV's ``VideoCapture`` decodes; a grey image passes through
    unchanged.

    ``from: luma``: the chain's first stage asks a ``file``, ``url`` or ``stdin`` source for the
    decoder's luma plane, range-expanded to 0-255, instead of a BGR frame (no swscale
    conversion; :mod:`pipeline.io.media.luma`).  It equals FFmpeg's own grey
    (``ffmpeg -pix_fmt gray``), not ``cvtColor``'s: most pixels differ by 1 or 2 levels
    (docs/video.md measures it).  The config refuses it where it cannot hold: not the
    first stage, a later ``overlay`` (which paints the colour original), or a source
    that decodes through OpenCV.  A frame whose pixel format has no 8-bit luma plane
    (10-bit, RGB) still arrives as BGR and is converted exactly here.
    """

    params = (
        Param("from", str, "bgr", choices=GREY_FROM,
              help="bgr: cvtColor of the BGR frame, bit-exact with OpenCV; luma: the decoder's "
                   "luma plane (file, url, stdin; first stage, no overlay): no colour "
                   "conversion, FFmpeg's grey, 1-2 levels off cvtColor's"),
    )
    accepts = (kinds.COLOUR, kinds.GREY)
    gives = kinds.GREY

    @property
    def luma(self) -> bool:
        """Whether the grey comes from the decoder's luma plane (``from: luma``)."""
        return getattr(self, "from") == "luma"

    def apply(self, image: np.ndarray) -> np.ndarray:
        if isinstance(image, LimitedLuma):  # a source's deferred expansion (from: luma)
            return ops.expand_luma(image)
        return ops.grayscale(image)


def wants_luma(stages: Sequence[Stage]) -> bool:
    """Whether the source should hand out its luma plane: the chain starts with
    ``grayscale: {from: luma}`` (the config has refused every other place for it)."""
    return bool(stages) and isinstance(stages[0], Grayscale) and stages[0].luma


def luma_refusal(stages: Sequence[Stage], sources: Sequence[tuple[str, type]]) -> tuple[int, str] | None:
    """Why ``grayscale: {from: luma}`` cannot hold in this chain, or None.

    Parameters
    ----------
    stages : sequence of Stage
        The chain, built.
    sources : sequence of (str, type)
        Each stream's source name and class.

    Returns
    -------
    (int, str) or None
        The index of the grayscale stage at fault and the message, naming the key
        ``from`` and what would work.
    """
    for index, stage in enumerate(stages):
        if not (isinstance(stage, Grayscale) and stage.luma):
            continue
        if index > 0:
            return index, (f"grayscale from: luma takes the decoder's luma plane, so it must be the "
                           f"first stage; here it is stage {index + 1}, after "
                           f"{stages[index - 1].registry_name}; move it first, or leave 'from' out "
                           "(the exact conversion)")
        painter = next((s for s in stages if getattr(s, "reads_original", False)), None)
        if painter is not None:
            return index, (f"grayscale from: luma hands the chain a grey frame, but the later "
                           f"{painter.registry_name} stage paints on the colour original; leave "
                           f"'from' out (the exact conversion keeps the colour frame), or drop "
                           f"{painter.registry_name}")
        for name, cls in sources:
            if not getattr(cls, "gives_luma", False):
                capable = sorted(n for n, c in REGISTRIES["source"].items()
                                 if getattr(c, "gives_luma", False))
                return index, (f"grayscale from: luma takes the decoder's luma plane, which only "
                               f"sources decoded through FFmpeg's libraries have "
                               f"({', '.join(capable)}); source {name} decodes otherwise; leave "
                               "'from' out (the exact conversion)")
    return None
