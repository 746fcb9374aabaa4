"""The ``camera`` source: a capture device (V4L2, DirectShow, AVFoundation) through OpenCV."""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np

from pipeline.io.base import SourceError
from pipeline.io.sources.capture import fourcc_code, fourcc_text, reported_fps
from pipeline.io.sources.live import LiveSource, recovery_params
from pipeline.config.registry import Param, register

log = logging.getLogger(__name__)


@register("source", "camera")
class CameraSource(LiveSource):
    """A local camera by index (``0``) or device path (``/dev/video2``).

    The requested ``width``, ``height``, ``fps`` and ``fourcc`` are asked of the driver
    before the first frame; a camera that picks something else is logged, not an error
    (cameras round to the nearest mode they support).  V4L2 has no read timeout of its
    own: the watchdog (:class:`~pipeline.io.sources.live.CaptureWorker`) gives up on a
    read after ``read_timeout``.  Frames are stamped with the source's own clock.
    """

    params = (
        Param("device", (int, str), 0, min=0, help="camera index or device path, e.g. 0 or /dev/video2"),
        Param("width", (int, type(None)), None, min=16, max=16384, help="requested frame width (null: camera default)"),
        Param("height", (int, type(None)), None, min=16, max=16384, help="requested frame height (null: camera default)"),
        Param("fps", (float, type(None)), None, min=0.1, max=1000, help="requested frame rate (null: camera default)"),
        Param("fourcc", (str, type(None)), None, help="requested pixel format, e.g. MJPG or YUYV (null: camera default)"),
    ) + recovery_params(open_timeout=10.0, read_timeout=5.0)

    def __init__(self, *values, **settings):
        super().__init__(*values, **settings)
        if isinstance(self.device, str) and self.device.strip().isdigit():
            self.device = int(self.device)
        self.fps_requested = self.settings["fps"]

    def check(self) -> None:
        """A fourcc of 4 ASCII characters, and the shared reconnection rules."""
        super().check()
        if self.fourcc is not None:
            fourcc_code(self.fourcc, "fourcc")

    @property
    def fps(self) -> float | None:
        """The camera's real rate once open (if it reports one), else the requested rate.

        Before :meth:`open` this is the ``fps`` setting, so ``settings_of`` round-trips.
        """
        real = super().fps
        return real if real is not None else self.settings["fps"]

    def _shown_settings(self) -> dict:
        return {**self.settings, "device": self.device}

    def _describe(self) -> str:
        if isinstance(self.device, int):
            return f"camera {self.device}"
        return f"camera {self.device!r}"

    def _no_frame_hint(self) -> str:
        return "check it is not in use by another program, or try another fourcc"

    def open(self) -> None:
        """Open the device, ask for the requested mode, and read the first frame."""
        if isinstance(self.device, str) and not os.path.exists(self.device):
            raise SourceError(
                f"camera {self.device!r} does not exist; list cameras with `ls /dev/video*`, "
                "try another device, or use a `file` or `synthetic` source"
            )
        super().open()

    def _open_capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            capture.release()
            other = "another index (1, 2, ...)" if isinstance(self.device, int) else "another /dev/videoN"
            raise SourceError(
                f"cannot open {self._describe()}; list cameras with `ls /dev/video*`, "
                f"try {other}, check it is not in use by another program, "
                "or use a `file` or `synthetic` source"
            )
        # V4L2 applies the pixel format before the size, and the size before the rate.
        if self.fourcc is not None:
            capture.set(cv2.CAP_PROP_FOURCC, fourcc_code(self.fourcc, "fourcc"))
        if self.width is not None:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height is not None:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps_requested is not None:
            capture.set(cv2.CAP_PROP_FPS, self.fps_requested)
        return capture

    def _capture_fps(self, capture) -> float | None:
        return reported_fps(capture)

    def _after_first_item(self, capture: cv2.VideoCapture, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        if (self.width is not None and width != self.width) or (
            self.height is not None and height != self.height
        ):
            log.warning(
                "%s delivers %dx%d, not the requested %sx%s",
                self._describe(), width, height, self.width or "any", self.height or "any",
            )
        if self.fourcc is not None:
            got = fourcc_text(capture.get(cv2.CAP_PROP_FOURCC))
            if got != self.fourcc:
                log.warning("%s uses pixel format %r, not the requested %r", self._describe(), got, self.fourcc)
        if self.fps_requested is not None:
            got_fps = reported_fps(capture)
            if got_fps is not None and abs(got_fps - self.fps_requested) > 0.5:
                log.warning("%s runs at %.3g fps, not the requested %.3g", self._describe(), got_fps, self.fps_requested)
