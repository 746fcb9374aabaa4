"""The synthetic source: sizes, the same frame for the same index, pacing, speed."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.sources import pacing, synthetic
from pipeline.io.sources.synthetic import SyntheticSource, make_background
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


class PacerClock:
    """The pacer's ``time`` (an injected clock): sleeping moves it, each sleep is kept."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def perf_counter(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_synthetic_fps_and_live_pacing(monkeypatch):
    clock = PacerClock()
    monkeypatch.setattr(pacing, "time", clock)
    source = SyntheticSource(width=32, height=32, fps=50, length=10, live=True)
    assert source.live and source.fps == 50.0
    with source:
        assert len(read_all(source)) == 10
    # The first frame at once, then one 50 fps period before each of the other nine.
    assert clock.sleeps == [pytest.approx(0.02)] * 9
    unpaced = SyntheticSource(width=32, height=32, fps=1, length=10)
    assert unpaced.live is False
    with unpaced:
        assert len(read_all(unpaced)) == 10
    assert len(clock.sleeps) == 9  # not paced: no sleep at 1 fps either


def test_synthetic_draws_on_a_background_made_once(monkeypatch):
    # What keeps the pattern at about 1 ms a frame at 1080p: the gradients, bars and
    # chessboard are computed once at open, and each frame is a copy plus a few cv2 calls.
    made = []

    def counted(width, height):
        made.append((width, height))
        return make_background(width, height)

    monkeypatch.setattr(synthetic, "make_background", counted)
    source = SyntheticSource(width=1920, height=1080, length=0)
    source.open()
    frames = [source.read() for _ in range(21)]
    assert made == [(1920, 1080)]
    assert all(frame.shape == (1080, 1920, 3) and frame.dtype == np.uint8 for frame in frames)
    assert not any(np.shares_memory(frames[0], frame) for frame in frames[1:])  # fresh arrays


def test_synthetic_params_are_checked():
    with pytest.raises(ParamError, match="width"):
        build("source", "synthetic", {"width": 8})
    with pytest.raises(ParamError, match="length"):
        build("source", "synthetic", {"length": -1})
