"""The ``canny`` stage: which pair it uses (hand, tuner, number, rule of thumb), when it makes
a histogram, and the pair on the hud.  Steering the pair through Controls and ``POST /control``
is tested in tests/runtime/test_controls.py and tests/io/sinks/test_http*.py."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

# The objectives' numba ufuncs are built on this import (seconds on a busy machine); made
# here, before any run, so that the tuner's warm-up does not outlast the 1.5 s clips.
import pipeline.activations  # noqa: F401
import pipeline.io  # noqa: F401  (registers sources and sinks)
import pipeline.stages  # noqa: F401
from pipeline.frame import Frame
from pipeline.pipeline import Pipeline
from pipeline.config.registry import build
from pipeline.controls import Controls
from pipeline.stages.hud import canny_line, hud_lines
from tests.harness import DATA


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
    from pipeline.histograms import canny_rule_of_thumb, magnitude_histogram

    img = photo()
    controls = Controls()
    stage = build("stage", "canny", {"low": "auto", "high": 90})
    stage.bind(controls)

    def used():
        frame = stage(Frame(0, 0.0, img, img))
        assert np.array_equal(frame.image, cv2.Canny(grey(img), frame.side["canny"]["low"],
                                                     frame.side["canny"]["high"]))
        return frame.side["canny"], controls.tuned.used("canny")

    rule_low, _ = canny_rule_of_thumb(magnitude_histogram(img))
    assert used() == ({"low": rule_low, "high": 90.0},) * 2
    controls.tuned.publish(TunerStep(1, 0, "canny", {}, {}, {"low": 33.0, "high": 70.0},
                                          -0.9, 5, 0.001))
    assert used()[0] == {"low": 33.0, "high": 90.0}  # high is a number: the tuner's is not used
    controls.tuner_enabled = False
    assert used()[0] == {"low": rule_low, "high": 90.0}
    controls.tuned.set_manual("canny", high=20.0)
    assert used()[0] == {"low": 20.0, "high": rule_low}  # sorted, as cv2.Canny takes them
    controls.tuned.set_manual("canny", low=None, high=None)
    assert controls.tuned.manual("canny") is None


def test_histogram_only_when_a_value_is_auto_and_needs_it():
    img = photo()
    fixed = build("stage", "canny", {"low": 30, "high": 90})
    fixed.bind(Controls())
    assert "histogram" not in fixed(Frame(0, 0.0, img, img)).side
    controls = Controls()
    auto = build("stage", "canny", {})
    auto.bind(controls)
    controls.tuned.set_manual("canny", low=10, high=50)  # both by hand, no tuner: nothing reads a histogram
    assert "histogram" not in auto(Frame(0, 0.0, img, img)).side
    controls.tuned.expect_tuner("canny")  # the tuner reads it even while overridden
    frame = auto(Frame(0, 0.0, img, img))
    # The Sobel magnitude cv2.Canny thresholds (L1, replicated border), clipped to 255.
    dx = cv2.Sobel(grey(img), cv2.CV_16S, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    dy = cv2.Sobel(grey(img), cv2.CV_16S, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    magnitude = np.minimum(np.abs(dx.astype(int)) + np.abs(dy.astype(int)), 255)
    assert np.array_equal(frame.side["histogram"], np.bincount(magnitude.ravel(), minlength=256))
    auto.leaves_histogram = False  # what Chain.leave_histograms sets on frames the tuner skips
    assert "histogram" not in auto(Frame(1, 0.0, img, img)).side


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


SIZE = (120, 160)  # rows, columns


def moving_photo(count: int) -> list[np.ndarray]:
    """``count`` BGR frames: a window sliding over a real photo, its contrast rising."""
    photo = cv2.imread(str(DATA / "fruits.jpg"))
    assert photo is not None
    frames = []
    for index in range(count):
        y, x = 20 + index, 30 + 2 * index
        crop = photo[y:y + SIZE[0], x:x + SIZE[1]].astype(np.float64)
        gain = 0.4 + 0.6 * index / max(1, count - 1)  # the magnitudes grow: the pair must follow
        frames.append(np.clip(128 + (crop - 128) * gain, 0, 255).astype(np.uint8))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 60.0) -> None:
    """A lossless FFV1 clip of ``frames``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, SIZE[::-1])
    assert writer.isOpened()
    for image in frames:
        writer.write(image)
    writer.release()


def read_clip(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            return frames
        frames.append(image)


@pytest.mark.parametrize("l2", [False, True])
def test_run_writes_exactly_cv2_canny_at_the_pair_the_stats_report(tmp_path, l2):
    count = 90
    frames = moving_photo(count)
    clip = tmp_path / "clip.mkv"
    write_clip(clip, frames)
    decoded = read_clip(clip)
    assert len(decoded) == count and all(np.array_equal(a, b) for a, b in zip(decoded, frames))
    stats = tmp_path / "stats.jsonl"
    Pipeline.from_dict({
        "version": 1,
        # Paced at 60 fps (1.5 s) so that the tuner gets its turns between frames.
        "source": {"type": "file", "path": str(clip), "realtime": True},
        "stages": [{"canny": {"low": "auto", "high": "auto", "l2": l2}}],
        "sinks": [{"images": {"path": str(tmp_path / "out" / "f_{index:06d}.png")}},
                  {"stats": {"path": str(stats)}}],
        "runtime": {"mode": "batch"},
        "tuner": {"objective": "multiotsu", "optimizer": {"name": "sign", "step": 1},
                  "targets": "canny", "every": 2, "iterations": 10, "smoothing": 0.0},
    }).run()
    rows = [json.loads(line) for line in stats.read_text().splitlines()]
    assert [row["index"] for row in rows] == list(range(count))
    pairs = set()
    for row in rows:
        pair = row["canny"]
        assert set(pair) == {"low", "high"} and pair["low"] <= pair["high"]
        written = cv2.imread(str(tmp_path / "out" / f"f_{row['index']:06d}.png"), cv2.IMREAD_UNCHANGED)
        grey = cv2.cvtColor(frames[row["index"]], cv2.COLOR_BGR2GRAY)
        expected = cv2.Canny(grey, pair["low"], pair["high"], apertureSize=3, L2gradient=l2)
        assert np.array_equal(written, expected), f"frame {row['index']} at {pair}"
        pairs.add((pair["low"], pair["high"]))
    tuned = [row for row in rows if "tuner" in row]
    assert len({row["tuner"]["canny"]["update"] for row in tuned}) >= 5
    # The tuner moved the pair (many pairs over the clip), and frames used its answers:
    # the pair of a frame is the step stamped on it, unless a step was published while
    # the frame was in the chain (the stamp is taken after it).
    assert len(pairs) >= 5
    following = [row["canny"] == row["tuner"]["canny"]["values"] for row in tuned]
    assert sum(following) >= 0.8 * len(following)
    first = tuned[0]["tuner"]["canny"]
    assert first["target"] == "canny" and set(first["values"]) == {"low", "high"}
