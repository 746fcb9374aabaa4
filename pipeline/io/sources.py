"""Sources that read from outside the process: a camera, a video file, images, a stream.

All four go through OpenCV: ``cv2.VideoCapture`` (FFmpeg backend for files and streams,
V4L2 for cameras on Linux) or ``cv2.imread``.  Each ``open()`` decodes the first frame
at once, so a device that opens but delivers nothing, or a file whose container opens
but whose stream does not decode, fails at open with a :class:`SourceError` naming it,
not later inside the engine.

``cv2.VideoCapture.read()`` allocates a new array per call, so frames handed downstream
are never overwritten by the next read.

The synthetic test pattern lives in :mod:`pipeline.io.synthetic`.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import re
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from pipeline.io.base import Source, SourceError
from pipeline.registry import Param, ParamError, register

log = logging.getLogger(__name__)

#: Stream schemes the ``url`` source accepts; all go through OpenCV's FFmpeg backend.
URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt", "rtp")

#: A reported fps outside this range is treated as unknown (streams often report 90000).
PLAUSIBLE_FPS = (0.1, 1000.0)


class FramePacer:
    """Hold a producer to ``fps`` frames per second, like a camera would deliver them.

    Parameters
    ----------
    fps : float
        Target rate, > 0.

    Notes
    -----
    A producer that falls more than one period behind is not allowed to burst to catch
    up: the schedule restarts from now, as a camera simply delivers its next frame late.
    """

    def __init__(self, fps: float):
        if not fps > 0:
            raise ValueError(f"fps must be > 0; got {fps!r}")
        self.period = 1.0 / float(fps)
        self._due: float | None = None

    def wait(self) -> None:
        """Sleep until the next frame is due."""
        now = time.perf_counter()
        if self._due is None or now - self._due > self.period:
            self._due = now
        elif now < self._due:
            time.sleep(self._due - now)
        self._due += self.period

    def reset(self) -> None:
        """Forget the schedule (after a pause): the next frame is due at once."""
        self._due = None


def plausible_fps(value: float) -> float | None:
    """``value`` if it is a believable frame rate, else None (unknown)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value) if PLAUSIBLE_FPS[0] <= value <= PLAUSIBLE_FPS[1] else None


def count_decodable_frames(path: str) -> int:
    """Count the frames of a video file that actually decode.

    Container metadata (``CAP_PROP_FRAME_COUNT``) can be far off: a clip that says 444
    frames may decode 68.  This opens its own capture and grabs to the end, so it costs
    one decode pass.

    Parameters
    ----------
    path : str
        A file OpenCV's FFmpeg backend can read.

    Returns
    -------
    int
        The number of frames ``grab()`` delivered.
    """
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise SourceError(f"cannot open video file {path!r} to count its frames")
        count = 0
        while capture.grab():
            count += 1
        return count
    finally:
        capture.release()


def fourcc_code(text: str, key: str) -> int:
    """The integer FOURCC of a 4-character code like ``"MJPG"``; ParamError otherwise."""
    if not isinstance(text, str) or len(text) != 4 or not text.isascii():
        raise ParamError(key, f"{key} must be 4 ASCII characters such as MJPG, YUYV or mp4v; got {text!r}")
    return cv2.VideoWriter_fourcc(*text)


def fourcc_text(code: float) -> str:
    """The 4-character text of an integer FOURCC (as ``CAP_PROP_FOURCC`` reports it)."""
    value = int(code)
    return "".join(chr((value >> (8 * i)) & 0xFF) for i in range(4))


