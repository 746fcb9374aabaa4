"""Sources over real OpenCV decoding: clips and pictures the tests write themselves."""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.base import SourceError
from pipeline.io.sources import CameraSource, FileSource, ImagesSource
from pipeline.io.sources.images import natural_sort_key
from pipeline.io.sources.pacing import FramePacer
from pipeline.io.sources.url import redact_url
from pipeline.io.sources.synthetic import SyntheticSource
from pipeline.registry import REGISTRIES, ParamError, build, check_settings, settings_of
from tests.harness import read_all

WIDTH, HEIGHT, FRAMES, FPS = 64, 48, 12, 15.0


def frame_number(i: int) -> np.ndarray:
    """Frame ``i`` of the test clips: flat grey level 20 * i (mod 240), so decoded frames are identifiable."""
    return np.full((HEIGHT, WIDTH, 3), (20 * i) % 240, np.uint8)


def write_clip(path, fourcc: str, frames: int = FRAMES, fps: float = FPS) -> str:
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), fps, (WIDTH, HEIGHT))
    assert writer.isOpened(), f"this OpenCV cannot write {fourcc} to {path}"
    for i in range(frames):
        writer.write(frame_number(i))
    writer.release()
    return str(path)


@pytest.fixture(params=[("clip.avi", "MJPG"), ("clip.mkv", "FFV1")], ids=["mjpg-avi", "ffv1-mkv"])
def clip(request, tmp_path):
    name, fourcc = request.param
    return write_clip(tmp_path / name, fourcc)



# --- file -------------------------------------------------------------------------------
def test_file_reads_every_frame_in_order(clip):
    with FileSource(clip) as source:
        assert source.live is False
        assert source.fps == pytest.approx(FPS)
        frames = read_all(source)
    assert len(frames) == FRAMES
    assert all(f.shape == (HEIGHT, WIDTH, 3) and f.dtype == np.uint8 for f in frames)
    levels = [int(np.median(f)) for f in frames]
    assert levels == pytest.approx([20 * i for i in range(FRAMES)], abs=3)


def test_file_frames_are_independent_arrays(clip):
    with FileSource(clip) as source:
        first, second = source.read(), source.read()
    assert not np.shares_memory(first, second)


def test_file_count_frames_counts_decoded_frames(clip):
    source = FileSource(clip)
    assert source.count_frames() == FRAMES


def test_count_frames_does_not_trust_container_metadata(tmp_path):
    full = write_clip(tmp_path / "full.avi", "MJPG", frames=30)
    data = open(full, "rb").read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # the AVI header still says 30 frames
    capture = cv2.VideoCapture(str(cut), cv2.CAP_FFMPEG)
    claimed = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    capture.release()
    counted = FileSource(str(cut)).count_frames()
    assert claimed == 30 and 0 < counted < 30
    with FileSource(str(cut)) as source:
        assert len(read_all(source)) == counted


def test_file_missing_names_the_path(tmp_path):
    path = tmp_path / "nope" / "missing.mp4"
    with pytest.raises(SourceError, match="does not exist") as caught:
        FileSource(str(path)).open()
    assert str(path) in str(caught.value) and "synthetic" in str(caught.value)


def test_file_that_is_a_folder_suggests_images(tmp_path):
    with pytest.raises(SourceError, match="`images` source"):
        FileSource(str(tmp_path)).open()


def test_file_undecodable_names_the_path(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match="cannot decode") as caught:
        FileSource(str(path)).open()
    assert str(path) in str(caught.value)


def test_file_that_opens_but_has_no_frame_is_an_error_at_open(tmp_path):
    data = open(write_clip(tmp_path / "full.avi", "MJPG"), "rb").read()
    path = tmp_path / "header_only.avi"
    path.write_bytes(data[: data.find(b"movi") + 4])  # container header, no frame data
    source = FileSource(str(path))
    with pytest.raises(SourceError, match="no frame decodes") as caught:
        source.open()
    assert str(path) in str(caught.value)
    source.close()  # safe after a failed open


def test_file_realtime_paces_at_the_file_rate(tmp_path):
    path = write_clip(tmp_path / "fast.avi", "MJPG", frames=10, fps=50.0)
    source = FileSource(path, realtime=True)
    assert source.live is True
    with source:
        start = time.perf_counter()
        frames = read_all(source)
        elapsed = time.perf_counter() - start
    assert len(frames) == 10
    assert 0.15 <= elapsed < 1.0  # 9 periods of 20 ms = 0.18 s; loose above for slow CI


