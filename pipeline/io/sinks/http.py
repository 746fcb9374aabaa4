"""The ``http`` sink: the live picture, its numbers and its controls in a browser.

For boxes without a screen::

    sinks:
      - http: {host: 127.0.0.1, port: 8080, quality: 80, max_fps: 30}

================  ========================================================================
``GET /``         one small page (``pipeline/web``: plain HTML, CSS and JavaScript, no
                  build step): the stream, fps, latency p95, drops, threshold, a chart of
                  the tuner's objective and threshold over the last minute, a threshold
                  slider, low and high sliders for a canny stage (each with auto), a
                  tuner switch and a pause button
``GET /stream.mjpg``  the newest picture as MJPEG (``multipart/x-mixed-replace``)
``GET /stats``    the live stats as JSON; ``/stats?since=T`` adds the samples taken after
                  ``T`` (seconds on the sink's clock, ``time`` in every answer)
``POST /control`` JSON ``{"threshold": 0..255 or null, "tuner": bool, "pause": bool,
                  "canny": {"low": 0..255 or null, "high": ...} or null}`` (canny: the
                  values named; null both automatic),
                  any subset; anything wrong is a 400 naming the key, and nothing changes
================  ========================================================================

One picture, many viewers.  :meth:`HttpSink.write` encodes the frame to JPEG once (at
most ``max_fps`` times a second, and only while someone watches) and publishes it in a
:class:`LatestFrame` under a new sequence number.  Each viewer's thread waits on its
condition for a number newer than the one it sent last and sends the newest picture:
nothing is queued, so a slow viewer skips pictures and never holds up the pipeline or
the other viewers.  Every connection has a socket timeout (:data:`CLIENT_TIMEOUT`), so
a viewer that stops reading frees its thread; :meth:`HttpSink.close` shuts every
connection down at once and joins the threads.

Why :class:`http.server.ThreadingHTTPServer`: it is in the standard library (no
dependency for a feature many installs never use), a thread per connection is exactly
the model of "each viewer at its own pace", and a handful of viewers on a headless box
is far below where an asynchronous server would pay off.  The heavy work (the JPEG
encode) happens once per picture in the sink's thread, not per viewer.

Security: the sink binds ``127.0.0.1`` unless the config names another address.

* Bound to anything but loopback, every route needs a token, as Jupyter does: the
  config's ``token``, else one generated per run (:func:`secrets.token_urlsafe`), logged
  once as ``http://HOST:PORT/?token=...``.  A request carries it as the ``token`` query
  parameter (the answer then sets an HttpOnly, SameSite=Strict cookie, so the page's own
  requests carry it), as that cookie, or as ``Authorization: Bearer TOKEN`` (scripts).
  Without a valid one every route answers 401 with only an error message: nothing of
  the stream, the stats or the controls.  Tokens are compared in constant time
  (:func:`hmac.compare_digest`).  On loopback no token is needed unless one is configured.
* While bound to a loopback address, requests must name a loopback host
  (``Host: localhost:8080``, ``127.0.0.1``, ``[::1]``), which stops DNS-rebinding pages.
* Nothing a client does before its token is checked can hold resources for long: a
  request's line and headers must arrive complete within ``request_timeout`` seconds
  of its start, whatever the pace (one header line every few seconds does not keep a
  connection open), and at most ``max_connections`` connections are served at once.  A
  connection beyond the cap takes the place of the oldest one still waiting for its
  request, else it is closed at once, so a flood can neither exhaust threads and file
  descriptors nor lock out a viewer already watching.
* ``POST /control`` needs ``Content-Type: application/json``, which a cross-site form
  cannot send without a CORS preflight that this server never grants; its body is at
  most :data:`MAX_CONTROL_BYTES` and nested at most :data:`MAX_CONTROL_DEPTH` deep.
"""

from __future__ import annotations

import collections
import errno
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import socketserver
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from pipeline.io.base import Sink, SinkError, check_uint8
from pipeline.io.sinks.http_control import (  # noqa: F401  (part of this module's API)
    CONTROL_KEYS,
    MAX_CONTROL_BYTES,
    MAX_CONTROL_DEPTH,
    ControlError,
    apply_control,
    nesting_depth,
    parse_control,
)
from pipeline.io.sinks.stats import NOT_JSON, jsonable
from pipeline.redact import redact_text
from pipeline.config.registry import Param, ParamError, register
from pipeline.controls import Controls, LiveStats
from pipeline.tuned import THRESHOLD_TARGET, single

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"

