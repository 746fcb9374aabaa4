"""Every source and sink found in the registry round-trips through its config (STYLE.md 14).

config -> object -> config -> object: the settings come back the same, and the two
objects give the same output on the same seeded input (sources: the same frames from a
generated clip, picture folder or pattern; sinks: the same bytes, rows or decoded frames
written from the same seeded frames).  The names come from ``REGISTRIES``, so a source
or sink registered without an entry below fails :func:`test_every_registered_name_has_a_case`.

Five are round-tripped on their config only, without I/O, and say why in ``NO_IO``:
``url`` (a network stream; tests/test_url_source.py reads real ones from ffmpeg),
``camera`` (a capture device), ``window`` (a display; OpenCV's Qt binds a process to
one display for life, so tests/test_window.py drives it in a child under Xvfb), and
``stdin``/``stdout`` (the process's own descriptors 0 and 1, which pytest holds;
tests/end_to_end/test_ffmpeg_habits.py pipes real ffmpeg into and out of edgepipe).
``http`` is served on loopback only, port 0.
"""

from __future__ import annotations

import http.client
import json
import time

import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.frame import Frame
from pipeline.config.registry import REGISTRIES, ParamError, build, check_settings, settings_of
from tests.harness import decode, read_all

WIDTH, HEIGHT, FRAMES = 64, 48, 6

#: Registered names round-tripped on their config only, and why.
NO_IO = {
    "url": "a network stream (rtsp/http/udp...): tests/test_url_source.py reads real ones",
    "camera": "a capture device (V4L2); none on a test machine",
    "window": "needs a display, and OpenCV's Qt binds a process to one for life "
              "(tests/test_window.py runs it in a child under Xvfb)",
    "stdin": "reads descriptor 0 (tests/end_to_end/test_ffmpeg_habits.py pipes ffmpeg into it)",
    "stdout": "writes descriptor 1 (tests/end_to_end/test_ffmpeg_habits.py pipes it into ffprobe)",
    "network": "needs a receiver (tests/io/sinks/test_network.py runs real ffmpeg ones)",
    "hls": "a live playlist whose segments follow the clock (tests/io/sinks/test_network.py "
           "reads them while written)",
}


