"""The http sink's encoded view: chunk framing, the WebSocket, the shared encoder's
keyframes, each viewer's cursor, and ``/view.ws`` over real sockets (token rules, a slow
viewer that skips).  The page itself is tested in Chromium
(tests/end_to_end/test_http_browser_view.py)."""

from __future__ import annotations

import base64
import json
import os
import socket

import numpy as np
import pytest

from pipeline.io.sinks.http import feed as feeds
from pipeline.io.sinks.http import websocket as ws
from pipeline.io.sinks.http.feed import Chunk, Cursor, Feed, codec_string
from tests.io.sinks.test_http import FakeClock, make_frame, open_sink, wait_until

TOKEN = "a-token-of-24-characters"


# --- framing ---------------------------------------------------------------------------
def test_a_chunk_packs_and_unpacks_with_its_header():
    chunk = Chunk(seq=70000, index=123456, key=True, capture_ms=1.7e12 + 0.25, width=1280, height=720,
                  data=b"\x00\x00\x00\x01\x67\x42\xc0\x1f\xda" + b"x" * 50)
    message = chunk.pack()
    assert len(message) == feeds.CHUNK_HEADER.size + len(chunk.data) == 24 + 59
    back = Chunk.unpack(message)
    assert back == Chunk(70000, 123456, True, 1.7e12 + 0.25, 1280, 720, chunk.data, "avc1.42c01f")
    assert Chunk.unpack(Chunk(1, 2, False, 3.0, 4, 6, b"p").pack()).key is False
    with pytest.raises(ValueError, match="24-byte header"):
        Chunk.unpack(message[:10])
    with pytest.raises(ValueError, match="version 9"):
        Chunk.unpack(b"\x09" + message[1:])


def test_codec_string_comes_from_the_sequence_parameter_set():
    assert codec_string(b"\x00\x00\x00\x01\x09\xf0\x00\x00\x01\x67\x64\x00\x28\xac") == "avc1.640028"
    assert codec_string(b"\x00\x00\x01\x41\x9a\x20") is None  # a slice only
    assert codec_string(b"\x00\x00\x01\x67\x42") is None  # cut short


def test_websocket_accept_key_is_rfc_6455s_example():
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_server_frames_of_every_length_read_back(size):
    payload = os.urandom(size)
    data = ws.frame(ws.OP_BINARY, payload)
    read = memoryview(data)
    position = [0]

    def reader(n):
        chunk = bytes(read[position[0]:position[0] + n])
        position[0] += n
        return chunk

    assert ws.read_server_frame(reader) == (ws.OP_BINARY, payload)
    assert position[0] == len(data)


def reader_of(data: bytes):
    position = [0]

    def read(n):
        chunk = data[position[0]:position[0] + n]
        position[0] += n
        return chunk
    return read


def test_client_frames_are_unmasked_and_bad_ones_refused():
    assert ws.read_frame(reader_of(ws.client_frame(ws.OP_TEXT, b'{"ack": 3}'))) == (ws.OP_TEXT, b'{"ack": 3}')
    assert ws.read_frame(reader_of(ws.client_frame(ws.OP_TEXT, b"y" * 300))) == (ws.OP_TEXT, b"y" * 300)
    with pytest.raises(ws.ProtocolError, match="masked"):
        ws.read_frame(reader_of(ws.frame(ws.OP_TEXT, b"hi")))
    with pytest.raises(ws.ProtocolError, match="at most") as error:
        ws.read_frame(reader_of(ws.client_frame(ws.OP_TEXT, b"y" * (ws.MAX_CLIENT_MESSAGE + 1))))
    assert error.value.code == 1009
    fragment = bytearray(ws.client_frame(ws.OP_TEXT, b"part"))
    fragment[0] &= 0x7F  # not final
    with pytest.raises(ws.ProtocolError, match="fragmented"):
        ws.read_frame(reader_of(bytes(fragment)))
    with pytest.raises(EOFError):
        ws.read_frame(reader_of(ws.client_frame(ws.OP_TEXT, b"cut")[:5]))


