"""File sinks over real encoding (PyAV for video, OpenCV for pictures); outputs are read back
with OpenCV, the real ffprobe and json."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time

import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.frame import Frame
from pipeline.io.base import SinkError
from pipeline.io.outputs import check_writable_folder, temporary_path
from pipeline.io.sinks import DiscardSink, ImagesSink, StatsSink, VideoSink
from pipeline.registry import REGISTRIES, ParamError, build, settings_of
from pipeline.runtime.controls import Controls
from tests.harness import ROOT

WIDTH, HEIGHT = 64, 48


def make_frame(index: int, grey: bool = False, side: dict | None = None) -> Frame:
    level = (25 * index) % 250
    shape = (HEIGHT, WIDTH) if grey else (HEIGHT, WIDTH, 3)
    image = np.full(shape, level, np.uint8)
    image[: HEIGHT // 2, : WIDTH // 2] = 255 - level  # an edge, so codecs have work to do
    return Frame(index, time.perf_counter(), image, image, dict(side or {}))


def read_video(path) -> tuple[int, tuple, float]:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    assert capture.isOpened(), f"cannot read back {path}"
    count, shape = 0, None
    while True:
        ok, image = capture.read()
        if not ok:
            break
        count, shape = count + 1, image.shape
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return count, shape, fps


def probe_codec(path) -> str:
    """The video codec of ``path``, as the real ffprobe names it."""
    done = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "stream=codec_name", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- video --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["edges.mp4", "edges.mkv", "edges.avi"])
@pytest.mark.parametrize("grey", [False, True], ids=["bgr", "grey"])
def test_video_round_trip(tmp_path, name, grey):
    sink = VideoSink(str(tmp_path / "out" / name))
    sink.check()
    assert not (tmp_path / "out").exists()  # check() creates nothing
    sink.open(make_frame(0, grey), 12.0, Controls())
    for i in range(10):
        sink.write(make_frame(i, grey))
    sink.close()
    count, shape, fps = read_video(tmp_path / "out" / name)
    assert (count, shape[:2], fps) == (10, (HEIGHT, WIDTH), 12.0)
    assert files_in(tmp_path / "out") == [name]


def test_video_default_codec_by_extension(tmp_path):
    used = {}
    for name in ("a.mp4", "b.mkv", "c.avi", "d.webm", "e.mov"):
        sink = VideoSink(str(tmp_path / name))
        sink.open(make_frame(0), 10.0, None)
        sink.write(make_frame(0))
        sink.close()
        used[name] = (sink.codec_used, probe_codec(tmp_path / name))
    assert used == {"a.mp4": ("h264", "h264"), "b.mkv": ("h264", "h264"), "c.avi": ("mjpeg", "mjpeg"),
                    "d.webm": ("vp9", "vp9"), "e.mov": ("h264", "h264")}


@pytest.mark.parametrize("fourcc, codec", [("FFV1", "ffv1"), ("mp4v", "mpeg4"), ("XVID", "mpeg4"), ("MJPG", "mjpeg")])
def test_video_fourcc_is_an_alias_of_codec(tmp_path, fourcc, codec):
    path = tmp_path / "x.avi"
    sink = VideoSink(str(path), fourcc=fourcc)
    sink.open(make_frame(0), 10.0, None)
    sink.write(make_frame(0))
    sink.close()
    assert sink.codec_used == codec and probe_codec(path) == codec


def test_video_codec_is_used(tmp_path):
    path = tmp_path / "x.avi"
    sink = VideoSink(str(path), codec="ffv1")
    sink.open(make_frame(0), 10.0, None)
    sink.write(make_frame(0))
    sink.close()
    assert probe_codec(path) == "ffv1"  # not mjpeg, the .avi default


def test_video_fps_setting_overrides_the_source_rate(tmp_path):
    # Frames without a pts (made by hand) are placed at index / fps.
    for name in ("v.mp4", "v.avi"):
        sink = VideoSink(str(tmp_path / name), fps=7.0)
        sink.open(make_frame(0), 30.0, None)
        for i in range(3):
            sink.write(make_frame(i))
        sink.close()
        assert read_video(tmp_path / name)[2] == 7.0


def test_video_nothing_under_the_final_name_until_close(tmp_path):
    final = tmp_path / "edges.mp4"
    sink = VideoSink(str(final))
    sink.open(make_frame(0), 10.0, None)
    for i in range(5):
        sink.write(make_frame(i))
    assert not final.exists()
    temp = temporary_path(final)
    assert temp.exists() and temp.name.startswith(".edges.mp4.part-") and temp.suffix == ".mp4"
    sink.close()
    assert final.exists() and not temp.exists()
    assert read_video(final)[0] == 5


def test_video_close_replaces_an_old_file(tmp_path):
    final = tmp_path / "edges.avi"
    final.write_bytes(b"old")
    sink = VideoSink(str(final))
    sink.open(make_frame(0), 10.0, None)
    sink.write(make_frame(0))
    assert final.read_bytes() == b"old"  # untouched until complete
    sink.close()
    assert read_video(final)[0] == 1


def test_video_abort_leaves_nothing(tmp_path):
    sink = VideoSink(str(tmp_path / "edges.mp4"))
    sink.open(make_frame(0), 10.0, None)
    for i in range(5):
        sink.write(make_frame(i))
    assert files_in(tmp_path)  # the temporary file is there
    sink.abort()
    assert files_in(tmp_path) == []
    sink.abort()  # twice is fine


def test_video_without_frames_makes_no_file(tmp_path, caplog):
    sink = VideoSink(str(tmp_path / "edges.mp4"))
    sink.open(make_frame(0), 10.0, None)
    with caplog.at_level(logging.WARNING):
        sink.close()
    assert files_in(tmp_path) == [] and "no frame was written" in caplog.text


def test_video_unknown_fourcc_says_what_replaced_it(tmp_path, capfd):
    with pytest.raises(ParamError) as caught:
        VideoSink(str(tmp_path / "edges.mp4"), fourcc="ZZZZ")
    assert caught.value.key == "fourcc" and "replaced by codec" in str(caught.value)
    assert "mp4v is mpeg4" in str(caught.value)
    assert "OpenCV" not in "".join(capfd.readouterr())  # nothing raw from FFmpeg or OpenCV
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("name", ["edges.xyz", "edges.mp5"])
def test_video_unknown_extension_lists_the_containers(tmp_path, name):
    with pytest.raises(SinkError) as caught:
        VideoSink(str(tmp_path / name)).check()
    assert name in str(caught.value) and ".mp4" in str(caught.value) and ".webm" in str(caught.value)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("name", ["edges.png", "out/edges.JPG", "e.jpeg", "e.tiff"])
def test_video_picture_name_points_at_the_images_sink(tmp_path, name):
    with pytest.raises(SinkError, match="images sink") as caught:
        VideoSink(str(tmp_path / name)).check()
    assert "{index:06d}" in str(caught.value)


def test_video_frame_of_another_size_is_scaled_and_reported(tmp_path):
    final = tmp_path / "edges.mkv"
    sink = VideoSink(str(final), codec="ffv1")
    sink.open(make_frame(0), 10.0, None)
    sink.write(make_frame(0))
    sink.write(make_frame(1, grey=True))  # another kind
    odd = Frame(2, time.perf_counter(), np.zeros((30, 20, 3), np.uint8), np.zeros((30, 20, 3), np.uint8))
    sink.write(odd)  # another size
    sink.write(make_frame(3))
    sink.close()
    count, shape, _ = read_video(final)
    assert (count, shape) == (4, (HEIGHT, WIDTH, 3))  # the good frames kept, the others fitted
    assert any("2 frame(s) of another size or kind (first: frame 1, 64x48)" in note for note in sink.notes)


def test_video_refuses_non_uint8(tmp_path):
    sink = VideoSink(str(tmp_path / "edges.mp4"))
    frame = make_frame(0)
    frame.image = frame.image.astype(np.float32)
    with pytest.raises(SinkError, match="float32"):
        sink.open(frame, 10.0, None)


def test_video_needs_a_rate(tmp_path):
    with pytest.raises(SinkError, match="set fps"):
        VideoSink(str(tmp_path / "v.mp4")).open(make_frame(0), None, None)


def test_video_bad_fourcc_setting():
    with pytest.raises(ParamError, match="4 ASCII"):
        build("sink", "video", {"path": "x.mp4", "fourcc": "h264x"})


@pytest.mark.parametrize("settings, key, message", [
    ({"path": "x.webm", "codec": "h264"}, "codec", "cannot hold h264"),
    ({"path": "x.mp4", "codec": "mpeg4", "crf": 20}, "crf", "takes bitrate"),
    ({"path": "x.mp4", "crf": 20, "bitrate": "2M"}, "crf", "not both"),
    ({"path": "x.mp4", "crf": 60}, "crf", "[0, 51]"),
    ({"path": "x.mkv", "codec": "ffv1", "bitrate": 100000}, "bitrate", "lossless"),
    ({"path": "x.mp4", "bitrate": "fast"}, "bitrate", "bits per second"),
    ({"path": "x.mp4", "pix_fmt": "rgb24"}, "pix_fmt", "libx264"),
    ({"path": "x.avi", "codec": "mjpeg", "preset": "fast"}, "preset", "has none"),
    ({"path": "x.mp4", "fourcc": "mp4v", "codec": "h264"}, "fourcc", "give codec only"),
    ({"path": "x.mp4", "audio": "copyy"}, "audio", "did you mean 'copy'"),
])
def test_video_settings_that_do_not_fit(settings, key, message):
    with pytest.raises(ParamError) as caught:
        build("sink", "video", settings)
    assert caught.value.key == key and message in str(caught.value)


@pytest.mark.parametrize("cls, settings, key", [
    (ImagesSink, {"path": "f/{index}.jpg", "jpeg_quality": -5}, "jpeg_quality"),
    (ImagesSink, {"path": "f/{index}.png", "png_compression": 10}, "png_compression"),
    (ImagesSink, {"path": "f/frame.png"}, "path"),
    (VideoSink, {"path": "x.mp4", "fps": 0}, "fps"),
    (VideoSink, {"path": "x.mp4", "crf": "high"}, "crf"),
    (VideoSink, {}, "path"),
    (StatsSink, {"path": 3}, "path"),
    (DiscardSink, {"every": 2}, "every"),
])
def test_sinks_built_from_python_check_their_settings(cls, settings, key):
    """Defaults live in the Param declarations only, checked as a config's are."""
    with pytest.raises(ParamError) as caught:
        cls(**settings)
    assert caught.value.key == key


