"""The ``http`` sink over real loopback sockets: page, MJPEG stream, /stats, /control.

Unit-level tests drive an :class:`HttpSink` with frames directly; end-to-end tests run a
whole :class:`~pipeline.pipeline.Pipeline` (synthetic source, small frames) in a thread
and reach the sink through ``engine.sinks``.  Clients are plain ``http.client`` and raw
sockets, so what is tested is what any script or browser gets.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time

import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.frame import Frame
from pipeline.io.sinks.http import broadcast, server
from pipeline.io.base import SinkError
from pipeline.io.sinks.http.server import BOUNDARY
from pipeline.io.sinks.http.sink import HttpSink
from pipeline.pipeline import Pipeline
from pipeline.config.registry import REGISTRIES, ParamError, build, settings_of
from pipeline.controls import Controls
from pipeline.tuned import single
from tests.harness import running
import pipeline.stages  # noqa: F401


WIDTH, HEIGHT = 160, 120


# --- helpers ---------------------------------------------------------------------------
def make_frame(index: int, grey: bool = False, width: int = WIDTH, height: int = HEIGHT) -> Frame:
    """A picture that changes with ``index``: a gradient, a moving bright box, some texture."""
    x = np.linspace(0, 200, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 50, height, dtype=np.float32)[:, None]
    image = (x + y).astype(np.uint8)
    left = (index * 7) % (width - 20)
    image[10:40, left:left + 20] = 255
    image = np.dstack([image, np.roll(image, 3, axis=1), 255 - image]) if not grey else image
    return Frame(index, time.perf_counter(), image, np.ascontiguousarray(image), {"threshold": 50.0})


def noise_frame(index: int, width: int = 640, height: int = 480) -> Frame:
    """Random pixels: large JPEGs that fill a stalled viewer's socket buffers quickly."""
    image = np.random.default_rng(index).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Frame(index, time.perf_counter(), image, image, {})


def write_paced(sink: HttpSink, frame: Frame) -> None:
    """``sink.write(frame)`` at least 1/max_fps after the previous write (none is skipped)."""
    time.sleep(1.5 / sink.max_fps)
    sink.write(frame)


def address(sink: HttpSink) -> tuple[str, int]:
    return "127.0.0.1", sink.port_bound


