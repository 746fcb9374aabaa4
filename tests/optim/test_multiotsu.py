"""The two-threshold objective: hard minimum against scikit-image, gradient against a
central difference, values against a direct three-class computation, bad input."""


import cv2
import numpy as np
import pytest
from skimage.filters import threshold_multiotsu

from pipeline import ops
from pipeline.optim import (
    PAIR_OBJECTIVES,
    multiotsu,
    multiotsu_grad,
    numerical_gradient,
    otsu,
)
from pipeline.optim.pair_objectives import MultiOtsu
from tests.harness import DATA
from tests.optim.test_objectives import LEVELS, histogram


def magnitude_of(name):
    """The uint8 Sobel magnitude edgepipe draws (ops.edges) of a committed photo."""
    image = cv2.imread(str(DATA / name), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {DATA / name}"
    return ops.edges(image)


def synthetic_magnitude(seed):
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(12, 5, 3000), rng.normal(70, 12, 1200),
                             rng.normal(170, 20, 400)])
    return np.clip(np.round(values), 0, 255).astype(np.uint8).reshape(46, 100)


def hard_argmin(hist):
    """Integer pair (low <= high) of least value, ties to the smallest low, then high."""
    surface = MultiOtsu(hist, 0.0)
    best = None
    for low in range(256):
        for high in range(low, 256):
            value = surface.evaluate(low, high)[0]
            if best is None or value < best[0]:
                best = (value, low, high)
    return best


@pytest.mark.parametrize("source", ["fruits.jpg", "butterfly.jpg", 1, 2])
def test_hard_minimum_equals_scikit_image(source):
    magnitude = magnitude_of(source) if isinstance(source, str) else synthetic_magnitude(source)
    hist = histogram(magnitude)
    value, low, high = hard_argmin(hist)
    expected = threshold_multiotsu(magnitude, classes=3)
    assert (low, high) == tuple(int(t) for t in expected)
    # The public function gives the same number as the prepared surface.
    assert multiotsu(hist, low, high, tau=0) == value
    assert 0 < low < high < 255  # an interior split: the comparison means something


def test_value_is_the_three_class_between_variance():
    hist = histogram(synthetic_magnitude(3))
    p = hist / hist.sum()
    mean = p @ LEVELS
    total = p @ (LEVELS - mean) ** 2
    for low, high in [(30, 120), (0, 254), (40, 41), (100, 100)]:
        classes = [LEVELS <= low, (LEVELS > low) & (LEVELS <= high), LEVELS > high]
        between = sum(p[c].sum() * (p[c] @ LEVELS[c] / p[c].sum() - mean) ** 2
                      for c in classes if p[c].sum() > 0)
        assert multiotsu(hist, low, high, tau=0) == pytest.approx(-between / total, rel=1e-12)
    # An empty middle class leaves Otsu's two classes.
    assert multiotsu(hist, 70, 70, tau=0) == pytest.approx(otsu(hist, 70, tau=0), rel=1e-12)
    assert multiotsu(hist, 70, 70, tau=2.0) == pytest.approx(otsu(hist, 70, tau=2.0), rel=1e-12)


@pytest.mark.parametrize("tau", [0.5, 2.0, 8.0])
@pytest.mark.parametrize("source", ["fruits.jpg", 4])
def test_gradient_matches_central_difference(tau, source):
    magnitude = magnitude_of(source) if isinstance(source, str) else synthetic_magnitude(source)
    hist = histogram(magnitude)
    pairs = [(10, 40), (30, 31), (3.3, 200.7), (55.5, 140.25), (-12, 20), (240, 300)]
    for low, high in pairs:
        analytic = multiotsu_grad(hist, low, high, tau=tau)
        numeric = numerical_gradient(lambda a, b: multiotsu(hist, a, b, tau=tau), low, high)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    assert np.abs(multiotsu_grad(hist, 10, 40, tau=tau)).min() > 1e-5  # both move


def test_swapped_pair_is_the_sorted_pair():
    hist = histogram(synthetic_magnitude(5))
    assert multiotsu(hist, 120, 30) == multiotsu(hist, 30, 120)
    d_low, d_high = multiotsu_grad(hist, 30, 120)
    assert multiotsu_grad(hist, 120, 30) == (d_high, d_low)


def test_hard_step_and_flat_histogram_have_zero_gradient():
    hist = histogram(synthetic_magnitude(6))
    assert multiotsu_grad(hist, 20, 90, tau=0) == (0.0, 0.0)
    flat = np.zeros(256, np.int64)
    flat[17] = 50
    assert multiotsu(flat, 10, 30) == 0.0 and multiotsu_grad(flat, 10, 30) == (0.0, 0.0)


def test_registered_beside_the_one_threshold_objectives():
    assert PAIR_OBJECTIVES == {"multiotsu": (multiotsu, multiotsu_grad)}


@pytest.mark.parametrize("hist, tau, message", [
    (np.zeros(255), 2.0, r"hist must have shape \(256,\)"),
    (np.zeros(256), 2.0, "hist is empty"),
    (-np.ones(256), 2.0, "finite counts >= 0"),
    (np.ones(256), -1.0, "tau must be a finite number >= 0"),
    (np.ones(256), float("nan"), "tau must be a finite number >= 0"),
])
def test_bad_input_is_refused(hist, tau, message):
    with pytest.raises(ValueError, match=message):
        multiotsu(hist, 10, 20, tau=tau)
    with pytest.raises(ValueError, match=message):
        multiotsu_grad(hist, 10, 20, tau=tau)
