"""One ``http`` sink for every stream of a ``sources:`` run: one server, a grid page.

::

    sources:
      - {name: door, type: url, url: rtsp://10.0.0.5/stream}
      - {name: yard, type: url, url: rtsp://10.0.0.6/stream}
    sinks:
      - http: {port: 8080}        # no {source}: one server and one page for every stream

The config's :class:`~.sink.HttpSink` becomes the *front* of a :class:`SharedHttp`: its
settings, its one server, its token.  Every stream has a *channel*, an HttpSink with the
same settings that never binds a port (:meth:`~.sink.HttpSink.open_view`): the stream's
newest picture, its H.264 feed, its minute of samples, its frame ages, and the stream's
own :class:`~pipeline.controls.Controls`.  Each stream's engine writes to its channel
through an :class:`HttpHandle`, a sink like any other.  The server starts with the first
stream's first frame and stops when every stream has let go of its handle (as
:mod:`pipeline.io.sinks.stats_shared` does for one stats file); a stream added while
the run goes on gets a handle and a channel of its own.

================================  =====================================================
``GET /``                         the grid (``grid.html``): one tile per stream, 1 to 16
                                  (columns: ceil(sqrt(n))), each with its name, picture
                                  and numbers; a click enlarges it, Esc goes back.
                                  A tile's picture is ``view.ws?size=tile`` (or
                                  ``stream.mjpg?size=tile``): scaled to ``tile_width``
``GET /streams``                  every stream's name and health, as JSON (:meth:`SharedHttp.listing`)
``GET /streams/NAME/``            that stream's own page: the single-stream page, whose
                                  relative addresses (``stats``, ``stream.mjpg``,
                                  ``view.ws``, ``control``) are that stream's
``POST /control``                 ``{"stream": NAME, "threshold": ...}`` steers one
                                  stream (without ``stream``: 400 naming them, unless
                                  only one runs: ended streams do not count);
                                  ``{"add": {sources: item}}``,
                                  ``{"remove": NAME}``
``/stats``, ``/stream.mjpg``,     the only running stream's, while one runs (ended ones
``/view.ws``                      do not count); else 404 naming ``/streams/NAME/...``
================================  =====================================================

A removed stream leaves the listing (one that had ended already too); one that ended by
itself (end of its file, a failure) stays in it, ``running: false`` with its stop reason.
A stream the run refused (:meth:`HttpHandle.withdraw`) leaves no channel behind.
"""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import Callable

from pipeline.errors import EdgepipeError
from pipeline.io.base import Sink, SinkError
from pipeline.io.sinks.http.control import ControlError, apply_control
from pipeline.io.sinks.shared import SharedSink

#: The prefix of a stream's own routes.
PREFIX = "/streams/"

#: Routes of the single page that, at the top, mean the only stream's.
STREAM_ROUTES = ("/stats", "/stream.mjpg", "/view.ws")


