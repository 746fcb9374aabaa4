"""Discrete derivatives as one generic 3x3 separable correlation.

Every derivative here is a 3-tap weight vector *across* the derivative's axis times a
3-tap smoothing vector *along* it.  For the x axis::

              across (columns j-1, j, j+1)
    along  [ v0 ]   [ h0  h1  h2 ]      d[i, j] = v0 * H[i-1, j] + v1 * H[i, j] + v2 * H[i+1, j]
    (rows  [ v1 ] x                     H[r, j] = h0 * f[r, j-1] + h1 * f[r, j] + h2 * f[r, j+1]
    i-1..) [ v2 ]

and for the y axis the two vectors swap roles.  This is correlation, as in
``cv2.filter2D`` and ``cv2.Sobel``: forward ``[0, -1, 1]`` gives ``f[j+1] - f[j]``.

The horizontal pass ``H`` of a source row is computed once and kept in a ring of three
rows while the output rows that need it are made (:func:`ring_slot`), so each
pixel costs two 3-tap sums.  Arithmetic is int16 for uint8 input and float32 for
float32 input.  int16 is exact: every partial and final sum of a uint8 image lies within
+-4080 (Scharr's 16 * 255), and it fills twice the SIMD lanes of int32 or float32 (the
horizontal pass ran 3x faster than in float32).  float32 input is summed in exactly the
order written above.
"""

import numba
import numpy as np

from pipeline.kernels.border import ZERO, border_index
from pipeline.kernels.options import JIT, PARALLEL_JIT


#: Tap vectors that the int16 loops write out as adds and shifts (:func:`tap_form`).
GENERIC, SMOOTH, DIFFERENCE = 0, 1, 2


@numba.njit(**JIT)
def tap_form(v0, v1, v2, integer):
    """``SMOOTH`` for taps (1, 2, 1), ``DIFFERENCE`` for (-1, 0, 1), else ``GENERIC``.

    Sobel's taps, and central's and Prewitt's differences.  Written out (``a + 2b + c``,
    ``c - a``) they cost LLVM three and one vector instructions instead of three
    multiplies and two adds.  Only for ``integer`` (int16) arithmetic, where both forms
    are exact; in float32 the multiplies decide rounding and NaN (``0 * inf``).
    """
    if not integer:
        return GENERIC
    if v0 == 1 and v1 == 2 and v2 == 1:
        return SMOOTH
    if v0 == -1 and v1 == 0 and v2 == 1:
        return DIFFERENCE
    return GENERIC


@numba.njit(inline="always", **JIT)
def smooth_tap(before, at, after):
    """Sobel's smoothing taps (1, 2, 1) written out: ``before + 2 * at + after``.

    Inlined, as in every caller's loop the hand-written sum was (three vector adds and a
    shift instead of three multiplies and two adds); the caller casts the result.
    """
    return before + 2 * at + after


@numba.njit(inline="always", **JIT)
def difference_tap(before, after):
    """Sobel's difference taps (-1, 0, 1) written out: ``after - before``."""
    return after - before


@numba.njit(**JIT)
def horizontal_pass(src, s, h, border, dst, d):
    """``dst[d, j] = h0 * src[s, j-1] + h1 * src[s, j] + h2 * src[s, j+1]``, in ``dst``'s dtype.

    Rows are passed by number, not as ``src[s]`` views: a view handed to a call costs
    reference counting (atomic increments) on every row.  The first and last columns
    follow ``border``; under ``ZERO`` a column whose taps leave the row is 0, and that 0
    carries through the vertical pass to the output.
    """
    width = src.shape[1]
    # Weights as scalars: read from the array inside the loop, LLVM would have to assume
    # that writing dst may change them, and would not vectorize.
    h0, h1, h2 = h[0], h[1], h[2]
    form = tap_form(h0, h1, h2, dst.itemsize == 2)
    # The int16 casts: plain-Python runs (NUMBA_DISABLE_JIT) would wrap uint8 sums.
    if form == SMOOTH:
        for j in range(1, width - 1):
            dst[d, j] = smooth_tap(np.int16(src[s, j - 1]), np.int16(src[s, j]), np.int16(src[s, j + 1]))
    elif form == DIFFERENCE:
        for j in range(1, width - 1):
            dst[d, j] = difference_tap(np.int16(src[s, j - 1]), np.int16(src[s, j + 1]))
    else:
        for j in range(1, width - 1):
            dst[d, j] = h0 * src[s, j - 1] + h1 * src[s, j] + h2 * src[s, j + 1]
    border_columns(src, s, h0, h1, h2, border, dst, d)