def test_file_not_realtime_is_not_paced(tmp_path):
    path = write_clip(tmp_path / "slow.avi", "MJPG", frames=10, fps=2.0)
    with FileSource(path) as source:
        start = time.perf_counter()
        assert len(read_all(source)) == 10
    assert time.perf_counter() - start < 1.0  # paced, it would take 4.5 s


def test_file_loop_restarts_at_the_end(clip):
    source = FileSource(clip, loop=True)
    assert source.count_frames() is None
    with source:
        frames = read_all(source, limit=2 * FRAMES + 3)
    assert len(frames) == 2 * FRAMES + 3
    assert int(np.median(frames[FRAMES])) == pytest.approx(0, abs=3)
    assert int(np.median(frames[FRAMES + 1])) == pytest.approx(20, abs=3)


def test_read_before_open_is_an_error(clip):
    with pytest.raises(SourceError, match="not open"):
        FileSource(clip).read()


# --- images -----------------------------------------------------------------------------
def write_pictures(folder, names_levels) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, level in names_levels:
        assert cv2.imwrite(str(folder / name), np.full((10, 12, 3), level, np.uint8))


def test_images_in_natural_order(tmp_path):
    write_pictures(tmp_path / "shots", [("f_10.png", 30), ("f_2.png", 20), ("f_1.png", 10)])
    (tmp_path / "shots" / "notes.txt").write_text("not a picture")
    source = ImagesSource(str(tmp_path / "shots" / "*.png"), fps=12)
    with source:
        assert [p.rsplit("/", 1)[1] for p in source.paths] == ["f_1.png", "f_2.png", "f_10.png"]
        assert source.count_frames() == 3
        frames = read_all(source)
    assert [int(f[0, 0, 0]) for f in frames] == [10, 20, 30]
    assert frames[0].shape == (10, 12, 3) and frames[0].dtype == np.uint8


def test_images_fps_is_reported(tmp_path):
    write_pictures(tmp_path, [("a.png", 1)])
    assert ImagesSource(str(tmp_path / "*.png"), fps=12).fps == 12.0
    assert build("source", "images", {"glob": "x/*.png"}).fps == 25.0


def test_images_recursive_glob(tmp_path):
    write_pictures(tmp_path / "a", [("1.png", 1)])
    write_pictures(tmp_path / "b" / "c", [("2.png", 2)])
    with ImagesSource(str(tmp_path / "**" / "*.png")) as source:
        assert [int(f[0, 0, 0]) for f in read_all(source)] == [1, 2]


def test_images_grey_pictures_come_as_bgr(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((5, 6), 77, np.uint8))
    with ImagesSource(str(tmp_path / "*.png")) as source:
        frame = source.read()
    assert frame.shape == (5, 6, 3) and (frame == 77).all()


def test_images_glob_matching_nothing_is_an_error(tmp_path):
    pattern = str(tmp_path / "*.jpg")
    with pytest.raises(SourceError, match="matches no file") as caught:
        ImagesSource(pattern).open()
    assert pattern in str(caught.value)


def test_images_unreadable_picture_is_named(tmp_path):
    write_pictures(tmp_path, [("a1.png", 5)])
    (tmp_path / "a2.png").write_bytes(b"this is no png")
    with ImagesSource(str(tmp_path / "a*.png")) as source:
        assert source.read() is not None
        assert source.read() is None  # skipped (on_error: skip), named in the report
    assert source.report.skipped == 1
    assert any(str(tmp_path / "a2.png") in note and "does not decode" in note
               for note in source.report.notes)
    with ImagesSource(str(tmp_path / "a*.png"), on_error="stop") as source:
        assert source.read() is not None
        assert source.read() is None
    assert str(tmp_path / "a2.png") in source.report.failure


def test_natural_sort_key():
    names = ["x10.png", "x9.png", "x100.png", "x1.png"]
    assert sorted(names, key=natural_sort_key) == ["x1.png", "x9.png", "x10.png", "x100.png"]


# --- synthetic --------------------------------------------------------------------------
@pytest.mark.parametrize("width,height", [(16, 16), (33, 17), (640, 480), (1920, 1080)])
def test_synthetic_sizes(width, height):
    source = SyntheticSource(width=width, height=height, length=2)
    with source:
        frame = source.read()
    assert frame.shape == (height, width, 3) and frame.dtype == np.uint8


