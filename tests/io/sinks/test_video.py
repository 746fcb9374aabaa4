"""The video sink over real encoding (PyAV); outputs are read back with OpenCV and the real
ffprobe."""

from __future__ import annotations

import logging
import subprocess
import time

import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.frame import Frame
from pipeline.io.base import SinkError
from pipeline.io.temporaries import temporary_path
from pipeline.io.sinks.video import VideoSink
from pipeline.config.registry import ParamError, build
from pipeline.controls import Controls
from tests.harness import HEIGHT, WIDTH, files_in, make_frame, read_video


def probe_codec(path) -> str:
    """The video codec of ``path``, as the real ffprobe names it."""
    done = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "stream=codec_name", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


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


def test_video_check_needs_an_extension(tmp_path):
    with pytest.raises(SinkError, match="no extension"):
        VideoSink(str(tmp_path / "edges")).check()
