"""OpenCV ``VideoCapture`` under a watchdog: the shared base of the camera, file and url sources."""


from __future__ import annotations

import logging
import math
import queue
import threading
import time

import cv2
import numpy as np

from pipeline.io.base import Source, SourceError
from pipeline.registry import Param, ParamError

log = logging.getLogger(__name__)
from pipeline.io.sources.pacing import FramePacer

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
