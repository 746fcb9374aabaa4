"""The threshold stage: Otsu against OpenCV, and which value wins (hand, tuner, Otsu)."""

import cv2
import numpy as np
import pytest

import pipeline.stages  # noqa: F401  (registers the stages)
from pipeline import ops
from pipeline.frame import Frame
from pipeline.config.registry import build
from pipeline.controls import Controls
from pipeline.ops import otsu_threshold
from tests.harness import INPUTS, magnitude, run


def test_threshold_auto_without_map_makes_the_histogram_once_and_leaves_it():
    magnitude = run(build("stage", "gradient"), INPUTS["gradient"]((30, 40)))
    expected = np.bincount(ops.map_abs(magnitude.image).ravel(), minlength=256)
    out = run(build("stage", "threshold"), magnitude)
    np.testing.assert_array_equal(out.side["histogram"], expected)
    assert out.side["threshold"] == ops.otsu_threshold(expected)


# ---------------------------------------------------------------- threshold

def test_otsu_threshold_matches_opencv():
    rng = np.random.default_rng(1)
    for seed in range(5):
        img = np.concatenate([rng.normal(40 + 10 * seed, 12, 900), rng.normal(170, 20, 500)])
        img = np.clip(img, 0, 255).astype(np.uint8).reshape(35, 40)
        expected, _ = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        # made with OpenCV's THRESH_OTSU, which also splits at "<= t" vs "> t"
        assert otsu_threshold(np.bincount(img.ravel(), minlength=256)) == expected
    assert otsu_threshold(np.zeros(256)) == 0.0
    assert otsu_threshold(np.bincount([7] * 5, minlength=256)) == 0.0
    with pytest.raises(ValueError, match="256 bins"):
        otsu_threshold(np.zeros(10))


def publish_threshold(controls, value):
    """What the tuner does after an update: one TunerStep through the controls."""
    from pipeline.runtime.tuner import TunerStep

    controls.tuned.publish(TunerStep(
        update=1, frame=None, target="threshold", start={"threshold": float(value)},
        optimum={"threshold": float(value)}, values={"threshold": float(value)},
        objective=None, iterations=0, seconds=0.0))


def test_threshold_auto_uses_manual_then_tuner_then_otsu():
    frame = INPUTS["threshold"]((30, 40))
    hist = np.bincount(frame.image.ravel(), minlength=256)
    stage = build("stage", "threshold")  # value: auto
    assert run(stage, frame).side["threshold"] == otsu_threshold(hist)
    frame.side["histogram"] = hist
    controls = Controls()
    stage.bind(controls)
    assert run(stage, frame).side["threshold"] == otsu_threshold(hist)
    publish_threshold(controls, 77)
    out = run(stage, frame)
    assert out.side["threshold"] == 77.0
    np.testing.assert_array_equal(out.image, ops.threshold(frame.image, 77))
    assert controls.snapshot().threshold == 77.0
    controls.toggle_tuner()  # tuner off: back to Otsu
    assert run(stage, frame).side["threshold"] == otsu_threshold(hist)
    controls.tuned.set_manual("threshold", threshold=12)  # manual wins over everything
    controls.toggle_tuner()
    assert run(stage, frame).side["threshold"] == 12.0


def test_threshold_number_is_overridden_by_manual_only():
    frame = INPUTS["threshold"]((30, 40))
    stage = build("stage", "threshold", {"value": 40})
    controls = Controls()
    stage.bind(controls)
    publish_threshold(controls, 99)
    assert run(stage, frame).side["threshold"] == 40.0
    controls.tuned.nudge("threshold", "threshold", 5)  # from the value in use
    assert run(stage, frame).side["threshold"] == 45.0
    controls.tuned.set_manual("threshold", threshold=None)
    assert run(stage, frame).side["threshold"] == 40.0


def test_threshold_auto_on_float_magnitude_without_histogram():
    m = magnitude((30, 40))
    out = run(build("stage", "threshold"), Frame(0, 0.0, m, m))
    assert out.side["threshold"] == otsu_threshold(np.bincount(ops.map_abs(m).ravel(), minlength=256))
