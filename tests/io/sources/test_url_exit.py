"""A ``url`` stream that accepts and then trickles garbage MPEG-TS, or says nothing:
the run ends with a message naming the right timeout, and never with a crash (exit 139)
from a capture thread still inside FFmpeg while the interpreter exits.

Servers listen on 127.0.0.1 only; every loop is bounded in count (connections served,
packets sent, runs) and every wait has a deadline.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.harness import ROOT

RUNS = 20
PACKETS = 2000  # per connection, one every PACKET_EVERY seconds: longer than any run here
PACKET_EVERY = 0.05


class GarbageServer:
    """Accepts up to ``connections`` clients on loopback; sends each 188-byte packets
    that start with the MPEG-TS sync byte and are random after it, or nothing at all."""

    def __init__(self, connections: int, silent: bool = False):
        self.silent = silent
        self.held: list[tuple[float, float]] = []  # (accepted, client gone) per connection
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(1.0)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(connections,), daemon=True)
        self._thread.start()

    def _serve(self, connections: int) -> None:
        served = 0
        while served < connections and not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            served += 1
            threading.Thread(target=self._feed, args=(conn,), daemon=True).start()

    def _feed(self, conn: socket.socket) -> None:
        accepted = time.monotonic()
        try:
            for _ in range(PACKETS):
                if self._stop.is_set():
                    break
                if self.silent:
                    conn.settimeout(PACKET_EVERY)
                    try:
                        if conn.recv(1) == b"":
                            break  # the client hung up
                    except socket.timeout:
                        continue
                else:
                    conn.sendall(b"\x47" + os.urandom(187))
                    time.sleep(PACKET_EVERY)
        except OSError:
            pass
        finally:
            self.held.append((accepted, time.monotonic()))
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture
def garbage():
    server = GarbageServer(connections=RUNS)
    yield server
    server.close()


def run_url(port: int, *settings: str) -> subprocess.CompletedProcess:
    sets = [arg for value in settings for arg in ("--set", value)]
    return subprocess.run([sys.executable, "-m", "pipeline", "run", f"tcp://127.0.0.1:{port}", "-", *sets, "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_garbage_stream_never_crashes_the_exit(garbage):
    codes = []
    for _ in range(RUNS):
        done = run_url(garbage.port, "source.open_timeout=3", "source.read_timeout=0.5")
        codes.append(done.returncode)
        assert done.returncode == 1, (codes, done.stderr)
        assert "edgepipe: error: " in done.stderr and f"127.0.0.1:{garbage.port}" in done.stderr
    assert codes == [1] * RUNS


def test_a_server_that_accepts_and_says_nothing_gets_open_timeout():
    server = GarbageServer(connections=1, silent=True)
    try:
        done = run_url(server.port, "source.open_timeout=3", "source.read_timeout=0.5")
        for _ in range(100):
            if server.held:
                break
            time.sleep(0.05)
    finally:
        server.close()
    assert done.returncode == 1, done.stderr
    assert "within open_timeout 3 s" in done.stderr
    (accepted, gone), = server.held
    assert gone - accepted >= 3.0 * 0.9  # not given up after read_timeout