#: Seconds a connection may block on one send or sit idle between requests.
CLIENT_TIMEOUT = 10.0

#: Connections served at once by default (each has a thread); see ``max_connections``.
MAX_CONNECTIONS = 64

#: Seconds a request's line and headers may take in all, by default (``request_timeout``).
REQUEST_TIMEOUT = 10.0

#: Seconds a viewer waits for a new picture before looking whether the sink closes.
VIEWER_POLL = 0.5

#: Seconds :meth:`HttpSink.close` waits for the server's threads.
JOIN_TIMEOUT = 5.0

#: The multipart boundary of ``/stream.mjpg``.
BOUNDARY = "edgepipe-frame"

#: How much of the run ``/stats?since=`` can return, and how often it is sampled.
HISTORY_SECONDS = 60.0
HISTORY_EVERY = 0.2

#: What a configured token may be made of (it travels in URLs and cookies), and its length.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{16,256}")

#: The environment variable a token may come from instead of the config (not in ``ps``).
TOKEN_VARIABLE = "EDGEPIPE_TOKEN"

TOKEN_RULE = ("16 to 256 characters of A-Z a-z 0-9 . _ ~ - (it goes in URLs and cookies); e.g. "
              "the output of python -c \"import secrets; print(secrets.token_urlsafe(24))\"")

#: The page's files (package data in ``pipeline/web``), by URL path.
WEB_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}

#: Host names a loopback-bound server answers to (DNS-rebinding guard).
LOOPBACK_HOST_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class LatestFrame:
    """The newest JPEG, shared by every viewer: published once, never queued.

    The producer (the sink's thread) either publishes an encoded picture or, while no
    one watches, only holds the raw image back; the first viewer to arrive has that one
    encoded for everyone (:meth:`encode_held`).  Viewers call :meth:`wait_newer` with the
    sequence number they sent last and get the newest picture, skipping any they missed.

    Parameters
    ----------
    encode : callable
        ``image -> bytes`` (the sink's JPEG encoder).
    """

    def __init__(self, encode):
        self._encode = encode
        self._cond = threading.Condition()
        self._encode_lock = threading.Lock()
        self._seq = 0
        self._jpeg = b""
        self._index = -1
        self._held: tuple[int, np.ndarray] | None = None
        self._closed = False
        self.viewers = 0
        self.encoded = 0

    def __repr__(self) -> str:
        return f"LatestFrame(seq={self._seq}, index={self._index}, viewers={self.viewers})"

    @property
    def closed(self) -> bool:
        """True after :meth:`close`: viewers end their streams."""
        return self._closed

    def publish(self, index: int, image: np.ndarray) -> None:
        """Encode ``image`` (frame ``index``) and make it the newest picture."""
        with self._encode_lock:
            jpeg = self._encode(image)
            with self._cond:
                self._held = None
                self._set(index, jpeg)

    def hold(self, index: int, image: np.ndarray) -> None:
        """Keep ``image`` without encoding it (no one is watching)."""
        with self._cond:
            self._held = (index, image)

    def encode_held(self) -> None:
        """Encode the held image, if any, and publish it (a viewer has arrived)."""
        with self._encode_lock:
            with self._cond:
                held, self._held = self._held, None
            if held is not None:
                jpeg = self._encode(held[1])
                with self._cond:
                    self._set(held[0], jpeg)

    def _set(self, index: int, jpeg: bytes) -> None:
        self._seq += 1
        self._index = index
        self._jpeg = jpeg
        self.encoded += 1
        self._cond.notify_all()

    def wait_newer(self, seq: int, timeout: float) -> tuple[int, int, bytes] | None:
        """The newest picture once its seq is above ``seq``; None on timeout or close."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self._closed, timeout)
            if self._closed or self._seq <= seq:
                return None
            return self._seq, self._index, self._jpeg

    def add_viewer(self) -> None:
        with self._cond:
            self.viewers += 1

    def remove_viewer(self) -> None:
        with self._cond:
            self.viewers -= 1

    def close(self) -> None:
        """Wake every viewer; they end their streams."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class History:
    """Samples of threshold, objective and fps over the last :data:`HISTORY_SECONDS`."""

    def __init__(self, seconds: float = HISTORY_SECONDS):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._samples: collections.deque = collections.deque()

    def add(self, sample: dict) -> None:
        """Append ``sample`` (with a ``t`` in seconds) and forget those older than a minute."""
        with self._lock:
            self._samples.append(sample)
            while self._samples and self._samples[0]["t"] < sample["t"] - self.seconds:
                self._samples.popleft()

    def since(self, t: float) -> list[dict]:
        """The samples taken after ``t``, oldest first."""
        with self._lock:
            return [s for s in self._samples if s["t"] > t]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return host.lower() in LOOPBACK_HOST_NAMES


