"""``edgepipe experiment`` on a quality config, end to end on a generated three-image set."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.cli.main import main
from pipeline.quality import write_boundaries
from tests.quality.synthetic import disc_photo

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("a", "b", "c")


def command(*argv):
    """``edgepipe experiment ARGV...`` in this process; its exit code."""
    return main(["experiment", *map(str, argv)])


@pytest.fixture
def dataset(tmp_path):
    """images/NAME.jpg, truth/NAME.mat (two annotators: the disc's boundary, and it with
    a stretch left out), perfect/NAME.png (the first annotator's boundary, 255)."""
    for folder in ("images", "truth", "perfect"):
        (tmp_path / folder).mkdir()
    for index, name in enumerate(NAMES):
        photo, edge = disc_photo(centre=(28 + 2 * index, 35 + 4 * index), radius=12 + 2 * index,
                                 seed=index)
        partial = edge.copy()
        partial[:, :30] = 0
        cv2.imwrite(str(tmp_path / "images" / f"{name}.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 98])
        write_boundaries(tmp_path / "truth" / f"{name}.mat", [edge, partial])
        cv2.imwrite(str(tmp_path / "perfect" / f"{name}.png"), edge * 255)
    return tmp_path


def config(folder: Path, extra: str = "") -> Path:
    path = folder / "quality.yaml"
    path.write_text(f"""version: 1
name: three
dataset: {{images: {folder / 'images'}, ground_truth: {folder / 'truth'}}}
methods:
  sobel: [grayscale, {{blur: {{ksize: 5, sigma: 1}}}}, {{gradient: {{kind: sobel}}}}, {{map: {{scale: 0.5}}}}]
  canny: {{canny: {{sigma: 1, high_max: 1500}}}}
  perfect: {{maps: {folder / 'perfect'}}}
tuned:
  - {{method: sobel, objective: [otsu, density], optimizer: {{name: adam, lr: 2}}}}
  - {{method: canny, objective: multiotsu, optimizer: {{name: sign, step: 1}}, label: canny-tuned}}
  - {{method: canny, objective: density, histogram: nms, target: 0.3, ratio: 0.5}}
{extra}""")
    return path


def test_the_experiment_writes_scores_tables_plot_and_maps(dataset):
    out, maps = dataset / "out", dataset / "maps"
    done = subprocess.run([sys.executable, "-m", "pipeline", "experiment", str(config(dataset)),
                           "-o", str(out), "--save-maps", str(maps)],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 3 and summary["thresholds"] == 99
    methods = summary["methods"]
    # the first annotator's own boundaries: every pixel right, and all of that annotator's
    # found, but the second annotator's pixels are a subset of the first's: recall 1 too
    assert methods["perfect"]["ods"] == pytest.approx(1.0)
    assert methods["perfect"]["ois"] == pytest.approx(1.0)
    for name in ("sobel", "canny"):
        entry = methods[name]
        assert 0.5 < entry["ods"] <= entry["ois"] + 1e-12 <= 1.0 + 1e-12, (name, entry)
        assert 0 <= entry["ap"] <= 1 and 0 <= entry["r50"] <= 1
        assert 0 < entry["ods_threshold"] < 1
        assert len(entry["curve"]["recall"]) == 99
    tuned = summary["tuned"]
    assert set(tuned) == {"sobel/otsu/adam,lr=2", "sobel/density/adam,lr=2", "canny-tuned",
                          "canny/nms-density/adam,lr=2"}
    for entry in tuned.values():
        assert 0 < entry["f_tuned"] <= 1
    assert set(tuned["canny-tuned"]["mean_values"]) == {"low", "high"}
    nms = tuned["canny/nms-density/adam,lr=2"]["mean_values"]
    assert nms["low"] == pytest.approx(0.5 * nms["high"])
    with open(out / "per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * 3 + 4 * 3
    assert {r["image"] for r in rows} == set(NAMES)
    assert (out / "pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for method in ("sobel", "canny", "perfect"):
        assert sorted(p.name for p in (maps / method).iterdir()) == [f"{n}.png" for n in NAMES]
    assert "ODS" in done.stderr and "F_tuned" in done.stderr


def test_saved_maps_score_the_same_when_read_back(dataset):
    assert command(config(dataset), "-o", dataset / "first", "--save-maps", dataset / "maps",
                   "--no-plots", "-q") == 0
    again = dataset / "again"
    again.mkdir()
    path = again / "maps.yaml"
    path.write_text(f"version: 1\ndataset: {{images: {dataset / 'images'}, "
                    f"ground_truth: {dataset / 'truth'}}}\n"
                    f"methods: {{canny: {{maps: {dataset / 'maps' / 'canny'}}}}}\n")
    assert command(path, "-o", again / "out", "--no-plots", "-q") == 0
    first = json.loads((dataset / "first" / "summary.json").read_text())["methods"]["canny"]
    second = json.loads((again / "out" / "summary.json").read_text())["methods"]["canny"]
    for key in ("ods", "ois", "ap", "r50", "ods_threshold"):
        assert first[key] == second[key]


def test_config_and_input_errors(dataset, capsys):
    (dataset / "truth" / "b.mat").unlink()
    assert command(config(dataset), "-q") == 2
    assert "b.mat" in capsys.readouterr().err
    write_boundaries(dataset / "truth" / "b.mat", [np.zeros((60, 80), np.uint8)])
    (dataset / "perfect" / "c.png").unlink()
    assert command(config(dataset), "-o", dataset / "o", "--no-plots", "-q") == 1
    assert "c.png" in capsys.readouterr().err
    bad = config(dataset, "  - {method: nothing}\n")
    assert command(bad, "-q") == 2
    assert "no method 'nothing'" in capsys.readouterr().err
    bad = config(dataset, "  - {method: sobel, objective: multiotsu}\n")
    assert command(bad, "-q") == 2
    assert "otsu, density; got 'multiotsu'" in capsys.readouterr().err
    bad = config(dataset, "  - {method: sobel, histogram: nms}\n")
    assert command(bad, "-q") == 2
    assert "histogram applies to canny methods" in capsys.readouterr().err


def test_a_chain_must_end_with_a_map(dataset, capsys):
    path = dataset / "chain.yaml"
    path.write_text(f"version: 1\ndataset: {{images: {dataset / 'images'}, "
                    f"ground_truth: {dataset / 'truth'}}}\n"
                    f"methods: {{raw: [grayscale, gradient]}}\n")
    assert command(path, "-q") == 2
    assert "uint8 map" in capsys.readouterr().err


def test_save_maps_is_for_quality_experiments(tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text("version: 1\ninputs: [{function: double_well, starts: [1.0]}]\n"
                    "optimizers: [{name: sign}]\niterations: 2\n")
    assert command(path, "--save-maps", tmp_path / "m", "-o", tmp_path / "o", "-q") == 2
    assert "quality experiments" in capsys.readouterr().err


def test_the_documented_val_config_checks_against_any_bsds_layout(dataset):
    from pipeline.config.experiment import load_experiment

    experiment = load_experiment(ROOT / "docs" / "bsds-val.yaml",
                                 [f"dataset.images={dataset / 'images'}",
                                  f"dataset.ground_truth={dataset / 'truth'}"])
    assert list(experiment.methods) == ["sobel", "scharr", "canny"]
    assert len(experiment.images) == 3
    objectives = {(t.method, t.settings["objective"], t.histogram) for t in experiment.tuned}
    assert objectives == {("sobel", "otsu", "all"), ("sobel", "density", "all"),
                          ("scharr", "otsu", "all"), ("scharr", "density", "all"),
                          ("canny", "multiotsu", "all"), ("canny", "otsu", "nms"),
                          ("canny", "density", "nms")}
    assert "canny/nms-density-0.15" in {t.name for t in experiment.tuned}  # labels kept
    optimizers = {t.settings["optimizer"]["name"] for t in experiment.tuned}
    assert optimizers == {"sign", "sgd", "momentum", "nesterov", "adam"}
