"""The WebSocket protocol (RFC 6455), the part the encoded view needs: handshake and frames.

Standard library only, like the rest of the http sink.  The server sends unmasked
binary and text messages and reads the page's small text messages (masked, as RFC 6455
requires of clients), answering pings and closes.  Fragmented messages from the page
are refused (it never sends any: they are JSON of a few dozen bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from urllib.parse import urlsplit

from pipeline.io.sinks.http.auth import host_name

#: The constant RFC 6455 mixes into the accept key.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: The largest message the page may send (its acks and pings are tiny).
MAX_CLIENT_MESSAGE = 4096


class ProtocolError(Exception):
    """The peer broke RFC 6455 (or sent more than :data:`MAX_CLIENT_MESSAGE`); ``code`` is
    the close code to answer with."""

    def __init__(self, message: str, code: int = 1002):
        super().__init__(message)
        self.code = code


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for the client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def handshake_error(headers) -> str | None:
    """What is wrong with an upgrade request's headers, or None when it is a valid one."""
    if headers.get("Upgrade", "").strip().lower() != "websocket":
        return "this address is a WebSocket (Upgrade: websocket); the page opens it by itself"
    if "upgrade" not in [part.strip().lower() for part in headers.get("Connection", "").split(",")]:
        return "a WebSocket request needs Connection: Upgrade"
    if headers.get("Sec-WebSocket-Version", "").strip() != "13":
        return "only WebSocket version 13 is served (Sec-WebSocket-Version: 13)"
    key = headers.get("Sec-WebSocket-Key", "").strip()
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except (binascii.Error, ValueError):
        return "Sec-WebSocket-Key must be 16 bytes in base64"
    return None


def same_origin(headers) -> bool:
    """Whether a browser's ``Origin`` names the host the request went to.

    A WebSocket is not bound by the same-origin policy: without this check any web page
    could read the view from a browser on this machine.  No ``Origin`` is not a browser.
    """
    origin = headers.get("Origin")
    if origin is None:
        return True
    host = headers.get("Host")
    if host is None:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower() \
        and bool(host_name(parts.netloc))


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame from the server."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


def close_frame(code: int = 1000, reason: str = "") -> bytes:
    """A close frame with ``code`` and a short ``reason``."""
    return frame(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120])


def _exactly(read, count: int) -> bytes:
    data = read(count)
    if len(data) != count:
        raise EOFError("the connection closed in the middle of a frame")
    return data


def read_frame(read) -> tuple[int, bytes]:
    """``(opcode, payload)`` of the client's next frame; ``read(n)`` reads ``n`` bytes.

    Raises
    ------
    ProtocolError
        An unmasked, fragmented, reserved-bit or too large frame.
    EOFError
        The connection ended.
    """
    first, second = _exactly(read, 2)
    if first & 0x70:
        raise ProtocolError("reserved bits set (no extension was agreed)")
    if not first & 0x80 or first & 0x0F == OP_CONTINUATION:
        raise ProtocolError("fragmented messages are not accepted", 1003)
    if not second & 0x80:
        raise ProtocolError("a client's frames must be masked")
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", _exactly(read, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _exactly(read, 8))[0]
    if size > MAX_CLIENT_MESSAGE:
        raise ProtocolError(f"a message of {size} bytes; at most {MAX_CLIENT_MESSAGE}", 1009)
    mask = _exactly(read, 4)
    data = _exactly(read, size)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return first & 0x0F, payload


def client_frame(opcode: int, payload: bytes, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    """A masked frame as a client sends it (for tests and the benchmark's clients)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_server_frame(read) -> tuple[int, bytes]:
    """``(opcode, payload)`` of a server's (unmasked) frame: the client side, for tests."""
    first, second = _exactly(read, 2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", _exactly(read, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _exactly(read, 8))[0]
    return first & 0x0F, _exactly(read, size)
