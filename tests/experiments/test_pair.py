"""``edgepipe experiment`` with a pair objective: Canny's (low, high) walked on multi-Otsu."""

import json

import cv2
import numpy as np
import pytest

from pipeline.config import ConfigError
from pipeline.experiments import load_experiment
from pipeline.experiments.plots import surface_grid
from pipeline.optim import multiotsu, multiotsu_grad
from pipeline.stages.canny import magnitude_histogram, rule_of_thumb
from tests.experiments.test_runners import CONFIGS, clip, command, read_csv, write


def test_pair_runs_walk_low_and_high_frame_by_frame(tmp_path):
    video = clip(tmp_path / "clip.mkv")
    path = write(tmp_path, f"""version: 1
iterations: 15
inputs:
  - video: {video}
    objective: multiotsu
    start: [10, 20]
  - video: {video}
    label: auto
    objective: multiotsu
optimizers: [{{name: sign, step: 1}}, {{name: adam, lr: 2.0}}]
""")
    assert command(path, "-o", tmp_path / "out", "-q") == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    rows = read_csv(tmp_path / "out" / "iterations.csv")
    assert len(rows) == 4 * 12 * 16
    sign = [r for r in rows if r["run"] == "0"]
    first_frame = [(float(r["x"]), float(r["y"])) for r in sign if r["frame"] == "0"]
    assert first_frame[0] == (10.0, 20.0)
    for r in rows:
        assert float(r["x"]) <= float(r["y"])
    # Warm start: each frame starts at the previous frame's last pair.
    pairs = summary["runs"][0]["pairs"]
    for frame in range(1, 12):
        start = next(r for r in sign if r["frame"] == str(frame) and r["iteration"] == "0")
        assert [float(start["x"]), float(start["y"])] == pairs[frame - 1]
    # Values are the objective at the points, on the magnitude cv2.Canny thresholds.
    capture = cv2.VideoCapture(str(video))
    _, image = capture.read()
    hist = magnitude_histogram(image)
    # The seed's sign walk: one level a step on each coordinate, against the gradient.
    for before, after in zip(first_frame, first_frame[1:]):
        step = -np.sign(multiotsu_grad(hist, *before))
        assert after == tuple(np.array(before) + step) or after[0] == after[1]  # projected
    assert float(sign[5]["value"]) == multiotsu(hist, float(sign[5]["x"]), float(sign[5]["y"]))
    # start: auto is the canny stage's rule of thumb on the first frame.
    assert summary["runs"][2]["start"] == list(rule_of_thumb(hist))
    assert (tmp_path / "out" / "clip.png").stat().st_size > 0
    assert (tmp_path / "out" / "auto.png").stat().st_size > 0


def test_surface_grid_is_the_objective_and_blank_below_the_diagonal():
    hist = np.bincount(np.random.default_rng(1).integers(0, 200, 5000), minlength=256)
    levels, values = surface_grid(hist, 2.0, step=16.0)
    assert values[3, 1] == multiotsu(hist, levels[1], levels[3])
    assert np.isnan(values[1, 3])


def test_the_shipped_canny_experiment_validates():
    experiment = load_experiment(CONFIGS / "canny-2d.yaml")
    assert {item.settings["objective"] for item in experiment.inputs} == {"multiotsu"}
    assert len(experiment.optimizers) == 5


@pytest.mark.parametrize("entry, key, message", [
    ("objective: multiotsu\n    start: 100", "start", "start is \\[low, high\\]"),
    ("objective: multiotsu\n    start: [50, 20]", "start", "low <= high"),
    ("objective: multiotsu\n    start: [10, 20]\n    bounds: [15, 200]", "start", "outside bounds"),
    ("objective: multiotsu\n    kind: scharr", "kind", "leave kind out"),
    ("objective: otsu\n    start: [10, 20]", "start", "tunes one threshold"),
    ("objective: otsu\n    start: auto", "start", "tunes one threshold"),
])
def test_bad_pair_inputs_name_the_key(tmp_path, entry, key, message):
    path = write(tmp_path, f"""version: 1
inputs:
  - video: clip.mkv
    {entry}
optimizers: [{{name: sign, step: 1}}]
""")
    with pytest.raises(ConfigError, match=message) as caught:
        load_experiment(path)
    assert caught.value.key.endswith(key)
