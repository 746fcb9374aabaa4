"""The fused edge kernel: grey, two derivatives, magnitude, mapping and histogram in one pass.

The frame is cut into horizontal bands, one per ``prange`` iteration.  A band keeps two
rings of three rows (the horizontal passes of the x and y derivatives, a few KiB each),
so no full-size intermediate image exists: each source row is converted to grey and
passed horizontally once (plus two rows of overlap per band), each output row takes
two vertical passes fused with the magnitude, and the mapped uint8 row is written
straight into ``out``.  Every step calls the same ``@njit`` helpers as the unfused
kernels, or an exact rewriting of them stated where it is made (Sobel's taps as adds
and shifts, the abs mapping as the shift mapping with offset 0, Sobel's l2 value from
squares in 16-bit lanes), which is why the result equals their composition pixel for
pixel (tests/kernels/test_edges.py).

With the histogram, each finished row is counted right after it is written, while it is
still in L1 (:func:`~pipeline.kernels.maps.count_span`).  Counting chunk by chunk inside
the row loop, so that scalar counting overlaps the vector work, was measured slower:
every chunk pays the vectorized loop's set-up again (README, "what limited each step").
"""

import numba
import numpy as np

from pipeline.kernels.border import border_index
from pipeline.kernels.derivatives import (
    DIFFERENCE,
    SMOOTH,
    band_rows,
    difference_tap,
    horizontal_pass,
    ring_slot,
    ring_start,
    rows_valid,
    smooth_tap,
    sobel_ring_passes,
    tap_form,
    vertical_tap,
    weight_rows,
)
from pipeline.kernels.gray import expanded_row, gray_row
from pipeline.kernels.maps import (
    HIST_LANES,
    as_words,
    count_span,
    magnitude_value,
    shift_to_u8,
    sum_parts,
)
from pipeline.kernels.options import JIT, PARALLEL_JIT

#: Rows of a band's scratch: the x ring (0-2), the y ring (3-5) and the grey row (6).
_Y = 3
_GREY = 6


@numba.njit(**JIT)
def rounded_norm(dx, dy):
    """``min(rint(sqrt(float32(dx)**2 + float32(dy)**2)), 255)`` for int16 ``dx``, ``dy``
    (Sobel's, within +-1020), from squares in 16-bit lanes.

    This is the l2 edge value of the default mapping, as OpenCV's chain makes it.  Here
    ``|dx|`` and ``|dy|`` are clipped at 255 and ``dx**2 + dy**2`` is summed in uint16,
    saturated at 65535 (LLVM: ``vpabsw``, ``vpminsw``, ``vpmullw``, ``vpaddusw`` on 32
    pixels a vector), and only that sum is widened to float32 for the square root.  From
    the two int16 vectors to the float32 sum this takes 12 vector instructions per 32
    pixels where widening both values and squaring them in float32 took 16, and the
    edge row was bound by those as much as by ``vsqrtps`` (docs/performance.md, "What
    limited each step").

    Exact.  While ``|dx|, |dy| <= 255`` and ``dx**2 + dy**2 <= 65535`` the sum is the
    true one, a whole number below 2**24 that float32 holds exactly (as it holds each
    square and their sum in the float form), and the square root and the rounding are
    the same float32 operations.  Otherwise the true sum is at least 65536 (a value of
    256 or more, or a sum past 65535), so the true result is at least 256 and clips to
    255; and the sum here is then 65535 (saturated) or at least 255**2 = 65025 (a value
    clipped to 255), whose square root, 255 to 255.998, rounds to 255 or 256 and clips
    to 255 as well.  (-32768, whose ``abs`` overflows int16, is no Sobel value.)
    """
    a = np.uint16(min(np.int16(abs(dx)), np.int16(255)))
    b = np.uint16(min(np.int16(abs(dy)), np.int16(255)))
    # The sum modulo 2**16 is below a**2 exactly when it wrapped; that wrap and the
    # compare are the pattern LLVM makes one saturating add of (numba sums two uint16
    # as int64, and the truncation keeps pure Python from an overflow warning).
    a2 = np.uint16(a * a)
    wrapped = np.uint16(np.int32(a2) + np.int32(b * b))
    m2 = wrapped if wrapped >= a2 else np.uint16(65535)
    return min(np.rint(np.sqrt(np.float32(m2))), np.float32(255))


