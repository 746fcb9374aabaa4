"""``edgepipe experiment`` runs: the seed's tables, momentum past a local minimum, random
starts, the gradient setting, grids.  The helpers the other experiment tests use are here."""

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.cli.main import main
from pipeline.experiments import FUNCTIONS, run_experiment
from pipeline.config.experiment import load_experiment
from pipeline.optim import multiotsu, multiotsu_grad
from pipeline.histograms import canny_rule_of_thumb, magnitude_histogram
from tests.harness import ROOT

CONFIGS = ROOT / "configs" / "experiments"


def command(*argv):
    """``edgepipe experiment ARGV...`` in this process; its exit code."""
    return main(["experiment", *map(str, argv)])


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def clip(path, count=12, size=(60, 80)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10.0, size[::-1])
    rng = np.random.default_rng(0)
    for index in range(count):
        image = np.full(size + (3,), 100, np.uint8)
        contrast = 20 if index < count // 2 else 90
        cv2.rectangle(image, (10 + index, 10), (50 + index, 40), (100 + contrast,) * 3, -1)
        image = cv2.add(image, rng.integers(0, 4, image.shape, dtype=np.uint8))
        writer.write(image)
    writer.release()
    return path



@pytest.fixture
def seed_tables(tmp_path):
    assert command(CONFIGS / "seed-sign-descent.yaml", "-o", tmp_path, "-q", "--no-plots") == 0
    return read_csv(tmp_path / "iterations.csv")


def test_seed_table_one_variable_comes_out_exactly(seed_tables):
    rows = [row for row in seed_tables if row["input"] == "square"]
    assert len(rows) == 76
    expected = [70 - k for k in range(71)] + [0] * 5
    assert [float(row["x"]) for row in rows] == expected
    assert [float(row["value"]) for row in rows] == [x * x for x in expected]
    assert [int(row["iteration"]) for row in rows] == list(range(76))
    assert rows[0]["x"] == "70.0" and rows[70]["x"] == "0.0" and rows[0]["error"] == "4900.0"
    assert {row["optimizer"] for row in rows} == {"Sign(step=1.0)"}


def test_seed_table_two_variables_comes_out_exactly(seed_tables):
    rows = [row for row in seed_tables if row["input"] == "bowl"]
    walk = [(float(row["x"]), float(row["y"])) for row in rows[:7]]
    assert walk == [(3, 4), (2, 3), (1, 2), (0, 1), (0, 0), (0, 0), (0, 0)]
    assert [float(row["value"]) for row in rows[:5]] == [25, 13, 5, 1, 0]
    assert all(float(row["x"]) == float(row["y"]) == 0 for row in rows[4:])


def test_momentum_passes_the_local_minimum_where_sgd_sticks(tmp_path):
    assert command(CONFIGS / "local-minimum.yaml", "-o", tmp_path, "-q") == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    ends = {entry["label"]: entry for entry in summary["runs"]}
    sgd, heavy = ends["SGD(lr=0.01)"], ends["Momentum(lr=0.01, gamma=0.9)"]
    assert sgd["ends_near"] == "local minimum" and abs(sgd["final"][0] - 1.1309) < 1e-3
    assert heavy["ends_near"] == "global minimum" and abs(heavy["final"][0] + 1.3008) < 1e-2
    assert ends["Momentum(lr=0.01, gamma=0.5)"]["ends_near"] == "local minimum"
    assert heavy["error"] < 1e-4 < sgd["error"]
    # Momentum really crossed the hump between the minima (x = 0.17), SGD never did.
    rows = read_csv(tmp_path / "iterations.csv")
    crossed = {label: min(float(r["x"]) for r in rows if r["optimizer"] == label)
               for label in ("SGD(lr=0.01)", "Momentum(lr=0.01, gamma=0.9)")}
    assert crossed["SGD(lr=0.01)"] > 1.0 and crossed["Momentum(lr=0.01, gamma=0.9)"] < -1.0
    hump = FUNCTIONS["double_well"].landmarks["local maximum"][0]
    assert 0.1 < hump < 0.2


def test_random_starts_follow_the_seed(tmp_path):
    text = """version: 1
seed: {seed}
iterations: 1
inputs:
  - function: bowl
    starts: {{random: 4, low: -3, high: 3}}
optimizers: [{{name: sgd, lr: 0.1}}]
"""
    starts = {}
    for seed in (1, 1, 2):
        experiment = load_experiment(write(tmp_path, text.format(seed=seed)))
        starts.setdefault(seed, []).append(experiment.inputs[0].starts)
    assert starts[1][0] == starts[1][1] != starts[2][0]
    assert all(-3 <= c <= 3 for point in starts[2][0] for c in point) and len(starts[2][0]) == 4


def test_gradient_setting_is_used(tmp_path):
    text = """version: 1
iterations: 3
inputs:
  - function: double_well
    starts: [0.5]
    gradient: {gradient}
optimizers: [{{name: sgd, lr: 0.1}}]
"""
    finals = {}
    for gradient in ("numerical", "analytic"):
        experiment = load_experiment(write(tmp_path, text.format(gradient=gradient)))
        experiment.output = tmp_path / gradient
        finals[gradient] = run_experiment(experiment, plots=False)["runs"][0]["final"][0]
    assert finals["numerical"] != finals["analytic"]
    assert math.isclose(finals["numerical"], finals["analytic"], rel_tol=1e-6)


def test_grid_axes_multiply(tmp_path):
    path = write(tmp_path, """version: 1
inputs: [{function: square, starts: [1, 2]}]
optimizers:
  - {name: momentum, lr: [0.1, 0.2], gamma: [0.0, 0.5, 0.9]}
  - {name: sign}
""")
    experiment = load_experiment(path)
    assert len(experiment.optimizers) == 7
    assert experiment.optimizers[0] == {"name": "momentum", "lr": 0.1, "gamma": 0.0}
    assert experiment.output == Path("out/experiments/exp")


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
    assert summary["runs"][2]["start"] == list(canny_rule_of_thumb(hist))
    assert (tmp_path / "out" / "clip.png").stat().st_size > 0
    assert (tmp_path / "out" / "auto.png").stat().st_size > 0
