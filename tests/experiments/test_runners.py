"""``edgepipe experiment``: the seed's tables, momentum past a local minimum, files, errors."""

import argparse
import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline import experiments
from pipeline.config import ConfigError
from pipeline.experiments import FUNCTIONS, load_experiment, run_experiment
from tests.harness import ROOT

CONFIGS = ROOT / "configs" / "experiments"


def command(*argv):
    parser = argparse.ArgumentParser()
    experiments.add_parser(parser.add_subparsers(dest="command"))
    return experiments.run(parser.parse_args(["experiment", *map(str, argv)]))


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
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


def test_files_are_written_and_parse(tmp_path):
    output = tmp_path / "out"
    assert command(CONFIGS / "challenges.yaml", "-o", output, "-q",
                   "--set", "iterations=100") == 0
    rows = read_csv(output / "iterations.csv")
    assert list(rows[0]) == list(experiments.CSV_COLUMNS)
    summary = json.loads((output / "summary.json").read_text())
    assert summary["iterations"] == 100 and summary["seed"] == 7
    runs = summary["runs"]
    assert len(runs) == 3 * (1 + 2 + 3)  # optimizers x starts over the three inputs
    assert len(rows) == len(runs) * 101
    for plot in summary["files"]["plots"]:
        image = cv2.imread(plot)
        assert image is not None and image.shape[0] > 200
    assert sorted(Path(p).name for p in summary["files"]["plots"]) == [
        "cubic.png", "saddle-random.png", "saddle.png"]
    # On the ridge (y = 0) every method walks into the saddle; off it, all escape.
    saddle = [r for r in runs if r["input"] == "saddle"]
    assert {r["ends_near"] for r in saddle if r["start"][1] == 0} == {"saddle"}
    assert all(abs(r["final"][1]) == 2 for r in saddle if r["start"][1] != 0)


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


@pytest.mark.parametrize("objective", ["otsu", "density", "agreement"])
def test_video_input_tunes_the_threshold_frame_by_frame(tmp_path, objective):
    video = clip(tmp_path / "clip.mkv")
    path = write(tmp_path, f"""version: 1
iterations: 10
inputs:
  - video: {video}
    objective: {objective}
    start: 100
optimizers: [{{name: adam, lr: 3.0}}, {{name: sign, step: 2}}]
""")
    assert command(path, "-o", tmp_path / "out", "-q") == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    first, second = summary["runs"]
    assert first["frames"] == 12 and len(first["thresholds"]) == 12
    rows = read_csv(tmp_path / "out" / "iterations.csv")
    assert len(rows) == 2 * 12 * 11
    # warm start: each frame's run starts where the previous frame's ended
    run0 = [r for r in rows if r["run"] == "0"]
    for frame in range(1, 12):
        starts = [r for r in run0 if r["frame"] == str(frame) and r["iteration"] == "0"]
        assert float(starts[0]["x"]) == first["thresholds"][frame - 1]
    assert float(run0[0]["x"]) == 100.0
    assert (tmp_path / "out" / "clip.png").stat().st_size > 0


def test_synthetic_input_and_frame_globs(tmp_path):
    for index in range(3):
        image = np.zeros((40, 50, 3), np.uint8)
        cv2.circle(image, (25, 20), 5 + 3 * index, (255, 255, 255), -1)
        cv2.imwrite(str(tmp_path / f"f{index}.png"), image)
    path = write(tmp_path, f"""version: 1
iterations: 5
inputs:
  - synthetic: {{width: 64, height: 48, length: 4}}
  - video: {tmp_path}/f*.png
    label: pictures
optimizers: [{{name: adam, lr: 2.0}}]
""")
    experiment = load_experiment(path)
    experiment.output = tmp_path / "out"
    summary = run_experiment(experiment, plots=False)
    assert [r["frames"] for r in summary["runs"]] == [4, 3]


def test_picture_globs_are_read_in_the_images_sources_order(tmp_path):
    # The old reader sorted names as text (f10 before f2); the images source sorts
    # naturally, and the experiment now reads through it.
    from pipeline.experiments.frames import read_frames
    from pipeline.registry import build

    for index in (1, 2, 10):
        image = np.full((24, 32, 3), index * 20, np.uint8)
        cv2.imwrite(str(tmp_path / f"f{index}.png"), image)
    settings = {"video": str(tmp_path / "f*.png")}
    levels = [int(image[0, 0, 0]) for image in read_frames(settings, None)]
    source = build("source", "images", {"glob": settings["video"]})
    source.open()
    expected = [int(cv2.imread(path)[0, 0, 0]) for path in source.paths]
    source.close()
    assert levels == expected == [20, 40, 200]
    assert [int(i[0, 0, 0]) for i in read_frames(settings, 2)] == [20, 40]
    # One picture whose name has glob characters is read as that one file.
    odd = tmp_path / "odd[1].png"
    cv2.imwrite(str(odd), np.full((24, 32, 3), 7, np.uint8))
    assert [int(i[0, 0, 0]) for i in read_frames({"video": str(odd)}, None)] == [7]


