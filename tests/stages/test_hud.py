"""The hud stage: its lines from the live stats, its corner, the tuner line, the outline."""

import cv2
import numpy as np
import pytest

import pipeline.stages  # noqa: F401  (registers the stages)
from pipeline.config.registry import build
from pipeline.controls import Controls
from pipeline.stages.hud import draw_hud, hud_lines
from tests.harness import INPUTS, run


def test_hud_reads_live_stats_from_controls():
    controls = Controls()
    controls.publish_stats(frames_out=10, fps=29.5, latency_p95_ms=41.0)
    stage = build("stage", "hud")
    stage.bind(controls)
    frame = INPUTS["hud"]((80, 200))
    frame.side["threshold"] = 33.0
    assert stage.lines_for(frame) == ["fps 29.5", "threshold 33", "latency 41 ms"]
    controls.paused = True
    assert stage.lines_for(frame)[-1] == "paused"
    out = run(stage, frame).image
    np.testing.assert_array_equal(out, draw_hud(frame.image, stage.lines_for(frame), "top-left",
                                                [255, 255, 255], 0.6, 1))


@pytest.mark.parametrize("corner", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_hud_draws_in_its_corner(corner):
    image = np.zeros((120, 300, 3), np.uint8)
    out = draw_hud(image, ["fps 30.0"], corner, [255, 255, 255], 0.6, 1)
    rows, cols = np.nonzero(out.any(axis=2))
    top, left = corner.split("-")
    assert (rows.mean() < 60) == (top == "top")
    assert (cols.mean() < 150) == (left == "left")


def test_hud_tuner_line():
    from pipeline.stages.hud import tuner_line

    assert tuner_line(True, None) is None
    assert tuner_line(False, None) == "tuner off"
    steps = {"threshold": {"values": {"threshold": 87.4}, "objective": -0.8123}}
    assert tuner_line(True, steps) == "tuner 87 (objective -0.812)"
    assert tuner_line(False, steps) == "tuner off"
    pair = dict(steps, canny={"values": {"low": 40.2, "high": 119.6}, "objective": None})
    assert tuner_line(True, pair) == "tuner 87 (objective -0.812), canny low 40 high 120 (objective -)"
    assert hud_lines(30.0, 87.0, 5.0, tuner="tuner 87 (objective -0.812)")[3] == "tuner 87 (objective -0.812)"


def test_hud_outline_sits_under_the_text():
    # OpenCV 5 advances glyphs by stroke width: a thicker outline drifted off the text.
    from pipeline.stages.hud import draw_hud

    background = np.full((60, 400, 3), 128, np.uint8)
    for corner in ("top-left", "top-right"):
        out = draw_hud(background, ["threshold 124 (objective -0.974)"], corner, [255, 0, 255], 0.6, 1)
        fill = np.all(out == (255, 0, 255), axis=2)
        untouched = np.all(out == 128, axis=2)
        near_untouched = cv2.dilate(untouched.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert fill.sum() > 100
        assert not (fill & near_untouched).any(), corner  # every text pixel is ringed by outline