@numba.njit(inline="always", **JIT)
def border_columns(src, s, h0, h1, h2, border, dst, d):
    """The first and last column of :func:`horizontal_pass`, whose taps follow ``border``.

    Inlined: a call taking the arrays would reference-count them on every row.
    """
    width = src.shape[1]
    for j in (0, width - 1):
        if border == ZERO and ((h0 != 0 and j == 0) or (h2 != 0 and j == width - 1)):
            dst[d, j] = 0
        else:
            jl = border_index(j - 1, width, border)
            jr = border_index(j + 1, width, border)
            dst[d, j] = h0 * src[s, jl] + h1 * src[s, j] + h2 * src[s, jr]


@numba.njit(**JIT)
def sobel_ring_passes(rows, s, border, dx, dy):
    """Sobel's two horizontal passes of row ``s`` of int16 ``rows``, into its rows ``dx``
    and ``dy``: :func:`horizontal_pass` with (-1, 0, 1) and with (1, 2, 1).

    One loop reads the row once and writes both: 6% to 12% of a fused edge frame (1080p
    to 640x480, Zen 4) against two loops, each loading the row and paying its own vector
    set-up.  Taps as constants and one array: each array handed to a call in the row
    loop costs reference counting on every row, which took half that gain back.
    """
    width = rows.shape[1]
    for j in range(1, width - 1):
        left, mid, right = rows[s, j - 1], rows[s, j], rows[s, j + 1]
        rows[dx, j] = difference_tap(left, right)
        rows[dy, j] = smooth_tap(left, mid, right)
    border_columns(rows, s, -1, 0, 1, border, rows, dx)
    border_columns(rows, s, 1, 2, 1, border, rows, dy)


@numba.njit(**JIT)
def rows_valid(i, height, v0, v2, border):
    """False where ``border`` is ZERO and vertical taps ``v0, _, v2`` leave the image at row i.

    Scalars, not the weight array: an array handed to a call in the row loop costs numba
    an atomic reference increment and decrement on every row.
    """
    if border != ZERO:
        return True
    return not ((v0 != 0 and i == 0) or (v2 != 0 and i == height - 1))


@numba.njit(**JIT)
def weight_rows(v):
    """``v`` as a tuple of three scalars, and three zeros of its dtype for a blanked row.

    Zero weights stand for a row that the ZERO border blanks (:func:`rows_valid`).  The
    zeros keep ``v``'s dtype: int64 zeros would widen the int16 sums LLVM vectorizes.
    """
    zero = v.dtype.type(0)
    return (v[0], v[1], v[2]), (zero, zero, zero)


@numba.njit(**JIT)
def vertical_tap(v0, v1, v2, up, mid, down):
    """``v0 * up + v1 * mid + v2 * down``: one output value from three horizontal passes."""
    return v0 * up + v1 * mid + v2 * down


@numba.njit(**JIT)
def ring_slot(row):
    """Slot of source ``row`` in a three-row ring of horizontal passes: ``row % 3``.

    Output row ``i`` needs source rows ``i - 1``, ``i``, ``i + 1`` (the border maps the
    two outside the image onto rows among these), and three consecutive rows never share
    a slot.  A band fills its source rows in order, from :func:`ring_start`, up to row
    ``i + 1`` before each output row ``i``.
    """
    return row % 3


@numba.njit(**JIT)
def ring_start(first):
    """The first source row a band starting at output row ``first`` fills, up to ``first``."""
    return max(first - 1, 0)


@numba.njit(**JIT)
def band_rows(band, bands, height):
    """First and one-past-last row of ``band`` out of ``bands`` equal bands."""
    return band * height // bands, (band + 1) * height // bands


@numba.njit(**PARALLEL_JIT)
def derivative(image, out, h, v, border, bands):
    """Correlate ``image`` (H, W) with the separable 3x3 stencil ``h`` x ``v`` into ``out``.

    ``image`` uint8 with int16 weights into int16 ``out``, or float32 throughout;
    ``bands`` independent row bands run in parallel, each with its own ring of
    horizontal passes (:func:`ring_slot`).
    """
    height, width = image.shape
    for b in numba.prange(bands):
        ring = np.empty((3, width), h.dtype)
        weights, blank = weight_rows(v)
        first, last = band_rows(b, bands, height)
        filled = ring_start(first) - 1  # the last source row in the ring
        for i in range(first, last):
            while filled < min(i + 1, height - 1):  # source rows up to i + 1
                filled += 1
                horizontal_pass(image, filled, h, border, ring, ring_slot(filled))
            up = ring_slot(border_index(i - 1, height, border))
            mid = ring_slot(i)
            down = ring_slot(border_index(i + 1, height, border))
            v0, v1, v2 = weights if rows_valid(i, height, weights[0], weights[2], border) else blank
            for j in range(width):
                out[i, j] = vertical_tap(v0, v1, v2, ring[up, j], ring[mid, j], ring[down, j])
