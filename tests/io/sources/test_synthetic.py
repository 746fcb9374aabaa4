"""The synthetic source: sizes, the same frame for the same index, pacing, speed."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.sources.synthetic import SyntheticSource
from pipeline.config.registry import ParamError, build
from tests.harness import read_all


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
