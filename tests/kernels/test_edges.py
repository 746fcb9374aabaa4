"""pipeline.kernels.edges called directly: bands, the written-out Sobel path, the mapping.

The fused kernel takes shortcuts that ``tests/test_ops.py`` checks only through
``ops.edges``: each band refills its ring from its own first row, Sobel's taps are added
and shifted instead of multiplied, and the abs mapping runs as the shift mapping with
offset 0.  These tests pin each against the unfused composition (itself checked against
OpenCV and the plain loops).
"""

import os

import cv2
import numba
import numpy as np
import pytest

from pipeline import ops
from pipeline import stencils
from pipeline.kernels import derivatives
from pipeline.kernels import edges as kernel
from pipeline.kernels.border import REFLECT101, REPLICATE, ZERO
from tests.test_ops import CV_BORDERS, composed, photo_like, random_image

BORDER_CODES = {"zero": ZERO, "reflect101": REFLECT101, "replicate": REPLICATE}


def blocks():
    """A (10, 16, 3) checkerboard of 2x2 blocks of 0 and 255: every gradient at its extreme."""
    i, j = np.mgrid[:10, :16]
    grey = (255 * ((i // 2 + j // 2) % 2)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def run(frame, kind, border, norm, mapping, scale, bands, count=True):
    height, width = frame.shape[:2]
    out = np.full((height, width), 77, np.uint8)
    hist = np.full(256, -1, np.int64)
    weights = [w for axis in ("x", "y") for w in stencils.axis_weights(kind, axis, np.int16)]
    kernel.edges(frame.reshape(height, -1), frame.shape[2], False, out, hist, *weights,
                 BORDER_CODES[border], norm == "l1", mapping == "shift", np.float32(scale),
                 np.float32(127.5), False, 0.0, count, bands)
    return out, hist


@pytest.mark.parametrize("kind", ["sobel", "scharr", "central"])
@pytest.mark.parametrize("border", list(BORDER_CODES))
@pytest.mark.parametrize("shape", [(1, 9), (2, 3), (7, 13), (23, 41)])
def test_any_band_count_gives_the_same_image_and_histogram(kind, border, shape):
    # One band, a few, and one band per row: every band starts its ring afresh.
    frame = photo_like(shape + (3,), seed=shape[0])
    want = composed(frame, kind, border=border)
    for bands in sorted({1, min(3, shape[0]), shape[0]}):
        out, hist = run(frame, kind, border, "l2", "abs", 1.0, bands)
        np.testing.assert_array_equal(out, want, err_msg=f"bands={bands}")
        np.testing.assert_array_equal(hist, np.bincount(want.ravel(), minlength=256))


@pytest.mark.parametrize("kind", ops.KINDS)
@pytest.mark.parametrize("norm", ops.NORMS)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # 3e38 * m: inf
@pytest.mark.parametrize("scale", [-1.0, -0.25, 0.0, 0.5, 1.0, 3.0, 1e30, 3e38])
def test_abs_mapping_as_shift_with_offset_zero_matches_map_abs(kind, norm, scale):
    # Negative, zero and overflowing scales: |m| * scale == m * scale + 0 for every
    # magnitude the kernel can make (never negative, never NaN).
    frame = random_image((11, 19, 3), seed=5)
    out, _ = run(frame, kind, "reflect101", norm, "abs", scale, 2, count=False)
    np.testing.assert_array_equal(out, composed(frame, kind, norm, "abs", scale))


@pytest.mark.parametrize("border", list(BORDER_CODES))
@pytest.mark.parametrize("norm", ops.NORMS)
def test_the_default_mapping_shortcut_equals_the_general_mapping(border, norm):
    # Sobel with scale 1 and offset 0 skips the identities and the clip at 0; under l1 it
    # stays in int16.  Random pixels and 0/255 blocks reach sums past the clip at 255.
    for frame in (random_image((13, 37, 3), seed=9), blocks(), photo_like((12, 40, 3), seed=4)):
        out, hist = run(frame, "sobel", border, norm, "abs", 1.0, 3)
        want = composed(frame, "sobel", norm, "abs", 1.0, border)
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(hist, np.bincount(want.ravel(), minlength=256))
    assert np.count_nonzero(composed(blocks(), "sobel", norm, "abs", 1.0, border) == 255) > 50


@pytest.mark.parametrize("border", list(BORDER_CODES))
@pytest.mark.parametrize("norm,mapping", [("l1", "abs"), ("l2", "shift"), ("l1", "shift")])
def test_written_out_sobel_taps_equal_the_multiplied_ones(border, norm, mapping):
    # Sobel takes the added-and-shifted loops; Prewitt (taps 1, 1, 1) the multiplied
    # ones.  Extreme inputs (0/255 blocks) reach the largest sums, +-1020 for Sobel.
    frame = blocks()
    assert np.abs(ops.derivative(ops.grayscale(frame), "sobel", "x")).max() == 1020
    for kind in ("sobel", "prewitt"):
        out, _ = run(frame, kind, border, norm, mapping, 0.125, 3, count=False)
        np.testing.assert_array_equal(out, composed(frame, kind, norm, mapping, 0.125, border))


@pytest.mark.parametrize("border", list(BORDER_CODES))
@pytest.mark.parametrize("width", [1, 2, 3, 17])
def test_sobel_passes_equal_two_horizontal_passes(border, width):
    # The fused kernel makes Sobel's two horizontal passes in one loop; row 0 is the grey
    # row, rows 1 and 2 the passes.  0/255 extremes reach the largest sums, +-1020.
    rng = np.random.default_rng(width)
    grey = np.where(rng.random(width) < 0.5, 0, 255).astype(np.int16)
    grey[::3] = rng.integers(0, 256, grey[::3].shape)
    hx, _, hy, _ = (w for axis in ("x", "y") for w in stencils.axis_weights("sobel", axis, np.int16))
    fused = np.full((3, width), 7, np.int16)
    fused[0] = grey
    derivatives.sobel_ring_passes(fused, 0, BORDER_CODES[border], 1, 2)
    apart = np.full((3, width), 7, np.int16)
    apart[0] = grey
    derivatives.horizontal_pass(apart, 0, hx, BORDER_CODES[border], apart, 1)
    derivatives.horizontal_pass(apart, 0, hy, BORDER_CODES[border], apart, 2)
    np.testing.assert_array_equal(fused, apart)


def test_small_frames_run_as_one_band_in_the_calling_thread():
    # ops.edges asks for one band (no parallel launch) up to SMALL_FRAME pixels, and above
    # it as many as the thread's numba threads call for (one thread: one band; an earlier
    # test in this process may have left this thread at one, as a batch worker is).
    assert ops._edge_bands(480, 640) == 1 == ops._edge_bands(1, ops.SMALL_FRAME)
    threads = numba.get_num_threads()
    assert ops._edge_bands(481, 640) == ops._bands(481) == (1 if threads == 1 else 4 * threads)


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="too slow as pure Python")
@pytest.mark.parametrize("shape", [(480, 640), (481, 640)])
def test_either_side_of_the_small_frame_limit_matches_the_composition(shape):
    frame = photo_like(shape + (3,), seed=shape[0])
    want = composed(frame, "sobel")
    got, hist = ops.edges(frame, hist=True)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(hist, np.bincount(want.ravel(), minlength=256))



def sobel_l2_row(dx, dy):
    """The Sobel l2 row of the default mapping (``kernel._edge_row``'s vector loop) on the
    derivative values ``dx``, ``dy`` (int16), from rings whose taps make exactly them."""
    ring = np.zeros((7, dx.size), np.int16)
    ring[0] = dx  # x ring, rows 0-2 through the taps (1, 2, 1): dx + 2 * 0 + 0
    ring[5] = dy  # y ring, rows 3-5 through the taps (-1, 0, 1): dy - 0
    out = np.full((1, dx.size), 77, np.uint8)
    one, two, zero = np.int16(1), np.int16(2), np.int16(0)
    kernel._edge_row(ring, 0, 1, 2, one, two, one, -one, zero, one, False, np.float32(1),
                     np.float32(0), out, 0)
    return out[0]


def opencv_l2(dx, dy):
    """``cv2.magnitude`` of the float32 derivatives and ``cv2.convertScaleAbs``: the tail
    of OpenCV's chain that the row must equal."""
    magnitude = cv2.magnitude(dx.astype(np.float32), dy.astype(np.float32))
    return cv2.convertScaleAbs(magnitude).ravel()


def test_the_sobel_l2_row_equals_opencv_for_every_derivative_pair():
    # The row squares |dx| and |dy| clipped at 255 in 16 bits and saturates their sum
    # (kernel.rounded_norm); every pair Sobel can make on uint8 pixels, +-1020 each,
    # against OpenCV.  Pure Python takes all pairs up to 300 and the extremes, with signs.
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        values = np.r_[-1020, -300:301, 511, 1019, 1020]
    else:
        values = np.arange(-1020, 1021)
    dx, dy = (v.astype(np.int16).ravel() for v in np.meshgrid(values, values))
    want = opencv_l2(dx, dy)
    got = sobel_l2_row(dx, dy)
    np.testing.assert_array_equal(got, want)
    # The cases the proof splits: exact sums, sums past 65535 of values up to 255, values
    # of 256 or more; and sums on both sides of 255.5**2.
    assert {0, 1, 254, 255} <= set(want.tolist())
    squares = dx.astype(np.int64) ** 2 + dy.astype(np.int64) ** 2
    small = (np.abs(dx) <= 255) & (np.abs(dy) <= 255)
    assert np.any(small & (squares > 65535)) and np.any(~small)
    assert np.any((squares > 65025) & (squares <= 65280))  # 255.0 < sqrt < 255.5: 255
    assert np.any(small & (squares > 65280) & (squares <= 65535))  # exact sum, 256: 255


@pytest.mark.parametrize("border", list(CV_BORDERS))
def test_the_sobel_l2_kernel_on_extreme_frames_equals_opencv(border):
    # 0/255 blocks and lone bright pixels: |dx| and |dy| up to 1020 together, the sums the
    # 16-bit squares clip; the whole kernel against OpenCV's chain.
    spots = np.zeros((9, 11, 3), np.uint8)
    spots[::4, ::3] = 255
    for frame in (blocks(), spots, random_image((17, 33, 3), seed=31)):
        out, _ = run(frame, "sobel", border, "l2", "abs", 1.0, 1, count=False)
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        dx, dy = (cv2.Sobel(grey, cv2.CV_16S, *order, borderType=CV_BORDERS[border])
                  for order in ((1, 0), (0, 1)))
        np.testing.assert_array_equal(out.ravel(), opencv_l2(dx, dy))