@numba.njit(**JIT)
def _edge_row(ring, up, mid, down, x0, x1, x2, y0, y1, y2, l1, scale, offset, out, i):
    # Both vertical passes, the magnitude and the mapping in one loop: the two gradient
    # values never leave registers.  Zero weights stand for an invalid row under the ZERO
    # border.  The int16 casts tell LLVM the sums fit 16 bits (numba would widen them to
    # int64), so the loop runs on 16-bit lanes up to the float conversion.
    yu, ym, yd = _Y + up, _Y + mid, _Y + down
    if tap_form(x0, x1, x2, True) == SMOOTH and tap_form(y0, y1, y2, True) == DIFFERENCE:
        # Sobel's vertical taps written out: adds and a shift instead of six multiplies.
        # One mapping only (the caller passes offset 0 for abs): with the abs/shift
        # branch too, LLVM no longer hoisted the branches out of the two loops and kept
        # them inside the vector loop, which made this path 15% slower, not faster.
        if scale == 1 and offset == 0:
            # The default mapping, without its identities (* 1, + 0) and the clip at 0 and
            # NaN test that a magnitude never needs.  l1: |dx| + |dy| is a whole number,
            # so rint and the clip at 255 give the same in int16 as in float32.  l2: the
            # loop keeps only what changes a value (README: 20% of a 640x480 frame).
            if l1:
                for j in range(out.shape[1]):
                    dx = np.int16(smooth_tap(ring[up, j], ring[mid, j], ring[down, j]))
                    dy = np.int16(difference_tap(ring[yu, j], ring[yd, j]))
                    # The int16 cast: numba sums two int16 as int64, and the loop then
                    # ran on 64-bit lanes (4x the instructions); |dx| + |dy| <= 2040.
                    out[i, j] = min(np.int16(abs(dx) + abs(dy)), np.int16(255))
                return
            for j in range(out.shape[1]):
                dx = np.int16(smooth_tap(ring[up, j], ring[mid, j], ring[down, j]))
                dy = np.int16(difference_tap(ring[yu, j], ring[yd, j]))
                out[i, j] = rounded_norm(dx, dy)
            return
        for j in range(out.shape[1]):
            dx = np.float32(np.int16(smooth_tap(ring[up, j], ring[mid, j], ring[down, j])))
            dy = np.float32(np.int16(difference_tap(ring[yu, j], ring[yd, j])))
            out[i, j] = shift_to_u8(magnitude_value(dx, dy, l1), scale, offset)
        return
    for j in range(out.shape[1]):
        dx = np.float32(np.int16(vertical_tap(x0, x1, x2, ring[up, j], ring[mid, j], ring[down, j])))
        dy = np.float32(np.int16(vertical_tap(y0, y1, y2, ring[yu, j], ring[ym, j], ring[yd, j])))
        out[i, j] = shift_to_u8(magnitude_value(dx, dy, l1), scale, offset)


