"""Pointwise kernels: gradient magnitude, mappings to uint8, threshold, histogram.

All float arithmetic is float32, in the order written, so the fused kernel in
:mod:`pipeline.kernels.edges` reproduces the composition of these bit for bit.
"""

import numba
import numpy as np

from pipeline.kernels.derivatives import band_rows
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


HIST_LANES = 8


@numba.njit(**JIT)
def as_words(image):
    """A C-contiguous uint8 ``image`` as one flat array, and the whole uint64 words in it.

    Made once per band, not per row: a view made per row and handed to a call costs
    reference counting (atomic increments) on every row.
    """
    flat = image.reshape(image.size)
    return flat, flat[:flat.shape[0] - flat.shape[0] % 8].view(np.uint64)


@numba.njit(**JIT)
def count_span(flat, words, start, end, lanes):
    """Add ``flat[start:end]`` (uint8) to ``lanes`` (HIST_LANES, 256) uint32; ``words`` as :func:`as_words`.

    The span is tested eight pixels at a time as one uint64 word: a word of eight zeros,
    the commonest word of an edge image, costs one comparison and one register increment.
    Pixel ``k`` of any other word goes to lane ``k``, so a run of equal pixels does not
    wait on the same counter's previous store.  Its bytes are read from ``flat``, one
    load each: taking them out of the word with shifts and masks costs two instructions
    more per pixel and counted 6% slower.  The pixels before the span's first whole word
    and after its last are counted one by one.
    """
    w0 = min((start + HIST_LANES - 1) // HIST_LANES, end // HIST_LANES)
    w1 = end // HIST_LANES
    for j in range(start, HIST_LANES * w0):
        lanes[0, flat[j]] += 1
    # Views local to this function (numba prunes their reference counts), indexed from
    # 0: from a variable start, every index would pay numba's negative-index wraparound.
    span = words[w0:w1]
    pixels = flat[HIST_LANES * w0:HIST_LANES * w1]
    zero_words = 0
    for w in range(span.shape[0]):
        if span[w] == 0:
            zero_words += 1
            continue
        for k in range(HIST_LANES):
            lanes[k, pixels[HIST_LANES * w + k]] += 1
    lanes[0, 0] += HIST_LANES * zero_words
    for j in range(max(start, HIST_LANES * w1), end):
        lanes[0, flat[j]] += 1


@numba.njit(**PARALLEL_JIT)
def histogram(image, parts):
    """Per-band histograms of uint8 ``image`` into uint32 ``parts`` (bands, HIST_LANES, 256), zeroed.

    ``image`` C-contiguous.  Each band owns ``parts[band]``; the caller sums them, so no
    two threads ever write the same counter.
    """
    height, width = image.shape
    bands = parts.shape[0]
    for b in numba.prange(bands):
        flat, words = as_words(image)
        first, last = band_rows(b, bands, height)
        count_span(flat, words, first * width, last * width, parts[b])


@numba.njit(**JIT)
def sum_parts(parts, hist):
    """``hist[v] = parts[:, :, v].sum()``: the per-band, per-lane histograms into one."""
    for v in range(hist.shape[0]):
        hist[v] = 0
    for b in range(parts.shape[0]):
        for k in range(parts.shape[1]):
            for v in range(hist.shape[0]):
                hist[v] += parts[b, k, v]
