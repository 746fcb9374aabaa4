"""The registered ``http`` sink: settings, open/write/close, and what ``/stats`` answers.

What the view serves and its security rules are in the package's notes
(:mod:`pipeline.io.sinks.http`).
"""

from __future__ import annotations

import collections
import logging
import secrets
import socket
import threading
import time
from importlib import resources
from typing import TYPE_CHECKING

import cv2
import numpy as np

from pipeline.io.base import Sink, SinkError, check_uint8
from pipeline.io.sinks.http.auth import (TOKEN_VARIABLE, address, bind_error, host_for_url, is_loopback,
                                         token_from_env)
from pipeline.io.sinks.http.broadcast import HISTORY_EVERY, History, LatestFrame
from pipeline.io.sinks.http.feed import SIZES, Feed, downscale
from pipeline.io.sinks.http.streams import source_health
from pipeline.io.sinks.stats import NOT_JSON, jsonable
from pipeline.config.registry import Param, register
from pipeline.controls import Controls, LiveStats
from pipeline.tuned import THRESHOLD_TARGET, single

if TYPE_CHECKING:
    from pipeline.io.sinks.http.server import Server

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"

#: Connections served at once by default (each has a thread); see ``max_connections``.
MAX_CONNECTIONS = 64

#: Seconds a request's line and headers may take in all, by default (``request_timeout``).
REQUEST_TIMEOUT = 10.0

#: Seconds :meth:`HttpSink.close` waits for the server's threads.
JOIN_TIMEOUT = 5.0

#: Frames whose age at the sink (capture to sink) the p50/p95 in ``/stats`` are over.
AGE_WINDOW = 120


