"""The ``file`` source: a video file, decoded frame by frame."""


from __future__ import annotations

import logging
import math
import os

import cv2
import numpy as np

from pipeline.io.base import SourceError
from pipeline.io.sources.capture import (
    DEFAULT_FILE_FPS,
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    FILE_ON_ERROR,
    count_decodable_frames,
    plausible_fps,
)
from pipeline.io.sources.pacing import FramePacer
from pipeline.registry import Param, register

log = logging.getLogger(__name__)
from pipeline.io.sources.capture import _CaptureSource


@register("source", "file")
class FileSource(_CaptureSource):
    """A video file: anything OpenCV's FFmpeg backend decodes (mp4, mkv, avi, mov...).

    With ``realtime: true`` frames are paced at the file's frame rate and the source is
    live (the engine drops rather than waits), as if a camera were filming the file.
    With ``loop: true`` the file restarts at its end, forever.

    Damaged files
    -------------
    ``cv2.VideoCapture.read()`` answers ``(False, None)`` both at the end of a file and
    for a frame that does not decode, and the position does not move either way.  So a
    failed read is followed by up to ``max_consecutive_errors - 1`` more reads: if a
    frame comes, the failed ones were damaged frames (``report.skipped``); if none does,
    that was the end of the file.  With ``on_error: skip`` (the default) damaged frames
    are skipped and counted; with ``on_error: stop`` the first damaged frame ends the
    input with an error (what was read is still processed and written; the run exits 1).
    A file that ends before the frame count its container states is reported as a note,
    not an error (containers often state a wrong count).  A container whose frame rate
    is 0, missing or absurd is read at :data:`DEFAULT_FILE_FPS` with a warning.
    """

    params = (
        Param("path", str, help="video file to read"),
        Param("realtime", bool, False, help="pace frames at the file's fps, like a camera"),
        Param("loop", bool, False, help="start again at the end of the file, endlessly"),
        Param("on_error", str, "skip", choices=FILE_ON_ERROR,
              help="a frame that does not decode: skip it (counted in the summary), or "
                   "stop reading there (the run exits 1)"),
        Param("max_consecutive_errors", int, DEFAULT_MAX_CONSECUTIVE_ERRORS, min=1, max=100_000,
              help="this many failed reads in a row are the end of the file"),
    )

    _capture: cv2.VideoCapture | None = None

    def __init__(self, path, realtime=False, loop=False, on_error="skip",
                 max_consecutive_errors=DEFAULT_MAX_CONSECUTIVE_ERRORS):
        self.path = path
        self.realtime = realtime
        self.loop = loop
        self.on_error = on_error
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.live = bool(realtime)
        self._counted: int | None = None
        self._rate: float | None = None
        self._stated_frames: int | None = None
        self._position = 0  # frames consumed from the file: delivered and skipped

    def __repr__(self) -> str:
        return (f"FileSource(path={self.path!r}, realtime={self.realtime}, loop={self.loop}, "
                f"on_error={self.on_error!r}, max_consecutive_errors={self.max_consecutive_errors})")

    def _describe(self) -> str:
        return f"video file {self.path!r}"

    def _is_open(self) -> bool:
        return self._capture is not None

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
        self._capture = None

    def _open_capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"cannot decode {self._describe()}: not a video OpenCV's FFmpeg backend can read "
                "(try `ffprobe` on it, or re-encode it with `ffmpeg -i IN -c:v mpeg4 OUT.mp4`)"
            )
        return capture

    def open(self) -> None:
        """Open the file and decode its first frame; SourceError naming the path if not."""
        if not os.path.exists(self.path):
            folder = os.path.dirname(os.path.abspath(self.path))
            raise SourceError(
                f"video file {self.path!r} does not exist (looked in {folder}); "
                "check the path, or use a `synthetic` source to run without a file"
            )
        if os.path.isdir(self.path):
            raise SourceError(
                f"{self.path!r} is a folder, not a video file; for a folder of pictures "
                "use an `images` source with a glob such as 'folder/*.png'"
            )
        if os.path.getsize(self.path) == 0:
            raise SourceError(f"video file {self.path!r} is empty (0 bytes); check how it was copied or recorded")
        self._closing.clear()
        self._capture = self._open_capture()
        hint = ("the file may be truncated or use a codec this FFmpeg lacks "
                "(try `ffprobe` on it, or re-encode it with `ffmpeg -i IN -c:v mpeg4 OUT.mp4`)")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            self.close()
            raise SourceError(f"{self._describe()} opened but no frame decodes; {hint}")
        self._first = frame
        self._position = 1
        stated = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self._stated_frames = int(stated) if math.isfinite(stated) and 0 < stated < 2**31 else None
        stated_fps = self._capture.get(cv2.CAP_PROP_FPS)
        self._rate = plausible_fps(stated_fps)
        if self._rate is None:
            self._rate = DEFAULT_FILE_FPS
            message = (f"{self._describe()} states a frame rate of {stated_fps:g}, which cannot be "
                       f"right; reading it at {DEFAULT_FILE_FPS:g} fps (set runtime.fps to choose)")
            log.warning("%s", message)
            self.report.note(message)
        if self.realtime:
            self._pacer = FramePacer(self._rate)

    @property
    def fps(self) -> float | None:
        """The file's frame rate once open (:data:`DEFAULT_FILE_FPS` if it states none
        believable), else None."""
        return self._rate if self._capture is not None else None

    def _read_next(self) -> np.ndarray | None:
        failures = 0
        while True:
            ok, frame = self._capture.read()
            if ok and frame is not None:
                break
            failures += 1
            if failures >= self.max_consecutive_errors:
                return self._at_end()
        if failures:
            first = self._position
            self._position += failures
            report = self.report
            report.skipped += failures
            report.read_errors += failures
            which = f"frame {first}" if failures == 1 else f"frames {first}-{first + failures - 1}"
            if self.on_error == "stop":
                self._fail(f"{self._describe()}: {which} do{'es' if failures == 1 else ''} not decode; "
                           "stopped there (on_error: stop); set on_error: skip to read past damaged frames")
                return None
            message = f"{self._describe()}: {which} do{'es' if failures == 1 else ''} not decode; skipped"
            log.warning("%s", message)
            report.note(message)
        self._position += 1
        return frame

    def _at_end(self) -> np.ndarray | None:
        """The file ended: report a shortfall against the stated count, restart with ``loop``."""
        stated = self._stated_frames
        if stated is not None and self._position < stated:
            message = (f"{self._describe()} ends after {self._position} frames, but its container "
                       f"states {stated}; the rest is missing or does not decode (truncated or damaged?)")
            log.warning("%s", message)
            self.report.read_errors += 1
            self.report.note(message)
            self._stated_frames = None  # said once, even with loop
        if not self.loop:
            return None
        # Reopen rather than seek: seeking to 0 is unreliable for some codecs.
        self._capture.release()
        self._capture = self._open_capture()
        ok, frame = self._capture.read()
        self._position = 1 if ok else 0
        return frame if ok else None

    def count_frames(self) -> int | None:
        """Frames that decode (counted once, by a separate decode pass); None with ``loop``."""
        if self.loop:
            return None
        if self._counted is None:
            if not os.path.exists(self.path):
                raise SourceError(f"video file {self.path!r} does not exist; check the path")
            self._counted = count_decodable_frames(self.path, self.max_consecutive_errors)
        return self._counted