def test_video_globs_are_read_one_file_after_another_in_natural_order(tmp_path):
    from pipeline.experiments.frames import read_frames

    for index, frames in ((10, 2), (2, 3)):
        writer = cv2.VideoWriter(str(tmp_path / f"c{index}.avi"), cv2.VideoWriter_fourcc(*"MJPG"),
                                 10.0, (32, 24))
        for _ in range(frames):
            writer.write(np.full((24, 32, 3), index * 10, np.uint8))
        writer.release()
    levels = [int(round(image.mean())) for image in read_frames({"video": str(tmp_path / "c*.avi")}, None)]
    assert len(levels) == 5 and all(abs(v - 20) <= 3 for v in levels[:3])
    assert all(abs(v - 100) <= 3 for v in levels[3:])
    cv2.imwrite(str(tmp_path / "c5.png"), np.zeros((24, 32, 3), np.uint8))
    with pytest.raises(experiments.frames.SourceError, match="pictures and videos"):
        list(read_frames({"video": str(tmp_path / "c*")}, None))


def test_output_files_leave_no_temporary_behind(tmp_path):
    from pipeline.experiments.output import write_output

    target = tmp_path / "summary.json"
    write_output(target, b"one")
    write_output(target, b"two")
    assert target.read_bytes() == b"two" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
    with pytest.raises(OSError):
        write_output(tmp_path / "missing" / "x.json", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


@pytest.mark.parametrize("text, line, key, message", [
    ("iterations: 3\n", 1, "version", "'version: 1' is required"),
    ("version: 2\ninputs: []\noptimizers: []\n", 1, "version", "version must be one of 1"),
    ("version: 1\niteration: 3\ninputs: [{function: square, starts: [1]}]\noptimizers: [{name: sign}]\n",
     2, "iteration", "did you mean 'iterations'"),
    ("version: 1\ninputs:\n  - function: squar\n    starts: [1]\noptimizers: [{name: sign}]\n",
     3, "inputs.0.function", "did you mean 'square'"),
    ("version: 1\ninputs:\n  - function: square\n    start: [1]\noptimizers: [{name: sign}]\n",
     4, "inputs.0.start", "unknown key 'start'"),
    ("version: 1\ninputs:\n  - function: bowl\n    starts: [1]\noptimizers: [{name: sign}]\n",
     4, "inputs.0.starts.0", "2 number"),
    ("version: 1\ninputs: [{function: square, starts: [1]}]\noptimizers:\n  - name: sgd\n    lr: -1\n",
     5, "optimizers.0.lr", "lr must be"),
    ("version: 1\ninputs: [{function: square, starts: [1]}]\noptimizers:\n  - {name: sgd, lr: [0.1, -1]}\n",
     4, "optimizers.0.lr", "lr must be"),
    ("version: 1\ninputs: [{function: square, starts: [1]}]\noptimizers:\n  - {name: sgdd, lr: 1}\n",
     4, "optimizers.0.name", "unknown optimizer"),
    ("version: 1\ninputs:\n  - video: a.mp4\n    target: 0.2\noptimizers: [{name: sign}]\n",
     4, "inputs.0.target", "density only"),
    ("version: 1\ninputs:\n  - synthetic: {widht: 3}\noptimizers: [{name: sign}]\n",
     3, "inputs.0.synthetic.widht", "did you mean 'width'"),
    ("version: 1\ninputs:\n  - {function: square, video: a.mp4, starts: [1]}\noptimizers: [{name: sign}]\n",
     3, "inputs.0", "exactly one of"),
    ("version: 1\ninputs:\n  - function: square\n    starts: [5]\n    bounds: [-1, 1]\noptimizers: [{name: sign}]\n",
     4, "inputs.0.starts", "outside bounds"),
    ("version: 1\ninputs: [{function: square, starts: {random: 0, low: 0, high: 1}}]\noptimizers: [{name: sign}]\n",
     2, "inputs.0.starts", "random >= 1"),
    ("version: 1\ninputs: [{function: square, starts: [1]}]\noptimizers: [{name: sign}]\nseed: !!python/object:os.system x\n",
     4, None, "not valid YAML"),
])
def test_bad_configs_name_file_line_and_key(tmp_path, text, line, key, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_experiment(path)
    error = caught.value
    assert error.file == str(path) and error.line == line and error.key == key


def test_command_exit_codes(tmp_path, capsys):
    bad = write(tmp_path, "version: 1\n", "bad.yaml")
    assert command(bad, "-q") == 2
    assert "bad.yaml" in capsys.readouterr().err
    assert command(tmp_path / "missing.yaml") == 2
    missing_video = write(tmp_path, "version: 1\ninputs: [{video: nothing/*.mp4}]\n"
                                    "optimizers: [{name: sign}]\n", "video.yaml")
    assert command(missing_video, "-o", tmp_path / "o", "-q") == 1
    assert "no file matches" in capsys.readouterr().err


def test_shipped_configs_load():
    # Loading checks the schema only; tests/end_to_end/test_config_shipped.py runs them.
    for path in sorted(CONFIGS.glob("*.yaml")):
        experiment = load_experiment(path)
        assert experiment.name == path.stem and experiment.description
