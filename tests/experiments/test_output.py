"""The experiment's files: written and parseable, no temporary left behind."""

import json
from pathlib import Path

import cv2
import pytest

from pipeline import experiments
from tests.experiments.test_runners import CONFIGS, command, read_csv


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


def test_output_files_leave_no_temporary_behind(tmp_path):
    from pipeline.experiments.output import write_output

    target = tmp_path / "summary.json"
    write_output(target, b"one")
    write_output(target, b"two")
    assert target.read_bytes() == b"two" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
    with pytest.raises(OSError):
        write_output(tmp_path / "missing" / "x.json", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
