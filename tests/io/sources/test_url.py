"""The ``url`` source against a real ``ffmpeg`` streaming over loopback (127.0.0.1 only).

Every wait is bounded here (pytest-timeout is not installed): reads run on a daemon
thread joined with a deadline, so a source that hangs fails the test instead of the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.base import SourceError
from pipeline.io.sources.url import UrlSource
from pipeline.redact import redact_url
from pipeline.config.registry import ParamError, build
from tests.harness import bounded

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")

WIDTH, HEIGHT, RATE = 320, 240, 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]



def serve(output: list[str], seconds: float) -> subprocess.Popen:
    """ffmpeg sending ``seconds`` of a 320x240 test pattern as MPEG-TS to ``output``."""
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
         "-f", "lavfi", "-i", f"testsrc=size={WIDTH}x{HEIGHT}:rate={RATE}", "-t", str(seconds),
         "-c:v", "mpeg4", "-q:v", "5", "-f", "mpegts", *output],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.fixture
def servers():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            process.kill()
        process.wait(5)


def open_when_listening(url: str, deadline_s: float = 8.0, **settings) -> UrlSource:
    """Open ``url`` once ffmpeg listens (a refused connection fails at once: retry)."""
    end = time.monotonic() + deadline_s
    while True:
        source = UrlSource(url, **settings)
        try:
            bounded(source.open, settings.get("open_timeout", 10.0) + 5)
            return source
        except SourceError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def read_frames(source: UrlSource, limit: int) -> list:
    frames = []
    while len(frames) < limit:
        frame = source.read()
        if frame is None:
            break
        frames.append(frame)
    return frames


def test_tcp_stream_frames_arrive_then_end(servers):
    port = free_port()
    servers.append(serve([f"tcp://127.0.0.1:{port}?listen=1"], seconds=2))
    source = open_when_listening(f"tcp://127.0.0.1:{port}", open_timeout=5.0, read_timeout=2.0)
    assert source.live
    try:
        frames = bounded(lambda: read_frames(source, limit=1000), 15)
    finally:
        source.close()
    assert 10 <= len(frames) <= 2 * RATE + 5  # about 30 frames in 2 s
    assert all(f.shape == (HEIGHT, WIDTH, 3) for f in frames)
    assert source.fps is None  # closed: nothing to ask


def test_http_stream(servers):
    port = free_port()
    servers.append(serve(["-listen", "1", f"http://127.0.0.1:{port}/live.ts"], seconds=2))
    source = open_when_listening(f"http://127.0.0.1:{port}/live.ts", open_timeout=5.0, read_timeout=2.0)
    try:
        assert source.fps == pytest.approx(RATE, rel=0.1)
        frames = bounded(lambda: read_frames(source, limit=5), 10)
    finally:
        source.close()
    assert len(frames) == 5 and frames[0].shape == (HEIGHT, WIDTH, 3)


def test_silent_stream_ends_within_read_timeout(servers):
    port = free_port()
    server = serve([f"tcp://127.0.0.1:{port}?listen=1"], seconds=30)
    servers.append(server)
    source = open_when_listening(f"tcp://127.0.0.1:{port}", open_timeout=5.0, read_timeout=1.0)
    try:
        assert len(bounded(lambda: read_frames(source, limit=3), 10)) == 3
        os.kill(server.pid, signal.SIGSTOP)  # the sender freezes: connection open, no data
        start = time.monotonic()
        # Frames already in flight may still come; then read() must give up.
        bounded(lambda: read_frames(source, limit=1000), 1.0 + 6)
        waited = time.monotonic() - start
    finally:
        source.close()
    assert waited < 1.0 + 4  # read_timeout plus decoding slack, not forever


def test_close_from_another_thread_waits_for_a_blocked_read(servers):
    # The engine may close the source from its main thread while the source thread is
    # inside read(): close must wait for that read, not release the capture under it.
    port = free_port()
    server = serve([f"tcp://127.0.0.1:{port}?listen=1"], seconds=30)
    servers.append(server)
    source = open_when_listening(f"tcp://127.0.0.1:{port}", open_timeout=5.0, read_timeout=1.5)
    assert len(bounded(lambda: read_frames(source, limit=2), 10)) == 2
    os.kill(server.pid, signal.SIGSTOP)
    results: list = []
    reader = threading.Thread(target=lambda: results.append(read_frames(source, limit=1000)), daemon=True)
    reader.start()
    time.sleep(0.3)  # the reader is now blocked in read()
    bounded(source.close, 1.5 + 6)
    reader.join(5)
    assert not reader.is_alive() and results  # the read returned (frames or None), no crash
    with pytest.raises(SourceError, match="not open"):
        source.read()


def test_server_that_never_sends_fails_open_within_open_timeout():
    with socket.socket() as listener:  # accepts the connection, says nothing
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        source = UrlSource(url, open_timeout=1.0, read_timeout=1.0)
        start = time.monotonic()
        with pytest.raises(SourceError) as caught:
            bounded(source.open, 8)
        waited = time.monotonic() - start
    assert waited < 1.0 + 4
    message = str(caught.value)
    assert url in message and ("open_timeout" in message or "within" in message)


def test_refused_connection_says_refused_at_once():
    url = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(SourceError, match="cannot open stream") as caught:
        bounded(UrlSource(url, open_timeout=5.0).open, 8)
    assert time.monotonic() - start < 2.0  # refused: no waiting out open_timeout
    text = str(caught.value)
    assert url in text and "refused" in text and "ffprobe" in text and "within" not in text


def test_udp_stream(servers):
    port = free_port()
    source = UrlSource(f"udp://127.0.0.1:{port}", open_timeout=5.0, read_timeout=2.0)
    opener = threading.Thread(target=source.open, daemon=True)
    opener.start()  # udp: the reader binds the port, then the sender sends to it
    time.sleep(0.3)
    servers.append(serve([f"udp://127.0.0.1:{port}?pkt_size=1316"], seconds=3))
    opener.join(10)
    try:
        assert not opener.is_alive()
        items = bounded(lambda: [source.read_timed() for _ in range(10)], 10)
    finally:
        source.close()
    assert all(item is not None and item[0].shape == (HEIGHT, WIDTH, 3) for item in items)
    times = [pts for _, pts in items]
    assert times == sorted(times) and times[-1] - times[0] == pytest.approx(9 / RATE, abs=0.02)


def test_stream_frames_carry_the_senders_pts(servers):
    port = free_port()
    servers.append(serve([f"tcp://127.0.0.1:{port}?listen=1"], seconds=2))
    source = open_when_listening(f"tcp://127.0.0.1:{port}", open_timeout=5.0, read_timeout=2.0)
    try:
        items = bounded(lambda: [source.read_timed() for _ in range(8)], 10)
        media = source.media
    finally:
        source.close()
    times = [pts for _, pts in items]
    # MPEG-TS starts its clock at 1.4 s; frames are 1/RATE apart, as sent
    assert times[0] >= 1.0 and all(abs(b - a - 1 / RATE) < 1e-3 for a, b in zip(times, times[1:]))
    assert media.start == times[0] and not media.seekable


@pytest.mark.parametrize("url,expected", [
    ("rtsp://cam.local/live", {"rtsp_transport": "tcp", "timeout": "2000000"}),
    ("http://127.0.0.1:8080/live.ts", {"timeout": "2000000"}),
    ("udp://127.0.0.1:5000", {"timeout": "2000000"}),
    ("tcp://127.0.0.1:5000", {"timeout": "2000000"}),
    ("rtmp://127.0.0.1/live", {}),  # rtmp's "timeout" means listen: the interrupt callback bounds it
])
def test_protocol_options_carry_the_longer_timeout_in_microseconds(url, expected):
    assert UrlSource(url, open_timeout=1.5, read_timeout=2.0).protocol_options() == expected
    if expected:  # a server silent at open is given open_timeout, not read_timeout
        assert UrlSource(url, open_timeout=7.0, read_timeout=2.0).protocol_options()["timeout"] == "7000000"
    assert UrlSource("rtsp://cam/live", rtsp_transport="udp").protocol_options()["rtsp_transport"] == "udp"


def test_password_never_appears_in_errors():
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/live"
    with pytest.raises(SourceError) as caught:
        bounded(UrlSource(url, open_timeout=1.0).open, 8)
    assert "hunter2" not in str(caught.value) and "admin:***@127.0.0.1" in str(caught.value)


@pytest.mark.parametrize("url", ["movie.mp4", "file:///tmp/movie.mp4", "ftp://host/x.ts"])
def test_not_a_stream_url_is_a_param_error(url):
    with pytest.raises(ParamError, match="url must start with"):
        build("source", "url", {"url": url})


def test_timeouts_are_range_checked():
    with pytest.raises(ParamError, match="read_timeout"):
        build("source", "url", {"url": "udp://127.0.0.1:5000", "read_timeout": 0})


def test_redact_url_hides_passwords():
    assert redact_url("rtsp://admin:secret@cam:554/s") == "rtsp://admin:***@cam:554/s"
    assert redact_url("udp://127.0.0.1:5000") == "udp://127.0.0.1:5000"


# ------------------------------------------------------------------ rtsp, from a real server
# What IP cameras are: an RTSP server (GStreamer's gst-rtsp-server, run by the system
# Python that has PyGObject) sending H.264 over RTP, pulled by DESCRIBE, SETUP, PLAY.
RTSP_SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def _rtsp_server_missing() -> str | None:
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} is missing"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Gst', '1.0'); "
         "gi.require_version('GstRtspServer', '1.0'); "
         "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
         "assert Gst.ElementFactory.find('x264enc') and Gst.ElementFactory.find('rtph264pay')"],
        capture_output=True, timeout=60, check=False)
    if probe.returncode:
        return ("GStreamer's RTSP server is not installed (apt-get install python3-gi "
                "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)")
    return None


@pytest.fixture(scope="module")
def rtsp_server():
    """``rtsp://127.0.0.1:PORT/test``: 2 s of a 320x240 H.264 test pattern per client."""
    missing = _rtsp_server_missing()
    if missing:
        pytest.skip(missing)
    server = subprocess.Popen([SYSTEM_PYTHON, str(RTSP_SERVER), str(2 * RATE), str(WIDTH),
                               str(HEIGHT), str(RATE)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = bounded(server.stdout.readline, 30).strip()
        assert port.isdigit(), f"the RTSP server did not start: {server.stderr.read()}"
        yield f"rtsp://127.0.0.1:{port}/test"
    finally:
        server.kill()
        server.wait(5)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rtsp_stream_from_a_real_server(rtsp_server, transport):
    source = UrlSource(rtsp_server, rtsp_transport=transport, open_timeout=10.0, read_timeout=2.0)
    bounded(source.open, 15)
    assert source.live
    try:
        items = bounded(lambda: [source.read_timed() for _ in range(10)], 15)
        # The server sends 2 s, then says goodbye (RTCP BYE) or falls silent: either
        # way the stream ends, within the read timeout, not never.
        rest = bounded(lambda: read_frames(source, limit=1000), 2 + 10)
    finally:
        source.close()
    assert all(item is not None and item[0].shape == (HEIGHT, WIDTH, 3) for item in items)
    times = [pts for _, pts in items]
    # RTP's 90 kHz clock: frames are 1/RATE apart, as sent.
    assert all(abs(b - a - 1 / RATE) < 1e-3 for a, b in zip(times, times[1:])), times
    if transport == "tcp":  # every frame FFmpeg's own client gets from the same server
        assert 10 + len(rest) == ffprobe_frames(rtsp_server, transport)
    else:  # udp on loopback may lose the odd packet
        assert 10 + len(rest) >= RATE


def ffprobe_frames(url: str, transport: str) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", transport, "-count_frames",
                          "-select_streams", "v", "-show_entries", "stream=nb_read_frames",
                          "-of", "csv=p=0", url], capture_output=True, text=True, timeout=30,
                         check=True)
    return int(out.stdout.strip())


