"""pipeline.kernels.canny called directly: its scratch contract ("every element is written")."""

import os

import cv2
import numpy as np
import pytest

from pipeline import ops
from pipeline.kernels import canny as kernel
from pipeline.kernels.canny import EDGE, NOT_EDGE, WEAK

needs_jit = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                               reason="too slow as pure Python")


def textured(shape, seed):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 1.2)


@needs_jit
@pytest.mark.parametrize("fill", [WEAK, NOT_EDGE, EDGE, 255])
@pytest.mark.parametrize("shape", [(120, 160, 3), (37, 53, 3), (64, 7), (5, 200)])
@pytest.mark.parametrize("l2", [False, True])
def test_whatever_the_scratch_held_the_edges_are_cv2_canny(fill, shape, l2):
    # The map's columns outside the image (its border and the padding to whole uint64
    # words) are read by the row scan: a scratch left full of EDGE by an earlier frame
    # once let edges leak in from them.
    image = textured(shape, seed=sum(shape) + fill)
    height, width = shape[:2]
    step = (width + 2 + 7) // 8 * 8
    low, high = ops.canny_thresholds(25, 64, l2)
    bands = min(height, 4)
    scratch = np.full((height + 2, step), fill, np.uint8)
    stack = np.full(height * width + 2 * width * bands, -1, np.int32)
    out = np.full((height, width), 7, np.uint8)
    pixels = np.ascontiguousarray(image).reshape(height, -1)
    channels = 1 if image.ndim == 2 else image.shape[2]
    kernel.canny(pixels, channels, np.int32(low), np.int32(high), l2, scratch, stack, out, bands)
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    expected = cv2.Canny(grey, 25, 64, apertureSize=3, L2gradient=l2)
    assert np.count_nonzero(expected) > 0
    np.testing.assert_array_equal(out, expected)
