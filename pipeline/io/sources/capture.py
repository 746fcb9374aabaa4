"""The OpenCV parts the ``camera`` source needs: pixel-format codes and the reported rate.

Files and streams decode through PyAV (:mod:`pipeline.io.media`); a camera stays on
OpenCV's ``VideoCapture`` (V4L2, DirectShow, AVFoundation), whose ``CAP_PROP_FOURCC``
speaks integer FOURCC codes.
"""

from __future__ import annotations

import cv2

from pipeline.io.media.reader import plausible_fps
from pipeline.config.registry import ParamError


def fourcc_code(text: str, key: str) -> int:
    """The integer FOURCC of a 4-character code like ``"MJPG"``; ParamError otherwise."""
    if not isinstance(text, str) or len(text) != 4 or not text.isascii():
        raise ParamError(key, f"{key} must be 4 ASCII characters such as MJPG, YUYV or mp4v; got {text!r}")
    return cv2.VideoWriter_fourcc(*text)


def fourcc_text(code: float) -> str:
    """The 4-character text of an integer FOURCC (as ``CAP_PROP_FOURCC`` reports it)."""
    value = int(code)
    return "".join(chr((value >> (8 * i)) & 0xFF) for i in range(4))


def reported_fps(capture: cv2.VideoCapture) -> float | None:
    """The rate a ``VideoCapture`` reports, if believable (cameras may say 0 or 90000)."""
    return plausible_fps(capture.get(cv2.CAP_PROP_FPS))
