"""The fused edge kernel: grey, two derivatives, magnitude, mapping and histogram in one pass.

The frame is cut into horizontal bands, one per ``prange`` iteration.  A band keeps two
rings of three rows (the horizontal passes of the x and y derivatives, a few KiB each),
so no full-size intermediate image exists: each source row is converted to grey and
passed horizontally once (plus two rows of overlap per band), each output row takes
two vertical passes fused with the magnitude, and the mapped uint8 row is written straight into ``out``.  Every
step calls the same ``@njit`` helpers as the unfused kernels, which is why the result
equals their composition pixel for pixel.

With the histogram, each finished row is counted right after it is written, while it is
still in L1 (:func:`~pipeline.kernels.maps.count_row`).  Counting chunk by chunk inside
the row loop, so that scalar counting overlaps the vector work, was measured slower:
every chunk pays the vectorized loop's set-up again (README, "what limited each step").
"""

import numba
import numpy as np

from pipeline.kernels.derivatives import (
    band_rows,
    horizontal_pass,
    ring_rows,
    rows_valid,
    vertical_tap,
)
from pipeline.kernels.gray import gray_row
from pipeline.kernels.maps import HIST_LANES, count_row, magnitude_value, sum_parts, to_u8
from pipeline.kernels.options import JIT, PARALLEL_JIT


@numba.njit(**JIT)
def _fill(pixels, channels, row, grey, hx, hy, border, ring_x, ring_y, slot):
    gray_row(pixels, row, channels, grey)
    horizontal_pass(grey, hx, border, ring_x[slot])
    horizontal_pass(grey, hy, border, ring_y[slot])


@numba.njit(**JIT)
def _edge_row(ring_x, ring_y, s_up, s_mid, s_down, vx, vy, l1, shift, scale, offset, dst):
    # Both vertical passes, the magnitude and the mapping in one loop: the two gradient
    # values never leave registers.  A zeroed weight vector stands for an invalid row
    # under the ZERO border.  The int16 casts tell LLVM the sums fit 16 bits (numba would
    # widen them to int64), so the loop runs on 16-bit lanes up to the float conversion.
    x0, x1, x2 = vx[0], vx[1], vx[2]
    y0, y1, y2 = vy[0], vy[1], vy[2]
    xu, xm, xd = ring_x[s_up], ring_x[s_mid], ring_x[s_down]
    yu, ym, yd = ring_y[s_up], ring_y[s_mid], ring_y[s_down]
    for j in range(dst.shape[0]):
        dx = np.float32(np.int16(vertical_tap(x0, x1, x2, xu[j], xm[j], xd[j])))
        dy = np.float32(np.int16(vertical_tap(y0, y1, y2, yu[j], ym[j], yd[j])))
        dst[j] = to_u8(magnitude_value(dx, dy, l1), shift, scale, offset)


@numba.njit(**PARALLEL_JIT)
def edges(pixels, channels, out, hist, hx, vx, hy, vy, border, l1, shift, scale, offset,
          count, bands):
    """Edge image of a frame in one pass.

    Parameters
    ----------
    pixels : uint8 array (H, W * channels), C-contiguous rows
    channels : int
        1, 3 (BGR) or 4 (BGRA).
    out : uint8 array (H, W), C-contiguous
    hist : int64 array (256,)
        Overwritten with the histogram of ``out`` when ``count`` is true.
    hx, vx, hy, vy : int16 arrays (3,)
        Horizontal/vertical weights of the x and y derivatives.
    border : int
    l1 : bool
        l1 norm instead of l2.
    shift : bool
        Shift mapping instead of abs.
    scale, offset : float32
    count : bool
        Whether to fill ``hist``.
    bands : int
        How many row bands to cut the frame into, at most its height.

    Notes
    -----
    Each band counts into its own ``HIST_LANES`` histograms, summed into ``hist`` at the
    end, so no two threads write one counter.  That scratch is made here rather than by
    the caller: one ``np.empty`` and one argument fewer per call.
    """
    height, width = out.shape
    parts = np.empty((bands, HIST_LANES if count else 0, hist.shape[0]), np.uint32)
    none = np.zeros(3, np.int16)  # the weights of a row that the ZERO border blanks
    for b in numba.prange(bands):
        # One allocation for the band's rows: the x ring, the y ring, then the grey row.
        scratch = np.empty((7, width), np.int16)
        ring_x, ring_y, grey = scratch[0:3], scratch[3:6], scratch[6]
        held = np.full(3, -1, np.int64)
        lanes = parts[b]
        if count:
            lanes[:] = 0
        first, last = band_rows(b, bands, height)
        for i in range(first, last):
            rows, slots, fills = ring_rows(held, i, height, border)
            for k in range(3):
                if fills[k]:
                    _fill(pixels, channels, rows[k], grey, hx, hy, border, ring_x, ring_y,
                          slots[k])
            wx = vx if rows_valid(i, height, vx, border) else none
            wy = vy if rows_valid(i, height, vy, border) else none
            _edge_row(ring_x, ring_y, slots[0], slots[1], slots[2], wx, wy, l1, shift, scale,
                      offset, out[i])
            if count:
                count_row(out[i], lanes)
    if count:
        sum_parts(parts, hist)
