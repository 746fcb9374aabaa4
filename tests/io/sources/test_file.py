"""The file source over real decoding: clips the tests write themselves."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.base import SourceError
from pipeline.io.sources.file import FileSource
from tests.harness import FPS, FRAMES, HEIGHT, WIDTH, read_all, write_clip


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