def test_video_check_needs_an_extension(tmp_path):
    with pytest.raises(SinkError, match="no extension"):
        VideoSink(str(tmp_path / "edges")).check()


def test_check_parent_is_a_file(tmp_path):
    blocker = tmp_path / "report.txt"
    blocker.write_text("x")
    target = blocker / "sub" / "edges.mp4"
    with pytest.raises(SinkError) as caught:
        VideoSink(str(target)).check()
    assert str(blocker) in str(caught.value) and "is a file" in str(caught.value)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_check_unwritable_filesystem():
    # /proc refuses new files even to root, so this holds wherever the tests run.
    with pytest.raises(SinkError, match="cannot write") as caught:
        VideoSink("/proc/edgepipe-test/edges.mp4").check()
    assert "/proc" in str(caught.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_check_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SinkError, match="cannot write") as caught:
            VideoSink(str(locked / "edges.mp4")).check()
        assert str(locked) in str(caught.value)
    finally:
        locked.chmod(0o700)


def test_check_leaves_no_probe_file(tmp_path):
    check_writable_folder(tmp_path / "a" / "b" / "x.mp4", "test")
    assert files_in(tmp_path) == []


# --- images ---------------------------------------------------------------------------------
def test_images_numbered_by_frame_index(tmp_path):
    sink = ImagesSink(str(tmp_path / "frames" / "f_{index:04d}.png"))
    sink.check()
    sink.open(make_frame(0), 10.0, None)
    for i in (0, 1, 5):  # 2 to 4 were dropped upstream
        sink.write(make_frame(i, grey=i == 5))
    sink.close()
    assert files_in(tmp_path / "frames") == ["f_0000.png", "f_0001.png", "f_0005.png"]
    back = cv2.imread(str(tmp_path / "frames" / "f_0001.png"))
    assert np.array_equal(back, make_frame(1).image)  # PNG is lossless
    grey = cv2.imread(str(tmp_path / "frames" / "f_0005.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(grey, make_frame(5, grey=True).image)


def test_images_jpeg_quality_is_used(tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    sizes = {}
    for quality in (10, 95):
        sink = ImagesSink(str(tmp_path / f"q{quality}" / "{index}.jpg"), jpeg_quality=quality)
        sink.open(None, 10.0, None)
        sink.write(Frame(0, 0.0, noise, noise))
        sizes[quality] = (tmp_path / f"q{quality}" / "0.jpg").stat().st_size
    assert sizes[10] < sizes[95] / 2


def test_images_png_compression_is_used(tmp_path):
    smooth = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    sizes = {}
    for level in (0, 9):
        sink = ImagesSink(str(tmp_path / f"c{level}_{{index}}.png"), png_compression=level)
        sink.write(Frame(0, 0.0, smooth, smooth))
        sizes[level] = (tmp_path / f"c{level}_0.png").stat().st_size
    assert sizes[9] < sizes[0] / 4


def test_images_leaves_no_temporary_files(tmp_path):
    sink = ImagesSink(str(tmp_path / "{index:03d}.jpeg"))
    for i in range(3):
        sink.write(make_frame(i))
    assert files_in(tmp_path) == ["000.jpeg", "001.jpeg", "002.jpeg"]


@pytest.mark.parametrize("pattern,message", [
    ("frames/frame.png", "must contain {index}"),
    ("frames/{name}_{index}.png", "must contain {index}"),
    ("frames/{index:06d}.bmp", "must end in"),
    ("frames/{index:q}.png", "does not format"),
])
def test_images_bad_pattern(pattern, message):
    with pytest.raises(ParamError, match=message):
        build("sink", "images", {"path": pattern})


def test_images_check_unwritable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SinkError, match="is a file"):
        ImagesSink(str(blocker / "{index}.png")).check()


# --- stats ------------------------------------------------------------------------------------
def test_stats_json_lines(tmp_path):
    final = tmp_path / "run" / "stats.jsonl"
    controls = Controls()
    controls.publish_stats(dropped=3)
    sink = StatsSink(str(final))
    sink.check()
    sink.open(make_frame(0), 10.0, controls)
    sides = [
        {"threshold": 40.0, "drops": 1, "tuner": {"objective": np.float32(0.5), "iterations": np.int64(7)},
         "histogram": np.zeros(256)},
        {"threshold": np.float64(42.5), "stage_ms": (1.5, 2.0), "bad": float("nan")},
        {},
    ]
    for i, side in enumerate(sides):
        sink.write(make_frame(i, side=side))
    assert not final.exists()
    sink.close()
    rows = [json.loads(line) for line in final.read_text().splitlines()]
    assert [r["index"] for r in rows] == [0, 1, 2]
    for row in rows:
        assert 0 <= row["latency_ms"] < 10_000
        assert abs(row["captured_at"] - time.time()) < 60
    assert rows[0]["threshold"] == 40.0 and rows[0]["drops"] == 1
    assert rows[0]["tuner"] == {"objective": 0.5, "iterations": 7}
    assert "histogram" not in rows[0]
    assert rows[1]["threshold"] == 42.5 and rows[1]["stage_ms"] == [1.5, 2.0] and rows[1]["bad"] is None
    assert rows[1]["drops"] == 3  # not in side: the run's live count
    assert rows[2]["threshold"] is None
    assert files_in(final.parent) == ["stats.jsonl"]


def test_stats_latency_is_measured_from_capture(tmp_path):
    sink = StatsSink(str(tmp_path / "s.jsonl"))
    sink.open(None, 10.0, None)
    frame = make_frame(0)
    frame.timestamp -= 0.25  # captured a quarter second ago
    row = sink.record(frame)
    assert 250 <= row["latency_ms"] < 350
    sink.abort()


def test_stats_abort_leaves_nothing(tmp_path):
    sink = StatsSink(str(tmp_path / "s.jsonl"))
    sink.open(None, 10.0, None)
    sink.write(make_frame(0))
    sink.abort()
    assert files_in(tmp_path) == []


def test_stats_to_stdout(capsys):
    sink = StatsSink("-")
    sink.check()
    sink.open(None, 10.0, None)
    sink.write(make_frame(4, side={"threshold": 9}))
    sink.close()
    row = json.loads(capsys.readouterr().out)
    assert row["index"] == 4 and row["threshold"] == 9


# --- discard and the registry -----------------------------------------------------------------
def test_discard_counts_and_keeps_nothing(tmp_path):
    sink = build("sink", "discard")
    assert isinstance(sink, DiscardSink)
    sink.check()
    sink.open(make_frame(0), 10.0, None)
    for i in range(4):
        sink.write(make_frame(i))
    sink.close()
    assert sink.frames_written == 4


def test_null_is_not_a_sink_name():
    assert "null" not in REGISTRIES["sink"]
    assert {"video", "images", "stats", "discard", "window"} <= set(REGISTRIES["sink"])


@pytest.mark.parametrize("name,settings", [
    ("video", {"path": "out/e.mkv", "codec": "h264", "crf": 20, "bitrate": None, "preset": "veryfast",
               "pix_fmt": "yuv420p", "audio": "none", "fourcc": None, "fps": 25.0}),
    ("video", {"path": "out/e.mkv", "codec": None, "crf": None, "bitrate": None, "preset": None,
               "pix_fmt": None, "audio": "copy", "fourcc": "FFV1", "fps": None}),
    ("images", {"path": "f/{index:05d}.jpg", "jpeg_quality": 80, "png_compression": 3}),
    ("stats", {"path": "s.jsonl"}),
    ("discard", {}),
    ("window", {"title": "edges", "snapshot_dir": "shots", "threshold_step": 2.5}),
])
def test_sinks_round_trip_through_settings(name, settings):
    built = build("sink", name, settings)
    assert settings_of(built) == settings
    assert settings_of(build("sink", name, settings_of(built))) == settings


# --- scripts/make_sample_clip.py (the video sink end to end) ---------------------------------
def load_make_sample_clip():
    import importlib.util

    path = ROOT / "scripts" / "make_sample_clip.py"
    spec = importlib.util.spec_from_file_location("make_sample_clip", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_sample_clip_synthetic(tmp_path, capsys):
    script = load_make_sample_clip()
    out = tmp_path / "clips" / "sample.avi"
    assert script.main([str(out), "--width", "96", "--height", "64", "--frames", "9", "--fps", "12"]) == 0
    assert read_video(out) == (9, (64, 96, 3), 12.0)
    assert "codec mjpeg" in capsys.readouterr().out
    assert files_in(out.parent) == ["sample.avi"]


def test_make_sample_clip_scales_and_loops_a_file(tmp_path):
    script = load_make_sample_clip()
    clip = tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(clip), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (WIDTH, HEIGHT))
    for i in range(4):
        writer.write(make_frame(i).image)
    writer.release()
    out = tmp_path / "out.mkv"
    assert script.main([str(out), "--from", str(clip), "--width", "32", "--height", "24",
                        "--frames", "10", "--codec", "ffv1", "--grey"]) == 0
    count, shape, fps = read_video(out)
    assert (count, shape[:2], fps) == (10, (24, 32), 10.0)  # 4 source frames looped to 10


def test_make_sample_clip_errors(tmp_path, capsys):
    script = load_make_sample_clip()
    assert script.main([str(tmp_path / "x.mp4"), "--from", str(tmp_path / "missing.avi")]) == 1
    assert "missing.avi" in capsys.readouterr().err
    assert files_in(tmp_path) == []
    with pytest.raises(SystemExit) as caught:
        script.main([str(tmp_path / "x.mp4"), "--frames", "0"])
    assert caught.value.code == 2
