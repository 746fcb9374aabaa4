"""The http view's server: connections (their cap and deadlines) and the request handler.

:class:`Server` is a :class:`~http.server.ThreadingHTTPServer` that tracks every
connection, so a flood cannot exhaust threads and :meth:`Server.close_connections` ends
every stream at once.  :class:`Handler` routes each request (after the ``Host`` and
token checks of :mod:`.auth`) to the page's files, the MJPEG stream, ``/stats`` or
``POST /control`` (:mod:`.control`).
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline.io.sinks.http.auth import host_allowed, offered_token
from pipeline.io.sinks.http.control import ControlError, apply_control, read_control
from pipeline.io.sinks.http.streams import RouteError
from pipeline.io.sinks.http.view import asked_size, serve_view
from pipeline.redact import redact_text

log = logging.getLogger(__name__)

#: Seconds a connection may block on one send or sit idle between requests.
CLIENT_TIMEOUT = 10.0

#: Seconds a viewer waits for a new picture before looking whether the sink closes.
VIEWER_POLL = 0.5

#: The multipart boundary of ``/stream.mjpg``.
BOUNDARY = "edgepipe-frame"

#: The page's files (package data in ``pipeline/web``), by URL path.
WEB_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/view.js": ("view.js", "text/javascript; charset=utf-8"),
    "/grid.js": ("grid.js", "text/javascript; charset=utf-8"),
    "/grid.css": ("grid.css", "text/css; charset=utf-8"),
}

#: ``/`` of a several-stream run: the grid (:mod:`.streams`); a stream's own page is
#: ``/streams/NAME/``, the single page.
GRID_PAGE = ("grid.html", "text/html; charset=utf-8")

#: Every file of the pages, checked before the run starts.
WEB_FILE_NAMES = ("index.html", "app.js", "view.js", "style.css", "grid.html", "grid.js", "grid.css")


class Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its sink and every open connection.

    Each connection's thread is a daemon (a stuck one never blocks the interpreter's
    exit) and is tracked here, so :meth:`close_connections` can shut all sockets down
    (a blocked send fails at once) and :meth:`join_threads` can wait for them.
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the listen backlog: a burst waits here instead of in SYN retries

    def __init__(self, family: int, address: tuple, sink):  # sink: the HttpSink it serves
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
        super().__init__(address, Handler)

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


class Handler(BaseHTTPRequestHandler):
    """One connection: the page, the stream, the stats and the controls."""

    protocol_version = "HTTP/1.1"
    server_version = "edgepipe"
    timeout = CLIENT_TIMEOUT
    server: Server
    _set_cookie: str | None = None  # per request, by _authorized()
    #: What a request is about, by _route(): the server's sink, or in a several-stream
    #: run the channel of the stream it names (``/streams/NAME/...``).
    target = None

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
        """Whether the request carries the sink's token (always, when it has none)."""
        sink = self.server.sink
        if sink.access_token is None:
            self._set_cookie = None
            return True
        ok, self._set_cookie = offered_token(self.path, self.headers, sink.cookie_name, sink.access_token)
        return ok

    def _route(self) -> str | None:
        path = urlsplit(self.path).path
        if not host_allowed(self.server.sink.loopback, self.headers.get("Host")):
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
        sink = self.server.sink
        self.target = sink
        if sink.several is not None:
            try:
                self.target, path = sink.several.route(path)
            except RouteError as error:
                self._refuse(error.status, error.message)
                return None
        return path

    @property
    def grid(self) -> bool:
        """Whether this request is about the whole of a several-stream run."""
        return self.server.sink.several is not None and self.target is self.server.sink

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
        streams = {"/stream.mjpg": self._serve_stream, "/view.ws": lambda: serve_view(self),
                   "/stats": self._serve_stats}
        if path in WEB_FILES:
            self._serve_file(path)
        elif path == "/streams" and self.grid:
            self._send_json(HTTPStatus.OK, self.server.sink.several.listing())
        elif path in streams:
            streams[path]()
        elif path == "/control":
            self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "use POST /control with a JSON body",
                         {"Allow": "POST"})
        else:
            self._refuse(HTTPStatus.NOT_FOUND, f"no such page {path!r}; try /, /stream.mjpg, "
                                               f"/view.ws, /stats, /streams (several streams) or POST /control")

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
        name, content_type = GRID_PAGE if self.grid and path in ("/", "/index.html") else WEB_FILES[path]
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
        self._send_json(HTTPStatus.OK, self.target.stats(since))

    def _serve_control(self) -> None:
        sink = self.server.sink
        try:
            changes = read_control(self.headers, self.rfile)
            if sink.several is not None:  # by name, or add and remove streams
                answer = sink.several.control(changes, None if self.grid else self.target)
            else:
                apply_control(sink.controls, changes)
                answer = sink.stats()
        except ControlError as error:
            if error.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
                self.close_connection = True  # the unread body would be taken as a request
            log.debug("http sink: refused control: %s", error.message)
            self._send_json(error.status, error.to_json())
            return
        self._send_json(HTTPStatus.OK, answer)

    def _serve_stream(self) -> None:
        size = asked_size(self)  # ?size=tile: pictures scaled to the sink's tile_width
        if size is None:
            return
        board = self.target.mjpeg_board(size)
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
                seq, index, jpeg, capture_ms = newest
                head = (f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                        f"X-Frame-Index: {index}\r\nX-Capture-Time: {capture_ms:.3f}\r\n\r\n").encode("ascii")
                # The closing boundary goes right after the picture, so a browser shows
                # it at once instead of waiting for the next part to begin.
                self.wfile.write(head + jpeg + f"\r\n--{BOUNDARY}\r\n".encode("ascii"))
        except OSError as error:  # the viewer left, stalled past the timeout, or we closed
            log.debug("http sink: viewer %s gone (%s)", self.address_string(), error)
        finally:
            board.remove_viewer()