class _CaptureSource(Source):
    """Shared reading over a ``cv2.VideoCapture``: first frame read at open, fps, close.

    ``close()`` from another thread waits for a ``read()`` in progress to return
    (releasing a capture inside its own ``read`` crashes OpenCV); reads are bounded by
    the frame period, ``read_timeout`` for streams, or the driver's timeout for cameras.
    """

    _capture: cv2.VideoCapture | None = None
    _first: np.ndarray | None = None
    _pacer: FramePacer | None = None
    _guard = None

    @property
    def _lock(self) -> threading.Lock:
        if self._guard is None:
            self._guard = threading.Lock()
        return self._guard

    def _describe(self) -> str:
        raise NotImplementedError

    def _take_first_frame(self, hint: str) -> None:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            self.close()
            raise SourceError(f"{self._describe()} opened but no frame decodes; {hint}")
        self._first = frame

    def read(self) -> np.ndarray | None:
        """The next frame (BGR uint8, a new array), or None at the end of the stream."""
        if self._capture is None:
            raise SourceError(f"{self._describe()} is not open; call open() first")
        if self._pacer is not None:
            self._pacer.wait()
        with self._lock:
            if self._first is not None:
                frame, self._first = self._first, None
                return frame
            if self._capture is None:  # closed while pacing
                return None
            ok, frame = self._capture.read()
            return frame if ok else None

    @property
    def fps(self) -> float | None:
        """The frame rate the device, file or stream reports, if believable."""
        if self._capture is None:
            return None
        return plausible_fps(self._capture.get(cv2.CAP_PROP_FPS))

    def close(self) -> None:
        """Release the capture (after a read in progress returns); safe to call twice."""
        with self._lock:
            if self._capture is not None:
                self._capture.release()
            self._capture = None
            self._first = None


@register("source", "camera")
class CameraSource(_CaptureSource):
    """A local camera by index (``0``) or device path (``/dev/video2``).

    The requested ``width``, ``height``, ``fps`` and ``fourcc`` are asked of the driver
    before the first frame; a camera that picks something else is logged, not an error
    (cameras round to the nearest mode they support).
    """

    live = True
    params = (
        Param("device", (int, str), 0, min=0, help="camera index or device path, e.g. 0 or /dev/video2"),
        Param("width", (int, type(None)), None, min=16, max=16384, help="requested frame width (null: camera default)"),
        Param("height", (int, type(None)), None, min=16, max=16384, help="requested frame height (null: camera default)"),
        Param("fps", (float, type(None)), None, min=0.1, max=1000, help="requested frame rate (null: camera default)"),
        Param("fourcc", (str, type(None)), None, help="requested pixel format, e.g. MJPG or YUYV (null: camera default)"),
    )

    def __init__(self, device=0, width=None, height=None, fps=None, fourcc=None):
        self.device = device
        self.width = width
        self.height = height
        self.fps_requested = fps
        self.fourcc = fourcc
        if fourcc is not None:
            fourcc_code(fourcc, "fourcc")
        if isinstance(device, str) and device.strip().isdigit():
            self.device = int(device)

    @property
    def fps(self) -> float | None:
        """The camera's real rate once open (if it reports one), else the requested rate.

        Before :meth:`open` this is the ``fps`` setting, so ``settings_of`` round-trips.
        """
        real = super().fps
        return real if real is not None else self.fps_requested

    def __repr__(self) -> str:
        return (
            f"CameraSource(device={self.device!r}, width={self.width}, height={self.height}, "
            f"fps={self.fps_requested}, fourcc={self.fourcc!r})"
        )

    def _describe(self) -> str:
        if isinstance(self.device, int):
            return f"camera {self.device}"
        return f"camera {self.device!r}"

    def open(self) -> None:
        """Open the device, ask for the requested mode, and read the first frame."""
        if isinstance(self.device, str) and not os.path.exists(self.device):
            raise SourceError(
                f"camera {self.device!r} does not exist; list cameras with `ls /dev/video*`, "
                "try another device, or use a `file` or `synthetic` source"
            )
        capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            capture.release()
            other = "another index (1, 2, ...)" if isinstance(self.device, int) else "another /dev/videoN"
            raise SourceError(
                f"cannot open {self._describe()}; list cameras with `ls /dev/video*`, "
                f"try {other}, check it is not in use by another program, "
                "or use a `file` or `synthetic` source"
            )
        self._capture = capture
        # V4L2 applies the pixel format before the size, and the size before the rate.
        if self.fourcc is not None:
            capture.set(cv2.CAP_PROP_FOURCC, fourcc_code(self.fourcc, "fourcc"))
        if self.width is not None:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height is not None:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps_requested is not None:
            capture.set(cv2.CAP_PROP_FPS, self.fps_requested)
        self._take_first_frame("check it is not in use by another program, or try another fourcc")
        self._report_mode()

    def _report_mode(self) -> None:
        height, width = self._first.shape[:2]
        if (self.width is not None and width != self.width) or (
            self.height is not None and height != self.height
        ):
            log.warning(
                "%s delivers %dx%d, not the requested %sx%s",
                self._describe(), width, height, self.width or "any", self.height or "any",
            )
        if self.fourcc is not None:
            got = fourcc_text(self._capture.get(cv2.CAP_PROP_FOURCC))
            if got != self.fourcc:
                log.warning("%s uses pixel format %r, not the requested %r", self._describe(), got, self.fourcc)
        if self.fps_requested is not None:
            got_fps = super().fps
            if got_fps is not None and abs(got_fps - self.fps_requested) > 0.5:
                log.warning("%s runs at %.3g fps, not the requested %.3g", self._describe(), got_fps, self.fps_requested)


