"""A flood of slow-header connections against a view bound to 0.0.0.0 (reached through
127.0.0.1): a connection that never finishes its request is closed at its deadline,
connections beyond the cap take the place of the oldest still waiting (or are closed),
threads stay bounded, and a client with the token is served throughout.

Every loop here is bounded in count (``FLOOD`` connections, ``ROUNDS`` header lines);
the clock the deadline is measured on is the sink's, the test only counts events.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading

from tests.io.sinks.test_http import make_frame, open_sink, wait_until

TOKEN = "flood-Test_token.0123456789"
FLOOD = 200
CAP = 16


def slow_client(port: int) -> socket.socket:
    """A connection through 127.0.0.1 that starts a request and has not finished it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /stats HTTP/1.1\r\n")
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closed ``sock`` (a read gives EOF or a reset at once)."""
    sock.settimeout(0)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def stats_with_token(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/stats", headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        conn.close()


def test_a_slow_header_flood_is_capped_closed_at_its_deadline_and_the_token_holder_is_served():
    with open_sink(host="0.0.0.0", token=TOKEN, max_connections=CAP, request_timeout=3) as sink:
        server = sink._server
        sink.write(make_frame(1))
        threads_before = threading.active_count()
        flood = []
        try:
            for _ in range(FLOOD):
                sock = slow_client(sink.port_bound)
                sock.sendall(b"X-Slow: 1\r\n")  # a header line, never the blank line ending them
                flood.append(sock)
                assert server.serving <= CAP and server.connections <= 2 * CAP
                assert threading.active_count() <= threads_before + 2 * CAP
            assert server.evicted > 0  # the flood made room among its own
            # The token holder is served while the flood's last connections still wait.
            assert stats_with_token(sink.port_bound)["frame"]["index"] == 1
            # The rest are closed at their deadline although they keep sending lines.
            for _ in range(3):
                for sock in flood:
                    try:
                        sock.sendall(b"X-Slow: 2\r\n")
                    except OSError:
                        pass
            wait_until(lambda: all(closed_by_server(sock) for sock in flood), timeout=30,
                       what="every slow connection closed by the server")
            wait_until(lambda: server.connections == 0, timeout=30, what="no connection left")
            assert server.timed_out >= 1
            assert stats_with_token(sink.port_bound)["frame"]["index"] == 1
        finally:
            for sock in flood:
                sock.close()


def watch(port: int) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", f"/stream.mjpg?token={TOKEN}")
    response = conn.getresponse()
    assert response.status == 200
    return conn, response


def test_a_viewer_already_watching_is_never_evicted_by_a_flood():
    with open_sink(host="0.0.0.0", token=TOKEN, max_connections=4, request_timeout=30) as sink:
        sink.write(make_frame(1))
        conn, response = watch(sink.port_bound)
        flood = [slow_client(sink.port_bound) for _ in range(40)]
        try:
            wait_until(lambda: sink._server.evicted + sink._server.refused >= 30, what="the flood turned away")
            sink.write(make_frame(2))
            body = response.read1(65536)
            assert body  # the stream still flows
            assert sink.board.viewers == 1
        finally:
            for sock in flood:
                sock.close()
            conn.close()


def test_past_the_cap_with_every_slot_serving_a_new_connection_is_closed_at_once():
    with open_sink(host="0.0.0.0", token=TOKEN, max_connections=1, request_timeout=30) as sink:
        sink.write(make_frame(1))
        conn, _ = watch(sink.port_bound)
        extra = slow_client(sink.port_bound)
        try:
            wait_until(lambda: closed_by_server(extra), what="the extra connection closed")
            assert sink._server.refused == 1 and sink.board.viewers == 1
        finally:
            extra.close()
            conn.close()
