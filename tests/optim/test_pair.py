"""Tuning Canny's pair on the multi-Otsu surface: every optimizer descends keeping low below
high, and a step across the diagonal is projected back onto it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.optim import make_optimizer, multiotsu, tune_pair
from pipeline.histograms import canny_rule_of_thumb, magnitude_histogram
from tests.harness import DATA


@pytest.mark.parametrize("spec", [
    {"name": "sign", "step": 1}, {"name": "sgd", "lr": 3000.0},
    {"name": "momentum", "lr": 1000.0, "gamma": 0.9}, {"name": "nesterov", "lr": 1000.0, "gamma": 0.9},
    {"name": "adam", "lr": 2.0},
], ids=lambda spec: spec["name"])
def test_each_optimizer_descends_the_multiotsu_surface_keeping_low_below_high(spec):
    hist = magnitude_histogram(cv2.imread(str(DATA / "butterfly.jpg")))
    start = canny_rule_of_thumb(hist)
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