def _host_name(header: str) -> str:
    """The name in a ``Host`` header, without the port: ``[::1]:80`` -> ``::1``."""
    header = header.strip()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header[1:]
    return header.rsplit(":", 1)[0] if ":" in header else header


def _host_for_url(host: str) -> str:
    """``host`` as it goes in a URL: wildcards as loopback, IPv6 in brackets."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _address(host: str, port: int) -> tuple[int, tuple]:
    """``(family, sockaddr)`` to bind ``host:port``; SinkError if the name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise SinkError(f"http sink: cannot bind {host}:{port}: the host does not resolve "
                        f"({error.strerror}); use an address of this machine, e.g. 127.0.0.1") from error
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _bind_error(host: str, port: int, error: OSError) -> SinkError:
    if error.errno == errno.EADDRINUSE:
        return SinkError(f"http sink: {host}:{port} is already in use; choose another port "
                         f"(e.g. port: {port + 1 if port < 65535 else 8080}) or port: 0 to pick a free one")
    if error.errno == errno.EACCES:
        return SinkError(f"http sink: no permission to bind {host}:{port} (ports below 1024 need "
                         f"privileges); choose a port above 1023 or port: 0")
    if error.errno == errno.EADDRNOTAVAIL:
        return SinkError(f"http sink: {host} is not an address of this machine; use 127.0.0.1 "
                         f"(this machine only) or 0.0.0.0 (every interface)")
    return SinkError(f"http sink: cannot bind {host}:{port} ({error.strerror or error})")


