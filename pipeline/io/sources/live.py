"""Cameras and streams under a watchdog, with reconnection: the shared base of ``camera`` and ``url``.

Every call on a device or stream handle (open, read, release) runs on one
:class:`CaptureWorker` thread and is waited for at most a deadline, so a camera that is
unplugged or a sender that goes silent can never hang the run.  The handle is whatever
the source opens: an OpenCV ``VideoCapture`` for a camera, a PyAV reader for a stream;
it needs ``read() -> (ok, item)`` and ``release()``.

No thread is left inside a driver or FFmpeg at exit: a worker given up on by the
watchdog is still inside its call, and an interpreter that finalizes under it crashes
when the call comes back (FFmpeg's interrupt callback runs Python code).  At exit,
:func:`_join_workers_at_exit` stops every worker and waits for each, up to the longest
its call can take (:attr:`CaptureWorker.exit_wait`, from the timeouts given to the
driver), so the process ends after the call has returned.
"""

from __future__ import annotations

import atexit
import logging
import math
import queue
import sys
import threading
import time
import weakref

from pipeline.io.base import Source, SourceError
from pipeline.config.registry import Param, ParamError

log = logging.getLogger(__name__)

#: What a camera or url source does when a read fails or times out.
LIVE_ON_ERROR = ("stop", "retry")

#: Seconds the watchdog waits past ``read_timeout`` for a stream, whose FFmpeg read
#: timeout should fire first.
WATCHDOG_SLACK = 2.0


class CaptureTimeout(Exception):
    """A call on a capture did not return within its deadline (see :class:`CaptureWorker`)."""


class CaptureWorker:
    """One thread that makes every call on one capture handle, each within a deadline.

    A V4L2 camera that is unplugged, or some FFmpeg protocols, can block ``open`` or
    ``read`` far longer than any timeout the driver was asked for.  The caller waits at
    most ``timeout`` seconds for a call; past it the capture is given up: the worker
    releases it when (if ever) the stuck call returns, then ends.  Releasing a capture
    while another thread is inside its ``read`` crashes OpenCV (and FFmpeg), which is
    why every call, the release included, runs on this one thread.

    Parameters
    ----------
    name : str
        Thread name, for debuggers and ``py-spy``.
    exit_wait : float
        Seconds a call can stay inside the driver at most once given up on (the driver's
        own timeouts); the process waits this long at exit for the thread to come out.
    """

    def __init__(self, name: str, exit_wait: float = 0.0):
        self.capture = None
        self.exit_wait = exit_wait
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()
        _WORKERS.add(self)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:  # stop: release whatever the calls left here
                if self.capture is not None:
                    self.capture.release()
                    self.capture = None
                return
            function, reply = job
            try:
                answer = (True, function())
            except BaseException as error:  # noqa: BLE001  (handed to the caller)
                answer = (False, error)
            reply.put(answer)

    def call(self, function, timeout: float):
        """``function()``'s result, run on the worker; CaptureTimeout after ``timeout`` s.

        After a timeout the worker is stopped (:meth:`stop`): make a new one to go on.
        """
        # The answer comes back through a SimpleQueue of its own: C code that waits with
        # the GIL released, where a threading.Event's Python Condition took the GIL
        # several times a call (a call a frame: a quarter of the GIL's time at twelve
        # streams, docs/streams.md).
        reply: queue.SimpleQueue = queue.SimpleQueue()
        self._jobs.put((function, reply))
        try:
            ok, value = reply.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise CaptureTimeout(f"no answer within {timeout:g} s") from None
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        """Release the capture and end the thread once the call in progress returns."""
        self._jobs.put(None)

    @property
    def alive(self) -> bool:
        """Whether the thread still runs (a call stuck in the driver keeps it alive)."""
        return self._thread.is_alive()


_WORKERS: "weakref.WeakSet[CaptureWorker]" = weakref.WeakSet()


def _join_workers_at_exit() -> None:
    """Stop every capture worker and wait until its call has left the driver (bounded)."""
    workers = [worker for worker in list(_WORKERS) if worker.alive]
    if not workers:
        return
    for worker in workers:
        worker.stop()
    deadline = time.monotonic() + max(worker.exit_wait for worker in workers)
    for worker in workers:
        worker._thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [worker._thread.name for worker in workers if worker.alive]
    if stuck:  # a driver that ignores its timeouts: nothing more can be done from here
        print(f"edgepipe: warning: {', '.join(stuck)} still inside the device driver at exit",
              file=sys.stderr)