class RouteError(EdgepipeError):
    """A request names no stream that runs (or names none where several do)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message


class SharedHttp(SharedSink):
    """The config's http sink (``front``) serving every stream of the run.

    Parameters
    ----------
    front : HttpSink
        The sink as configured: its server and token serve every stream.
    channel : callable
        A fresh HttpSink of the same settings: one stream's channel.
    """

    def __init__(self, front, channel: Callable[[], Sink]):
        super().__init__(front)
        front.several = self
        self._channel = channel
        self.channels: dict = {}  # name -> HttpSink, in order of arrival
        self._ended: set = set()  # names whose stream has let go (ended, failed, removed)
        self._removed: set = set()  # names POST /control removed: their tile goes
        self._serving = False  # (its error stays None: the server's close is not fallible)
        #: ``add(item) -> name`` and ``remove(name)``, set by the runtime that can (POST /control).
        self.add_stream: Callable[[dict], str] | None = None
        self.remove_stream: Callable[[str], None] | None = None

    @property
    def path(self) -> None:  # a shared sink writes no file
        return None

    # ---------------------------------------------------------------- the streams' side
    def handle(self, name: str) -> "HttpHandle":
        """The sink one stream's engine writes to (a channel of its own)."""
        with self._lock:
            self._join(name)
            channel = self.channels[name] = self._channel()
        return HttpHandle(self, name, channel)

    def finished_message(self, name: str) -> str:
        return (f"http sink: the server has stopped (every stream ended); "
                f"stream {name!r} cannot join it")

    def open(self, channel, first, fps, controls) -> None:
        """Start the server with the first stream's first frame; open ``channel``."""
        with self._lock:
            if not self._serving:
                self.sink.serve()
                self._serving = True
        channel.open_view(first, fps, controls)

    def release(self, name: str, forget: bool = False) -> None:
        """Stream ``name`` is done; the last one stops the server.  A removed stream's
        channel leaves the page, as does (``forget``) one whose stream never ran."""
        with self._lock:
            channel = self.channels.get(name)
            self._ended.add(name)
            removed = name in self._removed or (
                channel is not None and channel.controls is not None
                and channel.controls.stop_reason == "removed")
            if channel is not None and (forget or removed):
                del self.channels[name]
            if forget:
                self._ended.discard(name)  # its name may come back with another stream
            if not self._let_go():
                return
            serving, self._serving = self._serving, False
        if serving:
            self.sink.close()

    # ---------------------------------------------------------------- the server's side
    def route(self, path: str) -> tuple:
        """``(target, path)`` of a request: the front and ``path``, or a stream's channel
        and the path within its own page (RouteError for a name that runs no stream)."""
        if path.startswith(PREFIX):
            name, slash, rest = path[len(PREFIX):].partition("/")
            if not slash:
                raise RouteError(HTTPStatus.NOT_FOUND, f"a stream's page ends with a slash: "
                                                       f"try {PREFIX}{name}/")
            return self._named(name, HTTPStatus.NOT_FOUND), "/" + rest
        if path in STREAM_ROUTES:
            running = self._running()
            if len(running) == 1:
                return running[0][1], path
            raise RouteError(HTTPStatus.NOT_FOUND, f"{self._running_text(running)}; "
                                                   f"ask {PREFIX}NAME{path}")
        return self.sink, path

    def names(self) -> str:
        with self._lock:
            return ", ".join(self.channels) or "none"

    def _running(self) -> list:
        """``(name, channel)`` of each stream still running (as ``running`` in
        :meth:`listing`: not ended, not stopping), in order of arrival."""
        with self._lock:
            channels = [(name, channel) for name, channel in self.channels.items()
                        if name not in self._ended]
        return [(name, channel) for name, channel in channels
                if channel.controls is None or not channel.controls.stopped]

    def _running_text(self, running: list) -> str:
        """What the top-level routes say when not exactly one stream runs."""
        if not running:
            return f"no stream of this run is running now (its streams: {self.names()})"
        return (f"this run has {len(running)} streams "
                f"({', '.join(name for name, _ in running)}) running")

    def _named(self, name: str, status: int):
        with self._lock:
            channel = self.channels.get(name)
        if channel is None:
            raise RouteError(status, f"no stream {name!r} in this run; its streams: {self.names()}")
        return channel

    def listing(self) -> dict:
        """What ``GET /streams`` answers: every stream's name and health, in order."""
        with self._lock:
            channels = [(name, channel, name in self._ended) for name, channel in self.channels.items()]
        return {"streams": [health(name, channel, ended) for name, channel, ended in channels],
                "time": round(time.monotonic(), 3)}

    def control(self, changes: dict, target=None) -> dict:
        """Apply a checked ``POST /control`` body (:func:`.control.parse_control`).

        ``target`` is the channel the address named (``/streams/NAME/control``), else
        None: the body's ``stream`` names it, or the only stream running.  Returns the
        answer's body (that stream's ``/stats``, or the listing after add and remove).

        Raises
        ------
        ControlError
            400 for a missing name where several streams run, 404 for an unknown one,
            409 for a stream not started yet; a bad ``add`` item names its key.
        """
        if "add" in changes:
            return self._add(changes["add"])
        if "remove" in changes:
            return self._remove(changes["remove"])
        changes = dict(changes)
        name = changes.pop("stream", None)
        if target is None:
            target = self._target(name)
        elif name is not None and self.channels.get(name) is not target:
            raise ControlError("stream", f"this address is another stream's; leave stream out, "
                                         f"or POST /control with stream {name!r}")
        if target.controls is None:  # not attached (HttpHandle.attach): nothing to steer yet
            raise ControlError("stream", "the stream has not started yet; try again in a moment",
                               HTTPStatus.CONFLICT)
        apply_control(target.controls, changes)
        return target.stats()

    def _target(self, name: str | None):
        if name is None:
            running = self._running()
            if len(running) == 1:
                return running[0][1]
            raise ControlError("stream", f"{self._running_text(running)}; name one with "
                                         f'"stream": one of {self.names()}')
        try:
            return self._named(name, HTTPStatus.NOT_FOUND)
        except RouteError as error:
            raise ControlError("stream", error.message, error.status) from None

    def _add(self, item: dict) -> dict:
        if self.add_stream is None:
            raise ControlError("add", "this run cannot add streams", HTTPStatus.CONFLICT)
        try:
            name = self.add_stream(item)
        except SinkError as error:  # a shared sink is finished: the run is ending
            raise ControlError("add", str(error), HTTPStatus.CONFLICT) from None
        except EdgepipeError as error:  # a ConfigError: the item's key, as the config names it
            raise ControlError("add", added_error(error)) from None
        except ValueError as error:  # the name is taken, or the run is over
            raise ControlError("add", str(error), HTTPStatus.CONFLICT) from None
        return {"added": name, **self.listing()}

    def _remove(self, name: str) -> dict:
        if self.remove_stream is None:
            raise ControlError("remove", "this run cannot remove streams", HTTPStatus.CONFLICT)
        try:
            self.remove_stream(name)
        except ValueError as error:  # no such stream: the message names those there are
            raise ControlError("remove", str(error), HTTPStatus.NOT_FOUND) from None
        with self._lock:  # its tile goes: now if it has ended already, else when it lets go
            self._removed.add(name)
            if name in self._ended:
                self.channels.pop(name, None)
        return {"removed": name, **self.listing()}


