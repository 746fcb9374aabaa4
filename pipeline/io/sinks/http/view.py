"""``GET /view.ws``: the encoded view over a WebSocket, one viewer per connection.

Why a WebSocket rather than a streamed ``fetch`` of length-prefixed chunks: the page
talks back on the same connection.  It acknowledges each chunk it has decoded, so the
server keeps at most a few chunks in flight per viewer (:class:`.feed.Cursor`) and a
slow viewer skips to the next keyframe instead of lagging behind whatever the socket
buffers hold (on loopback, seconds of video); and it sends pings that the server
answers with its clock, from which the page learns the offset between its clock and
the capture times the chunks carry.  The handshake is an ordinary GET, so the token
rules of :mod:`.auth` apply as to every route (the page's cookie travels with it), and
a browser's ``Origin`` must be this server (:func:`.websocket.same_origin`).

``?size=tile`` asks for the pictures scaled down to a grid tile (the sink's ``tile_width``,
a feed and an encoder of its own); the default, ``?size=full``, for them as they are.

Messages from the server: a text JSON ``{"type": "config", "codec": "avc1.42c01f",
"width": W, "height": H}`` before the first keyframe and whenever these change, binary
chunks (:class:`.feed.Chunk`), and ``{"type": "pong", "ping": T, "server": MS}``.
From the page: ``{"ack": SEQ}``, ``{"ping": T}``, ``{"keyframe": true}`` (after a
decoding error).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from pipeline.io.sinks.http.feed import SIZES, Cursor
from pipeline.io.sinks.http.websocket import (OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, ProtocolError,
                                              accept_key, close_frame, frame, handshake_error, read_frame,
                                              same_origin)

log = logging.getLogger(__name__)

#: Seconds a viewer's thread waits for a chunk before looking whether the sink closes.
POLL = 0.5


class Viewer:
    """One connection's state: its cursor in the feed and a lock for its writes."""

    def __init__(self, handler, feed):
        self.handler = handler
        self.feed = feed
        self.cursor = Cursor()
        self.gone = threading.Event()
        self._write_lock = threading.Lock()
        self.config: tuple | None = None

    def send(self, data: bytes) -> None:
        with self._write_lock:
            self.handler.wfile.write(data)

    def read_messages(self) -> None:
        """The reader thread: acks, pings and keyframe requests until the page leaves."""
        feed = self.feed
        try:
            while not self.gone.is_set() and self._frame(*read_frame(self.handler.rfile.read)):
                pass
        except ProtocolError as error:
            log.debug("http sink: viewer broke the protocol: %s", error)
            try:
                self.send(close_frame(error.code, str(error)))
            except OSError:
                pass
        except (OSError, EOFError, ValueError) as error:
            log.debug("http sink: viewer gone (%s)", error)
        finally:
            self.gone.set()
            with feed.cond:
                feed.cond.notify_all()

    def _frame(self, opcode: int, payload: bytes) -> bool:
        """Answer one frame from the page; False once it closes."""
        if opcode == OP_CLOSE:
            self.send(close_frame(1000))
            return False
        if opcode == OP_PING:
            self.send(frame(OP_PONG, payload))
        elif opcode == OP_TEXT:
            self._message(payload)
        elif opcode != OP_PONG:
            raise ProtocolError(f"opcode {opcode} is not expected from the page", 1003)
        return True

    def _message(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
        except ValueError as error:
            raise ProtocolError(f"messages are JSON objects ({error})", 1007) from None
        if not isinstance(message, dict):
            raise ProtocolError("messages are JSON objects", 1007)
        if isinstance(message.get("ack"), int):
            with self.feed.cond:
                self.cursor.ack(message["ack"])
                self.feed.cond.notify_all()
        if "ping" in message:
            answer = {"type": "pong", "ping": message["ping"], "server": time.time() * 1000.0}
            self.send(frame(OP_TEXT, json.dumps(answer).encode("utf-8")))
        if message.get("keyframe") is True:
            with self.feed.cond:
                # The page reset its decoder: the chunks in flight were dropped there and
                # will never be acknowledged, so they no longer hold the sender back.
                self.cursor.unacked.clear()
                self.cursor.need_key = True
                self.feed.cond.notify_all()
            self.feed.request_keyframe()

    def stream(self) -> None:
        """The sender (the connection's own thread): chunks as the cursor picks them."""
        feed, cursor = self.feed, self.cursor

        def ready() -> bool:
            return (feed.closed or self.gone.is_set()
                    or (feed.seq > cursor.last and len(cursor.unacked) < cursor.max_in_flight))

        while True:
            with feed.cond:
                feed.cond.wait_for(ready, POLL)
                if feed.closed or self.gone.is_set():
                    return
                chunk, ask = cursor.next(feed.chunks)
            if ask:
                feed.request_keyframe()
            if chunk is None:
                continue
            if chunk.key and chunk.codec and (chunk.codec, chunk.width, chunk.height) != self.config:
                self.config = (chunk.codec, chunk.width, chunk.height)
                config = {"type": "config", "codec": chunk.codec, "width": chunk.width, "height": chunk.height}
                self.send(frame(OP_TEXT, json.dumps(config).encode("utf-8")))
            self.send(frame(OP_BINARY, chunk.pack()))


def asked_size(handler) -> str | None:
    """The picture size a request asks for (``?size=full``, the default, or ``?size=tile``:
    scaled to the sink's ``tile_width``); None after refusing another value (400)."""
    asked = parse_qs(urlsplit(handler.path).query).get("size", ["full"])[-1]
    if asked in SIZES:
        return asked
    handler._refuse(HTTPStatus.BAD_REQUEST, f"size must be one of {', '.join(SIZES)}; got {asked!r}")
    return None


def serve_view(handler) -> None:
    """Upgrade ``handler``'s request (already past the Host and token checks) and stream
    the pictures at the size it asks for (:func:`asked_size`)."""
    sink = handler.target  # the server's sink, or the channel of the stream asked for
    size = asked_size(handler)
    if size is None:
        return
    problem = handshake_error(handler.headers)
    if problem is not None:
        handler._refuse(HTTPStatus.BAD_REQUEST, problem, {"Sec-WebSocket-Version": "13"})
        return
    if not same_origin(handler.headers):
        handler._refuse(HTTPStatus.FORBIDDEN, f"the view is for this server's own page; "
                                              f"Origin {handler.headers.get('Origin')!r} is another site")
        return
    feed = sink.view_feed(size)
    if feed is None:
        handler._refuse(HTTPStatus.SERVICE_UNAVAILABLE,
                        "the encoded view is off or stopped (view: mjpeg, or its encoder failed); "
                        "watch /stream.mjpg", {"Retry-After": "5"})
        return
    viewer = Viewer(handler, feed)
    with feed.cond:
        feed.viewers += 1  # before the answer: the sink encodes the next picture for it
    handler._start_response(HTTPStatus.SWITCHING_PROTOCOLS)
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept_key(handler.headers["Sec-WebSocket-Key"].strip()))
    handler.close_connection = True
    reader = threading.Thread(target=viewer.read_messages, name="edgepipe-http-view-reader", daemon=True)
    try:
        handler.end_headers()
        sink.view_joined(viewer)
        reader.start()
        viewer.stream()
        if feed.closed and not viewer.gone.is_set():
            viewer.send(close_frame(1001, "the run ended"))
    except OSError as error:  # the viewer left, stalled past the timeout, or we closed
        log.debug("http sink: viewer %s gone (%s)", handler.address_string(), error)
    finally:
        viewer.gone.set()
        with feed.cond:
            feed.viewers -= 1
        sink.view_left(viewer)
        try:
            handler.connection.shutdown(2)  # ends the reader's read
        except OSError:
            pass
        if reader.is_alive():
            reader.join(5.0)