@register("sink", "http")
class HttpSink(Sink):
    """A browser view: live picture, stats, threshold/tuner/pause controls over HTTP (a sources: run: one grid page for all).

    Serves ``/`` (the page), ``/stream.mjpg``, ``/stats`` and ``POST /control`` (see the
    module notes).  After :meth:`open`, :attr:`url` is the page's address (``port: 0`` picks a free
    port; the one chosen is in :attr:`port_bound` and the log).
    """

    params = (
        Param("host", str, DEFAULT_HOST,
              help="address to listen on; 127.0.0.1: this machine only, 0.0.0.0: every interface"),
        Param("port", int, 8080, min=0, max=65535, help="TCP port; 0 picks a free one"),
        Param("quality", int, 80, min=1, max=100, help="JPEG quality of the stream"),
        Param("max_fps", float, 30.0, min=0.1, max=1000, help="pictures per second encoded at most"),
        Param("view", str, "h264", choices=("h264", "mjpeg"),
              help="what the page shows: h264 (encoded once, decoded by the browser's WebCodecs; "
                   "MJPEG where it has none) or mjpeg only"),
        Param("bitrate", int, 2_000_000, min=50_000, max=100_000_000,
              help="bits per second of the h264 view (shared by every viewer)"),
        Param("tile_width", int, 640, min=16, max=8192,
              help="widest picture a grid tile is sent (h264 and MJPEG; aspect kept, the h264 "
                   "bitrate in proportion); an enlarged tile and a stream's own page get the full size"),
        Param("max_connections", int, MAX_CONNECTIONS, min=1, max=10_000,
              help="connections served at once; past it a new one replaces the oldest "
                   "still sending its request, else is closed"),
        Param("request_timeout", float, REQUEST_TIMEOUT, min=0.1, max=3600,
              help="seconds a request's line and headers may take in all (before the token is checked)"),
        Param("token", (str, type(None)), None,
              help="access token (16+ characters of A-Z a-z 0-9 . _ ~ -), else $EDGEPIPE_TOKEN; "
                   "generated when the host is not loopback, none on loopback unless given"),
    )

    def __init__(self, *args, **settings):
        super().__init__(*args, **settings)  # defaults in the Params only, checked as a config's
        # The one in effect: the config's, else $EDGEPIPE_TOKEN's (see validate); generated
        # at open when neither is given and the host is not loopback.
        self.access_token: str | None = self.token if self.token is not None else self._token_from_env
        self.controls: Controls | None = None
        self.board = LatestFrame(self.encode)
        self.tile_board = LatestFrame(lambda image: self.encode(downscale(image, self.tile_width)))
        self.history = History()
        self.port_bound: int | None = None
        self.frames_written = 0
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._files: dict[str, bytes] = {}
        #: Seconds, monotonic: what pacing (``max_fps``), sampling and ``time`` go by.
        #: A test may set another clock before :meth:`open`.
        self.clock = time.monotonic
        self._clock0 = self.clock()
        self._due = 0.0
        self._next_sample = 0.0
        self._last: tuple[int, tuple, dict] | None = None
        #: The h264 view's encoders by size (:data:`~.feed.SIZES`), each made for its first viewer.
        self.feeds: dict[str, Feed] = {}
        self._feed_lock = threading.Lock()
        self._fps = self.max_fps
        self._held: tuple[int, np.ndarray, float] | None = None  # the newest picture, for a joining viewer
        self._viewers: list = []  # the h264 view's viewers (their cursors feed /stats)
        self._viewing = False  # between open_view and close: viewers may join
        self._ages: collections.deque = collections.deque(maxlen=AGE_WINDOW)  # seconds
        #: Set on the front of a several-stream run (:mod:`.streams`): the routes by name.
        self.several = None
        #: Seconds to add to a frame's ``timestamp`` (perf_counter) for the wall clock.
        self._wall_offset = time.time() - time.perf_counter()

    def validate(self) -> None:
        """The token (the config's, else ``$EDGEPIPE_TOKEN``) is usable: ParamError naming
        ``token`` otherwise, so ``validate`` refuses what ``run`` would."""
        self._token_from_env = token_from_env(self.token)

    def __repr__(self) -> str:
        token = "" if self.access_token is None else ", token=<set>"  # never shown
        return (f"HttpSink(host={self.host!r}, port={self.port}, quality={self.quality}, "
                f"max_fps={self.max_fps}, view={self.view!r}, tile_width={self.tile_width}{token})")

    @property
    def loopback(self) -> bool:
        """True when bound to a loopback address only (this machine)."""
        return is_loopback(self.host)

    @property
    def cookie_name(self) -> str:
        """The token's cookie, per port (cookies do not tell ports apart)."""
        return f"edgepipe_token_{self.port_bound}"

    @property
    def url(self) -> str | None:
        """The page's address once serving (``http://127.0.0.1:PORT/``), else None."""
        if self.port_bound is None:
            return None
        return f"http://{host_for_url(self.host)}:{self.port_bound}/"

    @property
    def public_url(self) -> str | None:
        """:attr:`url` with the host others reach (this machine's name for 0.0.0.0 and ::)."""
        if self.port_bound is None:
            return None
        host = socket.gethostname() if self.host in ("", "0.0.0.0", "::") else host_for_url(self.host)
        return f"http://{host}:{self.port_bound}/"

    def now(self) -> float:
        """Seconds on the sink's clock (``time`` in ``/stats``, ``t`` of the samples)."""
        return self.clock() - self._clock0

    # ---------------------------------------------------------------- lifecycle
    def check(self) -> None:
        """The address resolves and the port is free (tried at once); the token was
        checked with the settings (:meth:`validate`)."""
        family, sockaddr = address(self.host, self.port)
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            try:
                probe.bind(sockaddr)
            except OSError as error:
                raise bind_error(self.host, self.port, error) from error
        from pipeline.io.sinks.http.server import WEB_FILE_NAMES  # lazy: http.server, email, ssl: 25-50 ms

        for name in WEB_FILE_NAMES:
            self.web_file(name)

    def open(self, first, fps, controls=None) -> None:
        """Start serving; frames shaped like ``first`` follow."""
        self.open_view(first, fps, controls)
        self.serve()

    def open_view(self, first, fps, controls=None) -> None:
        """Take frames shaped like ``first`` and ``controls``, without a server of its own
        (a stream's channel behind a shared server, :mod:`.streams`, stops here)."""
        check_uint8(first, "http sink")
        self.controls = controls if controls is not None else Controls()
        self._clock0 = self.clock()
        self._fps = min(self.max_fps, fps) if fps and fps > 0 else self.max_fps
        self._wall_offset = time.time() - time.perf_counter()
        self._viewing = True

    def serve(self) -> None:
        """Bind the address and serve in a thread of its own; log the address."""
        family, sockaddr = address(self.host, self.port)
        from pipeline.io.sinks.http.server import Server  # lazy: http.server, email, ssl: 25-50 ms

        try:
            self._server = Server(family, sockaddr, self)
        except OSError as error:
            raise bind_error(self.host, self.port, error) from error
        self.port_bound = self._server.server_address[1]
        generated = self.access_token is None and not self.loopback
        if generated:
            self.access_token = secrets.token_urlsafe(24)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="edgepipe-http", daemon=True)
        self._thread.start()
        if self.access_token is not None:
            # A generated token is told once (nobody else knows it); a given one is not
            # repeated into logs, which is the point of $EDGEPIPE_TOKEN.
            shown = self.access_token if generated else (
                "<the configured token>" if self.token is not None else f"<${TOKEN_VARIABLE}>")
            reach = "" if self.loopback else ", reachable from other machines"
            log.warning("http sink: listening on %s:%d%s; open %s?token=%s (every request needs "
                        "the token: give it only to whom may watch and steer the run)",
                        self.host, self.port_bound, reach, self.public_url, shown)
        else:
            log.info("http sink: serving %s", self.url)

    def write(self, frame) -> None:
        """Publish ``frame.image`` to the viewers (JPEG, at most ``max_fps`` a second)."""
        image = check_uint8(frame, "http sink")
        self.frames_written += 1
        self._last = (int(frame.index), image.shape, frame.side)
        self._ages.append(time.perf_counter() - float(frame.timestamp))
        now = self.clock()
        if now >= self._next_sample:
            self._next_sample = now + HISTORY_EVERY
            self._sample(frame)
        capture_ms = (float(frame.timestamp) + self._wall_offset) * 1000.0
        self._held = (frame.index, image, capture_ms)
        boards = []
        for board in (self.board, self.tile_board):
            if board.viewers > 0:
                boards.append(board)
            else:
                board.hold(frame.index, image, capture_ms)
        feeds = [feed for feed in list(self.feeds.values()) if feed.viewers > 0]  # encode only what is watched
        if not (boards or feeds):
            return
        interval = 1.0 / self.max_fps
        if now < self._due - 0.1 * interval:  # a little slack for jittery arrivals
            return
        self._due = max(self._due, now - interval) + interval
        for board in boards:
            board.publish(frame.index, image, capture_ms)
        for feed in feeds:
            feed.submit(frame.index, image, capture_ms)

    def close(self) -> None:
        """End the streams, stop the server, join its threads; safe to call twice."""
        self._viewing = False
        self.board.close()
        self.tile_board.close()
        with self._feed_lock:
            feeds = list(self.feeds.values())
        for feed in feeds:
            feed.close()
        server, self._server = self._server, None
        if server is None:
            return
        deadline = time.monotonic() + JOIN_TIMEOUT
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        left = server.join_threads(deadline)
        if left:
            log.warning("http sink: %d connection thread(s) did not end within %.0f s", left, JOIN_TIMEOUT)
        self.port_bound = None

    # ---------------------------------------------------------------- content
    def encode(self, image: np.ndarray) -> bytes:
        """``image`` as JPEG bytes at the sink's quality."""
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise SinkError(f"http sink: cannot encode a {image.shape} image as JPEG")
        return data.tobytes()

    def mjpeg_board(self, size: str = "full") -> LatestFrame:
        """The MJPEG pictures of ``size`` (:data:`~.feed.SIZES`): as they are, or a tile's."""
        return self.tile_board if size == "tile" else self.board

    def view_feed(self, size: str = "full") -> Feed | None:
        """The h264 view's shared encoder of ``size`` (:data:`~.feed.SIZES`; made on first
        use: a tile's scales pictures to ``tile_width``), or None when ``view: mjpeg`` or
        it has failed."""
        if self.view != "h264":
            return None
        with self._feed_lock:
            feed = self.feeds.get(size)
            if feed is None and self._viewing:
                feed = self.feeds[size] = Feed(self._fps, self.bitrate,
                                               max_width=self.tile_width if size == "tile" else None)
        return None if feed is None or feed.closed else feed

    def view_joined(self, viewer) -> None:
        """A viewer of the h264 view arrived.  Its cursor asks for a keyframe when the
        feed has no recent one; before anything is encoded, the newest picture is encoded
        at once (the first picture is a keyframe), so a paused run shows something."""
        self._viewers.append(viewer)
        feed = viewer.feed
        held = self._held
        if held is not None and feed.seq == 0:
            feed.submit(*held)

    def view_left(self, viewer) -> None:
        if viewer in self._viewers:
            self._viewers.remove(viewer)

    def view_stats(self) -> dict:
        """The h264 view's numbers for ``/stats``: the full-size encoder's counters and its
        viewers' at the top, the tiles' encoder's under ``tile`` (each: the size and bitrate
        it encodes at, None until it has encoded a picture)."""
        body = {"mode": self.view, "bitrate": self.bitrate}
        for size in SIZES:
            feed = self.feeds.get(size)
            part = {"viewers": 0, "max_width": self.tile_width if size == "tile" else None,
                    "width": None, "height": None, "encoded": 0, "clients": []}
            if feed is not None:
                part.update(feed.numbers())
                part["clients"] = [{"sent": v.cursor.sent, "skipped": v.cursor.skipped, "falls": v.cursor.falls}
                                   for v in list(self._viewers) if v.feed is feed]
            if size == "full":
                body.update(part)
            else:
                body[size] = part
        return body

    def encoded_sizes(self) -> dict:
        """Per size (:data:`~.feed.SIZES`), what the h264 view and MJPEG encode for
        ``GET /streams``: viewers, pictures encoded, and the h264 pictures' size."""
        view = self.view_stats()
        summary = {}
        for size, part, board in (("full", view, self.board), ("tile", view["tile"], self.tile_board)):
            summary[size] = {"viewers": part["viewers"], "encoded": part["encoded"], "width": part["width"],
                             "height": part["height"], "mjpeg_viewers": board.viewers,
                             "mjpeg_encoded": board.encoded}
        return summary

    def web_file(self, name: str) -> bytes:
        """A file of the page, from the package data (``pipeline/web``), read once."""
        if name not in self._files:
            try:
                self._files[name] = resources.files("pipeline").joinpath("web", name).read_bytes()
            except OSError as error:
                raise SinkError(f"http sink: the page's file pipeline/web/{name} is missing "
                                f"({error.strerror or error}); reinstall edgepipe") from error
        return self._files[name]

    @property
    def last_frame(self) -> dict | None:
        """``{"index", "width", "height"}`` of the newest frame written, None before it."""
        last = self._last
        if last is None:
            return None
        return {"index": last[0], "width": last[1][1], "height": last[1][0]}

    def frame_ages(self) -> dict:
        """``{"p50": ms, "p95": ms}`` of the recent frames' age at this sink (capture to
        sink, :data:`AGE_WINDOW` frames), None before the first."""
        ages = list(self._ages)
        if not ages:
            return {"p50": None, "p95": None}
        p50, p95 = np.percentile(ages, [50, 95]) * 1e3
        return {"p50": round(float(p50), 2), "p95": round(float(p95), 2)}

    def _sample(self, frame) -> None:
        live = self.controls.snapshot()  # open() always sets the controls
        sample = {
            "t": round(self.now(), 3),
            "threshold": jsonable(frame.side.get("threshold", live.threshold)),
            "objective": _objective(live),
            "fps": jsonable(live.fps),
        }
        pair = frame.side.get("canny")
        if pair is not None:  # a canny stage's pair, charted as two more lines
            sample.update(low=jsonable(pair["low"]), high=jsonable(pair["high"]))
        self.history.add(sample)

    def stats(self, since: float | None = None) -> dict:
        """What ``GET /stats`` answers: the live stats, the newest frame, the stream.

        Every field of :class:`~pipeline.controls.LiveStats` is passed through
        (fields added later appear on their own), ``tuner`` among them (each target's
        last step); ``objective`` is the tuner's latest (see :func:`_objective`), or None.
        """
        controls = self.controls or Controls()
        live = controls.snapshot()
        body = jsonable(live)
        last = self._last
        frame = {"index": None}
        side = {}
        if last is not None:
            index, shape, side = last
            frame = {"index": index, "width": shape[1], "height": shape[0]}
            for key, value in side.items():
                value = jsonable(value)
                if value is not NOT_JSON and key not in frame:
                    frame[key] = value
        body.update({
            "objective": _objective(live),
            "threshold_manual": single(controls.tuned.manual(THRESHOLD_TARGET)),
            "tuned_threshold": single(controls.tuned.tuned(THRESHOLD_TARGET)),
            "stopped": controls.stopped,
            "frame": frame,
            "stream": {"viewers": self.board.viewers, "encoded": self.board.encoded,
                       "quality": self.quality, "max_fps": self.max_fps,
                       "tile": {"viewers": self.tile_board.viewers, "encoded": self.tile_board.encoded,
                                "max_width": self.tile_width}},
            "view": self.view_stats(),
            "frame_age_ms": self.frame_ages(),
            "time": round(self.now(), 3),
            "clock_ms": round(time.time() * 1000.0, 1),  # the page's clock offset (view.js)
        })
        if getattr(self, "report", None) is not None:  # a stream's channel (.streams): its health
            body.update(source_health(self))
        if since is not None:
            body["history"] = self.history.since(since)
        return body


def _objective(live: LiveStats) -> float | None:
    """The tuner's latest objective value, or None while no tuner has reported one.

    Read from the one place a tuner publishes its steps, ``live.tuner`` (the controls'
    snapshot): the threshold's step, else the first target's.
    """
    steps = live.tuner
    if not steps:
        return None
    step = steps.get(THRESHOLD_TARGET) or next(iter(steps.values()))
    value = jsonable(step.get("objective"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
