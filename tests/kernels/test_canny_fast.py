"""The Canny kernel's fast paths against canny.cpp's rules, OpenCV and the plain loops.

The suppression tests a pixel's direction on 16-bit integers (``canny.direction``) and
runs L1 magnitudes and thresholds as int16; it finds the blocks of a row that hold a
candidate (``m > low``) before the direction work, and fills the others with "not an
edge".  The cases here are the ones those shortcuts could get wrong: every gradient the
direction test can meet, thresholds at and past the int16 clamp, flat frames, blocks
with one candidate, widths that are not a multiple of a block.  The small ones also run
as pure Python (``NUMBA_DISABLE_JIT=1``).
"""

import os

import cv2
import numba
import numpy as np
import pytest

from pipeline import ops
from pipeline.kernels import canny as kernel
from tests import naive

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT") == "1"
needs_jit = pytest.mark.skipif(JIT_DISABLED, reason="too slow as pure Python")

SOBEL_MAX = 4 * 255  # |dx| and |dy| of a uint8 image under Sobel 3x3


def cpp_direction(dx, dy):
    """canny.cpp's test as written there: 32-bit ``y = |dy| << 15`` against ``x * TG22``."""
    x, y = abs(dx), abs(dy) << 15
    tg22x = x * kernel.TG22
    return y < tg22x, y > tg22x + (x << 16), (dx ^ dy) >= 0


def check(image, low, high, l2=False):
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    expected = cv2.Canny(np.ascontiguousarray(grey), low, high, apertureSize=3, L2gradient=l2)
    got = ops.canny(image, low, high, l2=l2)
    np.testing.assert_array_equal(got, expected)
    return got


# ---------------------------------------------------------------- the direction test

@numba.njit
def _direction_mismatches(limit, tg22):
    bad = 0
    for dx in range(-limit, limit + 1):
        for dy in range(-limit, limit + 1):
            h, v, s = kernel.direction(np.int16(dx), np.int16(dy))
            x, y = abs(dx), abs(dy) << 15
            tg22x = x * tg22
            if h != (y < tg22x) or v != (y > tg22x + (x << 16)) or s != ((dx ^ dy) >= 0):
                bad += 1
    return bad


@needs_jit
def test_direction_matches_canny_cpp_on_every_sobel_gradient():
    assert _direction_mismatches(SOBEL_MAX, kernel.TG22) == 0


