"""Controls: what the keys, the http view and the tuner change, read back by the stages."""

from __future__ import annotations

import pytest

from pipeline.runtime.controls import Controls


def test_nudge_starts_from_the_pair_in_use_and_clamps():
    controls = Controls()
    assert controls.nudge_canny("low", 5) == 5.0  # nothing used yet: from 0
    controls.record_canny_used(40, 120)
    assert controls.nudge_canny("high", 200) == 255.0
    assert controls.canny_manual == {"low": 5.0, "high": 255.0}
    controls.set_canny(None, None)
    assert controls.nudge_canny("high", -10) == 110.0
    assert controls.snapshot().canny_manual == {"low": None, "high": 110.0}
    assert controls.snapshot().canny == {"low": 40.0, "high": 120.0}
    with pytest.raises(ValueError, match="low, high"):
        controls.nudge_canny("middle", 1)


def test_controls_threshold_nudge_clamps_and_starts_from_the_value_in_use():
    controls = Controls()
    assert controls.nudge_threshold(-5) == 0.0
    controls.threshold = None
    controls.record_threshold_used(100.0)
    assert controls.nudge_threshold(10) == 110.0
    assert controls.nudge_threshold(500) == 255.0
    controls.threshold = None
    assert controls.threshold is None


def test_controls_toggles_snapshot_requests_and_stop():
    controls = Controls()
    assert controls.toggle_pause() is True and controls.snapshot().paused
    assert controls.toggle_tuner() is False and not controls.snapshot().tuner_enabled
    controls.request_snapshot()
    assert controls.snapshot_requested
    assert controls.take_snapshot_request() is True
    assert controls.take_snapshot_request() is False
    controls.stop("stopped")
    controls.stop("error")
    assert controls.stopped and controls.stop_reason == "stopped"
    assert not controls.paused  # a stopped run is never held paused
    assert controls.wait_stopped(0)
