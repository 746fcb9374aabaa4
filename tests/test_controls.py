"""Controls and their tuned values: what the keys, the http view and the tuner change, read back by the stages."""

from __future__ import annotations

import pytest

from pipeline.controls import Controls
from pipeline.tuned import Target, single


def test_nudge_starts_from_the_pair_in_use_and_clamps():
    controls = Controls()
    assert controls.tuned.nudge("canny", "low", 5) == 5.0  # nothing used yet: from 0
    controls.tuned.record_used("canny", low=40, high=120)
    assert controls.tuned.nudge("canny", "high", 200) == 255.0
    assert controls.tuned.manual("canny") == {"low": 5.0, "high": 255.0}
    controls.tuned.set_manual("canny", low=None, high=None)
    assert controls.tuned.nudge("canny", "high", -10) == 110.0
    assert controls.snapshot().canny_manual == {"low": None, "high": 110.0}
    assert controls.snapshot().canny == {"low": 40.0, "high": 120.0}
    with pytest.raises(ValueError, match="low, high"):
        controls.tuned.nudge("canny", "middle", 1)


def test_controls_threshold_nudge_clamps_and_starts_from_the_value_in_use():
    controls = Controls()
    assert controls.tuned.nudge("threshold", "threshold", -5) == 0.0
    controls.tuned.set_manual("threshold", threshold=None)
    controls.tuned.record_used("threshold", threshold=100.0)
    assert controls.tuned.nudge("threshold", "threshold", 10) == 110.0
    assert controls.tuned.nudge("threshold", "threshold", 500) == 255.0
    controls.tuned.set_manual("threshold", threshold=None)
    assert single(controls.tuned.manual("threshold")) is None


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


# ---------------------------------------------------------------- tuned values, by target


def _step(target, **values):
    from pipeline.runtime.tuner import TunerStep

    return TunerStep(update=1, frame=0, target=target, start=dict(values), optimum=dict(values),
                     values=dict(values), objective=-0.5, iterations=1, seconds=0.0)


def test_each_target_keeps_its_own_manual_used_auto_and_step():
    tuned = Controls().tuned
    assert [target.name for target in tuned.targets()] == ["threshold", "canny"]
    tuned.set_manual("threshold", threshold=300)  # clamped to the target's range
    tuned.record_used("canny", low=10, high=90)
    step = _step("canny", low=20.0, high=80.0)
    tuned.publish(step)
    assert tuned.manual("threshold") == {"threshold": 255.0} and tuned.manual("canny") is None
    assert tuned.used("canny") == {"low": 10.0, "high": 90.0} and tuned.used("threshold") is None
    assert tuned.step("canny") is step and tuned.step("threshold") is None
    assert tuned.auto("canny") == {"low": 20.0, "high": 80.0} and tuned.auto("threshold") is None
    assert tuned.records() == {"canny": step.as_dict()}
    tuned.set_manual("canny", high=70.0)
    assert tuned.manual("canny") == {"low": None, "high": 70.0}
    assert not tuned.all_manual("canny") and tuned.all_manual("threshold")
    assert tuned.view() == {
        "threshold": {"manual": {"threshold": 255.0}, "used": None, "auto": None},
        "canny": {"manual": {"low": None, "high": 70.0}, "used": {"low": 10.0, "high": 90.0},
                  "auto": {"low": 20.0, "high": 80.0}}}


def test_choose_takes_hand_then_number_then_tuner_then_none():
    tuned = Controls().tuned
    auto = {"low": "auto", "high": "auto"}
    assert tuned.choose("canny", auto) == {"low": None, "high": None}  # the stage's fallback
    tuned.publish(_step("canny", low=-5.0, high=40.0))
    assert tuned.choose("canny", auto) == {"low": 0.0, "high": 40.0}  # clamped into range
    assert tuned.choose("canny", {"low": 12, "high": "auto"}) == {"low": 12.0, "high": 40.0}
    tuned.set_manual("canny", low=3.0)
    assert tuned.choose("canny", {"low": 12, "high": "auto"}) == {"low": 3.0, "high": 40.0}
    tuned.enabled = False  # the switch: auto no longer follows, the answer is kept
    assert tuned.choose("canny", auto) == {"low": 3.0, "high": None}
    assert tuned.auto("canny") is None and tuned.tuned("canny") == {"low": -5.0, "high": 40.0}
    assert single(tuned.choose("threshold", {"threshold": 80})) == 80.0


def test_nudge_starts_from_hand_then_used_then_tuned_then_zero():
    tuned = Controls().tuned
    tuned.publish(_step("threshold", threshold=50.0))
    assert tuned.nudge("threshold", "threshold", 5) == 55.0  # from the tuner's answer
    tuned.set_manual("threshold", threshold=None)
    tuned.record_used("threshold", threshold=70.0)
    assert tuned.nudge("threshold", "threshold", -5) == 65.0  # from the value in use
    assert tuned.nudge("threshold", "threshold", -5) == 60.0  # from the hand value


def test_bad_keys_name_what_exists():
    tuned = Controls().tuned
    with pytest.raises(ValueError, match="unknown tuned target 'sobel'; known: threshold, canny"):
        tuned.manual("sobel")
    with pytest.raises(ValueError, match="canny values are low, high; got \\['mid'\\]"):
        tuned.set_manual("canny", mid=3)
    with pytest.raises(ValueError, match="needs every value: low, high"):
        tuned.record_used("canny", low=3)
    with pytest.raises(ValueError, match="declared already"):
        tuned.add(Target("canny", ("low",)))


def test_a_third_target_needs_no_new_controls_method():
    # Controls has no per-target API: every tuned value goes through the keyed calls.
    assert not [name for name in dir(Controls) if "threshold" in name or "canny" in name]
    controls = Controls()
    blur = controls.tuned.add(Target("blur", ("sigma",), low=0.0, high=10.0))
    assert controls.tuned.add(blur) is blur  # declaring it again changes nothing
    assert controls.tuned.nudge("blur", "sigma", 25) == 10.0  # its own range
    controls.tuned.set_manual("blur", sigma=None)
    controls.tuned.record_used("blur", sigma=1.5)
    controls.tuned.expect_tuner("blur")
    controls.tuned.publish(_step("blur", sigma=2.5))
    assert controls.tuned.tuner_runs("blur") and not controls.tuned.tuner_runs("canny")
    assert single(controls.tuned.choose("blur", {"sigma": "auto"})) == 2.5
    stats = controls.snapshot()
    assert stats.tuned["blur"] == {"manual": None, "used": {"sigma": 1.5}, "auto": {"sigma": 2.5}}
    assert stats.tuner["blur"]["values"] == {"sigma": 2.5}
    assert stats.threshold is None and stats.canny is None  # the others are untouched


def test_live_stats_threshold_is_the_value_used_not_the_hand_set_one():
    controls = Controls()
    controls.tuned.set_manual("threshold", threshold=30.0)
    assert controls.snapshot().threshold is None  # set by hand, not used on a frame yet
    controls.tuned.record_used("threshold", threshold=30.0)
    controls.tuned.set_manual("threshold", threshold=None)
    stats = controls.snapshot()
    assert stats.threshold == 30.0 and stats.tuned["threshold"]["manual"] is None


def test_controls_and_tuned_values_are_leaves():
    """Stages, sinks and the runtime all read them, so they import nothing of those."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "pipeline"
    for module, allowed in (("tuned.py", set()), ("controls.py", {"pipeline.tuned"})):
        tree = ast.parse((package / module).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names}
        assert {name for name in imported if name.startswith("pipeline")} == allowed, module
