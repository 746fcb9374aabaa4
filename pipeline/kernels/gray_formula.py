"""OpenCV's fixed-point grey formula, ``(3735 B + 19235 G + 9798 R + 2**14) >> 15``.

The one definition that both forms of the grey conversion use: numba's loops
(:mod:`pipeline.kernels.gray`) and, where they load, the vector blocks
(:mod:`pipeline.kernels.simd.gray_blocks`), each of which needs the weights and the plain
loop of a block.  A module of its own so that neither imports the other.
"""

import numba
import numpy as np

from pipeline.kernels.options import JIT

# OpenCV's 8-bit path is fixed point with 15 fractional bits, not the float formula
# 0.114 B + 0.587 G + 0.299 R: these weights sum to 1 << 15 and reproduce cvtColor on
# all 2**24 colours (checked exhaustively against OpenCV 5.0.0 and 5.1.0).
GRAY_SHIFT = 15
GRAY_B = 3735
GRAY_G = 19235
GRAY_R = 9798
GRAY_ROUND = 1 << (GRAY_SHIFT - 1)

#: Pixels per block of :func:`pipeline.kernels.gray.gray_row`: one 512-bit vector of
#: 32-bit lanes in the vector form.
BLOCK = 16


@numba.njit(**JIT)
def gray_value(b, g, r):
    """The grey value of one pixel, as int32."""
    return (
        GRAY_B * np.int32(b) + GRAY_G * np.int32(g) + GRAY_R * np.int32(r) + GRAY_ROUND
    ) >> GRAY_SHIFT


@numba.njit(**JIT)
def block_loop(src, start, channels, dst, at):
    """``dst[at:at + BLOCK]`` = grey of the ``BLOCK`` pixels of ``src`` from byte ``start``,
    one pixel at a time: the plain form of a block.
    """
    for k in range(BLOCK):
        p = start + channels * k
        dst[at + k] = gray_value(src[p], src[p + 1], src[p + 2])