@numba.njit(**JIT)
def _edge_band(pixels, channels, limited, out, parts, hx, vx, hy, vy, border, l1, sobel, scale,
               offset, binarize, level, count, b, bands):
    """Band ``b`` of ``bands`` of :func:`edges`: its rows of ``out``, counted into
    ``parts[b]`` when ``count``.  ``offset`` is 0 for the abs mapping (see there)."""
    height, width = out.shape
    # One allocation for the band's rows: both rings, then the grey row.
    scratch = np.empty((7, width), np.int16)
    grey = scratch[_GREY]
    wx, blank_x = weight_rows(vx)
    wy, blank_y = weight_rows(vy)
    lanes = parts[b]
    if count:
        lanes[:] = 0
    flat, words = as_words(out)
    first, last = band_rows(b, bands, height)
    filled = ring_start(first) - 1  # the last source row in the rings
    for i in range(first, last):
        # Grey, then both horizontal passes, of each source row up to i + 1 (rows
        # first - 1 and first too, before the band's first output row).  Made here,
        # not in a helper: a helper taking the arrays would reference-count them.
        while filled < min(i + 1, height - 1):
            filled += 1
            if limited:
                expanded_row(pixels, filled, grey)
            else:
                gray_row(pixels, filled, channels, grey)
            slot = ring_slot(filled)
            if sobel:
                sobel_ring_passes(scratch, _GREY, border, slot, _Y + slot)
            else:
                horizontal_pass(scratch, _GREY, hx, border, scratch, slot)
                horizontal_pass(scratch, _GREY, hy, border, scratch, _Y + slot)
        up = ring_slot(border_index(i - 1, height, border))
        down = ring_slot(border_index(i + 1, height, border))
        x0, x1, x2 = wx if rows_valid(i, height, wx[0], wx[2], border) else blank_x
        y0, y1, y2 = wy if rows_valid(i, height, wy[0], wy[2], border) else blank_y
        _edge_row(scratch, up, ring_slot(i), down, x0, x1, x2, y0, y1, y2, l1, scale,
                  offset, out, i)
        if count:
            count_span(flat, words, i * width, (i + 1) * width, lanes)
        if binarize:  # after the count: the histogram is of the edge values
            for j in range(width):
                out[i, j] = 255 if out[i, j] > level else 0


@numba.njit(**PARALLEL_JIT)
def edges(pixels, channels, limited, out, hist, hx, vx, hy, vy, border, l1, shift, scale, offset,
          binarize, level, count, bands):
    """Edge image of a frame in one pass.

    Parameters
    ----------
    pixels : uint8 array (H, W * channels), C-contiguous rows
    channels : int
        1, 3 (BGR) or 4 (BGRA).
    limited : bool
        ``pixels`` is a limited-range luma plane (16-235, one channel): each row is
        expanded to full-range grey as it is read (:func:`~pipeline.kernels.gray.expanded_row`),
        which equals the kernel on the expanded plane without that extra pass.
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
    binarize : bool
        Write 255 where the edge value is above ``level``, else 0 (``threshold``'s
        rule), each row right after it is made and counted: the histogram stays that
        of the edge values.
    level : float64
    count : bool
        Whether to fill ``hist``.
    bands : int
        How many row bands to cut the frame into, at most its height.

    Notes
    -----
    Each band counts into its own ``HIST_LANES`` histograms, summed into ``hist`` at the
    end, so no two threads write one counter.  That scratch is made here rather than by
    the caller: one ``np.empty`` and one argument fewer per call.  Inside the row loop
    rows are passed by number, never as views: numba reference-counts a view handed to a
    call with atomic instructions, and that was a third of a 640x480 frame.
    """
    height, width = out.shape
    # The abs mapping is the shift mapping with offset 0 here: a magnitude is never
    # negative or NaN, so |m| * scale == m * scale, and + 0 changes at most the sign of
    # a zero, which maps to 0 either way.  One mapping leaves LLVM one branch (l1) to
    # hoist out of the edge loop.
    zero = np.float32(0)
    # Sobel's horizontal taps: both passes in one loop (sobel_ring_passes).
    sobel = (tap_form(hx[0], hx[1], hx[2], True) == DIFFERENCE
             and tap_form(hy[0], hy[1], hy[2], True) == SMOOTH)
    parts = np.empty((bands, HIST_LANES if count else 0, hist.shape[0]), np.uint32)
    offset = offset if shift else zero
    if bands == 1:
        # One band runs in the calling thread: no parallel launch, no second thread to
        # wake (the caller asks for one band on small frames, see pipeline.ops).
        _edge_band(pixels, channels, limited, out, parts, hx, vx, hy, vy, border, l1, sobel,
                   scale, offset, binarize, level, count, 0, 1)
    else:
        for b in numba.prange(bands):
            _edge_band(pixels, channels, limited, out, parts, hx, vx, hy, vy, border, l1,
                       sobel, scale, offset, binarize, level, count, b, bands)
    if count:
        sum_parts(parts, hist)