def request(sink: HttpSink, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One request on a fresh connection: ``(status, headers, body)``."""
    conn = http.client.HTTPConnection(*address(sink), timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def get_json(sink: HttpSink, path: str = "/stats") -> dict:
    status, headers, body = request(sink, "GET", path)
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def post_control(sink: HttpSink, data, content_type: str | None = "application/json") -> tuple[int, dict]:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {} if content_type is None else {"Content-Type": content_type}
    status, _, answer = request(sink, "POST", "/control", body, headers)
    return status, json.loads(answer)


class MjpegReader:
    """A viewer of ``/stream.mjpg`` that parses the multipart stream by hand."""

    def __init__(self, sink: HttpSink, timeout: float = 5.0, path: str = "/stream.mjpg"):
        self.conn = http.client.HTTPConnection(*address(sink), timeout=timeout)
        self.conn.request("GET", path)
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        assert self.response.readline() == f"--{BOUNDARY}\r\n".encode()

    def part(self) -> tuple[dict, bytes]:
        """The next part's headers and JPEG bytes (EOFError when the stream ended)."""
        headers = {}
        while True:
            line = self.response.readline()
            if not line:
                raise EOFError("the stream ended")
            if line == b"\r\n":
                break
            name, _, value = line.decode("ascii").partition(":")
            headers[name.strip().lower()] = value.strip()
        jpeg = self.response.read(int(headers["content-length"]))
        assert self.response.readline() == b"\r\n"
        assert self.response.readline() == f"--{BOUNDARY}\r\n".encode()
        return headers, jpeg

    def image(self) -> tuple[int, np.ndarray]:
        headers, jpeg = self.part()
        assert headers["content-type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
        assert image is not None, "a part did not decode as JPEG"
        return int(headers["x-frame-index"]), image

    def close(self) -> None:
        self.conn.close()


def stalled_viewer(sink: HttpSink) -> socket.socket:
    """A viewer that asks for the stream and then never reads (tiny receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(address(sink))
    sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock


def wait_until(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class FakeClock:
    """A clock a test moves by hand (``sink.clock``): seconds, monotonic."""

    def __init__(self):
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


@contextlib.contextmanager
def open_sink(clock=None, **settings):
    """An HttpSink on a free port, checked and opened with a frame, closed afterwards."""
    settings.setdefault("port", 0)
    sink = HttpSink(**settings)
    if clock is not None:
        sink.clock = clock
    sink.check()
    controls = Controls()
    sink.open(make_frame(0), 30.0, controls)
    try:
        yield sink
    finally:
        sink.close()


def config(sink: dict | None = None, **source) -> dict:
    src = {"type": "synthetic", "width": WIDTH, "height": HEIGHT, "fps": 30.0, "length": 0, "live": True}
    src.update(source)
    return {
        "version": 1,
        "source": src,
        "stages": ["grayscale", "gradient", "map", {"threshold": {"value": "auto"}}],
        "sinks": [{"http": dict({"port": 0}, **(sink or {}))}],
        "runtime": {"mode": "live" if src.get("live") else "batch"},
    }


# --- settings ----------------------------------------------------------------------------
def test_registered_and_round_trips_through_settings():
    assert REGISTRIES["sink"]["http"] is HttpSink
    settings = {"host": "127.0.0.1", "port": 0, "quality": 55, "max_fps": 12.0, "max_connections": 9,
                "request_timeout": 2.5, "token": None, "view": "mjpeg", "bitrate": 900_000,
                "tile_width": 320}
    sink = build("sink", "http", settings)
    assert settings_of(sink) == settings
    assert settings_of(build("sink", "http", settings_of(sink))) == settings
    assert settings_of(build("sink", "http", {})) == {"host": "127.0.0.1", "port": 8080,
                                                        "quality": 80, "max_fps": 30.0,
                                                        "max_connections": 64,
                                                        "request_timeout": 10.0, "token": None,
                                                        "view": "h264", "bitrate": 2_000_000,
                                                        "tile_width": 640}


@pytest.mark.parametrize("settings, key", [
    ({"port": 70000}, "port"), ({"port": -1}, "port"), ({"quality": 0}, "quality"),
    ({"quality": 101}, "quality"), ({"max_fps": 0}, "max_fps"), ({"prot": 80}, "prot"),
    ({"host": 127}, "host"), ({"tile_width": 8}, "tile_width"),
])
def test_bad_settings(settings, key):
    with pytest.raises(ParamError) as caught:
        build("sink", "http", settings)
    assert caught.value.key == key


def test_check_names_a_port_in_use_and_suggests_port_0():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SinkError) as caught:
            HttpSink(port=port).check()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "port: 0" in message and "another port" in message


def test_check_names_an_address_not_of_this_machine():
    with pytest.raises(SinkError, match="not an address of this machine"):
        HttpSink(host="192.0.2.1", port=0).check()  # TEST-NET-1: never local


def test_check_binds_nothing():
    sink = HttpSink(port=0)
    sink.check()
    assert sink.url is None and sink.port_bound is None


# --- serving -----------------------------------------------------------------------------
def test_url_and_log_name_the_bound_port(caplog):
    caplog.set_level(logging.INFO, logger="pipeline.io.sinks.http")
    with open_sink() as sink:
        assert sink.port_bound > 0
        assert sink.url == f"http://127.0.0.1:{sink.port_bound}/"
        assert sink.url in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_other_address_only_with_a_warning_that_gives_the_token_once(caplog):
    with open_sink(host="0.0.0.0") as sink:
        assert sink.url == f"http://127.0.0.1:{sink.port_bound}/"
        assert get_json(sink, f"/stats?token={sink.access_token}")["frame"]["index"] is None
        port = sink.port_bound
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "0.0.0.0" in warnings[0].getMessage()
    assert "reachable from other machines" in warnings[0].getMessage()
    assert f":{port}/?token={sink.access_token} " in warnings[0].getMessage()


@pytest.mark.parametrize("path, content_type, marker", [
    ("/", "text/html; charset=utf-8", b"view.js"),
    ("/app.js", "text/javascript; charset=utf-8", b"/control"),
    ("/view.js", "text/javascript; charset=utf-8", b"view.ws"),
    ("/style.css", "text/css; charset=utf-8", b"--threshold"),
])
def test_serves_the_page_from_package_data(path, content_type, marker):
    with open_sink() as sink:
        status, headers, body = request(sink, "GET", path)
    assert status == 200 and headers["Content-Type"] == content_type
    assert marker in body


def test_page_has_its_numbers_and_controls():
    with open_sink() as sink:
        _, _, page = request(sink, "GET", "/")
    for element_id in ("stream", "fps", "latency", "drops", "threshold", "frame", "slider",
                       "tuner", "pause", "chart"):
        assert f'id="{element_id}"'.encode() in page, element_id


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/nope", 404), ("GET", "/control", 405), ("POST", "/", 405), ("POST", "/stats", 405),
    ("GET", "/stats?since=x", 400),
])
def test_wrong_paths_and_methods(method, path, status):
    with open_sink() as sink:
        got, _, body = request(sink, method, path, body=b"{}" if method == "POST" else None)
    assert got == status and "error" in json.loads(body)


def test_loopback_server_refuses_foreign_host_names():
    with open_sink() as sink:
        assert request(sink, "GET", "/stats", headers={"Host": "evil.example:80"})[0] == 403
        assert request(sink, "GET", "/stats", headers={"Host": f"localhost:{sink.port_bound}"})[0] == 200
        assert request(sink, "GET", "/stats", headers={"Host": "[::1]:8080"})[0] == 200


def test_stream_parts_decode_to_the_written_frames():
    with open_sink(quality=90, max_fps=1000) as sink:
        viewer = MjpegReader(sink)
        wait_until(lambda: sink.board.viewers == 1, what="the viewer")
        for grey in (False, True):
            frame = make_frame(5 if grey else 4, grey=grey)
            write_paced(sink, frame)
            index, image = viewer.image()
            assert index == frame.index
            assert image.shape == frame.image.shape
            diff = np.abs(image.astype(np.int16) - frame.image.astype(np.int16)).mean()
            assert diff < 3.0, f"mean abs difference {diff:.2f}"
        viewer.close()


def test_one_encode_per_frame_whatever_the_number_of_viewers():
    with open_sink(max_fps=1000) as sink:
        viewers = [MjpegReader(sink) for _ in range(3)]
        wait_until(lambda: sink.board.viewers == 3, what="three viewers")
        for index in range(1, 6):
            write_paced(sink, make_frame(index))
            for viewer in viewers:  # each waits for this frame before the next is written
                assert viewer.image()[0] == index
        assert sink.board.encoded == 5
        for viewer in viewers:
            viewer.close()


def test_no_encoding_while_no_one_watches_then_the_newest_at_once():
    with open_sink(max_fps=1000) as sink:
        for index in range(10):
            sink.write(make_frame(index))
        assert sink.board.encoded == 0
        viewer = MjpegReader(sink)
        assert viewer.image()[0] == 9  # the newest, without waiting for another frame
        assert sink.board.encoded == 1
        viewer.close()


def test_max_fps_bounds_the_encodes():
    clock = FakeClock()
    max_fps, every, seconds = 10, 0.005, 2  # frames 20 times faster than max_fps, for 2 s
    with open_sink(max_fps=max_fps, clock=clock) as sink:
        viewer = MjpegReader(sink)
        wait_until(lambda: sink.board.viewers == 1, what="the viewer")
        frames = round(seconds / every)
        for index in range(frames):
            clock.seconds = index * every
            sink.write(make_frame(index))
        encoded = sink.board.encoded
        viewer.close()
    assert sink.frames_written == frames
    # One picture every 1/max_fps from the first frame on: max_fps a second, the first included.
    assert max_fps * seconds <= encoded <= max_fps * seconds + 1, encoded


def test_max_fps_paces_by_the_sinks_clock_not_by_the_calls():
    clock = FakeClock()
    with open_sink(max_fps=10, clock=clock) as sink:
        viewer = MjpegReader(sink)
        wait_until(lambda: sink.board.viewers == 1, what="the viewer")
        for index in range(50):  # fifty frames at one instant: one picture
            sink.write(make_frame(index))
        assert sink.board.encoded == 1
        clock.seconds = 0.1  # a tenth of a second later: the next one
        sink.write(make_frame(50))
        assert sink.board.encoded == 2 and viewer.image()[0] in (0, 50)
        viewer.close()


def test_quality_is_used():
    sizes = {}
    for quality in (10, 95):
        with open_sink(quality=quality, max_fps=1000) as sink:
            viewer = MjpegReader(sink)
            wait_until(lambda: sink.board.viewers == 1, what="the viewer")
            sink.write(noise_frame(1, WIDTH, HEIGHT))
            sizes[quality] = len(viewer.part()[1])
            viewer.close()
    assert sizes[10] * 3 < sizes[95]


def test_stalled_viewer_never_slows_writes_or_other_viewers(monkeypatch):
    """Sixty writes and sixty pictures to a fast viewer while a stalled one stays stuck.

    The stalled viewer's socket does not time out within the test, so a write that
    waited on it would never return (the writer thread would still be alive).
    """
    monkeypatch.setattr(server.Handler, "timeout", 600.0)
    with open_sink(quality=95, max_fps=1000) as sink:
        stalled = stalled_viewer(sink)
        fast = MjpegReader(sink)
        wait_until(lambda: sink.board.viewers == 2, what="two viewers")
        seen = []

        def write_and_watch():  # ~60 x 500 kB: far more than the stalled socket holds
            for index in range(1, 61):
                write_paced(sink, noise_frame(index))
                seen.append(fast.image()[0])

        writer = threading.Thread(target=write_and_watch, daemon=True)
        writer.start()
        writer.join(120)  # a guard against a hang, not a measure of speed
        assert not writer.is_alive(), f"the writes stopped after {len(seen)} frames"
        assert seen == list(range(1, 61))  # the fast viewer got every frame, in step
        assert sink.board.viewers == 2  # the stalled one is still there, stuck in a send
        fast.close()
        stalled.close()


def test_the_socket_timeout_frees_a_stalled_viewers_thread(monkeypatch):
    monkeypatch.setattr(server.Handler, "timeout", 0.5)
    with open_sink(quality=95, max_fps=1000) as sink:
        stalled = stalled_viewer(sink)
        wait_until(lambda: sink.board.viewers == 1, what="the viewer")
        written = []

        def write_until_dropped():  # large pictures until the viewer's sends block and time out
            written.append(len(written) + 1)
            sink.write(noise_frame(written[-1]))
            return sink.board.viewers == 0

        wait_until(write_until_dropped, 60, "the stalled viewer to time out")
        wait_until(lambda: sink._server.connections == 0, what="its thread to end")
        stalled.close()


def test_latest_frame_hands_a_late_viewer_the_newest_only():
    board = broadcast.LatestFrame(lambda image: bytes(image[:1]))
    board.publish(1, np.array([1], np.uint8))
    seq, index, _, _ = board.wait_newer(0, 1.0)
    for i in range(2, 20):
        board.publish(i, np.array([i], np.uint8))
    newer = board.wait_newer(seq, 1.0)
    assert newer[1:3] == (19, bytes([19])) and newer[0] == seq + 18
    assert board.wait_newer(newer[0], 0.05) is None  # nothing newer: waits, then None
    board.close()
    assert board.wait_newer(0, 1.0) is None


def test_slow_viewer_skips_frames_and_ends_on_the_newest():
    with open_sink(quality=95, max_fps=1000) as sink:
        viewer = MjpegReader(sink)
        wait_until(lambda: sink.board.viewers == 1, what="the viewer")
        received = []
        writing = threading.Event()
        writing.set()

        def read_slowly():  # slow while frames come, then as fast as it can
            while not received or received[-1] != 60:
                received.append(viewer.image()[0])
                if writing.is_set():
                    time.sleep(0.15)

        reader = threading.Thread(target=read_slowly, daemon=True)
        reader.start()
        for index in range(1, 61):
            sink.write(noise_frame(index))
            time.sleep(0.01)
        writing.clear()
        reader.join(10)
        viewer.close()
    assert received[-1] == 60
    assert received == sorted(set(received))
    assert len(received) < 60, "the slow viewer got every frame: nothing was skipped"


def test_close_ends_streams_frees_the_port_and_joins_threads(monkeypatch, caplog):
    # No socket times out within the test: only close() can end the viewers' threads.
    monkeypatch.setattr(server.Handler, "timeout", 600.0)
    with open_sink(max_fps=1000) as sink:
        port = sink.port_bound
        viewer = MjpegReader(sink)
        stalled = stalled_viewer(sink)
        wait_until(lambda: sink.board.viewers == 2, what="two viewers")
        for index in range(1, 20):
            sink.write(noise_frame(index))
        assert viewer.image()
        sink.close()
        assert "did not end" not in caplog.text  # every thread ended by close, none waited out
        with pytest.raises((EOFError, OSError)):
            for _ in range(100):
                viewer.part()
        assert sink.url is None
        assert not [t for t in threading.enumerate() if t.name.startswith("edgepipe-http")]
        with socket.socket() as again:
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", port))
        viewer.close()
        stalled.close()
        sink.close()  # twice is fine


def test_stats_history_since():
    clock = FakeClock()
    with open_sink(clock=clock) as sink:
        for index in range(3):  # one sample per HISTORY_EVERY seconds of the sink's clock
            clock.seconds = index * broadcast.HISTORY_EVERY
            sink.write(make_frame(index))
            sink.write(make_frame(index))  # at the same instant: no second sample
        first = get_json(sink, "/stats?since=-1")
        assert len(first["history"]) == 3
        assert all(p["threshold"] == 50.0 and p["objective"] is None for p in first["history"])
        last_t = first["history"][-1]["t"]
        assert get_json(sink, f"/stats?since={last_t}")["history"] == []
        assert "history" not in get_json(sink)


def test_stats_carry_the_tuner_objective_from_the_one_publication():
    from pipeline.runtime.tuner import TunerStep

    with open_sink() as sink:
        sink.write(make_frame(1))
        assert get_json(sink)["objective"] is None  # no tuner has reported
        step = TunerStep(update=3, frame=1, target="threshold", start={"threshold": 60.0},
                         optimum={"threshold": 62.0}, values={"threshold": 61.0},
                         objective=0.25, iterations=20, seconds=0.001)
        sink.controls.tuned.publish(step)
        frame = make_frame(2)
        frame.side["objective"] = 0.75  # side values are the frame's, not the tuner's
        sink._next_sample = 0.0  # sample this frame too (one sample per 0.2 s otherwise)
        sink.write(frame)
        stats = get_json(sink, "/stats?since=-1")
        assert stats["objective"] == 0.25 and stats["history"][-1]["objective"] == 0.25
        assert stats["tuner"] == {"threshold": step.as_dict()}
        assert stats["tuned_threshold"] == 61.0


def test_stats_carry_fields_the_live_stats_gain_later(monkeypatch):
    """A LiveStats with a ``tuner`` record (as the tuner publishes it once the field exists)."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Later:
        fps: float = 12.0
        threshold: float | None = 60.0
        tuner: dict | None = dataclasses.field(default_factory=lambda: {
            "threshold": {"objective": -0.5, "values": {"threshold": 60.0}}})

    with open_sink() as sink:
        monkeypatch.setattr(sink.controls, "snapshot", lambda: Later())
        sink.write(make_frame(1))
        stats = get_json(sink, "/stats?since=-1")
    assert stats["tuner"] == {"threshold": {"objective": -0.5, "values": {"threshold": 60.0}}}
    assert stats["objective"] == -0.5 and stats["history"][-1]["objective"] == -0.5


# --- the whole pipeline ------------------------------------------------------------------
def expected_frames(stages: list, count: int) -> dict[int, np.ndarray]:
    """The same chain without sinks, in batch mode: frame index -> picture."""
    data = config(live=False, length=count)
    data["stages"], data["sinks"] = stages, []
    return {frame.index: frame.image.copy() for frame in Pipeline.from_dict(data).frames()}


def test_pipeline_stream_delivers_its_frames():
    data = config({"quality": 90})
    data["stages"] = data["stages"][:3]  # grayscale, gradient, map: grey levels, no threshold
    with running(data) as (_, _, sink):
        viewer = MjpegReader(sink)
        parts = [viewer.image() for _ in range(5)]
        viewer.close()
    expected = expected_frames(data["stages"], max(index for index, _ in parts) + 1)
    for index, image in parts:
        assert image.shape == expected[index].shape == (HEIGHT, WIDTH)
        diff = np.abs(image.astype(np.int16) - expected[index].astype(np.int16)).mean()
        assert diff < 3.0, f"frame {index}: mean abs difference {diff:.2f}"
    assert len({index for index, _ in parts}) == 5


def test_pipeline_stats_move():
    with running(config()) as (_, _, sink):
        first = wait_until(lambda: (s := get_json(sink)) and s["frame"]["index"] is not None and s, what="a frame")
        time.sleep(0.6)
        second = get_json(sink)
    assert second["frame"]["index"] > first["frame"]["index"]
    assert second["frames_out"] > first["frames_out"]
    assert second["time"] > first["time"]
    assert second["fps"] > 5 and second["latency_p95_ms"] > 0
    assert second["frame"]["width"] == WIDTH and second["frame"]["height"] == HEIGHT
    assert isinstance(second["threshold"], float) and second["dropped"] >= 0


def test_pipeline_control_sets_the_threshold_of_the_next_frames():
    with running(config()) as (pipe, _, sink):
        status, answer = post_control(sink, {"threshold": 42})
        assert status == 200 and answer["threshold_manual"] == 42.0
        stats = wait_until(lambda: (s := get_json(sink))["frame"].get("threshold") == 42.0 and s,
                           what="frames thresholded at 42")
        assert stats["threshold"] == 42.0
        assert single(pipe.controls.tuned.manual("threshold")) == 42.0
        status, answer = post_control(sink, {"threshold": None})
        assert status == 200 and answer["threshold_manual"] is None
        wait_until(lambda: get_json(sink)["frame"].get("threshold") != 42.0, what="auto again")


def test_pipeline_control_tuner_and_pause():
    data = config()
    data["tuner"] = {"objective": "otsu"}
    with running(data) as (pipe, _, sink):
        assert post_control(sink, {"tuner": False})[0] == 200
        assert pipe.controls.tuner_enabled is False and get_json(sink)["tuner_enabled"] is False
        assert post_control(sink, {"pause": True})[0] == 200
        assert get_json(sink)["paused"] is True
        time.sleep(0.3)  # frames in flight drain
        held = get_json(sink)["frame"]["index"]
        time.sleep(0.4)
        assert get_json(sink)["frame"]["index"] == held
        assert post_control(sink, {"pause": False, "tuner": True})[0] == 200
        wait_until(lambda: get_json(sink)["frame"]["index"] > held, what="frames after resuming")
        assert pipe.controls.tuner_enabled is True


@pytest.mark.parametrize("body, content_type, key", [
    ({"threshold": 50, "tuner": "off"}, "application/json", "tuner"),  # a valid key first
    ({"pause": True, "threshold": 300}, "application/json", "threshold"),
    ({"threshold": 50, "speed": 2}, "application/json", "speed"),
    (b"not json", "application/json", None),
    ({"threshold": 50}, "text/plain", None),
    ({"threshold": 50}, None, None),
])
def test_pipeline_bad_control_is_a_400_and_changes_nothing(body, content_type, key):
    with running(config()) as (pipe, _, sink):
        before = get_json(sink)
        status, answer = post_control(sink, body, content_type)
        assert status == 400
        assert answer["key"] == key and answer["error"] and answer["allowed"]
        after = get_json(sink)
        assert after["threshold_manual"] is None and single(pipe.controls.tuned.manual("threshold")) is None
        assert after["paused"] is False and after["tuner_enabled"] is before["tuner_enabled"] is True


def test_pipeline_without_a_tuner_refuses_to_switch_one_on():
    with running(config()) as (pipe, _, sink):  # no tuner: section, no --tuner
        before = get_json(sink)
        assert before["tuner_available"] is False
        status, answer = post_control(sink, {"tuner": True, "threshold": 42})
        assert status == 409 and answer["key"] == "tuner"
        assert "no tuner runs" in answer["error"]
        assert "tuner:" in answer["error"] and "--tuner" in answer["error"]  # how to start one
        after = get_json(sink)  # nothing changed, the threshold included
        assert after["threshold_manual"] is None and single(pipe.controls.tuned.manual("threshold")) is None
        assert after["tuner_enabled"] is before["tuner_enabled"]
        assert post_control(sink, {"tuner": False})[0] == 200  # switching it off is harmless


def test_pipeline_stalled_viewer_does_not_slow_the_pipeline(monkeypatch):
    """A batch run goes to its end while a stalled viewer stays stuck in a send.

    Every frame is encoded (max_fps 1000) and is far larger than what the stalled viewer's
    socket buffers hold, and its socket does not time out within the test: a sink that
    sent to its viewers from write() would stop the run at the stalled viewer.
    """
    monkeypatch.setattr(server.Handler, "timeout", 600.0)
    length = 200
    data = config({"quality": 95, "max_fps": 1000}, live=False, length=length, width=640, height=480)
    with running(data) as (pipe, _, sink):
        pipe.controls.paused = True  # hold the rest until the viewers are in
        fast = MjpegReader(sink)
        stalled = stalled_viewer(sink)
        wait_until(lambda: sink.board.viewers == 2, what="viewers")
        viewers_at_publish = []
        publish = sink.board.publish

        def counted_publish(index, image, *capture):
            viewers_at_publish.append(sink.board.viewers)
            publish(index, image, *capture)

        sink.board.publish = counted_publish
        pipe.controls.paused = False
        received = []
        with contextlib.suppress(EOFError, OSError):
            while True:  # until the end of the run closes the stream
                received.append(fast.image()[0])
        fast.close()
        stalled.close()
        assert sink.frames_written == length
    assert received and received == sorted(set(received))  # the fast viewer went on, in order
    assert viewers_at_publish and set(viewers_at_publish) == {2}  # the stalled one never left


def canny_config():
    data = config()
    data["stages"] = [{"canny": {"low": "auto", "high": "auto"}}, "hud"]
    return data


def test_pipeline_control_sets_the_pair_of_the_next_frames_and_null_is_auto():
    with running(canny_config()) as (pipe, _, sink):
        status, answer = post_control(sink, {"canny": {"low": 12, "high": 34}})
        assert status == 200 and answer["canny_manual"] == {"low": 12.0, "high": 34.0}
        stats = wait_until(lambda: (s := get_json(sink))["frame"].get("canny") == {
            "low": 12.0, "high": 34.0} and s, what="frames at (12, 34)")
        assert stats["canny"] == {"low": 12.0, "high": 34.0}
        status, answer = post_control(sink, {"canny": {"low": None}})  # high stays
        assert status == 200 and answer["canny_manual"] == {"low": None, "high": 34.0}
        status, answer = post_control(sink, {"canny": None})
        assert status == 200 and answer["canny_manual"] is None
        wait_until(lambda: get_json(sink)["frame"].get("canny") not in (
            None, {"low": 12.0, "high": 34.0}), what="the rule of thumb again")
        status, answer = post_control(sink, {"canny": {"low": 5, "high": -1}, "pause": True})
        assert status == 400 and answer["key"] == "canny"
        assert pipe.controls.tuned.manual("canny") is None and not pipe.controls.paused


def test_page_has_the_canny_sliders():
    from tests.io.sinks.test_http import open_sink, request

    with open_sink() as sink:
        _, _, page = request(sink, "GET", "/")
    # app.js makes the low and high sliders from the template (end_to_end/test_http_browser_canny.py
    # moves them in a real browser)
    for element_id in ("canny", "canny-slider"):
        assert f'id="{element_id}"'.encode() in page, element_id