def test_synthetic_same_index_same_frame():
    a = SyntheticSource(width=320, height=240)
    b = SyntheticSource(width=320, height=240)
    with a:
        frames = read_all(a, limit=20)
    for i in (0, 7, 19):
        assert np.array_equal(frames[i], b.render(i))
        assert np.array_equal(b.render(i), b.render(i))
    assert not np.array_equal(frames[0], frames[1])  # it moves


def test_synthetic_frames_are_fresh_arrays():
    with SyntheticSource(width=64, height=48) as source:
        first = source.read()
        first[:] = 0  # downstream may scribble on a frame it keeps
        second = source.read()
    assert not np.shares_memory(first, second)
    assert np.array_equal(second, SyntheticSource(width=64, height=48).render(1))
    assert second.any()


def test_synthetic_has_hard_edges_and_smooth_areas():
    frame = SyntheticSource(width=320, height=240).render(0)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(int)
    steps = np.abs(np.diff(grey, axis=1))
    assert steps.max() > 150  # chessboard and bars: step edges
    assert np.median(steps) <= 2  # gradients: mostly smooth


def test_synthetic_length_and_endless():
    with SyntheticSource(width=32, height=32, length=5) as source:
        assert source.count_frames() == 5
        assert len(read_all(source)) == 5
    for endless in (0, None):
        with SyntheticSource(width=32, height=32, length=endless) as source:
            assert source.count_frames() is None
            assert len(read_all(source, limit=50)) == 50


def test_synthetic_fps_and_live_pacing():
    source = SyntheticSource(width=32, height=32, fps=50, length=10, live=True)
    assert source.live and source.fps == 50.0
    with source:
        start = time.perf_counter()
        assert len(read_all(source)) == 10
        elapsed = time.perf_counter() - start
    assert 0.15 <= elapsed < 1.0
    unpaced = SyntheticSource(width=32, height=32, fps=1, length=10)
    assert unpaced.live is False
    with unpaced:
        start = time.perf_counter()
        read_all(unpaced)
    assert time.perf_counter() - start < 1.0


def test_synthetic_is_fast_at_1080p():
    source = SyntheticSource(width=1920, height=1080, length=0)
    source.open()
    source.read()
    start = time.perf_counter()
    for _ in range(20):
        source.read()
    per_frame = (time.perf_counter() - start) / 20
    assert per_frame < 0.010  # about 1 ms here; 33 ms is a whole 30 fps frame


def test_synthetic_params_are_checked():
    with pytest.raises(ParamError, match="width"):
        build("source", "synthetic", {"width": 8})
    with pytest.raises(ParamError, match="length"):
        build("source", "synthetic", {"length": -1})


# --- camera (no camera here: the error paths, and the mode check over a file) ----------
def test_camera_missing_index_suggests_what_to_try():
    with pytest.raises(SourceError) as caught:
        CameraSource(device=97).open()
    message = str(caught.value)
    assert "camera 97" in message and "ls /dev/video*" in message and "another index" in message
    assert "`file`" in message


def test_camera_missing_device_path():
    with pytest.raises(SourceError, match="'/dev/video97' does not exist") as caught:
        CameraSource(device="/dev/video97").open()
    assert "ls /dev/video*" in str(caught.value)


def test_camera_index_given_as_text_is_an_index():
    assert CameraSource(device="3").device == 3


def test_camera_bad_fourcc_is_a_param_error():
    with pytest.raises(ParamError, match="4 ASCII characters"):
        build("source", "camera", {"fourcc": "MJPEG"})


def test_camera_reports_a_mode_it_did_not_get(tmp_path, caplog):
    # A video file opened as a "device" ignores every requested setting, like a camera
    # without that mode: the source must say so and go on with what it gets.
    path = write_clip(tmp_path / "cam.avi", "MJPG")
    source = CameraSource(device=path, width=640, height=480, fps=60, fourcc="YUYV")
    assert source.live is True and source.fps == 60  # before open: the requested rate
    with caplog.at_level(logging.WARNING, logger="pipeline.io.sources"):
        with source:
            frame = source.read()
            assert source.fps == pytest.approx(FPS)  # once open: the real rate
    assert frame.shape == (HEIGHT, WIDTH, 3)
    text = caplog.text
    assert f"delivers {WIDTH}x{HEIGHT}, not the requested 640x480" in text
    assert "not the requested 'YUYV'" in text
    assert "not the requested 60" in text