def seeded_images(seed: int = 14) -> list[np.ndarray]:
    """FRAMES seeded BGR pictures with structure (blocks) and noise, so codecs have work."""
    rng = np.random.default_rng(seed)
    images = []
    for index in range(FRAMES):
        image = rng.integers(0, 40, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        image[8:24, 4 + 5 * index:20 + 5 * index] += 180
        images.append(image)
    return images


def seeded_frames() -> list[Frame]:
    return [Frame(index, time.perf_counter(), image, image, {"threshold": 40.0 + index})
            for index, image in enumerate(seeded_images())]


# --- sources ---------------------------------------------------------------------------
def file_case(tmp_path):
    path = tmp_path / "clip.mkv"
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"), 12.0, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for image in seeded_images():
        writer.write(image)
    writer.release()
    return {"path": str(path), "realtime": False, "loop": False, "on_error": "stop",
            "max_consecutive_errors": 5}


def images_case(tmp_path):
    for index, image in enumerate(seeded_images()):
        assert cv2.imwrite(str(tmp_path / f"shot_{index:03d}.png"), image)
    return {"glob": str(tmp_path / "shot_*.png"), "fps": 12.0, "on_error": "stop"}


SOURCE_CASES = {
    "file": file_case,
    "images": images_case,
    "synthetic": lambda tmp_path: {"width": WIDTH, "height": HEIGHT, "fps": 12.0, "length": FRAMES,
                                   "live": False},
    "camera": lambda tmp_path: {"device": 2, "width": 1280, "height": 720, "fps": 30.0, "fourcc": "MJPG",
                                "read_timeout": 2.0, "on_error": "retry", "reconnect_attempts": 3},
    "stdin": lambda tmp_path: {"on_error": "stop", "max_consecutive_errors": 5, "start": 0.5,
                               "duration": 2.0},
    "url": lambda tmp_path: {"url": "rtsp://cam.local/live", "rtsp_transport": "udp", "open_timeout": 3.0,
                             "on_error": "retry", "reconnect_backoff": 0.5, "reconnect_max_backoff": 4.0},
}


# --- sinks -----------------------------------------------------------------------------
def write_all(sink) -> None:
    frames = seeded_frames()
    sink.check()
    sink.open(frames[0], 12.0, None)
    try:
        for frame in frames:
            sink.write(frame)
    except BaseException:
        sink.abort()
        raise
    sink.close()


def video_output(sink, tmp_path):
    write_all(sink)
    return [image.tobytes() for image in decode(sink.path)]


def images_output(sink, tmp_path):
    write_all(sink)
    folder = tmp_path / sink.path.split("/")[-2]
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def stats_output(sink, tmp_path):
    write_all(sink)
    with open(sink.path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    for row in rows:  # wall-clock fields: the only ones that may differ between two runs
        del row["captured_at"], row["latency_ms"]
    return rows


def discard_output(sink, tmp_path):
    write_all(sink)
    return sink.frames_written


def http_output(sink, tmp_path):
    """The JPEG a first viewer of ``/stream.mjpg`` gets after one frame is written."""
    frame = seeded_frames()[3]
    sink.check()
    sink.open(frame, 12.0, None)
    try:
        sink.write(frame)
        conn = http.client.HTTPConnection("127.0.0.1", sink.port_bound, timeout=5)
        try:
            conn.request("GET", "/stream.mjpg")
            response = conn.getresponse()
            assert response.status == 200
            length = None
            while True:
                line = response.readline()
                assert line, "the stream ended before its first picture"
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                if line == b"\r\n" and length is not None:
                    break
            jpeg = response.read(length)
        finally:
            conn.close()
    finally:
        sink.close()
    assert jpeg[:2] == b"\xff\xd8" and cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (
        HEIGHT, WIDTH, 3)
    return jpeg


#: Per sink: settings (given the folder a run writes into), and what its output is.
SINK_CASES = {
    # Lossless: x264 does not write the same bytes run to run here (tests/batch/test_runner.py,
    # LOSSLESS), so "the same output" is only a fair test of the round trip with FFV1.
    "video": (lambda out: {"path": str(out / "edges.mkv"), "codec": "ffv1", "crf": None, "bitrate": None,
                           "preset": None, "pix_fmt": None, "audio": "none", "fourcc": None,
                           "fps": 12.0}, video_output),
    "images": (lambda out: {"path": str(out / "frames" / "{index:04d}.png"), "jpeg_quality": 80,
                            "png_compression": 3}, images_output),
    "stats": (lambda out: {"path": str(out / "stats.jsonl")}, stats_output),
    "discard": (lambda out: {}, discard_output),
    "http": (lambda out: {"host": "127.0.0.1", "port": 0, "quality": 55, "max_fps": 12.0, "token": None},
             http_output),
    "stdout": (lambda out: {"format": "mpegts", "codec": "h264", "crf": 20, "bitrate": None,
                            "preset": "fast", "fps": 12.0}, None),
    "window": (lambda out: {"title": "edges", "snapshot_dir": str(out / "shots"), "threshold_step": 2.5},
               None),
    "network": (lambda out: {"url": "udp://127.0.0.1:5999", "codec": "h264", "crf": 23,
                             "reconnect": False}, None),
    "hls": (lambda out: {"path": str(out / "live" / "edges.m3u8"), "segment": 1.0, "list_size": 4,
                         "low_latency": True}, None),
}


# --- the round trips -------------------------------------------------------------------
@pytest.mark.parametrize("kind, cases", [("source", SOURCE_CASES), ("sink", SINK_CASES)])
def test_every_registered_name_has_a_case(kind, cases):
    assert sorted(REGISTRIES[kind]) == sorted(cases)


def round_trip(kind: str, name: str, settings: dict):
    """``(first, second)``: built from ``settings``, then from the first one's settings."""
    first = build(kind, name, settings)
    expected = check_settings(REGISTRIES[kind][name], settings)  # with the defaults
    assert settings_of(first) == expected
    second = build(kind, name, settings_of(first))
    assert settings_of(second) == expected
    assert repr(second) == repr(first)
    return first, second


@pytest.mark.parametrize("name", sorted(REGISTRIES["source"]))
def test_source_round_trips_and_reads_the_same_frames(tmp_path, name):
    settings = SOURCE_CASES[name](tmp_path)
    first, second = round_trip("source", name, settings)
    if name in NO_IO:
        return
    with first:
        frames = read_all(first)
    with second:
        again = read_all(second)
    assert len(frames) == FRAMES
    assert all(a.shape == (HEIGHT, WIDTH, 3) for a in frames)
    assert len(again) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, again))
    if name != "synthetic":  # lossless inputs: the seeded pictures themselves
        assert all(np.array_equal(a, b) for a, b in zip(frames, seeded_images()))


@pytest.mark.parametrize("name", sorted(REGISTRIES["sink"]))
def test_sink_round_trips_and_writes_the_same(tmp_path, name):
    settings_for, output = SINK_CASES[name]
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first = build("sink", name, settings_for(first_dir))
    again = build("sink", name, settings_of(first))
    assert settings_of(again) == settings_of(first) == check_settings(REGISTRIES["sink"][name],
                                                                       settings_for(first_dir))
    assert repr(again) == repr(first)
    if output is None:
        assert name in NO_IO
        return
    # The second object writes elsewhere: the same config but for its output folder.
    second = build("sink", name, {**settings_of(again), **settings_for(second_dir)})
    written = output(first, first_dir)
    assert written and written == output(second, second_dir)


@pytest.mark.parametrize("kind, name", [("source", name) for name in sorted(REGISTRIES["source"])]
                         + [("sink", name) for name in sorted(REGISTRIES["sink"])])
def test_built_from_python_it_is_checked_as_a_config_is(tmp_path, kind, name):
    cls = REGISTRIES[kind][name]
    cases = SOURCE_CASES if kind == "source" else {k: v[0] for k, v in SINK_CASES.items()}
    settings = cases[name](tmp_path)
    with pytest.raises(ParamError) as caught:
        cls(**settings, no_such_key=1)
    assert caught.value.key == "no_such_key"
    numeric = next((p for p in cls.params if p.min is not None), None)
    if numeric is not None:
        with pytest.raises(ParamError) as caught:
            cls(**{**settings, numeric.name: numeric.min - 1})
        assert caught.value.key == numeric.name
