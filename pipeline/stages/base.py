"""The :class:`Stage` base class: settings kept, one job done per frame."""

from __future__ import annotations

import numpy as np

from pipeline.errors import EdgepipeError
from pipeline.frame import Frame
from pipeline.config.registry import ParamError, check_settings
from pipeline.stages import kinds


class StageError(EdgepipeError):
    """A stage failed on a frame: names the stage, the frame and the cause, on one line."""


class Stage:
    """One step of the chain: turns ``frame.image`` into the next image.

    Subclasses declare ``params`` (see :mod:`pipeline.config.registry`), register themselves
    with ``@register("stage", name)`` and implement :meth:`apply` (a pure function of
    the image), or :meth:`__call__` when they need the whole frame (the original image,
    side values, run controls).

    Constructing a stage checks its settings the same way a config does, so
    ``Gradient(kind="sobal")`` raises the same :class:`~pipeline.config.registry.ParamError`.
    """

    params: tuple = ()
    registry_name = "stage"
    #: The kinds of image the stage takes and gives (:mod:`pipeline.stages.kinds`),
    #: checked along the chain when a config loads.
    accepts: tuple = kinds.ALL
    gives: str = kinds.SAME
    #: Whether the stage reads ``frame.side["histogram"]`` that an earlier stage left
    #: (:meth:`pipeline.stages.chain.Chain.leave_histograms` keeps those made for it).
    reads_histogram: bool = False
    #: Whether the stage reads ``frame.original`` as the source's colour frame
    #: (``overlay``); the config then refuses ``grayscale: {from: luma}``, which makes
    #: the original a grey luma plane.
    reads_original: bool = False

    def __init__(self, **settings):
        for name, value in check_settings(type(self), settings).items():
            setattr(self, name, value)
        self.controls = None
        self.check()

    def check(self) -> None:
        """Checks across settings (raise ParamError naming the key); none by default."""

    def output_kind(self, kind: str) -> str:
        """The kind of image this stage makes from one of ``kind`` (one of ``accepts``)."""
        return kind if self.gives == kinds.SAME else self.gives

    def bind(self, controls) -> None:
        """Give the stage the run's :class:`~pipeline.controls.Controls`."""
        self.controls = controls

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The next image from the current one."""
        raise NotImplementedError

    def __call__(self, frame: Frame) -> Frame:
        frame.image = self.apply(frame.image)
        return frame

    @property
    def label(self) -> str:
        """Name used in timing reports."""
        return self.registry_name

    def __repr__(self) -> str:
        settings = ", ".join(f"{p.name}={getattr(self, p.name)!r}" for p in self.params)
        return f"{type(self).__name__}({settings})"


def bgr_color(color: list) -> list:
    """``color`` if it is three integers (B, G, R), else a :class:`ParamError` on ``color``.

    The Param declares the list and the 0..255 range; this checks the length and types.
    """
    if len(color) != 3 or not all(isinstance(c, int) and not isinstance(c, bool) for c in color):
        raise ParamError("color", f"color must be three integers [B, G, R] in [0, 255]; "
                                  f"got {color!r}")
    return list(color)


def require_default(stage: Stage, name: str, why: str) -> None:
    """Refuse a setting that has no effect in the current configuration of ``stage``."""
    param = next(p for p in stage.params if p.name == name)
    if getattr(stage, name) != param.default:
        raise ParamError(name, f"{name} {why}; got {name}={getattr(stage, name)!r} "
                               f"(leave it out)")


def require_uint8_image(stage: str, image: np.ndarray, grey: bool | None = None) -> None:
    """Raise ValueError unless ``image`` is a uint8 grey or BGR array."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{stage} needs a numpy image; got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{stage} needs a uint8 image; got {image.dtype} "
                         f"(put a map or threshold stage before it)")
    if grey is True and image.ndim != 2:
        raise ValueError(f"{stage} needs a grey (H, W) image; got shape {image.shape} "
                         f"(put grayscale before it)")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"{stage} needs a grey (H, W) or BGR (H, W, 3) image; "
                         f"got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"{stage} needs a non-empty image; got shape {image.shape}")
