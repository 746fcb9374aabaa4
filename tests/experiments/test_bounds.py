"""An experiment's total work is bounded at the config check, its rows go to disk as
each run ends (memory holds one run's rows), and a start that overflows is a diverged
run, not a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.config.experiment import load_experiment
from pipeline.experiments import run_experiment
from pipeline.experiments import output as experiment_output
from pipeline.config.experiment import MAX_GRID, MAX_WORK
from tests.experiments.test_runners import read_csv, write
from tests.harness import ROOT

CONFIG = """version: 1
iterations: {iterations}
inputs:
  - function: double_well
    starts: {starts}
optimizers:
  - {{name: sgd, lr: {lr}}}
"""


# Runs a command as its only child and prints that child's peak memory (KiB) last: the
# test process's own RUSAGE_CHILDREN keeps the largest child of the whole session.
PEAK = ("import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:]).returncode\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n")


def experiment(tmp_path, *args, **values) -> subprocess.CompletedProcess:
    text = CONFIG.format(**{"iterations": 10, "starts": "[2.0]", "lr": 0.01, **values})
    return subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "pipeline", "experiment",
                           str(write(tmp_path, text)), "-o", str(tmp_path / "out"), "--no-plots", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("values, key, says", [
    ({"starts": "{random: 100000000, low: 0, high: 1}"}, "inputs.0.starts", "1,100,000,000 optimizer steps"),
    ({"iterations": 1_000_000, "starts": "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]"}, "inputs.0.starts",
     "11,000,011 optimizer steps"),
    ({"lr": [0.001 * i for i in range(1, MAX_GRID + 2)]}, "optimizers.0", f"{MAX_GRID + 1:,} optimizer specs"),
    ({"starts": "{random: 3, low: -1e308, high: 1e308}"}, "inputs.0.starts", "high - low a finite number"),
])
def test_too_much_work_is_exit_2_before_anything_is_drawn(tmp_path, values, key, says):
    done = experiment(tmp_path, **values)
    assert done.returncode == 2, done.stderr
    assert f"{key}: " in done.stderr and says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    assert 0 < peak_kib < 400_000  # no gigabytes of starting points


def test_the_frames_of_a_video_input_count_when_they_are_read(tmp_path):
    frames = MAX_WORK // (100_001 * 2) + 1
    text = f"""version: 1
iterations: 100000
inputs:
  - synthetic: {{width: 16, height: 16, length: {frames}}}
optimizers:
  - {{name: sgd, lr: [0.1, 0.2]}}
"""
    path = write(tmp_path, text)
    done = subprocess.run([sys.executable, "-m", "pipeline", "experiment", str(path), "-o",
                           str(tmp_path / "out"), "--no-plots"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 2, done.stderr
    assert f"{path} inputs.0.max_frames: input 'synthetic' has {frames} frames" in done.stderr
    assert not list((tmp_path / "out").iterdir())  # no CSV under its name, no temporary left


def test_rows_reach_the_disk_as_each_run_ends(tmp_path, monkeypatch):
    text = CONFIG.format(iterations=50, starts="[-2.0, -1.0, 0.5, 1.0, 2.0]", lr=[0.01, 0.02])
    exp = load_experiment(write(tmp_path, text), output=str(tmp_path / "out"))
    on_disk, kept = [], []
    add = experiment_output.CsvStream.add

    def watched(stream, run):
        add(stream, run)
        with open(stream.temp, encoding="utf-8") as handle:
            on_disk.append(sum(1 for _ in handle) - 1)  # the header is not a row
        kept.append(len(run.rows))

    monkeypatch.setattr(experiment_output.CsvStream, "add", watched)
    summary = run_experiment(exp, plots=False)
    assert on_disk == [51 * (i + 1) for i in range(10)]  # each run's rows, as it ended
    assert kept == [0] * 10
    assert len(read_csv(tmp_path / "out" / "iterations.csv")) == 510 and len(summary["runs"]) == 10
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["iterations.csv", "summary.json"]


def test_a_start_that_overflows_is_a_diverged_run(tmp_path):
    done = experiment(tmp_path, starts="[1e308]")
    assert done.returncode == 0, done.stderr
    run, = json.loads((tmp_path / "out" / "summary.json").read_text())["runs"]
    assert run["diverged"] is True and "Traceback" not in done.stderr
