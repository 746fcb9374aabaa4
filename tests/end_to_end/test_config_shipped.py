"""Every config the project ships validates, each against its own schema, from a fresh clone.

``configs/`` holds run configs, one batch config and experiment configs; ``edgepipe
validate`` tells them apart by their keys (or a ``kind:`` key) and checks each with its
own loader.  The experiment configs also run, with few iterations, reading only what
the checkout has (samples/), as a fresh clone would.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from pipeline.cli.main import main
from pipeline.config.dispatch import load_any
from pipeline.config.experiment import load_experiment
from pipeline.experiments import run_experiment
from tests.harness import ROOT

SHIPPED = sorted(ROOT.glob("configs/**/*.yaml"))
EXPERIMENTS = sorted(ROOT.glob("configs/experiments/*.yaml"))


def expected_kind(path: pathlib.Path) -> str:
    if "experiments" in path.parts:
        return "experiment"
    return "batch" if path.name.startswith("batch") else "run"


def test_configs_folder_holds_every_kind():
    assert {expected_kind(path) for path in SHIPPED} == {"run", "batch", "experiment"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_validates_against_its_own_schema(path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    kind, checked = load_any(path)
    assert kind == expected_kind(path)
    assert main(["validate", str(path)]) == 0
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"{path}: ok (")
    assert (kind == "run") == ("mode " in line)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_shipped_experiment_runs_from_the_checkout(path, tmp_path, monkeypatch):
    # Paths in a config are taken from the current folder: the checkout's root.
    monkeypatch.chdir(ROOT)
    base = load_experiment(path)
    overrides = ["iterations=3"] + [f"inputs.{index}.max_frames=4"
                                    for index, item in enumerate(base.inputs) if item.kind != "function"]
    experiment = load_experiment(path, overrides, output=str(tmp_path / "out"))
    summary = run_experiment(experiment, plots=True)
    assert len(summary["runs"]) >= len(experiment.optimizers)
    for entry in summary["runs"]:
        if entry["kind"] != "function":
            assert entry["frames"] == 4
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["name"] == experiment.name
    assert all(os.path.getsize(plot) > 0 for plot in summary["files"]["plots"])
    assert len(summary["files"]["plots"]) == len(experiment.inputs)


def test_no_shipped_config_or_script_reaches_outside_the_checkout():
    # ../shared is not in a clone (issue 12.4); scripts/bench_pipeline.py is another branch's.
    owned = SHIPPED + [ROOT / "scripts" / "bench_batch.py", ROOT / "scripts" / "make_readme_figure.py"]
    for path in owned:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and '"shared"' not in text, path