class _Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its sink and every open connection.

    Each connection's thread is a daemon (a stuck one never blocks the interpreter's
    exit) and is tracked here, so :meth:`close_connections` can shut all sockets down
    (a blocked send fails at once) and :meth:`join_threads` can wait for them.
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the listen backlog: a burst waits here instead of in SYN retries

    def __init__(self, family: int, address: tuple, sink: "HttpSink"):
        self.address_family = family
        self.sink = sink
        self.max_connections = int(sink.max_connections)
        self.request_timeout = float(sink.request_timeout)
        self._tracked_lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._waiting: dict[socket.socket, float] = {}  # no complete request yet: deadline
        self._dropped: set[socket.socket] = set()  # shut down, their threads ending
        self.refused = 0  # connections closed at once: the cap was reached
        self.evicted = 0  # waiting connections closed to make room for a new one
        self.timed_out = 0  # connections whose request did not arrive in time
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up with getfqdn (a DNS query); not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address) -> None:
        with self._tracked_lock:
            if len(self._connections) - len(self._dropped) >= self.max_connections:
                victim = min(self._waiting, key=self._waiting.get, default=None)
                if victim is None or len(self._connections) >= 2 * self.max_connections:
                    # Every slot serves a complete request, or as many closed connections
                    # are still ending their threads: refuse this one.
                    self.refused += 1
                    log.debug("http sink: %d connections already; refused %s",
                              self.max_connections, client_address)
                    self.shutdown_request(request)
                    return
                self.evicted += 1
                self._drop(victim)
            thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                      name="edgepipe-http-client", daemon=True)
            self._connections[request] = thread
            self._waiting[request] = time.monotonic() + self.request_timeout
        thread.start()

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._tracked_lock:
                self._connections.pop(request, None)
                self._waiting.pop(request, None)
                self._dropped.discard(request)

    def _drop(self, sock: socket.socket) -> None:
        """Shut ``sock`` down (its thread's read ends at once); caller holds the lock."""
        self._waiting.pop(sock, None)
        self._dropped.add(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def request_started(self, sock: socket.socket) -> None:
        """``sock``'s connection waits for a request: it has ``request_timeout`` seconds."""
        with self._tracked_lock:
            if sock in self._connections and sock not in self._dropped:
                self._waiting[sock] = time.monotonic() + self.request_timeout

    def request_read(self, sock: socket.socket) -> None:
        """``sock``'s request line and headers are in: no deadline while it is served."""
        with self._tracked_lock:
            self._waiting.pop(sock, None)

    def service_actions(self) -> None:
        """Close the connections whose request is overdue (``serve_forever`` calls this
        every ``poll_interval``)."""
        now = time.monotonic()
        with self._tracked_lock:
            overdue = [sock for sock, deadline in self._waiting.items() if deadline <= now]
            for sock in overdue:
                self.timed_out += 1
                self._drop(sock)
        if overdue:
            log.debug("http sink: closed %d connection(s) whose request took over %.1f s",
                      len(overdue), self.request_timeout)

    @property
    def connections(self) -> int:
        """Connections with a thread now, those shut down and ending included
        (at most twice ``max_connections``)."""
        with self._tracked_lock:
            return len(self._connections)

    @property
    def serving(self) -> int:
        """Connections served now (at most ``max_connections``)."""
        with self._tracked_lock:
            return len(self._connections) - len(self._dropped)

    def handle_error(self, request, client_address) -> None:
        log.debug("http sink: error while serving %s", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Shut down every open connection (ends streams, frees blocked sends)."""
        with self._tracked_lock:
            sockets = list(self._connections)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_threads(self, deadline: float) -> int:
        """Wait for the connection threads until ``deadline``; return how many are left."""
        with self._tracked_lock:
            threads = list(self._connections.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in threads)


class _Handler(BaseHTTPRequestHandler):
    """One connection: the page, the stream, the stats and the controls."""

    protocol_version = "HTTP/1.1"
    server_version = "edgepipe"
    timeout = CLIENT_TIMEOUT
    server: _Server
    _set_cookie: str | None = None  # per request, by _authorized()

    def log_message(self, format: str, *args) -> None:  # noqa: A002  (the base's name)
        log.debug("http sink: %s %s", self.address_string(), redact_text(format % args))

    def handle_one_request(self) -> None:
        self.server.request_started(self.connection)  # the deadline for the whole request
        super().handle_one_request()

    def parse_request(self) -> bool:
        ok = super().parse_request()  # the request line and every header are read here
        self.server.request_read(self.connection)
        return ok

    # ---------------------------------------------------------------- answers
    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self._start_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, data: Any, extra: dict | None = None) -> None:
        body = json.dumps(data, separators=(",", ":")).encode("utf-8")
        self._send(status, body, "application/json", extra)

    def _refuse(self, status: int, message: str, extra: dict | None = None) -> None:
        self._send_json(status, {"error": message}, extra)

    def _start_response(self, status: int) -> None:
        """The status line, plus the token cookie when the request brought the token in its URL."""
        self.send_response(status)
        if self._set_cookie is not None:
            self.send_header("Set-Cookie", self._set_cookie)

    def _authorized(self) -> bool:
        """Whether the request carries the sink's token (always, when it has none).

        Looked for in the ``token`` query parameter (then a cookie is set for the page's
        own requests), the cookie, and ``Authorization: Bearer``; compared in constant time.
        """
        self._set_cookie = None
        token = self.server.sink.access_token
        if token is None:
            return True
        expected = token.encode("utf-8")
        query = parse_qs(urlsplit(self.path).query).get("token", [])
        if query and hmac.compare_digest(query[0].encode("utf-8"), expected):
            self._set_cookie = (f"{self.server.sink.cookie_name}={token}; Path=/; HttpOnly; "
                                f"SameSite=Strict")
            return True
        for offered in (self._cookie_token(), self._bearer_token()):
            if offered is not None and hmac.compare_digest(offered.encode("utf-8"), expected):
                return True
        return False

    def _cookie_token(self) -> str | None:
        cookies = SimpleCookie()
        try:
            cookies.load(self.headers.get("Cookie", ""))
        except CookieError:
            return None
        morsel = cookies.get(self.server.sink.cookie_name)
        return None if morsel is None else morsel.value

    def _bearer_token(self) -> str | None:
        scheme, _, value = self.headers.get("Authorization", "").strip().partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def _host_allowed(self) -> bool:
        """While bound to loopback, only loopback host names (DNS-rebinding guard)."""
        if not self.server.sink.loopback:
            return True
        host = self.headers.get("Host")
        return host is None or _is_loopback(_host_name(host))  # no Host: HTTP/1.0, not a browser

    def _route(self) -> str | None:
        path = urlsplit(self.path).path
        if not self._host_allowed():
            self._refuse(HTTPStatus.FORBIDDEN, f"this server answers to localhost, 127.0.0.1 "
                                               f"or [::1] only; got Host {self.headers.get('Host')!r}")
            return None
        if not self._authorized():
            self.close_connection = True  # a POST's unread body must not be taken as a request
            self._refuse(HTTPStatus.UNAUTHORIZED,
                         "this view needs its token: open the address with ?token=... that the "
                         "run logged, or send the header Authorization: Bearer TOKEN",
                         {"WWW-Authenticate": 'Bearer realm="edgepipe"'})
            return None
        return path

    # ---------------------------------------------------------------- methods
    def do_HEAD(self) -> None:  # noqa: N802  (http.server's naming)
        path = self._route()
        if path is not None and path in WEB_FILES:
            self._serve_file(path)
        elif path is not None:
            self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "HEAD is served for the page's files only",
                         {"Allow": "GET"})

    def do_GET(self) -> None:  # noqa: N802
        path = self._route()
        if path is None:
            return
        if path in WEB_FILES:
            self._serve_file(path)
        elif path == "/stream.mjpg":
            self._serve_stream()
        elif path == "/stats":
            self._serve_stats()
        elif path == "/control":
            self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "use POST /control with a JSON body",
                         {"Allow": "POST"})
        else:
            self._refuse(HTTPStatus.NOT_FOUND, f"no such page {path!r}; try /, /stream.mjpg, "
                                               f"/stats or POST /control")

    def do_POST(self) -> None:  # noqa: N802
        path = self._route()
        if path is None:
            return
        if path != "/control":
            allow = "GET, HEAD" if path in WEB_FILES else "GET"
            self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, f"POST is for /control only; got {path!r}",
                         {"Allow": allow})
            return
        self._serve_control()

    # ---------------------------------------------------------------- endpoints
    def _serve_file(self, path: str) -> None:
        name, content_type = WEB_FILES[path]
        self._send(HTTPStatus.OK, self.server.sink.web_file(name), content_type)

    def _serve_stats(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        since = None
        if "since" in query:
            try:
                since = float(query["since"][0])
            except ValueError:
                self._send_json(HTTPStatus.BAD_REQUEST, {
                    "error": f"since must be a number of seconds; got {query['since'][0]!r}",
                    "key": "since", "allowed": "a number (the time of the last sample seen)"})
                return
        self._send_json(HTTPStatus.OK, self.server.sink.stats(since))

    def _serve_control(self) -> None:
        sink = self.server.sink
        length = self.headers.get("Content-Length")
        try:
            if length is None or not length.isdigit():
                raise ControlError(None, "a Content-Length header is needed (a JSON body)")
            if int(length) > MAX_CONTROL_BYTES:
                self.close_connection = True  # the unread body would be taken as a request
                raise ControlError(None, f"the body is {length} bytes; at most {MAX_CONTROL_BYTES}",
                                   HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            body = self.rfile.read(int(length))
            changes = parse_control(body, self.headers.get("Content-Type"))
        except ControlError as error:
            log.debug("http sink: refused control: %s", error.message)
            self._send_json(error.status, error.to_json())
            return
        apply_control(sink.controls, changes)
        self._send_json(HTTPStatus.OK, sink.stats())

    def _serve_stream(self) -> None:
        board = self.server.sink.board
        self._start_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        board.add_viewer()
        try:
            board.encode_held()
            self.wfile.write(f"--{BOUNDARY}\r\n".encode("ascii"))
            seq = 0
            while not board.closed:
                newest = board.wait_newer(seq, VIEWER_POLL)
                if newest is None:
                    continue
                seq, index, jpeg = newest
                head = (f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                        f"X-Frame-Index: {index}\r\n\r\n").encode("ascii")
                # The closing boundary goes right after the picture, so a browser shows
                # it at once instead of waiting for the next part to begin.
                self.wfile.write(head + jpeg + f"\r\n--{BOUNDARY}\r\n".encode("ascii"))
        except OSError as error:  # the viewer left, stalled past the timeout, or we closed
            log.debug("http sink: viewer %s gone (%s)", self.address_string(), error)
        finally:
            board.remove_viewer()


@register("sink", "http")
class HttpSink(Sink):
    """A browser view: live MJPEG stream, stats, threshold/tuner/pause controls over HTTP.

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
        self.history = History()
        self.port_bound: int | None = None
        self.frames_written = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._files: dict[str, bytes] = {}
        self._clock0 = time.monotonic()
        self._due = 0.0
        self._next_sample = 0.0
        self._last: tuple[int, tuple, dict] | None = None

    def validate(self) -> None:
        """The token (the config's, else ``$EDGEPIPE_TOKEN``) is usable: ParamError naming
        ``token`` otherwise, so ``validate`` refuses what ``run`` would."""
        self._token_from_env = None
        if self.token is not None:
            if not TOKEN_PATTERN.fullmatch(self.token):
                raise ParamError("token", f"token must be {TOKEN_RULE}, or leave it out "
                                          f"(got {len(self.token)} characters; not shown)")
            return
        offered = os.environ.get(TOKEN_VARIABLE)
        if offered:  # an empty variable counts as unset
            if not TOKEN_PATTERN.fullmatch(offered):
                raise ParamError("token", f"${TOKEN_VARIABLE} (used as no token is configured) must "
                                          f"be {TOKEN_RULE} (got {len(offered)} characters; not shown)")
            self._token_from_env = offered

    def __repr__(self) -> str:
        token = "" if self.access_token is None else ", token=<set>"  # never shown
        return (f"HttpSink(host={self.host!r}, port={self.port}, quality={self.quality}, "
                f"max_fps={self.max_fps}{token})")

    @property
    def loopback(self) -> bool:
        """True when bound to a loopback address only (this machine)."""
        return _is_loopback(self.host)

    @property
    def cookie_name(self) -> str:
        """The token's cookie, per port (cookies do not tell ports apart)."""
        return f"edgepipe_token_{self.port_bound}"

    @property
    def url(self) -> str | None:
        """The page's address once serving (``http://127.0.0.1:PORT/``), else None."""
        if self.port_bound is None:
            return None
        return f"http://{_host_for_url(self.host)}:{self.port_bound}/"

    @property
    def public_url(self) -> str | None:
        """:attr:`url` with the host others reach (this machine's name for 0.0.0.0 and ::)."""
        if self.port_bound is None:
            return None
        host = socket.gethostname() if self.host in ("", "0.0.0.0", "::") else _host_for_url(self.host)
        return f"http://{host}:{self.port_bound}/"

    def now(self) -> float:
        """Seconds on the sink's clock (``time`` in ``/stats``, ``t`` of the samples)."""
        return time.monotonic() - self._clock0

    # ---------------------------------------------------------------- lifecycle
    def check(self) -> None:
        """The address resolves and the port is free (tried at once); the token was
        checked with the settings (:meth:`validate`)."""
        family, sockaddr = _address(self.host, self.port)
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            try:
                probe.bind(sockaddr)
            except OSError as error:
                raise _bind_error(self.host, self.port, error) from error
        for name in ("index.html", "app.js", "style.css"):
            self.web_file(name)

    def open(self, first, fps, controls=None) -> None:
        """Start serving; frames shaped like ``first`` follow."""
        check_uint8(first, "http sink")
        self.controls = controls if controls is not None else Controls()
        family, sockaddr = _address(self.host, self.port)
        try:
            self._server = _Server(family, sockaddr, self)
        except OSError as error:
            raise _bind_error(self.host, self.port, error) from error
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
        now = time.monotonic()
        if now >= self._next_sample:
            self._next_sample = now + HISTORY_EVERY
            self._sample(frame)
        if self.board.viewers == 0:
            self.board.hold(frame.index, image)
            return
        interval = 1.0 / self.max_fps
        if now < self._due - 0.1 * interval:  # a little slack for jittery arrivals
            return
        self._due = max(self._due, now - interval) + interval
        self.board.publish(frame.index, image)

    def close(self) -> None:
        """End the streams, stop the server, join its threads; safe to call twice."""
        self.board.close()
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

    def web_file(self, name: str) -> bytes:
        """A file of the page, from the package data (``pipeline/web``), read once."""
        if name not in self._files:
            try:
                self._files[name] = resources.files("pipeline").joinpath("web", name).read_bytes()
            except OSError as error:
                raise SinkError(f"http sink: the page's file pipeline/web/{name} is missing "
                                f"({error.strerror or error}); reinstall edgepipe") from error
        return self._files[name]

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
                       "quality": self.quality, "max_fps": self.max_fps},
            "time": round(self.now(), 3),
        })
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