def test_handshake_and_origin_checks():
    good = {"Upgrade": "websocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(b"k" * 16).decode()}
    assert ws.handshake_error(good) is None
    assert "Upgrade: websocket" in ws.handshake_error({**good, "Upgrade": "h2c"})
    assert "version 13" in ws.handshake_error({**good, "Sec-WebSocket-Version": "8"})
    assert "16 bytes" in ws.handshake_error({**good, "Sec-WebSocket-Key": "short"})
    assert ws.same_origin({"Host": "127.0.0.1:8080"})  # not a browser
    assert ws.same_origin({"Host": "127.0.0.1:8080", "Origin": "http://127.0.0.1:8080"})
    assert not ws.same_origin({"Host": "127.0.0.1:8080", "Origin": "http://evil.example"})
    assert not ws.same_origin({"Host": "127.0.0.1:8080", "Origin": "http://127.0.0.1:9999"})


# --- the shared encoder's keyframes ----------------------------------------------------
def picture(i: int, width: int = 64, height: int = 48) -> np.ndarray:
    image = np.zeros((height, width), np.uint8)
    image[:, (i * 3) % width] = 255
    return image


def test_feed_forces_a_keyframe_when_asked_at_most_every_min_key_gap_pictures():
    feed = Feed(fps=30.0, bitrate=500_000, min_key_gap=5, threaded=False)
    keys = []
    for i in range(40):
        if i in (10, 12, 13, 30):  # a viewer joins at 10, two more ask soon after, one at 30
            feed.request_keyframe()
        feed.submit(i, picture(i), float(i))
        chunk = feed.step()
        assert chunk is not None and chunk.seq == i + 1 and chunk.index == i
        if chunk.key:
            keys.append(i)
            assert chunk.codec and chunk.codec.startswith("avc1.")
    # The first picture; the request at 10 at once; those at 12 and 13 merged and held
    # back until 5 pictures lie between (11..15); the one at 30.
    assert keys == [0, 10, 16, 30]
    assert (feed.keyframes, feed.forced, feed.requests, feed.encoded) == (4, 3, 4, 40)
    feed.close()


def test_feed_keeps_only_the_newest_picture_for_a_busy_encoder():
    feed = Feed(fps=30.0, bitrate=500_000, threaded=False)
    for i in range(3):
        feed.submit(i, picture(i), 0.0)
    assert feed.skipped == 2 and feed.step().index == 2 and feed.step() is None


def test_odd_sizes_are_padded_to_even_and_chunks_keep_the_size():
    feed = Feed(fps=30.0, bitrate=500_000, threaded=False)
    feed.submit(0, np.full((47, 63, 3), 90, np.uint8), 0.0)
    chunk = feed.step()
    assert (chunk.width, chunk.height, chunk.key) == (63, 47, True)


# --- a viewer's cursor -----------------------------------------------------------------
def chunks(first: int, last: int, keys=()) -> list[Chunk]:
    return [Chunk(s, s, s in keys, 0.0, 8, 8, b"") for s in range(first, last + 1)]


def test_cursor_starts_at_a_recent_keyframe_and_then_follows_consecutively():
    cursor = Cursor(in_flight=3, backlog=2)
    assert cursor.next(chunks(1, 3)) == (None, True)  # joined without a keyframe: ask
    assert cursor.skipped == 3 and cursor.last == 3
    ring = chunks(1, 6, keys={5})
    chunk, ask = cursor.next(ring)
    assert chunk.seq == 5 and not ask and cursor.skipped == 4
    assert cursor.next(ring)[0].seq == 6
    assert cursor.next(ring) == (None, False)  # nothing newer


def test_cursor_keeps_at_most_in_flight_unacknowledged_and_skips_when_behind():
    cursor = Cursor(in_flight=2, backlog=2)
    ring = chunks(1, 3, keys={1})
    assert cursor.next(ring)[0].seq == 1
    assert cursor.next(ring)[0].seq == 2
    assert cursor.next(ring) == (None, False)  # two in flight: wait for the page
    cursor.ack(2)
    assert cursor.next(ring)[0].seq == 3
    cursor.ack(3)
    # The page was slow: 4..9 arrived meanwhile, more than the backlog behind the newest.
    ring = chunks(1, 9, keys={1})
    assert cursor.next(ring) == (None, True) and cursor.falls == 1 and cursor.need_key
    ring = chunks(4, 12, keys={11})
    assert cursor.next(ring)[0].seq == 11  # the keyframe, the ones before it skipped
    assert cursor.next(ring)[0].seq == 12
    assert cursor.sent == 5 and cursor.skipped == 6 + 1


def test_cursor_refuses_an_old_keyframe_as_a_start():
    cursor = Cursor(in_flight=3, backlog=2)
    chunk, ask = cursor.next(chunks(1, 8, keys={1}))  # the ring's only keyframe is 7 behind
    assert chunk is None and ask


# --- /view.ws over sockets -------------------------------------------------------------
class ViewClient:
    """A WebSocket client of ``/view.ws`` on a raw socket."""

    def __init__(self, sink, headers: dict | None = None, path: str = "/view.ws"):
        self.sock = socket.create_connection(("127.0.0.1", sink.port_bound), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{sink.port_bound}", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Key: {key}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.file = self.sock.makefile("rb")
        self.status = int(self.file.readline().split()[1])
        self.headers = {}
        while (line := self.file.readline().strip()):
            name, _, value = line.decode().partition(":")
            self.headers[name.lower()] = value.strip()
        self.accepted = self.headers.get("sec-websocket-accept") == ws.accept_key(key)

    def message(self):
        """The next message: a dict (text) or a Chunk (binary)."""
        opcode, payload = ws.read_server_frame(self.file.read)
        return json.loads(payload) if opcode == ws.OP_TEXT else Chunk.unpack(payload)

    def chunk(self) -> Chunk:
        while not isinstance(message := self.message(), Chunk):
            pass
        return message

    def send(self, message: dict) -> None:
        self.sock.sendall(ws.client_frame(ws.OP_TEXT, json.dumps(message).encode()))

    def close(self):
        self.file.close()
        self.sock.close()


def feed_frames(sink, clock: FakeClock, first: int, count: int, grey: bool = True):
    """Write pictures ``first...``; while the view has viewers, each is encoded before the
    next is written (the encoder would otherwise skip to the newest)."""
    for i in range(first, first + count):
        clock.seconds += 1.0 / sink.max_fps
        sink.write(make_frame(i, grey=grey))
        for feed in list(sink.feeds.values()):  # full size and tile size, each if watched
            if feed.viewers:
                wait_until(lambda: feed.chunks and feed.chunks[-1].index == i, what=f"picture {i} encoded")


def test_view_ws_streams_a_config_then_a_keyframe_then_deltas_and_answers_pings():
    clock = FakeClock()
    with open_sink(clock=clock) as sink:
        feed_frames(sink, clock, 0, 1)  # no viewer yet: held
        client = ViewClient(sink)
        assert client.status == 101 and client.accepted
        first = client.message()  # the held picture, encoded at once as a keyframe
        assert first["type"] == "config" and first["codec"].startswith("avc1.") \
            and (first["width"], first["height"]) == (160, 120)
        key = client.message()
        assert isinstance(key, Chunk) and key.key and key.capture_ms > 0
        client.send({"ack": key.seq, "ping": 12.5})
        feed_frames(sink, clock, 1, 5)
        got = []
        while len(got) < 5:
            message = client.message()
            if isinstance(message, dict):
                assert message["type"] == "pong" and message["ping"] == 12.5 and message["server"] > 0
                continue
            got.append(message)
            client.send({"ack": message.seq})
        assert [c.index for c in got] == [1, 2, 3, 4, 5] and not any(c.key for c in got)
        assert sink.view_stats()["viewers"] == 1
        client.close()
        wait_until(lambda: sink.view_stats()["viewers"] == 0, what="the viewer to leave")


def test_view_ws_follows_the_token_rules_and_refuses_other_sites():
    clock = FakeClock()
    with open_sink(clock=clock, host="0.0.0.0", token=TOKEN) as sink:
        feed_frames(sink, clock, 0, 1)
        refused = ViewClient(sink)
        assert refused.status == 401 and sink.view_stats()["viewers"] == 0
        refused.close()
        assert ViewClient(sink, path=f"/view.ws?token={'x' * 24}").status == 401
        bearer = ViewClient(sink, {"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status == 101 and bearer.chunk().key
        bearer.close()
        cookie = ViewClient(sink, {"Cookie": f"{sink.cookie_name}={TOKEN}"})
        assert cookie.status == 101
        cookie.close()
        other = ViewClient(sink, {"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"})
        assert other.status == 403
        other.close()
    with open_sink(clock=clock, view="mjpeg") as sink:
        off = ViewClient(sink)
        assert off.status == 503
        off.close()


def test_a_viewer_that_does_not_keep_up_skips_to_keyframes_and_others_keep_every_picture():
    clock = FakeClock()
    with open_sink(clock=clock, max_fps=30.0) as sink:
        feed_frames(sink, clock, 0, 1)  # no viewer yet: held
        slow = ViewClient(sink)
        slow.send({"ack": slow.chunk().seq})  # picture 0, a keyframe
        fast = ViewClient(sink)
        first = fast.chunk()
        assert first.key and first.index == 0  # the same keyframe, from the ring
        fast.send({"ack": first.seq})
        feed = sink.feeds["full"]
        # 60 pictures, each encoded before the next is written; the fast viewer acks
        # each, the slow one acks nothing for a while.
        fast_seen = []
        for i in range(1, 61):
            feed_frames(sink, clock, i, 1)
            chunk = fast.chunk()
            fast_seen.append(chunk.index)
            fast.send({"ack": chunk.seq})
        # The slow viewer got at most its in-flight allowance of the 60.
        got = [slow.chunk() for _ in range(3)]
        assert [c.index for c in got] == [1, 2, 3]
        for chunk in got:
            slow.send({"ack": chunk.seq})
        # It is far behind: its next chunk is a keyframe it asked for, of a new picture.
        requests = feed.requests
        wait_until(lambda: feed.requests > requests or sink.view_stats()["clients"][0]["falls"],
                   what="the slow viewer to fall behind")
        feed_frames(sink, clock, 61, 1)
        nxt = slow.chunk()
        assert nxt.key and nxt.index == 61
        clients = sink.view_stats()["clients"]
        assert any(c["falls"] == 1 and c["skipped"] == 57 for c in clients)  # pictures 4..60
        # The fast viewer had every picture, in order, with no keyframe forced on it
        # until the slow one asked.
        assert fast_seen == list(range(1, 61))
        assert fast.chunk().index == 61
        slow.close()
        fast.close()
