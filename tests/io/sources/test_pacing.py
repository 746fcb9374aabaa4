"""The frame pacer: no burst after falling behind, on an injected clock."""

from __future__ import annotations

import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.sources import pacing
from pipeline.io.sources.pacing import FramePacer


class FakeClock:
    """``time.perf_counter`` and ``time.sleep`` for the pacer: sleeping moves the clock."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(pacing, "time", fake)
    return fake


def test_pacer_does_not_burst_after_falling_behind(clock):
    pacer = FramePacer(100.0)
    pacer.wait()  # the first frame: at once
    clock.now += 0.1  # ten periods late
    pacer.wait()  # late: no wait
    assert clock.sleeps == []
    pacer.wait()  # on schedule again: one period after the late frame
    assert clock.sleeps == [pytest.approx(0.01)]


def test_pacer_holds_the_rate_without_drift(clock):
    pacer = FramePacer(25.0)
    for _ in range(50):
        pacer.wait()
        clock.now += 0.003  # the producer's own work between frames
    # 49 periods after the first frame, whatever the work took (less than a period).
    assert clock.now - 0.003 == pytest.approx(49 * 0.04)
    assert all(sleep == pytest.approx(0.037) for sleep in clock.sleeps)


def test_reset_makes_the_next_frame_due_at_once(clock):
    pacer = FramePacer(10.0)
    pacer.wait()
    pacer.reset()
    pacer.wait()
    assert clock.sleeps == []
    pacer.wait()
    assert clock.sleeps == [pytest.approx(0.1)]
