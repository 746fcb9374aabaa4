"""scripts/bench_quality.py check: compares every figure and fails past the tolerance.

The real reference (the MATLAB benchmark's bench/data/test_2) is not part of the
project; here a benchmark folder of the same layout is made from synthetic maps, its
reference files written in the benchmark's format from figures worked out by hand.
"""

from __future__ import annotations

import importlib.util
import sys

import cv2
import numpy as np
import pytest

from pipeline.quality import write_boundaries
from tests.harness import ROOT
from tests.quality.synthetic import outline


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "scripts" / "bench_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_bench(folder, precision_of_first=1.0):
    data = folder / "data"
    for sub in ("images", "png", "groundTruth", "test_2"):
        (data / sub).mkdir(parents=True)
    square = outline()
    for name in ("1", "2"):
        cv2.imwrite(str(data / "images" / f"{name}.jpg"), np.zeros((100, 100, 3), np.uint8))
        cv2.imwrite(str(data / "png" / f"{name}.png"), square * 255)
        write_boundaries(data / "groundTruth" / f"{name}.mat", [square])
    # a perfect map at every threshold: R = P = F = 1; AP is 0 (R takes one value)
    levels = [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6]
    p = precision_of_first
    f = 2 * p / (1 + p)
    (data / "test_2" / "eval_bdry.txt").write_text(f"{levels[0]} 1 {p} {f} 1 {p} {f} 0\n")
    (data / "test_2" / "eval_bdry_thr.txt").write_text("".join(f"{t} 1 1 1\n" for t in levels))
    (data / "test_2" / "eval_bdry_img.txt").write_text("1 0.166667 1 1 1\n2 0.166667 1 1 1\n")
    return folder


def test_check_passes_on_matching_figures(bench, tmp_path, capsys):
    assert bench.main(["check", str(make_bench(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "worst difference 0.000000" in out and ": ok" in out


def test_check_fails_past_the_tolerance(bench, tmp_path, capsys):
    assert bench.main(["check", str(make_bench(tmp_path, precision_of_first=0.99))]) == 1
    assert "FAILED" in capsys.readouterr().out