def test_direction_matches_canny_cpp_at_its_boundaries():
    # As pure Python too: for each x, the |dy| on both sides of both boundaries.
    cases = [(0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (SOBEL_MAX, SOBEL_MAX),
             (-SOBEL_MAX, SOBEL_MAX), (SOBEL_MAX, -SOBEL_MAX), (0, SOBEL_MAX)]
    for x in list(range(0, 40)) + list(range(SOBEL_MAX - 40, SOBEL_MAX + 1)):
        t = x * kernel.TG22 >> 15
        for a in {t - 1, t, t + 1, 2 * x + t - 1, 2 * x + t, 2 * x + t + 1}:
            if 0 <= a <= SOBEL_MAX:
                cases += [(x, a), (-x, a), (x, -a), (-x, -a)]
    for dx, dy in cases:
        got = tuple(bool(v) for v in kernel.direction(np.int16(dx), np.int16(dy)))
        assert got == cpp_direction(dx, dy), (dx, dy)


# ---------------------------------------------------------------- flat areas, lone edges

@pytest.mark.parametrize("width", [1, 2, 31, 32, 33, 63, 64, 65, 97])
def test_flat_frames_have_no_edges(width):
    for value in (0, 128, 255):
        image = np.full((6, width, 3), value, np.uint8)
        assert not check(image, 10, 30).any()
        # low < 0: every flat pixel (m = 0) is a candidate and the direction test decides
        check(image, -5, 3)


@pytest.mark.parametrize("width", [5, 33, 64, 65, 130])
@pytest.mark.parametrize("column", [0, 1, "middle", "last"])
def test_a_single_bright_pixel_in_a_flat_frame(width, column):
    image = np.full((9, width), 40, np.uint8)
    j = {"middle": width // 2, "last": width - 1}.get(column, column)
    j = min(j, width - 1)
    image[4, j] = 250
    for l2 in (False, True):
        edges = check(image, 100, 300, l2=l2)
        assert edges.any()
        np.testing.assert_array_equal(
            edges, naive.canny(image, *ops.canny_thresholds(100, 300, l2), l2))


@pytest.mark.parametrize("width", [40, 63, 64, 65, 129])
def test_one_step_edge_across_a_flat_frame(width):
    # One vertical step: a single column of candidates per row, every other block flat.
    image = np.zeros((12, width), np.uint8)
    image[:, width - 3:] = 200
    edges = check(image, 50, 150)
    assert edges[:, width - 4:width - 2].any(axis=1).all()
    check(image.T.copy(), 50, 150)  # and across: one row of candidates


@pytest.mark.parametrize("low, high", [(70, 70), (0, 0), (200, 200), (2039, 2039),
                                       (2040, 2040)])
def test_low_equal_to_high(low, high):
    image = naive_like((13, 70, 3), seed=low)
    got = check(image, low, high)
    np.testing.assert_array_equal(got, naive.canny(image, *ops.canny_thresholds(low, high), False))


def naive_like(shape, seed):
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 1.0)
    image[shape[0] // 2:, : shape[1] // 3] = 255  # a hard corner: the largest gradients
    image[: shape[0] // 3, shape[1] // 2:] = 0
    return image


# ---------------------------------------------------------------- the int16 clamp

def extreme_gradients(shape):
    """0/255 stripes: |dx| or |dy| of 1020 and L1 magnitudes up to 2040."""
    image = np.zeros(shape, np.uint8)
    image[::4] = 255
    image[:, 1::5] = 255 - image[:, 1::5]
    return image


@pytest.mark.parametrize("low, high", [
    (2039, 2040), (2040, 2041), (2039.5, 2040.5), (1019, 1020), (1020, 2040),
    (-1, 2039), (-1e10, 2040), (2041, 1e10), (40000, 50000), (32767, 32768),
    (-40000, -1), (-2, -1), (100, 32767.9),
])
def test_thresholds_around_the_largest_l1_magnitude(low, high):
    image = extreme_gradients((14, 45))
    for l2 in (False, True):
        got = check(image, low, high, l2=l2)
        np.testing.assert_array_equal(
            got, naive.canny(image, *ops.canny_thresholds(low, high, l2), l2))


# ---------------------------------------------------------------- larger, JIT only

@needs_jit
@pytest.mark.parametrize("width", [1, 7, 63, 64, 65, 127, 129, 333, 1921])
def test_widths_around_the_block_size(width):
    for seed, (low, high) in enumerate([(20, 60), (60, 140), (140, 140), (-3, 5)]):
        image = naive_like((41, width, 3), seed=seed + width)
        for l2 in (False, True):
            check(image, low, high, l2=l2)


@needs_jit
def test_sparse_candidates_in_a_large_flat_frame():
    # Mostly flat, with a few lone dots and short strokes in separate blocks: most
    # blocks of every row hold no candidate; some hold exactly one.
    rng = np.random.default_rng(7)
    image = np.full((300, 517, 3), 90, np.uint8)
    for _ in range(60):
        i, j = int(rng.integers(0, 300)), int(rng.integers(0, 517))
        image[i, j] = 255 if rng.integers(0, 2) else 0
    cv2.line(image, (10, 10), (500, 290), (200, 200, 200), 1)
    cv2.line(image, (516, 0), (516, 299), (0, 0, 0), 1)  # the last column
    for low, high in [(40, 120), (200, 600), (10, 10)]:
        for l2 in (False, True):
            check(image, low, high, l2=l2)


@needs_jit
def test_smooth_upscaled_photo():
    # The kind of frame the fast path is for: fruits.jpg scaled up, few candidates.
    from tests.harness import DATA

    photo = cv2.imread(str(DATA / "fruits.jpg"), cv2.IMREAD_COLOR)
    image = cv2.resize(photo, (1280, 720), interpolation=cv2.INTER_CUBIC)
    for low, high in [(60, 140), (30, 90), (100, 100)]:
        for l2 in (False, True):
            check(image, low, high, l2=l2)
