"""nms_histogram: the Sobel magnitudes of the pixels non-maximum suppression keeps."""

import cv2
import numpy as np
import pytest

from pipeline.histograms import nms_histogram
from tests.harness import grey


@pytest.mark.parametrize("l2", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_it_counts_the_canny_survivors_by_magnitude(seed, l2):
    image = cv2.GaussianBlur(grey((47, 61), seed), (0, 0), 1.5)
    # made with OpenCV: the survivors are what Canny keeps with both thresholds at 0,
    # their magnitude the 3x3 Sobel's |dx| + |dy| (or the rounded norm), replicated border
    survivors = cv2.Canny(image, 0, 0, apertureSize=3, L2gradient=l2) != 0
    dx = cv2.Sobel(image, cv2.CV_32F, 1, 0, borderType=cv2.BORDER_REPLICATE)
    dy = cv2.Sobel(image, cv2.CV_32F, 0, 1, borderType=cv2.BORDER_REPLICATE)
    magnitude = np.hypot(dx, dy) if l2 else np.abs(dx) + np.abs(dy)
    level = np.clip(np.rint(magnitude), 0, 255).astype(np.intp)
    expected = np.bincount(level[survivors], minlength=256)
    hist = nms_histogram(image, l2=l2)
    assert hist.shape == (256,) and hist.dtype == np.int64
    assert hist.sum() == survivors.sum() > 0
    if not l2:
        assert np.array_equal(hist, expected)
    else:  # the fused kernel rounds the float norm as it does; a level apart at most
        assert np.abs(np.cumsum(hist) - np.cumsum(expected)).max() <= 0.02 * hist.sum()


def test_a_flat_image_has_no_survivors():
    assert nms_histogram(np.full((20, 30), 90, np.uint8)).sum() == 0


def test_it_wants_a_grey_uint8_image():
    with pytest.raises(ValueError, match="grey must be a uint8"):
        nms_histogram(np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="grey must be a uint8"):
        nms_histogram(np.zeros((5, 5), np.float32))
