"""ops.canny against cv2.Canny (live, OpenCV 5.1) and the plain loops of tests/naive.py.

Every comparison is exact.  The small cases also run as pure Python
(``NUMBA_DISABLE_JIT=1``, see ``.ci/run``); the large and real-image ones need the JIT.
"""

import os
import threading

import cv2
import numpy as np
import pytest

from pipeline import ops
from tests import naive
from tests.harness import DATA

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT") == "1"
needs_jit = pytest.mark.skipif(JIT_DISABLED, reason="too slow as pure Python")

SIZES = [(1, 1), (1, 9), (9, 1), (2, 2), (2, 7), (3, 3), (4, 5), (11, 13)]
BIG_SIZES = [(64, 1), (1, 64), (37, 53), (240, 321), (481, 639)]
# (low, high): float, swapped, equal, negative, zero, and past every magnitude.
PAIRS = [(20, 60), (30.5, 90.25), (90, 30), (50, 50), (-5, 40), (0, 0), (7.9, 8.1),
         (100, 4000), (1e10, 20), (20, 1e10), (-1e10, 1e10), (float("inf"), 10),
         (10, float("-inf"))]


def opencv(image, low, high, l2):
    grey = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image),
                                                      cv2.COLOR_BGR2GRAY)
    return cv2.Canny(np.ascontiguousarray(grey), low, high, apertureSize=3, L2gradient=l2)