@register("source", "file")
class FileSource(_CaptureSource):
    """A video file: anything OpenCV's FFmpeg backend decodes (mp4, mkv, avi, mov...).

    With ``realtime: true`` frames are paced at the file's frame rate and the source is
    live (the engine drops rather than waits), as if a camera were filming the file.
    With ``loop: true`` the file restarts at its end, forever.
    """

    params = (
        Param("path", str, help="video file to read"),
        Param("realtime", bool, False, help="pace frames at the file's fps, like a camera"),
        Param("loop", bool, False, help="start again at the end of the file, endlessly"),
    )

    def __init__(self, path, realtime=False, loop=False):
        self.path = path
        self.realtime = realtime
        self.loop = loop
        self.live = bool(realtime)
        self._counted: int | None = None

    def __repr__(self) -> str:
        return f"FileSource(path={self.path!r}, realtime={self.realtime}, loop={self.loop})"

    def _describe(self) -> str:
        return f"video file {self.path!r}"

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
        self._capture = self._open_capture()
        self._take_first_frame(
            "the file may be truncated or use a codec this FFmpeg lacks "
            "(try `ffprobe` on it, or re-encode it with `ffmpeg -i IN -c:v mpeg4 OUT.mp4`)"
        )
        if self.realtime:
            rate = self.fps
            if rate is None:
                self.close()
                raise SourceError(
                    f"{self._describe()} does not state a frame rate, so `realtime: true` "
                    "cannot pace it; set realtime: false"
                )
            self._pacer = FramePacer(rate)

    def read(self) -> np.ndarray | None:
        """The next decoded frame; at the end None, or the first frame again with ``loop``."""
        frame = super().read()
        if frame is None and self.loop:
            with self._lock:
                if self._capture is None:
                    return None
                # Reopen rather than seek: seeking to 0 is unreliable for some codecs.
                self._capture.release()
                self._capture = self._open_capture()
                ok, frame = self._capture.read()
            return frame if ok else None
        return frame

    def count_frames(self) -> int | None:
        """Frames that decode (counted once, by a separate decode pass); None with ``loop``."""
        if self.loop:
            return None
        if self._counted is None:
            if not os.path.exists(self.path):
                raise SourceError(f"video file {self.path!r} does not exist; check the path")
            self._counted = count_decodable_frames(self.path)
        return self._counted


