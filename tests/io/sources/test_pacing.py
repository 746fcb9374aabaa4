"""The frame pacer: no burst after falling behind."""

from __future__ import annotations

import time

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.sources.pacing import FramePacer


def test_pacer_does_not_burst_after_falling_behind():
    pacer = FramePacer(100.0)
    pacer.wait()
    time.sleep(0.1)  # ten periods late
    start = time.perf_counter()
    pacer.wait()  # late: no wait
    pacer.wait()  # on schedule again: one period
    assert 0.005 <= time.perf_counter() - start < 0.05
