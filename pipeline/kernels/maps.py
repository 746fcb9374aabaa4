"""Pointwise kernels: gradient magnitude, mappings to uint8, threshold, histogram.

All float arithmetic is float32, in the order written, so the fused kernel in
:mod:`pipeline.kernels.edges` reproduces the composition of these bit for bit.
"""

import numba
import numpy as np

from pipeline.kernels.options import JIT, PARALLEL_JIT


@numba.njit(**JIT)
def magnitude_value(dx, dy, l1):
    """``|dx| + |dy|`` if ``l1`` else ``sqrt(dx*dx + dy*dy)``, for float32 ``dx``, ``dy``."""
    if l1:
        return abs(dx) + abs(dy)
    return np.sqrt(dx * dx + dy * dy)


@numba.njit(**JIT)
def abs_to_u8(d, scale):
    """``min(255, rint(|d| * scale))`` as uint8; NaN maps to 0."""
    v = np.rint(abs(d) * scale)
    if v > 255:
        return np.uint8(255)
    if v >= 0:
        return np.uint8(v)
    return np.uint8(0)


@numba.njit(**JIT)
def shift_to_u8(d, scale, offset):
    """``clip(rint(d * scale + offset), 0, 255)`` as uint8; NaN maps to 0."""
    v = np.rint(d * scale + offset)
    if v > 255:
        return np.uint8(255)
    if v >= 0:
        return np.uint8(v)
    return np.uint8(0)


@numba.njit(**PARALLEL_JIT)
def magnitude(dx, dy, out, l1):
    """Fill float32 ``out`` with the l1 or l2 norm of the gradient ``(dx, dy)``."""
    for i in numba.prange(dx.shape[0]):
        for j in range(dx.shape[1]):
            out[i, j] = magnitude_value(np.float32(dx[i, j]), np.float32(dy[i, j]), l1)


@numba.njit(**PARALLEL_JIT)
def map_abs(d, out, scale):
    """Fill uint8 ``out`` with ``min(255, rint(|d| * scale))``; ``scale`` is float32."""
    for i in numba.prange(d.shape[0]):
        for j in range(d.shape[1]):
            out[i, j] = abs_to_u8(np.float32(d[i, j]), scale)


@numba.njit(**PARALLEL_JIT)
def map_shift(d, out, scale, offset):
    """Fill uint8 ``out`` with ``clip(rint(d * scale + offset), 0, 255)`` (float32)."""
    for i in numba.prange(d.shape[0]):
        for j in range(d.shape[1]):
            out[i, j] = shift_to_u8(np.float32(d[i, j]), scale, offset)


@numba.njit(**PARALLEL_JIT)
def threshold(m, out, t):
    """Fill uint8 ``out`` with 255 where ``m > t`` else 0 (``cv2.THRESH_BINARY``)."""
    for i in numba.prange(m.shape[0]):
        for j in range(m.shape[1]):
            out[i, j] = 255 if m[i, j] > t else 0


@numba.njit(**JIT)
def to_u8(m, shift, scale, offset):
    """``shift_to_u8(m, scale, offset)`` if ``shift`` else ``abs_to_u8(m, scale)``."""
    if shift:
        return shift_to_u8(m, scale, offset)
    return abs_to_u8(m, scale)


HIST_LANES = 4


@numba.njit(**JIT)
def count_row(row, lanes):
    """Add the uint8 values of ``row`` to the histograms ``lanes`` (HIST_LANES, 256).

    Consecutive pixels go to different lanes: edge images are mostly one value, and a
    single counter incremented back to back waits on its own store every time.
    """
    width = row.shape[0]
    j = 0
    while j + HIST_LANES <= width:
        for k in range(HIST_LANES):
            lanes[k, row[j + k]] += 1
        j += HIST_LANES
    while j < width:
        lanes[0, row[j]] += 1
        j += 1


@numba.njit(**PARALLEL_JIT)
def histogram(image, parts):
    """Per-band histograms of uint8 ``image`` into ``parts`` (bands, HIST_LANES, 256), zeroed.

    Each band owns ``parts[band]``; the caller sums them, so no two threads ever write
    the same counter.
    """
    height = image.shape[0]
    bands = parts.shape[0]
    for b in numba.prange(bands):
        for i in range(b * height // bands, (b + 1) * height // bands):
            count_row(image[i], parts[b])