def natural_sort_key(path: str) -> list:
    """Sort key under which ``frame_2.png`` comes before ``frame_10.png``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


@register("source", "images")
class ImagesSource(Source):
    """Still pictures matching a glob, in natural order (``img2`` before ``img10``).

    Each picture is read as BGR uint8 (``cv2.IMREAD_COLOR``); one that does not decode
    raises a :class:`SourceError` naming it.  ``**`` matches folders recursively.
    """

    params = (
        Param("glob", str, help="pictures to read, e.g. 'photos/*.jpg' or 'shots/**/*.png'"),
        Param("fps", float, 25.0, min=0.1, max=1000, help="frame rate reported to writers (video sink)"),
    )

    def __init__(self, glob, fps=25.0):
        self.glob = glob
        self.rate = float(fps)
        self._paths: list[str] | None = None
        self._next = 0

    def __repr__(self) -> str:
        return f"ImagesSource(glob={self.glob!r}, fps={self.rate})"

    @property
    def paths(self) -> list[str]:
        """The matched files, in reading order (after :meth:`open`)."""
        if self._paths is None:
            raise SourceError(f"images source {self.glob!r} is not open; call open() first")
        return list(self._paths)

    def open(self) -> None:
        """Expand the glob; SourceError if it matches no file."""
        pattern = os.path.expanduser(self.glob)
        paths = [p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
        if not paths:
            folder = os.path.dirname(os.path.abspath(pattern))
            raise SourceError(
                f"images glob {self.glob!r} matches no file (looked in {folder}); "
                "check the folder and the extension, e.g. 'frames/*.png'"
            )
        self._paths = sorted(paths, key=natural_sort_key)
        self._next = 0

    def read(self) -> np.ndarray | None:
        """The next picture as BGR uint8, or None after the last."""
        paths = self.paths if self._paths is None else self._paths
        if self._next >= len(paths):
            return None
        path = paths[self._next]
        self._next += 1
        # imdecode over bytes rather than imread: same decoders, but works for any path.
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as error:
            raise SourceError(f"cannot read picture {path!r}: {error.strerror}") from error
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            raise SourceError(
                f"picture {path!r} does not decode as an image; remove it or narrow the glob {self.glob!r}"
            )
        return image

    @property
    def fps(self) -> float:
        """The declared rate (pictures have none of their own)."""
        return self.rate

    def count_frames(self) -> int | None:
        """How many files the glob matched."""
        return None if self._paths is None else len(self._paths)

    def close(self) -> None:
        """Forget the file list."""
        self._paths = None


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@register("source", "url")
class UrlSource(_CaptureSource):
    """A network stream (rtsp, http, udp, tcp, rtmp, srt) through OpenCV's FFmpeg backend.

    ``open_timeout`` bounds connecting and reading the first frame, ``read_timeout``
    each later read: a stream that goes silent ends the run with ``read() -> None``
    after ``read_timeout`` seconds instead of hanging.
    """

    live = True
    params = (
        Param("url", str, help="stream address, e.g. rtsp://camera.local/stream or udp://127.0.0.1:5000"),
        Param("open_timeout", float, 10.0, min=0.1, max=600, help="seconds to wait for the stream to open"),
        Param("read_timeout", float, 5.0, min=0.1, max=600, help="seconds to wait for each frame"),
    )

    def __init__(self, url, open_timeout=10.0, read_timeout=5.0):
        scheme = urlsplit(url).scheme.lower()
        if scheme not in URL_SCHEMES:
            hint = " (for a local file use a `file` source)" if scheme in ("", "file") else ""
            raise ParamError(
                "url", f"url must start with one of {', '.join(s + '://' for s in URL_SCHEMES)}; got {redact_url(url)!r}{hint}"
            )
        self.url = url
        self.open_timeout = float(open_timeout)
        self.read_timeout = float(read_timeout)

    def __repr__(self) -> str:
        return (
            f"UrlSource(url={redact_url(self.url)!r}, open_timeout={self.open_timeout}, "
            f"read_timeout={self.read_timeout})"
        )

    def _describe(self) -> str:
        return f"stream {redact_url(self.url)!r}"

    def open(self) -> None:
        """Connect within ``open_timeout`` and read the first frame."""
        open_prop = getattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC", None)
        read_prop = getattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC", None)
        if open_prop is None or read_prop is None:
            raise SourceError(
                f"OpenCV {cv2.__version__} cannot bound stream timeouts "
                "(no CAP_PROP_OPEN_TIMEOUT_MSEC); install opencv-python >= 4.6 to read streams"
            )
        capture = cv2.VideoCapture(
            self.url,
            cv2.CAP_FFMPEG,
            [open_prop, int(self.open_timeout * 1000), read_prop, int(self.read_timeout * 1000)],
        )
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"cannot open {self._describe()} within {self.open_timeout:g} s; check the address "
                "and that the stream is running (try `ffprobe URL`), or raise open_timeout"
            )
        self._capture = capture
        self._take_first_frame(f"the stream sent nothing decodable within {self.read_timeout:g} s")
