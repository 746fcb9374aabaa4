"""Sources that read from outside the process: a camera, a video file, images, a stream.

All four go through OpenCV: ``cv2.VideoCapture`` (FFmpeg backend for files and streams,
V4L2 for cameras on Linux) or ``cv2.imread``.  Each ``open()`` decodes the first frame
at once, so a device that opens but delivers nothing, or a file whose container opens
but whose stream does not decode, fails at open with a :class:`SourceError` naming it,
not later inside the engine.

Bad input after the first frame follows the source's ``on_error``:

* ``file``: ``skip`` (default) skips frames that do not decode and counts them in the
  summary; ``stop`` ends the input at the first one (the run exits 1, outputs kept).
  ``max_consecutive_errors`` failed reads in a row (default 30) are the end of the file.
* ``camera``, ``url``: every call under a watchdog (``open_timeout``, ``read_timeout``);
  ``stop`` (default) ends the input when the device or sender fails, ``retry``
  reconnects with exponential backoff (``reconnect_attempts``, ``reconnect_backoff``,
  ``reconnect_max_backoff``).  Nothing can hang the run.

``cv2.VideoCapture.read()`` allocates a new array per call, so frames handed downstream
are never overwritten by the next read.

The synthetic test pattern lives in :mod:`pipeline.io.synthetic`.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import queue
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

#: Frame rate of a video file whose container states none believable (0, NaN, 90000).
DEFAULT_FILE_FPS = 30.0

#: What a file source does with a frame that does not decode.
FILE_ON_ERROR = ("skip", "stop")

#: What a camera or url source does when a read fails or times out.
LIVE_ON_ERROR = ("stop", "retry")

#: Failed reads in a row that mean the end of a file (damaged stretches seen in practice
#: are a few frames long; reads at the end fail in microseconds, so this costs nothing).
DEFAULT_MAX_CONSECUTIVE_ERRORS = 30

#: Seconds the watchdog waits past ``read_timeout`` for a stream, whose FFmpeg read
#: timeout should fire first.
WATCHDOG_SLACK = 2.0


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


def count_decodable_frames(path: str, max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS) -> int:
    """Count the frames of a video file that actually decode.

    Container metadata (``CAP_PROP_FRAME_COUNT``) can be far off: a clip that says 444
    frames may decode 68.  This opens its own capture and grabs to the end, so it costs
    one decode pass.  Damaged frames are passed over as :class:`FileSource` does.

    Parameters
    ----------
    path : str
        A file OpenCV's FFmpeg backend can read.
    max_consecutive_errors : int
        Failed grabs in a row that mean the end.

    Returns
    -------
    int
        The number of frames ``grab()`` delivered.
    """
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise SourceError(f"cannot open video file {path!r} to count its frames")
        count = failures = 0
        while failures < max_consecutive_errors:
            if capture.grab():
                count += 1
                failures = 0
            else:
                failures += 1
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


class CaptureTimeout(Exception):
    """A call on a capture did not return within its deadline (see :class:`CaptureWorker`)."""


class CaptureWorker:
    """One thread that makes every call on one ``cv2.VideoCapture``, each within a deadline.

    A V4L2 camera that is unplugged, or some FFmpeg protocols, can block ``open`` or
    ``read`` far longer than any timeout the driver was asked for.  The caller waits at
    most ``timeout`` seconds for a call; past it the capture is given up: the worker
    releases it when (if ever) the stuck call returns, then ends.  Releasing a capture
    while another thread is inside its ``read`` crashes OpenCV, which is why every call,
    the release included, runs on this one thread.

    Parameters
    ----------
    name : str
        Thread name, for debuggers and ``py-spy``.
    """

    def __init__(self, name: str):
        self.capture: cv2.VideoCapture | None = None
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:  # stop: release whatever the calls left here
                if self.capture is not None:
                    self.capture.release()
                    self.capture = None
                return
            function, box, done = job
            try:
                box["value"] = function()
            except BaseException as error:  # noqa: BLE001  (handed to the caller)
                box["error"] = error
            done.set()

    def call(self, function, timeout: float):
        """``function()``'s result, run on the worker; CaptureTimeout after ``timeout`` s.

        After a timeout the worker is stopped (:meth:`stop`): make a new one to go on.
        """
        box: dict = {}
        done = threading.Event()
        self._jobs.put((function, box, done))
        if not done.wait(timeout):
            self.stop()
            raise CaptureTimeout(f"no answer within {timeout:g} s")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def stop(self) -> None:
        """Release the capture and end the thread once the call in progress returns."""
        self._jobs.put(None)

    @property
    def alive(self) -> bool:
        """Whether the thread still runs (a call stuck in the driver keeps it alive)."""
        return self._thread.is_alive()


class _CaptureSource(Source):
    """Shared by the capture sources: first frame read at open, pacing, fps, close.

    ``close()`` from another thread waits for a ``read()`` in progress to return
    (releasing a capture inside its own ``read`` crashes OpenCV); reads are bounded by
    the frame period (files), or by ``read_timeout`` and a watchdog (camera, url).
    """

    _first: np.ndarray | None = None
    _pacer: FramePacer | None = None
    _guard = None
    _closing_event = None

    @property
    def _lock(self) -> threading.Lock:
        if self._guard is None:
            self._guard = threading.Lock()
        return self._guard

    @property
    def _closing(self) -> threading.Event:
        """Set by :meth:`close` so that waits (backoff, retries) end at once."""
        if self._closing_event is None:
            self._closing_event = threading.Event()
        return self._closing_event

    def _describe(self) -> str:
        raise NotImplementedError

    def _is_open(self) -> bool:
        raise NotImplementedError

    def _read_next(self) -> np.ndarray | None:
        """The next frame after the first, applying the source's ``on_error``; None at the end."""
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def read(self) -> np.ndarray | None:
        """The next frame (BGR uint8, a new array), or None at the end of the input.

        When the input ended because of an error, ``report.failure`` says why.
        """
        if not self._is_open():
            raise SourceError(f"{self._describe()} is not open; call open() first")
        if self._pacer is not None:
            self._pacer.wait()
        with self._lock:
            if self._first is not None:
                frame, self._first = self._first, None
                return frame
            if not self._is_open() or self._closing.is_set():  # closed while pacing
                return None
            return self._read_next()

    def _fail(self, message: str) -> None:
        """End the input because of an error: logged, and raised by the engine at the end."""
        if self._closing.is_set():  # closed from outside: not the input's fault
            return
        log.warning("%s", message)
        self.report.failure = message

    def close(self) -> None:
        """Release the capture (after a read in progress returns); safe to call twice."""
        self._closing.set()
        with self._lock:
            self._release()
            self._first = None


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


