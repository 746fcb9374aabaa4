"""BGR(A) to grey, bit-exact with ``cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)``."""

import numba
import numpy as np

from pipeline.kernels.gray_blocks import BLOCK, blocks_pay, gray_block
from pipeline.kernels.options import JIT, PARALLEL_JIT

# OpenCV's 8-bit path is fixed point with 15 fractional bits, not the float formula
# 0.114 B + 0.587 G + 0.299 R: these weights sum to 1 << 15 and reproduce cvtColor on
# all 2**24 colours (checked exhaustively against OpenCV 5.0.0 and 5.1.0).
GRAY_SHIFT = 15
GRAY_B = 3735
GRAY_G = 19235
GRAY_R = 9798
GRAY_ROUND = 1 << (GRAY_SHIFT - 1)


@numba.njit(**JIT)
def gray_row(pixels, row, channels, dst):
    """Write the grey values of image row ``row`` into ``dst``.

    Parameters
    ----------
    pixels : uint8 array (H, W * channels), C-contiguous rows
        The frame with its channels flattened into the row: each row is then a plain
        1-D array, read 16 pixels at a time as vector code where the CPU has
        AVX512-BW (:mod:`pipeline.kernels.gray_blocks`; numba's own vectorization of
        the loops below took twice as long), by those loops elsewhere.
    row : int
    channels : int
        1 (grey, copied), 3 (BGR) or 4 (BGRA, alpha ignored).
    dst : array (W,), any numeric dtype

    Notes
    -----
    ``gray = (3735 B + 19235 G + 9798 R + 2**14) >> 15``
    """
    src = pixels[row]
    width = dst.shape[0]
    if (channels == 3 or channels == 4) and width >= BLOCK and blocks_pay():
        # Blocks of 16 pixels as vector code (gray_blocks); the last block ends at the
        # row's end and may overlap the one before it (it writes the same values again):
        # a scalar tail of up to 15 pixels cost as much as the rest of a 640-pixel row.
        for k in range(width // BLOCK):
            gray_block(src, channels * BLOCK * k, channels, dst, BLOCK * k)
        if width % BLOCK:
            gray_block(src, channels * (width - BLOCK), channels, dst, width - BLOCK)
    elif channels == 3:  # constant strides, so that LLVM vectorizes the loads
        for j in range(width):
            dst[j] = _gray(src[3 * j], src[3 * j + 1], src[3 * j + 2])
    elif channels == 4:
        for j in range(width):
            dst[j] = _gray(src[4 * j], src[4 * j + 1], src[4 * j + 2])
    else:
        for j in range(width):
            dst[j] = src[j]


@numba.njit(**JIT)
def _gray(b, g, r):
    return (
        GRAY_B * np.int32(b) + GRAY_G * np.int32(g) + GRAY_R * np.int32(r) + GRAY_ROUND
    ) >> GRAY_SHIFT


@numba.njit(**PARALLEL_JIT)
def grayscale(pixels, channels, out):
    """Fill ``out`` (H, W) uint8 with the grey image of ``pixels`` (H, W * channels)."""
    for i in numba.prange(out.shape[0]):
        gray_row(pixels, i, channels, out[i])
