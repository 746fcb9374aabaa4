"""The plots' surface grid: the objective itself, blank below the diagonal."""

import numpy as np

from pipeline.experiments.plots import surface_grid
from pipeline.optim import multiotsu


def test_surface_grid_is_the_objective_and_blank_below_the_diagonal():
    hist = np.bincount(np.random.default_rng(1).integers(0, 200, 5000), minlength=256)
    levels, values = surface_grid(hist, 2.0, step=16.0)
    assert values[3, 1] == multiotsu(hist, levels[1], levels[3])
    assert np.isnan(values[1, 3])