class _LiveCaptureSource(_CaptureSource):
    """A camera or a stream: every capture call under a watchdog, reconnection on demand.

    Each call runs on a :class:`CaptureWorker`; ``open`` waits at most ``open_timeout``
    and each ``read`` ``read_timeout`` (plus :data:`WATCHDOG_SLACK` where the driver has a
    timeout of its own), so a device that vanishes or a sender that goes silent can never
    hang the run.  A failed read then ends the input (``on_error: stop``), or reconnects
    (``on_error: retry``): up to ``reconnect_attempts`` tries in a row, waiting
    ``reconnect_backoff`` seconds before the first and doubling up to
    ``reconnect_max_backoff``.  A successful reconnection resets the count.
    """

    live = True
    _worker: CaptureWorker | None = None
    _reported_fps: float | None = None
    _stalled_at = -math.inf  # when a read last took about read_timeout
    #: Extra seconds the watchdog allows past ``read_timeout`` (0: the driver has none).
    watchdog_slack = 0.0

    def _init_recovery(self, open_timeout, read_timeout, on_error, reconnect_attempts,
                       reconnect_backoff, reconnect_max_backoff) -> None:
        self.open_timeout = float(open_timeout)
        self.read_timeout = float(read_timeout)
        self.on_error = on_error
        self.reconnect_attempts = int(reconnect_attempts)
        self.reconnect_backoff = float(reconnect_backoff)
        self.reconnect_max_backoff = float(reconnect_max_backoff)
        if on_error != "retry":
            for param in self.params:
                if param.name.startswith("reconnect_") and getattr(self, param.name) != param.default:
                    raise ParamError(param.name, f"{param.name} applies only with on_error: retry; "
                                                 f"got on_error: {on_error!r} (leave {param.name} out)")
        if self.reconnect_max_backoff < self.reconnect_backoff:
            raise ParamError("reconnect_max_backoff",
                             f"reconnect_max_backoff must be >= reconnect_backoff "
                             f"({self.reconnect_backoff:g}); got {self.reconnect_max_backoff:g}")

    def _recovery_repr(self) -> str:
        return (f"open_timeout={self.open_timeout}, read_timeout={self.read_timeout}, "
                f"on_error={self.on_error!r}, reconnect_attempts={self.reconnect_attempts}, "
                f"reconnect_backoff={self.reconnect_backoff}, "
                f"reconnect_max_backoff={self.reconnect_max_backoff}")

    def _open_capture(self) -> cv2.VideoCapture:
        """A new, opened capture (runs on the worker); SourceError if it does not open."""
        raise NotImplementedError

    def _after_first_frame(self, capture: cv2.VideoCapture, frame: np.ndarray) -> None:
        """Look at the mode the device picked (runs on the worker)."""

    def _silence(self) -> str:
        """Words for a read that timed out."""
        return f"delivered no frame within read_timeout {self.read_timeout:g} s"

    def _is_open(self) -> bool:
        return self._worker is not None

    def _release(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        self._worker = None

    def open(self) -> None:
        """Connect within ``open_timeout`` and read the first frame; SourceError if not."""
        self._closing.clear()
        self._first = self._connect()

    def _connect(self) -> np.ndarray:
        worker = CaptureWorker(f"edgepipe-{getattr(self, 'registry_name', 'capture')}")

        def first_frame():
            worker.capture = self._open_capture()
            ok, frame = worker.capture.read()
            if ok and frame is not None:
                self._reported_fps = plausible_fps(worker.capture.get(cv2.CAP_PROP_FPS))
                self._after_first_frame(worker.capture, frame)
            return ok, frame

        deadline = self.open_timeout + self.read_timeout + self.watchdog_slack
        try:
            ok, frame = worker.call(first_frame, deadline)
        except CaptureTimeout:
            raise SourceError(
                f"{self._describe()} did not open and deliver a frame within {deadline:g} s "
                "(open_timeout + read_timeout); check that it is running and not in use, "
                "or raise open_timeout"
            ) from None
        except BaseException:
            worker.stop()
            raise
        if not ok or frame is None:
            worker.stop()
            raise SourceError(f"{self._describe()} opened but no frame decodes; {self._no_frame_hint()}")
        self._worker = worker
        return frame

    def _no_frame_hint(self) -> str:
        return "check that it is not in use by another program"

    def _read_next(self) -> np.ndarray | None:
        while True:
            worker = self._worker
            start = time.monotonic()
            try:
                ok, frame = worker.call(lambda: worker.capture.read(),
                                        self.read_timeout + self.watchdog_slack)
            except CaptureTimeout:
                self._worker = None  # the stuck worker releases its capture when it can
                ok, frame = False, None
            now = time.monotonic()
            if now - start >= 0.8 * self.read_timeout:
                # FFmpeg may still hand out a few buffered frames after its read timeout
                # fired, then fail at once: the failure belongs to this stall.
                self._stalled_at = now
            if ok and frame is not None:
                return frame
            if self._closing.is_set():
                return None
            timed_out = now - self._stalled_at <= self.read_timeout + WATCHDOG_SLACK
            what = self._silence() if timed_out else self._lost()
            self.report.read_errors += 1
            if self.on_error == "retry":
                frame = self._reconnect(what)
                if frame is not None:
                    return frame
                if not self._closing.is_set():
                    self._fail(f"{self._describe()} {what}, and {self.reconnect_attempts} "
                               f"reconnection attempt(s) failed; check the device or sender")
                return None
            self._end_without_retry(what, timed_out)
            return None

    def _lost(self) -> str:
        """Words for a read that failed at once."""
        return "stopped delivering frames"

    def _end_without_retry(self, what: str, timed_out: bool) -> None:
        """``on_error: stop``: the input ends; an error unless the sender ended it cleanly."""
        self._fail(f"{self._describe()} {what}; stopped (on_error: stop; "
                   "on_error: retry reconnects)")

    def _reconnect(self, what: str) -> np.ndarray | None:
        """Reconnect with backoff; the first frame of the new connection, or None."""
        delay = self.reconnect_backoff
        for attempt in range(1, self.reconnect_attempts + 1):
            log.warning("%s %s; reconnecting in %.3g s (attempt %d of %d)",
                        self._describe(), what, delay, attempt, self.reconnect_attempts)
            if self._closing.wait(delay):
                return None
            self._release()
            try:
                frame = self._connect()
            except SourceError as error:
                log.warning("%s", error)
                delay = min(2 * delay, self.reconnect_max_backoff)
                continue
            self.report.reconnects += 1
            self.report.note(f"{self._describe()} {what}; reconnected (attempt {attempt})")
            return frame
        return None

    @property
    def fps(self) -> float | None:
        """The frame rate the device or stream reported when it opened, if believable."""
        return self._reported_fps if self._worker is not None else None


def _recovery_params(open_timeout: float, read_timeout: float) -> tuple:
    """The watchdog and reconnection settings camera and url share."""
    return (
        Param("open_timeout", float, open_timeout, min=0.1, max=600,
              help="seconds to wait for the device or stream to open"),
        Param("read_timeout", float, read_timeout, min=0.1, max=600,
              help="seconds to wait for each frame before the read counts as failed"),
        Param("on_error", str, "stop", choices=LIVE_ON_ERROR,
              help="a failed or timed-out read: stop (the run ends) or retry (reconnect)"),
        Param("reconnect_attempts", int, 5, min=1, max=1_000_000,
              help="on_error: retry: reconnection tries in a row before giving up"),
        Param("reconnect_backoff", float, 1.0, min=0.0, max=3600,
              help="on_error: retry: seconds before the first try, doubled after each failure"),
        Param("reconnect_max_backoff", float, 30.0, min=0.0, max=3600,
              help="on_error: retry: longest wait between tries, seconds"),
    )


@register("source", "camera")
class CameraSource(_LiveCaptureSource):
    """A local camera by index (``0``) or device path (``/dev/video2``).

    The requested ``width``, ``height``, ``fps`` and ``fourcc`` are asked of the driver
    before the first frame; a camera that picks something else is logged, not an error
    (cameras round to the nearest mode they support).  V4L2 has no read timeout of its
    own: the watchdog (:class:`CaptureWorker`) gives up on a read after ``read_timeout``.
    """

    params = (
        Param("device", (int, str), 0, min=0, help="camera index or device path, e.g. 0 or /dev/video2"),
        Param("width", (int, type(None)), None, min=16, max=16384, help="requested frame width (null: camera default)"),
        Param("height", (int, type(None)), None, min=16, max=16384, help="requested frame height (null: camera default)"),
        Param("fps", (float, type(None)), None, min=0.1, max=1000, help="requested frame rate (null: camera default)"),
        Param("fourcc", (str, type(None)), None, help="requested pixel format, e.g. MJPG or YUYV (null: camera default)"),
    ) + _recovery_params(open_timeout=10.0, read_timeout=5.0)

    def __init__(self, device=0, width=None, height=None, fps=None, fourcc=None,
                 open_timeout=10.0, read_timeout=5.0, on_error="stop", reconnect_attempts=5,
                 reconnect_backoff=1.0, reconnect_max_backoff=30.0):
        self.device = device
        self.width = width
        self.height = height
        self.fps_requested = fps
        self.fourcc = fourcc
        if fourcc is not None:
            fourcc_code(fourcc, "fourcc")
        if isinstance(device, str) and device.strip().isdigit():
            self.device = int(device)
        self._init_recovery(open_timeout, read_timeout, on_error, reconnect_attempts,
                            reconnect_backoff, reconnect_max_backoff)

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
            f"fps={self.fps_requested}, fourcc={self.fourcc!r}, {self._recovery_repr()})"
        )

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

    def _after_first_frame(self, capture: cv2.VideoCapture, frame: np.ndarray) -> None:
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
            got_fps = plausible_fps(capture.get(cv2.CAP_PROP_FPS))
            if got_fps is not None and abs(got_fps - self.fps_requested) > 0.5:
                log.warning("%s runs at %.3g fps, not the requested %.3g", self._describe(), got_fps, self.fps_requested)


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
class UrlSource(_LiveCaptureSource):
    """A network stream (rtsp, http, udp, tcp, rtmp, srt) through OpenCV's FFmpeg backend.

    ``open_timeout`` bounds connecting and reading the first frame, ``read_timeout``
    each later read (FFmpeg's own ``CAP_PROP_READ_TIMEOUT_MSEC``, with the watchdog as a
    backstop), so a stream can never hang the run.  With ``on_error: stop`` (default) a
    sender that closes the stream ends the run normally, and one that goes silent for
    ``read_timeout`` ends it with an error (exit 1); ``on_error: retry`` reconnects.
    """

    params = (
        Param("url", str, help="stream address, e.g. rtsp://camera.local/stream or udp://127.0.0.1:5000"),
    ) + _recovery_params(open_timeout=10.0, read_timeout=5.0)
    watchdog_slack = WATCHDOG_SLACK

    def __init__(self, url, open_timeout=10.0, read_timeout=5.0, on_error="stop",
                 reconnect_attempts=5, reconnect_backoff=1.0, reconnect_max_backoff=30.0):
        scheme = urlsplit(url).scheme.lower()
        if scheme not in URL_SCHEMES:
            hint = " (for a local file use a `file` source)" if scheme in ("", "file") else ""
            raise ParamError(
                "url", f"url must start with one of {', '.join(s + '://' for s in URL_SCHEMES)}; got {redact_url(url)!r}{hint}"
            )
        self.url = url
        self._init_recovery(open_timeout, read_timeout, on_error, reconnect_attempts,
                            reconnect_backoff, reconnect_max_backoff)

    def __repr__(self) -> str:
        return f"UrlSource(url={redact_url(self.url)!r}, {self._recovery_repr()})"

    def _describe(self) -> str:
        return f"stream {redact_url(self.url)!r}"

    def _no_frame_hint(self) -> str:
        return f"the stream sent nothing decodable within {self.read_timeout:g} s"

    def _silence(self) -> str:
        return f"sent nothing for read_timeout {self.read_timeout:g} s"

    def _lost(self) -> str:
        return "was closed by the sender"

    def _end_without_retry(self, what: str, timed_out: bool) -> None:
        if timed_out:
            super()._end_without_retry(what, timed_out)
        else:  # the sender closed the stream: its end, as far as anyone can tell
            log.info("%s %s: end of stream", self._describe(), what)
            self.report.read_errors -= 1

    def open(self) -> None:
        """Connect within ``open_timeout`` and read the first frame."""
        if getattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC", None) is None or getattr(
                cv2, "CAP_PROP_READ_TIMEOUT_MSEC", None) is None:
            raise SourceError(
                f"OpenCV {cv2.__version__} cannot bound stream timeouts "
                "(no CAP_PROP_OPEN_TIMEOUT_MSEC); install opencv-python >= 4.6 to read streams"
            )
        super().open()

    def _open_capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(
            self.url,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout * 1000),
             cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout * 1000)],
        )
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"cannot open {self._describe()} within {self.open_timeout:g} s; check the address "
                "and that the stream is running (try `ffprobe URL`), or raise open_timeout"
            )
        return capture