def photo_like(shape, seed=0):
    """Smooth noise with hard shapes: weak and strong edges, plateaus and diagonals."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 1.5)
    h, w = shape[:2]
    cv2.rectangle(img, (w // 4, h // 4), (w // 2, h // 2), (255,) * 3, -1)
    cv2.circle(img, (2 * w // 3, h // 2), max(1, min(h, w) // 5), (0,) * 3, -1)
    cv2.line(img, (0, h - 1), (w - 1, 0), (200,) * 3, 1)
    return img


def photo(name):
    image = cv2.imread(str(DATA / name), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {DATA / name}"
    return image


def edge_fraction(edges):
    return np.count_nonzero(edges) / edges.size


# ---------------------------------------------------------------- parity, small

@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("l2", [False, True])
def test_small_sizes_match_opencv_and_twin(shape, l2):
    for seed, image in enumerate([photo_like(shape + (3,)),
                                  np.random.default_rng(1).integers(0, 256, shape + (3,),
                                                                    dtype=np.uint8)]):
        for low, high in [(20, 60), (90, 30), (50, 50), (-1, 1e10)]:
            got = ops.canny(image, low, high, l2=l2)
            np.testing.assert_array_equal(got, opencv(image, low, high, l2))
            np.testing.assert_array_equal(
                got, naive.canny(image, *ops.canny_thresholds(low, high, l2), l2))


@pytest.mark.parametrize("low, high", PAIRS)
@pytest.mark.parametrize("l2", [False, True])
def test_every_threshold_pair_matches_opencv(low, high, l2):
    image = photo_like((23, 29), seed=3)
    got = ops.canny(image, low, high, l2=l2)
    np.testing.assert_array_equal(got, opencv(image, low, high, l2))
    np.testing.assert_array_equal(got, naive.canny(image, *ops.canny_thresholds(low, high, l2), l2))


def test_cases_are_not_trivial():
    # The parity above must be about something: edges, weak ones dropped by hysteresis,
    # and the swap giving the same result as the ordered pair.
    image = photo_like((23, 29), seed=3)
    assert 0.02 < edge_fraction(ops.canny(image, 20, 60)) < 0.5
    assert edge_fraction(ops.canny(image, 20, 60)) < edge_fraction(ops.canny(image, 20, 20))
    np.testing.assert_array_equal(ops.canny(image, 90, 30), ops.canny(image, 30, 90))
    # high saturates to INT_MAX: no pixel is strong, so hysteresis keeps none
    assert not ops.canny(image, 20, 1e10).any()


def test_thresholds_follow_opencv_rules():
    assert ops.canny_thresholds(30.7, 90.2) == (30, 90)
    assert ops.canny_thresholds(90, 30) == (30, 90)
    assert ops.canny_thresholds(30.5, 90.5, l2=True) == (930, 8190)  # 930.25, 8190.25
    assert ops.canny_thresholds(-3.5, 40000, l2=True) == (-4, 32767 * 32767)
    assert ops.canny_thresholds(1e10, 2**31) == (2**31 - 1, 2**31 - 1)
    assert ops.canny_thresholds(float("-inf"), 2**31 - 0.5) == (-2**31, 2**31 - 1)
    assert ops.canny_thresholds(-1e10, float("inf")) == (-2**31, 2**31 - 1)


@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_grey_bgr_bgra_inputs(channels):
    shape = (9, 12) if channels is None else (9, 12, channels)
    image = np.random.default_rng(channels or 0).integers(0, 256, shape, dtype=np.uint8)
    grey = image if channels is None else image[:, :, 0] if channels == 1 else (
        cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if channels == 4 else cv2.COLOR_BGR2GRAY))
    expected = cv2.Canny(np.ascontiguousarray(grey), 40, 100)
    np.testing.assert_array_equal(ops.canny(image, 40, 100), expected)


def test_strided_views_match_opencv():
    big = photo_like((41, 57, 3), seed=5)
    frozen = big.copy()
    frozen.flags.writeable = False
    views = [big[3:30, 5:50], big[::2, ::3], big[::-1], big[:, ::-1], big[:, :, ::-1],
             big[::2, :, 0], big[:, 1:2], big[7:8], np.asfortranarray(big[:, :, 1]), frozen]
    for view in views:
        for l2 in (False, True):
            np.testing.assert_array_equal(ops.canny(view, 25, 70, l2=l2),
                                          opencv(view, 25, 70, l2))


def test_out_is_written_in_place():
    image = photo_like((17, 19, 3))
    out = np.full((17, 19), 7, np.uint8)
    assert ops.canny(image, 20, 60, out=out) is out
    np.testing.assert_array_equal(out, opencv(image, 20, 60, False))
    assert set(np.unique(out)) <= {0, 255}


# ---------------------------------------------------------------- parity, large and real

@needs_jit
@pytest.mark.parametrize("shape", BIG_SIZES)
@pytest.mark.parametrize("l2", [False, True])
def test_large_sizes_match_opencv(shape, l2):
    for image in [photo_like(shape + (3,), seed=shape[0]),
                  np.random.default_rng(shape[1]).integers(0, 256, shape, dtype=np.uint8)]:
        for low, high in [(20, 60), (60, 140), (150, 40), (300, 600)]:
            np.testing.assert_array_equal(ops.canny(image, low, high, l2=l2),
                                          opencv(image, low, high, l2))


@pytest.fixture(params=["default", 1])
def opencv_threads(request):
    """OpenCV 5 runs Canny through its IPP HAL only with one thread
    (``IPP_DISABLE_PERF_CANNY_MT``), otherwise its own parallel code: check both."""
    before = cv2.getNumThreads()
    if request.param != "default":
        cv2.setNumThreads(request.param)
    yield request.param
    cv2.setNumThreads(before)


@needs_jit
@pytest.mark.parametrize("name", ["fruits.jpg", "butterfly.jpg"])
@pytest.mark.parametrize("l2", [False, True])
def test_real_photos_match_opencv(name, l2, opencv_threads):
    image = photo(name)
    for low, high in [(60, 140), (10, 30), (100, 50), (75.5, 75.5), (200, 400), (-5, 3)]:
        got = ops.canny(image, low, high, l2=l2)
        np.testing.assert_array_equal(got, opencv(image, low, high, l2))
    assert 0.005 < edge_fraction(ops.canny(image, 60, 140)) < 0.3


@needs_jit
def test_long_edges_cross_every_band():
    # A vertical edge spanning all rows reached only through weak pixels: the joining
    # flood across band boundaries must carry it from the one strong spot.
    image = np.zeros((300, 40), np.uint8)
    image[:, 20:] = 60
    image[150, 20:] = 200
    np.testing.assert_array_equal(ops.canny(image, 50, 200), opencv(image, 50, 200, False))
    assert ops.canny(image, 50, 200)[:, 19:21].any(axis=1).all()


@needs_jit
def test_concurrent_calls_from_threads_are_exact():
    images = [photo_like((120 + 7 * k, 160 + 5 * k, 3), seed=k) for k in range(6)]
    pairs = [(20 + 10 * k, 60 + 15 * k, k % 2 == 1) for k in range(6)]
    expected = [opencv(img, lo, hi, l2) for img, (lo, hi, l2) in zip(images, pairs)]
    failures = []

    def work(k):
        img, (lo, hi, l2) = images[k], pairs[k]
        for _ in range(20):
            if not np.array_equal(ops.canny(img, lo, hi, l2=l2), expected[k]):
                failures.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("image, message", [
    (np.zeros((4, 4), np.float32), "dtype uint8; got float32"),
    (np.zeros((4, 4), np.uint16), "dtype uint8; got uint16"),
    (np.zeros((4, 4, 2), np.uint8), "1 (grey), 3 (BGR) or 4 (BGRA) channels"),
    (np.zeros((0, 4), np.uint8), "must not be empty"),
    (np.zeros((4, 0, 3), np.uint8), "must not be empty"),
    (np.zeros(4, np.uint8), "2 or 3 dimensions"),
    ([[0, 1], [2, 3]], "numpy array; got list"),
])
def test_bad_images_are_refused(image, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ops.canny(image, 10, 20)


@pytest.mark.parametrize("kwargs, message", [
    ({"low": float("nan"), "high": 20}, "low must be a number, not NaN"),
    ({"low": 10, "high": np.float32("nan")}, "high must be a number, not NaN"),
    ({"low": "10", "high": 20}, "low must be a number; got '10'"),
    ({"low": 10, "high": None}, "high must be a number; got None"),
    ({"low": True, "high": 20}, "low must be a number; got True"),
    ({"low": 10, "high": 20, "aperture": 4},
     r"aperture must be 3 \(the Sobel 3x3; 5 and 7 are not implemented\); got 4"),
    ({"low": 10, "high": 20, "aperture": 5}, "aperture must be 3 .*; got 5"),
    ({"low": 10, "high": 20, "aperture": "3"}, "aperture must be 3 .*; got '3'"),
    ({"low": 10, "high": 20, "l2": "yes"}, "l2 must be True or False; got 'yes'"),
    ({"low": 10, "high": 20, "out": np.zeros((4, 5), np.uint8)},
     r"out must be a uint8 array of shape \(5, 4\)"),
    ({"low": 10, "high": 20, "out": np.zeros((5, 4), np.int16)}, "out must be a uint8 array"),
])
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ops.canny(np.zeros((5, 4), np.uint8), **kwargs)