def test_rtsp_wrong_path_names_the_url_and_the_servers_answer(rtsp_server):
    url = rtsp_server.replace("/test", "/nothing-here")
    with pytest.raises(SourceError) as caught:
        bounded(UrlSource(url, open_timeout=5.0).open, 15)
    text = str(caught.value)
    assert url in text and ("404" in text or "not found" in text.lower()), text


def test_secrets_in_a_query_never_appear_in_errors():
    url = f"http://127.0.0.1:{free_port()}/live.ts?token=s3cretTokenValue&password=hunter2&fps=5"
    with pytest.raises(SourceError) as caught:
        bounded(UrlSource(url, open_timeout=1.0).open, 8)
    message = str(caught.value)
    assert "s3cretTokenValue" not in message and "hunter2" not in message
    assert "token=***&password=***&fps=5" in message


@pytest.mark.parametrize("url, shown", [
    ("rtsp://admin:pw@cam:554/s?token=abc&fps=5", "rtsp://admin:***@cam:554/s?token=***&fps=5"),
    ("http://[::1?token=abc", "http://[::1?token=***"),
    ("https://h/x?api-key=k1&sig=s2&x=", "https://h/x?api-key=***&sig=***&x="),
    ("srt://relay:9000?mode=caller&passphrase=hunter2hunter2", "srt://relay:9000?mode=caller&passphrase=***"),
    ("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl", "rtmp://a.rtmp.youtube.com/live2/***"),
    ("rtmp://host/app", "rtmp://host/app"),
])
def test_redact_url_hides_query_secrets_too(url, shown):
    from pipeline.redact import redact_text

    assert redact_url(url) == shown
    assert redact_text(f"cannot open '{url}': refused") == f"cannot open '{shown}': refused"


def test_the_error_line_of_a_run_never_shows_a_query_secret():
    import sys

    from tests.harness import ROOT

    url = f"http://user:hunter2@127.0.0.1:{free_port()}/live.ts?token=s3cretTokenValue"
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", url, "-", "--set", "source.open_timeout=1",
                           "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "edgepipe: error: " in done.stderr and "token=***" in done.stderr
    assert "s3cretTokenValue" not in done.stderr and "hunter2" not in done.stderr