atexit.register(_join_workers_at_exit)


def recovery_params(open_timeout: float, read_timeout: float) -> tuple:
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


class LiveSource(Source):
    """A camera or a stream: every call under a watchdog, reconnection on demand.

    Each call runs on a :class:`CaptureWorker`; ``open`` waits at most ``open_timeout``
    and each ``read`` ``read_timeout`` (plus :attr:`watchdog_slack` where the driver has
    a timeout of its own), so a device that vanishes or a sender that goes silent can
    never hang the run.  A failed read then ends the input (``on_error: stop``), or
    reconnects (``on_error: retry``): up to ``reconnect_attempts`` tries in a row,
    waiting ``reconnect_backoff`` seconds before the first and doubling up to
    ``reconnect_max_backoff``.  A successful reconnection resets the count.

    ``close()`` from another thread waits for a read in progress to return.

    Subclasses implement :meth:`_open_capture` (runs on the worker) and may override
    :meth:`_capture_fps`, :meth:`_after_first_item` and the wording hooks.
    """

    live = True
    #: Extra seconds the watchdog allows past ``read_timeout`` (0: the driver has none).
    watchdog_slack = 0.0

    def __init__(self, *values, **settings):
        super().__init__(*values, **settings)
        self._worker: CaptureWorker | None = None
        self._first = None  # the item read at open, handed out by the first read
        self._reported_fps: float | None = None
        self._stalled_at = -math.inf  # when a read last took about read_timeout
        self._lock = threading.Lock()
        self._closing = threading.Event()  # set by close(): waits (backoff) end at once

    def check(self) -> None:
        """Reconnection settings only with ``on_error: retry``, and a sane backoff range."""
        if self.on_error != "retry":
            for param in self.params:
                if param.name.startswith("reconnect_") and getattr(self, param.name) != param.default:
                    raise ParamError(param.name, f"{param.name} applies only with on_error: retry; "
                                                 f"got on_error: {self.on_error!r} (leave {param.name} out)")
        if self.reconnect_max_backoff < self.reconnect_backoff:
            raise ParamError("reconnect_max_backoff",
                             f"reconnect_max_backoff must be >= reconnect_backoff "
                             f"({self.reconnect_backoff:g}); got {self.reconnect_max_backoff:g}")

    # ------------------------------------------------------------------ hooks
    def _describe(self) -> str:
        raise NotImplementedError

    def _open_capture(self):
        """A new, opened capture handle (runs on the worker); SourceError if it does not open."""
        raise NotImplementedError

    def _capture_fps(self, capture) -> float | None:
        """The rate the device or stream reports (runs on the worker), None if unknown."""
        return None

    def _after_first_item(self, capture, item) -> None:
        """Look at the mode the device picked (runs on the worker)."""

    def _silence(self) -> str:
        """Words for a read that timed out."""
        return f"delivered no frame within read_timeout {self.read_timeout:g} s"

    def _lost(self) -> str:
        """Words for a read that failed at once."""
        return "stopped delivering frames"

    def _no_frame_hint(self) -> str:
        return "check that it is not in use by another program"

    def _on_reconnected(self) -> None:
        """A new connection is up (streams re-base their pts here)."""

    # ------------------------------------------------------------------ reading
    def _read_item(self):
        """The next item from the handle (a frame, or whatever the subclass reads); None at the end."""
        if self._worker is None:
            raise SourceError(f"{self._describe()} is not open; call open() first")
        with self._lock:
            if self._first is not None:
                item, self._first = self._first, None
                return item
            if self._worker is None or self._closing.is_set():  # closed meanwhile
                return None
            return self._read_next()

    def read(self):
        """The next frame (BGR uint8, a new array), or None at the end of the input.

        When the input ended because of an error, ``report.failure`` says why.
        """
        return self._read_item()

    def _fail(self, message: str) -> None:
        """End the input because of an error: logged, and raised by the engine at the end."""
        if self._closing.is_set():  # closed from outside: not the input's fault
            return
        log.warning("%s", message)
        self.report.failure = message

    def _release(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        self._worker = None

    def close(self) -> None:
        """Release the capture (after a read in progress returns); safe to call twice."""
        self._closing.set()
        with self._lock:
            self._release()
            self._first = None

    def open(self) -> None:
        """Connect within ``open_timeout`` and read the first frame; SourceError if not."""
        self._closing.clear()
        self._first = self._connect()

    def _open_deadline(self) -> float:
        """Seconds the watchdog allows for opening and the first frame."""
        return self.open_timeout + self.read_timeout + self.watchdog_slack

    def _exit_wait(self) -> float:
        """The longest a call given up on can stay inside the driver (see CaptureWorker)."""
        return self._open_deadline() + self.watchdog_slack

    def _connect(self):
        worker = CaptureWorker(f"edgepipe-{self.registry_name}", self._exit_wait())

        def first_item():
            worker.capture = self._open_capture()
            ok, item = worker.capture.read()
            if ok and item is not None:
                self._reported_fps = self._capture_fps(worker.capture)
                self._after_first_item(worker.capture, item)
            return ok, item

        deadline = self._open_deadline()
        try:
            ok, item = worker.call(first_item, deadline)
        except CaptureTimeout:
            raise SourceError(
                f"{self._describe()} did not open and deliver a frame within {deadline:g} s "
                f"(open_timeout {self.open_timeout:g} s, read_timeout {self.read_timeout:g} s); "
                "check that it is running and not in use, or raise open_timeout"
            ) from None
        except BaseException:
            worker.stop()
            raise
        if not ok or item is None:
            worker.stop()
            raise SourceError(f"{self._describe()} opened but no frame decodes; {self._no_frame_hint()}")
        self._worker = worker
        return item

    def _read_next(self):
        while True:
            worker = self._worker
            start = time.monotonic()
            try:
                ok, item = worker.call(lambda: worker.capture.read(),
                                       self.read_timeout + self.watchdog_slack)
            except CaptureTimeout:
                self._worker = None  # the stuck worker releases its capture when it can
                ok, item = False, None
            now = time.monotonic()
            if now - start >= 0.8 * self.read_timeout:
                # FFmpeg may still hand out a few buffered frames after its read timeout
                # fired, then fail at once: the failure belongs to this stall.
                self._stalled_at = now
            if ok and item is not None:
                return item
            if self._closing.is_set():
                return None
            timed_out = now - self._stalled_at <= self.read_timeout + WATCHDOG_SLACK
            what = self._silence() if timed_out else self._lost()
            self.report.read_errors += 1
            if self.on_error == "retry":
                item = self._reconnect(what)
                if item is not None:
                    return item
                if not self._closing.is_set():
                    self._fail(f"{self._describe()} {what}, and {self.reconnect_attempts} "
                               f"reconnection attempt(s) failed; check the device or sender")
                return None
            self._end_without_retry(what, timed_out)
            return None

    def _end_without_retry(self, what: str, timed_out: bool) -> None:
        """``on_error: stop``: the input ends; an error unless the sender ended it cleanly."""
        self._fail(f"{self._describe()} {what}; stopped (on_error: stop; "
                   "on_error: retry reconnects)")

    def _reconnect(self, what: str):
        """Reconnect with backoff; the first item of the new connection, or None."""
        delay = self.reconnect_backoff
        for attempt in range(1, self.reconnect_attempts + 1):
            log.warning("%s %s; reconnecting in %.3g s (attempt %d of %d)",
                        self._describe(), what, delay, attempt, self.reconnect_attempts)
            if self._closing.wait(delay):
                return None
            self._release()
            try:
                item = self._connect()
            except SourceError as error:
                log.warning("%s", error)
                delay = min(2 * delay, self.reconnect_max_backoff)
                continue
            self.report.reconnects += 1
            self.report.note(f"{self._describe()} {what}; reconnected (attempt {attempt})")
            self._on_reconnected()
            return item
        return None

    @property
    def fps(self) -> float | None:
        """The frame rate the device or stream reported when it opened, if believable."""
        return self._reported_fps if self._worker is not None else None
