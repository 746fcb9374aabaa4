"""BGR(A) to grey, bit-exact with ``cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)``.

One formula, ``(3735 B + 19235 G + 9798 R + 2**14) >> 15``
(:mod:`pipeline.kernels.gray_formula`), in two forms:

* :func:`gray_row`'s loops, which numba vectorizes itself;
* where numba's target CPU has AVX512-BW, blocks of 16 pixels written as LLVM vector code
  (:mod:`pipeline.kernels.simd.gray_blocks`), twice as fast.

The vector blocks are a plug-in: they use numba's and llvmlite's internals, so they are
imported once, below, behind a guard.  If that import fails in any way (a numba that
moved its internals, a feature list that cannot be read), if their check on first
compilation fails, or if ``EDGEPIPE_SIMD=0`` is set, the loops are compiled instead; they
give the same bytes.  :data:`SIMD_ERROR` says why the blocks did not load.
"""

import numba
import numpy as np

from pipeline.kernels import options
from pipeline.kernels.gray_formula import BLOCK, block_loop, gray_value
from pipeline.kernels.options import JIT, PARALLEL_JIT

#: Why the vector blocks did not load (the error their import met, or that
#: ``EDGEPIPE_SIMD=0`` turned them off), or None when they did.
SIMD_ERROR = None
try:
    if not options.SIMD:
        raise ImportError("turned off by EDGEPIPE_SIMD=0")
    from pipeline.kernels.simd.gray_blocks import blocks_pay, gray_block
except Exception as error:  # noqa: BLE001 - any failure of the plug-in keeps the loops
    SIMD_ERROR = f"{type(error).__name__}: {error}"
    options.cache_apart("no-simd")  # kernels calling gray_row are defined after this
    gray_block = block_loop

    @numba.njit(**JIT)
    def blocks_pay():
        """False: without the vector blocks a row is converted by the loops."""
        return False


@numba.njit(**JIT)
def gray_row(pixels, row, channels, dst):
    """Write the grey values of image row ``row`` into ``dst``.

    Parameters
    ----------
    pixels : uint8 array (H, W * channels), C-contiguous rows
        The frame with its channels flattened into the row: each row is then a plain
        1-D array, read 16 pixels at a time as vector code where the CPU has
        AVX512-BW (:func:`gray_block`; numba's own vectorization of the loops below
        took twice as long), by those loops elsewhere.
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
        # Blocks of 16 pixels as vector code (gray_block); the last block ends at the
        # row's end and may overlap the one before it (it writes the same values again):
        # a scalar tail of up to 15 pixels cost as much as the rest of a 640-pixel row.
        for k in range(width // BLOCK):
            gray_block(src, channels * BLOCK * k, channels, dst, BLOCK * k)
        if width % BLOCK:
            gray_block(src, channels * (width - BLOCK), channels, dst, width - BLOCK)
    elif channels == 3:  # constant strides, so that LLVM vectorizes the loads
        for j in range(width):
            dst[j] = gray_value(src[3 * j], src[3 * j + 1], src[3 * j + 2])
    elif channels == 4:
        for j in range(width):
            dst[j] = gray_value(src[4 * j], src[4 * j + 1], src[4 * j + 2])
    else:
        for j in range(width):
            dst[j] = src[j]


#: Limited-range luma (16-235) to full-range grey: ``(Y * 9539 - 148569) >> 13``, clipped
#: to 0..255, is ``round((Y - 16) * 255 / 219)`` clipped, for each of the 256 values of Y
#: (:data:`pipeline.io.media.luma.LIMITED_TO_FULL`, which swscale applies; the tests hold
#: the two equal).  Found by search: the smallest shift with a multiplier and an offset
#: that fit every value; the products stay below 2**22, so the loop runs on int32 lanes.
EXPAND_MUL, EXPAND_ADD, EXPAND_SHIFT = 9539, -148569, 13


@numba.njit(**JIT)
def expanded_row(pixels, row, dst):
    """Row ``row`` of a limited-range luma plane, expanded to full-range grey, into ``dst``.

    ``pixels`` is the (H, W) luma plane; each value becomes ``LIMITED_TO_FULL[Y]`` by the
    integer form above (:data:`EXPAND_MUL`).
    """
    src = pixels[row]
    for j in range(dst.shape[0]):
        value = np.int32(np.int32(src[j]) * np.int32(EXPAND_MUL) + np.int32(EXPAND_ADD)) >> EXPAND_SHIFT
        dst[j] = min(max(value, np.int32(0)), np.int32(255))


@numba.njit(**PARALLEL_JIT)
def expand(pixels, out):
    """Fill ``out`` (H, W) uint8 with the full-range grey of limited-range luma ``pixels``."""
    for i in numba.prange(out.shape[0]):
        expanded_row(pixels, i, out[i])


@numba.njit(**PARALLEL_JIT)
def grayscale(pixels, channels, out):
    """Fill ``out`` (H, W) uint8 with the grey image of ``pixels`` (H, W * channels)."""
    for i in numba.prange(out.shape[0]):
        gray_row(pixels, i, channels, out[i])