def added_error(error) -> str:
    """A config error about an added ``sources:`` item, its key as ``add.KEY``.

    The item was checked as the last of ``sources:`` (``sources.N.url``); in a ``POST
    /control`` body it is ``add.url``.  An error about another key (say, the item's
    ``{source}`` output colliding with another stream's) keeps that key.
    """
    key, message = getattr(error, "key", None), getattr(error, "message", str(error))
    if not key:
        return f"add: {message}"
    parts = key.split(".")
    if parts[0] == "sources" and len(parts) >= 2:
        return f"add{''.join('.' + p for p in parts[2:])}: {message}"
    return f"add: {key}: {message}"


def health(name: str, channel, ended: bool = False) -> dict:
    """One stream's entry in ``GET /streams``: its numbers, its state and its picture's size.

    ``ended``: the stream has let go of the server (its run is over, however it ended).

    ``fps``, ``dropped``, ``frames_out`` come from the stream's live stats; the frame
    ages (capture to the http sink, p50/p95 of the recent frames) from its channel;
    ``reconnects`` and ``last_error`` from its source's report (:meth:`HttpHandle.attach`);
    ``encoding`` what its pictures cost the server, per size (``full``, and ``tile``: the
    grid's, scaled to ``tile_width``): viewers and pictures encoded of the h264 view (with
    the size it encodes at) and of MJPEG (:meth:`~.sink.HttpSink.encoded_sizes`).
    """
    controls = channel.controls
    entry = {"name": name, "running": False, "state": "starting", "stop_reason": None,
             "fps": None, "frames_out": 0, "dropped": 0, "frame_age_ms": channel.frame_ages(),
             "reconnects": 0, "last_error": None, "threshold": None, "paused": False,
             "frame": None, "view": channel.view, "encoding": channel.encoded_sizes()}
    entry.update(source_health(channel))
    last = channel.last_frame
    entry["frame"] = last
    if controls is None:
        return entry
    live = controls.snapshot()
    stopped = controls.stopped or ended
    # A stream that failed before it started never stopped its controls: "failed".
    reason = (controls.stop_reason or "failed") if stopped else None
    if stopped:
        state = f"ended: {reason}"
    else:
        state = "paused" if live.paused else ("live" if last is not None else "starting")
    entry.update(running=not stopped, fps=round(live.fps, 2), frames_out=live.frames_out,
                 dropped=live.dropped, threshold=live.threshold, paused=live.paused,
                 stop_reason=reason, state=state)
    return entry


def source_health(channel) -> dict:
    """``{"reconnects", "last_error"}`` of a channel's stream: from its source's report
    (:meth:`HttpHandle.attach`), the failure of its run (:meth:`HttpHandle.failed`) first."""
    report = getattr(channel, "report", None)
    reconnects, last_error = 0, None
    if report is not None:
        reconnects = report.reconnects
        if report.failure:
            last_error = report.failure
        elif (report.read_errors or report.reconnects) and report.notes:
            last_error = report.notes[-1]
    failure = getattr(channel, "failure", None)
    return {"reconnects": reconnects, "last_error": failure if failure is not None else last_error}


class HttpHandle(Sink):
    """One stream's side of a :class:`SharedHttp`: a sink for that stream's engine."""

    registry_name = "http"

    def __init__(self, shared: SharedHttp, name: str, channel):
        super().__init__()
        self.shared = shared
        self.name = name
        self.channel = channel
        self._done = False

    @property
    def frames_written(self) -> int:
        return self.channel.frames_written

    def attach(self, report, controls) -> None:
        """The stream's source's :class:`~pipeline.io.base.ReadReport` (its reconnects and
        last error, read live) and its :class:`~pipeline.controls.Controls` (steered by
        name before its first frame too), given when the stream is built."""
        self.channel.report = report
        self.channel.controls = controls

    def failed(self, error: str | None) -> None:
        """The stream's run is over, failed with ``error`` (None: it did not fail)."""
        if error is not None:
            self.channel.failure = error

    def check(self) -> None:
        self.shared.check()

    def open(self, first, fps, controls=None) -> None:
        self.shared.open(self.channel, first, fps, controls)

    def write(self, frame) -> None:
        self.channel.write(frame)

    def close(self) -> None:
        self.channel.close()  # a channel has no server: ends its viewers' streams only
        self.release()

    def release(self) -> None:
        """The stream's run is over: let go of the server (once)."""
        self._let_go(forget=False)

    def withdraw(self) -> None:
        """The stream never ran (its building failed, or the run refused it): let go of
        the server and take its channel off the page (its name is free again)."""
        self._let_go(forget=True)

    def _let_go(self, forget: bool) -> None:
        if not self._done:
            self._done = True
            self.channel.close()
            self.shared.release(self.name, forget)

