"""Steering the ``canny`` stage's pair: Controls, ``POST /control`` and the hud."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
import pipeline.stages  # noqa: F401
from pipeline.frame import Frame
from pipeline.io.sinks.http import ControlError, parse_control
from pipeline.registry import build
from pipeline.runtime.controls import Controls
from pipeline.stages.hud import canny_line, hud_lines
from tests.harness import running
from tests.test_http import config, get_json, post_control, wait_until


def photo(seed=0, shape=(48, 64)):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, shape + (3,), dtype=np.uint8), (0, 0), 1.2)
    cv2.rectangle(img, (10, 8), (40, 30), (250, 240, 230), -1)
    return img


def grey(img):
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


# --- Controls and the stage's order of precedence ---------------------------------------
def test_hand_value_then_tuner_then_number_then_rule_of_thumb():
    from pipeline.runtime.tuner import TunerStep
    from pipeline.stages.canny import magnitude_histogram, rule_of_thumb

    img = photo()
    controls = Controls()
    stage = build("stage", "canny", {"low": "auto", "high": 90})
    stage.bind(controls)

    def used():
        frame = stage(Frame(0, 0.0, img, img))
        assert np.array_equal(frame.image, cv2.Canny(grey(img), frame.side["canny"]["low"],
                                                     frame.side["canny"]["high"]))
        return frame.side["canny"], controls.canny_used

    rule_low, _ = rule_of_thumb(magnitude_histogram(img))
    assert used() == ({"low": rule_low, "high": 90.0},) * 2
    controls.publish_tuner_step(TunerStep(1, 0, "canny", {}, {}, {"low": 33.0, "high": 70.0},
                                          -0.9, 5, 0.001))
    assert used()[0] == {"low": 33.0, "high": 90.0}  # high is a number: the tuner's is not used
    controls.tuner_enabled = False
    assert used()[0] == {"low": rule_low, "high": 90.0}
    controls.set_canny(high=20.0)
    assert used()[0] == {"low": 20.0, "high": rule_low}  # sorted, as cv2.Canny takes them
    controls.set_canny(None, None)
    assert controls.canny_manual is None


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


def test_histogram_only_when_a_value_is_auto_and_needs_it():
    img = photo()
    fixed = build("stage", "canny", {"low": 30, "high": 90})
    fixed.bind(Controls())
    assert "histogram" not in fixed(Frame(0, 0.0, img, img)).side
    controls = Controls()
    auto = build("stage", "canny", {})
    auto.bind(controls)
    controls.set_canny(10, 50)  # both by hand, no tuner: nothing reads a histogram
    assert "histogram" not in auto(Frame(0, 0.0, img, img)).side
    controls.add_tuner_target("canny")  # the tuner reads it even while overridden
    frame = auto(Frame(0, 0.0, img, img))
    # The Sobel magnitude cv2.Canny thresholds (L1, replicated border), clipped to 255.
    dx = cv2.Sobel(grey(img), cv2.CV_16S, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    dy = cv2.Sobel(grey(img), cv2.CV_16S, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    magnitude = np.minimum(np.abs(dx.astype(int)) + np.abs(dy.astype(int)), 255)
    assert np.array_equal(frame.side["histogram"], np.bincount(magnitude.ravel(), minlength=256))


# --- the hud --------------------------------------------------------------------------
def test_hud_shows_both_values_and_marks_hand_ones():
    assert canny_line({"low": 40.0, "high": 120.4}) == "canny low 40 high 120"
    assert canny_line({"low": 40.0, "high": 120.0}, {"low": None, "high": 120.0}) == \
        "canny low 40 high 120 (hand)"
    assert canny_line(None) is None
    img = photo()
    controls = Controls()
    chain = [build("stage", "canny", {"low": 25, "high": 75}), build("stage", "hud", {})]
    for stage in chain:
        stage.bind(controls)
    frame = Frame(0, 0.0, img, img)
    for stage in chain:
        frame = stage(frame)
    assert "canny low 25 high 75" in chain[1].lines_for(frame)
    # What the hud drew is those lines on the canny picture, pixel for pixel.
    from pipeline.stages.hud import draw_hud

    edges = cv2.Canny(grey(img), 25, 75)
    expected = draw_hud(edges, chain[1].lines_for(frame), "top-left", [255, 255, 255], 0.6, 1)
    assert np.array_equal(frame.image, expected)
    assert hud_lines(None, None, None, canny=canny_line(frame.side["canny"])) == [
        "fps -", "latency -", "canny low 25 high 75"]


# --- POST /control ----------------------------------------------------------------------
@pytest.mark.parametrize("data, expected", [
    ({"canny": {"low": 40, "high": 120}}, {"low": 40.0, "high": 120.0}),
    ({"canny": {"low": None, "high": 99.5}}, {"low": None, "high": 99.5}),
    ({"canny": None}, {"low": None, "high": None}),
    ({"canny": {"low": 200, "high": 10}}, {"low": 200.0, "high": 10.0}),  # swapped by the stage
    ({"canny": {"low": 40}}, {"low": 40.0}),  # only low changes
    ({"canny": {"high": None}}, {"high": None}),
])
def test_parse_control_accepts_the_pair(data, expected):
    assert parse_control(json.dumps(data).encode(), "application/json") == {"canny": expected}


@pytest.mark.parametrize("body, words", [
    (b'{"canny": {}}', "names low, high or both"),
    (b'{"canny": {"low": 40, "high": 300}}', "canny.high must be a number in [0, 255]"),
    (b'{"canny": {"low": "40", "high": 50}}', "canny.low must be"),
    (b'{"canny": {"low": true, "high": 50}}', "canny.low must be"),
    (b'{"canny": {"low": 1, "high": 2, "mid": 3}}', "unknown key canny.'mid'"),
    (b'{"canny": [40, 120]}', "canny must be"),
    (b'{"canny": 40}', "canny must be"),
])
def test_parse_control_refuses_bad_pairs_naming_canny(body, words):
    with pytest.raises(ControlError) as caught:
        parse_control(body, "application/json")
    assert caught.value.key == "canny" and words in caught.value.message
    assert "low" in caught.value.to_json()["allowed"]


def canny_config():
    data = config()
    data["stages"] = [{"canny": {"low": "auto", "high": "auto"}}, "hud"]
    return data


def test_pipeline_control_sets_the_pair_of_the_next_frames_and_null_is_auto():
    with running(canny_config()) as (pipe, _, sink):
        status, answer = post_control(sink, {"canny": {"low": 12, "high": 34}})
        assert status == 200 and answer["canny_manual"] == {"low": 12.0, "high": 34.0}
        stats = wait_until(lambda: (s := get_json(sink))["frame"].get("canny") == {
            "low": 12.0, "high": 34.0} and s, what="frames at (12, 34)")
        assert stats["canny"] == {"low": 12.0, "high": 34.0}
        status, answer = post_control(sink, {"canny": {"low": None}})  # high stays
        assert status == 200 and answer["canny_manual"] == {"low": None, "high": 34.0}
        status, answer = post_control(sink, {"canny": None})
        assert status == 200 and answer["canny_manual"] is None
        wait_until(lambda: get_json(sink)["frame"].get("canny") not in (
            None, {"low": 12.0, "high": 34.0}), what="the rule of thumb again")
        status, answer = post_control(sink, {"canny": {"low": 5, "high": -1}, "pause": True})
        assert status == 400 and answer["key"] == "canny"
        assert pipe.controls.canny_manual is None and not pipe.controls.paused


def test_page_has_the_canny_sliders():
    from tests.test_http import open_sink, request

    with open_sink() as sink:
        _, _, page = request(sink, "GET", "/")
    # app.js makes the low and high sliders from the template (tests/test_http_browser_canny.py
    # moves them in a real browser)
    for element_id in ("canny", "canny-slider"):
        assert f'id="{element_id}"'.encode() in page, element_id


def test_edgepipe_stages_lists_canny_with_its_settings(capsys):
    from pipeline.cli import main

    assert main(["stages"]) == 0
    out = capsys.readouterr().out
    assert "canny" in out and "strong-edge threshold" in out and "l2" in out