# --- registry -----------------------------------------------------------------------------
def test_all_sources_registered():
    assert {"camera", "file", "images", "url", "synthetic"} <= set(REGISTRIES["source"])


@pytest.mark.parametrize("name,settings", [
    ("camera", {"device": 2, "width": 1280, "height": 720, "fps": 30.0, "fourcc": "MJPG",
                "read_timeout": 2.0, "on_error": "retry", "reconnect_attempts": 3}),
    ("file", {"path": "in.mp4", "realtime": True, "loop": True, "on_error": "stop",
              "max_consecutive_errors": 5}),
    ("images", {"glob": "shots/*.png", "fps": 10.0}),
    ("url", {"url": "rtsp://cam.local/live", "open_timeout": 3.0, "read_timeout": 2.0,
             "on_error": "retry", "reconnect_backoff": 0.5, "reconnect_max_backoff": 4.0}),
    ("synthetic", {"width": 320, "height": 200, "fps": 24.0, "length": 0, "live": True}),
])
def test_sources_round_trip_through_settings(name, settings):
    built = build("source", name, settings)
    expected = check_settings(REGISTRIES["source"][name], settings)  # with defaults
    assert settings_of(built) == expected
    assert settings_of(build("source", name, settings_of(built))) == expected


def test_pacer_does_not_burst_after_falling_behind():
    pacer = FramePacer(100.0)
    pacer.wait()
    time.sleep(0.1)  # ten periods late
    start = time.perf_counter()
    pacer.wait()  # late: no wait
    pacer.wait()  # on schedule again: one period
    assert 0.005 <= time.perf_counter() - start < 0.05


def test_redact_url_hides_passwords():
    assert redact_url("rtsp://admin:secret@cam:554/s") == "rtsp://admin:***@cam:554/s"
    assert redact_url("udp://127.0.0.1:5000") == "udp://127.0.0.1:5000"


# --- construction from Python checks settings as a config does (issue 14) -----------------
#: Per source: a complete good setting, then bad values a config would refuse.
PYTHON_BUILT = {
    "camera": ({}, [{"width": 3}, {"fourcc": "MJPEG"}, {"on_error": "skip"},
                    {"reconnect_attempts": 3}, {"device": -1}]),
    "file": ({"path": "in.mp4"}, [{"path": "in.mp4", "on_error": "skp"}, {"path": 5},
                                  {"path": "in.mp4", "max_consecutive_errors": 0}, {}]),
    "images": ({"glob": "*.png"}, [{"glob": "*.png", "fps": 0}, {"glob": None}]),
    "url": ({"url": "udp://127.0.0.1:5000"}, [{"url": "in.mp4"}, {"url": "udp://127.0.0.1:5000", "read_timeout": 0},
                                              {"url": "udp://127.0.0.1:5000", "rtsp_transport": "udp"},
                                              {"url": "rtsp://cam/live", "rtsp_transport": "http"}]),
    "synthetic": ({}, [{"width": 5}, {"length": -1}, {"live": "yes"}, {"fps": float("nan")}]),
}


def test_every_source_is_covered_by_the_construction_checks():
    assert set(PYTHON_BUILT) == set(REGISTRIES["source"])


@pytest.mark.parametrize("name", sorted(PYTHON_BUILT))
def test_a_source_built_from_python_is_refused_like_in_a_config(name):
    cls = REGISTRIES["source"][name]
    good, bad = PYTHON_BUILT[name]
    assert settings_of(cls(**good)) == check_settings(cls, good)  # defaults from the Params
    for settings in bad + [{**good, "no_such_key": 1}]:
        with pytest.raises(ParamError) as from_config:
            build("source", name, settings)
        with pytest.raises(ParamError) as from_python:
            cls(**settings)
        assert from_python.value.key == from_config.value.key
        assert str(from_python.value) == str(from_config.value)


def test_defaults_live_only_in_the_params():
    # No source repeats a default in its __init__ signature: every __init__ takes
    # *values, **settings and the base fills defaults from the Params.
    import inspect

    for name, cls in REGISTRIES["source"].items():
        parameters = inspect.signature(cls.__init__).parameters.values()
        assert all(p.default is inspect.Parameter.empty for p in parameters), name


def test_positional_settings_follow_the_params():
    assert FileSource("in.mp4", True).realtime is True
    with pytest.raises(TypeError, match="both by position and by name"):
        FileSource("in.mp4", path="other.mp4")
    with pytest.raises(TypeError, match="at most 3"):
        ImagesSource("*.png", 5.0, "skip", 6)
