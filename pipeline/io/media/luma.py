"""The decoder's luma plane as the chain's grey picture (``grayscale: {from: luma}``).

A decoded H.264, HEVC, VP9 or MJPEG frame already holds a grey picture: its Y (luma)
plane.  The exact path (:func:`pipeline.io.media.reader.to_bgr`, then
``cv2.cvtColor(..., COLOR_BGR2GRAY)``) converts the whole frame to BGR with swscale
and back to grey; :func:`to_grey` takes the Y plane instead, as a numpy view of the
frame's own buffer, with no swscale call.

What it gives
-------------
FFmpeg's own grey picture of the frame, byte for byte: what
``ffmpeg -i IN -f rawvideo -pix_fmt gray -`` writes.  swscale treats grey as full range
(0-255), so a limited-range (MPEG, 16-235) frame is expanded by the 256-entry table
:data:`LIMITED_TO_FULL` (``round((Y - 16) * 255 / 219)``, clipped; :func:`expand_range`),
and a full-range one (``yuvj420p``, or tagged ``color_range=pc``) is the plane itself.
The tests hold both equal to ffmpeg's output.

It is not bit-exact with the default ``grayscale``: that one is ``cvtColor`` of the BGR
swscale makes, and swscale's YUV to BGR converters truncate, use the stream's colour
matrix (BT.709 for HD) where ``cvtColor`` weighs with BT.601's, and clip saturated
colours.  docs/video.md gives the measured difference and the command that measures it.

Which frames
------------
8-bit YUV formats whose first plane is the luma (:data:`LUMA_FORMATS`: ``yuv420p``,
``yuvj420p``, ``yuv422p``, ``yuv444p``, ``nv12``...).  For any other format (10-bit,
RGB, palette, packed ``yuyv422``, and ``gray``) :func:`to_grey` gives None and the
source falls back to the exact path for that frame (:class:`FramePictures`).
A frame with a display matrix is turned as :func:`~pipeline.io.media.reader.to_bgr`
turns it.
"""

from __future__ import annotations

from typing import Callable

import av
import numpy as np

from pipeline import opencv_tier
from pipeline.frame import LimitedLuma
from pipeline.io.media.reader import to_bgr, turn_as_opencv

#: 8-bit YUV pixel formats whose plane 0 is the luma, one byte a pixel.
LUMA_FORMATS = frozenset({
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p",
    "yuv411p", "yuvj411p", "yuv410p", "yuva420p", "yuva422p", "yuva444p",
    "nv12", "nv21", "nv16", "nv24", "nv42",
})

#: ``AVCOL_RANGE_JPEG``: the frame's luma spans 0-255.
JPEG_RANGE = 2

#: Limited-range (16-235) luma to full-range (0-255) grey: ``round((Y - 16) * 255 / 219)``,
#: clipped to 0..255; swscale's own expansion when it converts such a frame to ``gray``.
LIMITED_TO_FULL = np.clip(np.rint((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)


def expand_range(luma: np.ndarray) -> np.ndarray:
    """Limited-range luma (16-235) to full-range grey (0-255): :data:`LIMITED_TO_FULL`
    applied to every pixel, as a new C-contiguous array
    (:func:`pipeline.opencv_tier.expand_luma`, one SIMD pass).
    """
    return opencv_tier.expand_luma(luma)


def has_luma(frame: av.VideoFrame) -> bool:
    """Whether ``frame``'s pixel format has an 8-bit luma plane (:data:`LUMA_FORMATS`)."""
    return frame.format.name in LUMA_FORMATS


def full_range(frame: av.VideoFrame) -> bool:
    """Whether ``frame``'s luma spans 0-255: a ``yuvj`` format or a JPEG-range tag."""
    return frame.format.name.startswith("yuvj") or frame.color_range == JPEG_RANGE


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """``frame``'s Y plane as it was decoded: a uint8 (H, W) view of the frame's buffer.

    The plane's rows are ``line_size`` bytes apart (a multiple of the decoder's
    alignment, often more than the width); the view is cropped to the width, so its
    rows are contiguous but may not follow each other.  No rotation, no range change.

    Raises
    ------
    ValueError
        ``frame`` has no 8-bit luma plane (:func:`has_luma`).
    """
    if not has_luma(frame):
        raise ValueError(f"a {frame.format.name} frame has no 8-bit luma plane "
                         f"(one of {', '.join(sorted(LUMA_FORMATS))})")
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8)[:plane.line_size * frame.height]
    return rows.reshape(frame.height, plane.line_size)[:, :frame.width]


def to_grey(frame: av.VideoFrame) -> np.ndarray | None:
    """``frame`` as FFmpeg's full-range grey picture, from its luma plane; None if it has none.

    Returns
    -------
    ndarray, uint8, (H, W), C-contiguous, or None
        Limited range: a new array (:func:`expand_range`).  Full range: a
        view of the frame's buffer when its rows follow each other, else a copy.
        Turned by the frame's display matrix as OpenCV turns it (then always a new array).
        None for a pixel format without an 8-bit luma plane.
    """
    if not has_luma(frame):
        return None
    grey = luma_plane(frame)
    if not full_range(frame):
        grey = expand_range(grey)
    grey = turn_as_opencv(grey, frame)
    return grey if grey.flags.c_contiguous else np.ascontiguousarray(grey)


def deferred_grey(frame: av.VideoFrame) -> np.ndarray | None:
    """:func:`to_grey` of ``frame`` with a limited-range expansion left to the chain.

    Returns
    -------
    ndarray, uint8, (H, W), C-contiguous, or None
        Full range: :func:`to_grey`'s picture.  Limited range: the Y plane as decoded
        (turned by the display matrix as :func:`to_grey` turns it), viewed as
        :class:`~pipeline.frame.LimitedLuma`, which the chain's fused edge pass or
        ``grayscale`` stage expands (a view of the frame's buffer when its rows follow
        each other, else a copy).  None for a pixel format without an 8-bit luma plane.
    """
    if not has_luma(frame) or full_range(frame):
        return to_grey(frame)
    plane = turn_as_opencv(luma_plane(frame), frame)
    return np.ascontiguousarray(plane).view(LimitedLuma)


class FramePictures:
    """Decoded frames to the pictures a PyAV source hands out: BGR, or grey from the luma.

    Parameters
    ----------
    note : callable
        Called once with a sentence when ``luma`` is on and a frame has no 8-bit luma
        plane (the source's ``report.note``).

    Attributes
    ----------
    luma : bool
        Hand out :func:`to_grey` (set when the chain starts with ``grayscale: {from:
        luma}``); a frame without a luma plane still comes out as BGR, the exact path
        that ``grayscale`` then turns grey.  Off: always :func:`to_bgr`.
    deferred : bool
        With ``luma``: hand out :func:`deferred_grey` instead (the chain folds
        ``grayscale`` into its fused edge pass, which expands a limited-range plane as
        it reads it).
    fallbacks : int
        Frames that fell back to BGR while ``luma`` was on.
    """

    def __init__(self, note: Callable[[str], None], what: str = "the input"):
        self.note = note
        self.what = what
        self.luma = False
        self.deferred = False
        self.fallbacks = 0

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        if self.luma:
            grey = deferred_grey(frame) if self.deferred else to_grey(frame)
            if grey is not None:
                return grey
            self.fallbacks += 1
            if self.fallbacks == 1:
                self.note(f"{self.what} decodes to {frame.format.name}, which has no 8-bit luma "
                          "plane; grayscale from: luma converts its frames the exact way instead "
                          "(BGR, then grey), which saves nothing")
        return to_bgr(frame)
