"""The canny stage under the 2D tuner: whole runs, the tuner's pair, its config checks."""

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
import yaml

from pipeline.config import Config, ConfigError
from pipeline.optim import make_optimizer, multiotsu, tune_pair
from pipeline.pipeline import Pipeline
from pipeline.registry import ParamError
from pipeline.runtime.controls import Controls
from pipeline.runtime.tuner import Tuner, check_tuner_settings
from pipeline.stages.canny import magnitude_histogram, rule_of_thumb
from tests.harness import ROOT

DATA = ROOT / "samples"  # OpenCV sample photos (BSD)
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


@pytest.mark.parametrize("spec", [
    {"name": "sign", "step": 1}, {"name": "sgd", "lr": 3000.0},
    {"name": "momentum", "lr": 1000.0, "gamma": 0.9}, {"name": "nesterov", "lr": 1000.0, "gamma": 0.9},
    {"name": "adam", "lr": 2.0},
], ids=lambda spec: spec["name"])
def test_each_optimizer_descends_the_multiotsu_surface_keeping_low_below_high(spec):
    hist = magnitude_histogram(cv2.imread(str(DATA / "butterfly.jpg")))
    start = rule_of_thumb(hist)
    path = tune_pair(hist, start, make_optimizer(spec), 80)
    assert path.points.shape == (81, 2)
    assert (path.points[:, 0] <= path.points[:, 1]).all()
    assert (path.points >= 0).all() and (path.points <= 255).all()
    assert path.values.min() < path.values[0] - 1e-3
    assert path.values[-1] == pytest.approx(multiotsu(hist, *path.final))
    # It ends near the surface's minimum, found by a scan of the integer pairs.
    grid = np.arange(0, 256, 2.0)
    best = min(multiotsu(hist, low, high) for low in grid for high in grid if low <= high)
    assert path.values.min() < best + 0.01


def test_a_step_across_the_diagonal_is_projected_onto_it():
    # Start on the diagonal with the gradient pushing low up and high down: every point
    # stays with low <= high (projected to the pair's mean).
    hist = np.zeros(256, np.int64)
    hist[[20, 200]] = 1000
    path = tune_pair(hist, (100.0, 100.0), make_optimizer({"name": "sign", "step": 5}), 10)
    assert (path.points[:, 0] <= path.points[:, 1]).all()
    with pytest.raises(ValueError, match="low <= high"):
        tune_pair(hist, (120.0, 100.0), make_optimizer({"name": "sign", "step": 1}), 1)


def test_the_tuner_publishes_a_pair_and_warm_starts_from_the_pair_in_use():
    controls = Controls()
    tuner = Tuner({"objective": "multiotsu", "targets": "canny", "smoothing": 0.0,
                   "optimizer": {"name": "sign", "step": 1}, "iterations": 5}, controls)
    assert controls.tuner_runs("canny") and not controls.tuner_runs("threshold")
    hist = magnitude_histogram(cv2.imread(str(DATA / "fruits.jpg")))
    step = tuner.handle(hist, 7)
    assert step.start == dict(zip(("low", "high"), rule_of_thumb(hist)))
    assert controls.canny_for_auto() == step.values and step.frame == 7
    controls.record_canny_used(10.0, 20.0)
    controls.set_canny(10.0, 20.0)  # both by hand: the tuner waits
    assert tuner.handle(hist) is None
    controls.set_canny(None, None)
    assert tuner.handle(hist).start == {"low": 10.0, "high": 20.0}


@pytest.mark.parametrize("settings, key, words", [
    ({"objective": "multiotsu"}, "objective", "with targets threshold use objective otsu or density"),
    ({"objective": "otsu", "targets": "canny"}, "objective", "use objective multiotsu"),
    ({"objective": "multiotsu", "targets": "pair"}, "targets", "threshold, canny"),
])
def test_objective_and_target_must_fit(settings, key, words):
    with pytest.raises(ParamError) as caught:
        check_tuner_settings(settings)
    assert caught.value.key == key and words in str(caught.value)


def test_a_canny_tuner_needs_a_canny_stage_with_an_auto_value():
    text = ("version: 1\nsource: {type: synthetic, length: 3}\nstages:\n  - canny: {low: 10, high: 20}\n"
            "sinks: [discard]\ntuner: {objective: multiotsu, targets: canny}\n")
    with pytest.raises(ConfigError, match="targets canny tunes the low and high of a canny stage"):
        Config.from_dict(yaml.safe_load(text))
    Config.from_dict(yaml.safe_load(text.replace("high: 20", "high: auto")))
