"""Canny edges, bit for bit ``cv2.Canny(grey, low, high, apertureSize=3, L2gradient=l2)``.

The oracle is OpenCV's ``modules/imgproc/src/canny.cpp`` (the ``parallelCanny`` /
``finalPass`` version of OpenCV 4.x and 5.x, checked against opencv-python 5.0.0 and
5.1.0).  In 5.0 ``cv::Canny`` first offers the frame to the IPP HAL (``hal/ipp/src/canny_ipp.cpp``),
which declines with more than one OpenCV thread (``IPP_DISABLE_PERF_CANNY_MT``) and for
frames of 3 rows or columns or fewer; the tests compare with both paths.  Its rules,
all reproduced here:

Thresholds (done by the caller, :func:`pipeline.ops.canny_thresholds`, in float64 like
OpenCV's ``double``): if ``low > high`` the two are swapped (after the ``/ 16`` that
aperture 7 would apply; apertures 5 and 7 are not ported).  With ``L2gradient`` each is
clamped to at most 32767 and squared if positive (the magnitude is the *squared* norm).
Both are then floored and saturated to int32, as OpenCV 5.1 does: a huge ``high``
becomes ``INT_MAX`` and no pixel is strong.  (5.0 and 4.x floored with x86
``cvttsd2si``, which gives ``INT_MIN`` outside int32: every candidate was strong.)
Integer tests follow:
a pixel is a candidate if ``m > low`` and strong if ``m > high``.

Gradient: ``Sobel(grey, CV_16S, 1, 0, 3)`` and ``(0, 1, 3)`` with ``BORDER_REPLICATE``
(not the default reflect-101)::

    dx = [-1 0 1]       dy = [-1 -2 -1]
         [-2 0 2]            [ 0  0  0]       m = |dx| + |dy|      (L1)
         [-1 0 1]            [ 1  2  1]       m = dx*dx + dy*dy    (L2, int32, no sqrt)

Direction, integer only: ``x = |dx|``, ``y = |dy| << 15``, ``TG22 = 13573``
(``round(tan(22.5 deg) * 2**15)``).  ``y < x * TG22``: horizontal edge normal, compare
left and right; else ``y > x * TG22 + (x << 16)`` (``tan(67.5) = 2 + tan(22.5)``):
vertical, compare up and down; else diagonal, up-left/down-right when ``dx`` and ``dy``
have the same sign (``(dx ^ dy) >= 0``), up-right/down-left otherwise.

Ties: along the horizontal and vertical normals the pixel must be strictly greater than
the left (up) neighbour and greater *or equal* to the right (down) one, so of a plateau
of two equal maxima the left/upper one is kept.  Diagonals are strict on both sides.

Border: the magnitude outside the image is 0 (rows -1 and H, columns -1 and W), so a
pixel on the image's rim is never suppressed by its outside neighbour (unless m is 0).
The map's border ring is "not an edge" (1), so hysteresis never leaves the image.

Hysteresis: map values 0 = weak candidate, 1 = not an edge, 2 = edge.  Every strong
candidate is 2 and pushed on a stack; popping marks its eight 0-neighbours 2 and pushes
them.  The result (every candidate 8-connected through candidates to a strong one) does
not depend on the order, which is why the bands below may flood independently.

Fused layout (as :mod:`pipeline.kernels.edges`): the image is cut into row bands, one
``prange`` iteration each, each owning its output rows of the map.  A band converts each
source row to grey once (two rows of overlap on each side), keeps rings of three grey
rows and of three gradient/magnitude rows, and runs non-maximum
suppression for its rows as soon as the row below has its magnitude.  It then floods
its own strong pixels inside its own rows.  The map's rows are padded to whole
uint64 words (columns ``W + 1`` and up are "not an edge" too): a row's strong pixels
are found 64 cells (eight words) a test, and a word holding one pushes its eight cells
branch-free (on a textured photo a branch per pixel mispredicted on most of them).
A serial pass restarts the flood from every edge pixel on the two rows at each band
boundary, without the band limit, which joins edges that cross bands.

Widths: dx and dy are int16 (|dx|, |dy| <= 1020), the direction test runs on 16-bit
integers (:func:`direction`), and the magnitude rows are int16 for L1 (at most 2040, with
the thresholds clamped to [-1, 32767]) and int32 for L2, so that the branch-free
suppression takes 32 pixels per AVX-512 vector for L1.  Finding the candidates first
(``m > low``, in blocks) and testing only those was measured slower here: after the 16-bit
test, the suppression of a pixel costs about what the candidate search did
(docs/performance.md, "Canny at 1080p").  Each band
writes its 0/255 rows of ``out`` after its own flood; the joining flood sets the pixels
it adds.
"""

import numba
import numpy as np

from pipeline.kernels.derivatives import difference_tap, smooth_tap
from pipeline.kernels.gray import gray_row
from pipeline.kernels.options import JIT, PARALLEL_JIT

CANNY_SHIFT = 15
TG22 = 13573  # int(0.4142135623730950488 * (1 << 15) + 0.5), as in canny.cpp

WEAK = 0  # candidate above low, kept only if connected to a strong pixel
NOT_EDGE = 1
EDGE = 2
CHUNK_WORDS = 8  # uint64 words of map cells tested at once for a strong pixel
EDGE_BYTES = np.uint64(0x0202020202020202)  # bit 1 of each byte: set only by EDGE


@numba.njit(**JIT)
def sobel_at(g_up, g_mid, g_down, left, j, right):
    """Sobel's dx and dy at column ``j`` of three int16 grey rows, from columns ``left``,
    ``j`` and ``right``: the smoothing (1, 2, 1) down the rows of the differences across
    them, and the difference down the rows of the smoothings across them.  Each sum is a
    whole number of at most 1020 in size: the int16 casts keep LLVM's lanes 16 bits wide
    (numba sums int16 as int64)."""
    dx = smooth_tap(difference_tap(g_up[left], g_up[right]),
                    difference_tap(g_mid[left], g_mid[right]),
                    difference_tap(g_down[left], g_down[right]))
    dy = difference_tap(smooth_tap(g_up[left], g_up[j], g_up[right]),
                        smooth_tap(g_down[left], g_down[j], g_down[right]))
    return np.int16(dx), np.int16(dy)


@numba.njit(**JIT)
def gradient_row(greys, up, mid, down, l2, gradients, magnitudes, s):
    """dx, dy and the integer magnitude of one row from the grey rows around it.

    ``greys`` rows ``up``, ``mid``, ``down`` are the grey rows above, at and below (the
    replicated border already applied to the rows by the caller; to the columns here:
    column -1 is column 0, column W is column W - 1).  dx goes to row ``s`` of
    ``gradients``, dy to row ``3 + s``, the magnitude to the padded row ``s`` of
    ``magnitudes`` (W + 2): ``mag[j + 1]`` belongs to column ``j``; int32 for L2 (``dx² +
    dy²`` <= 2 * 1020²), int16 for L1 (``|dx| + |dy|`` <= 2040).

    One loop from the grey rows, not the separable two (horizontal passes into a ring,
    then the vertical taps): 4%-8% less CPU time per frame on one thread at 1080p (the
    passes' ring, 23 KB at 1080p, had pushed the band's other rows out of L1).
    """
    g_up, g_mid, g_down = greys[up], greys[mid], greys[down]
    dx, dy, mag = gradients[s], gradients[3 + s], magnitudes[s]
    width = dx.shape[0]
    for j in range(1, width - 1):
        # sobel_at(g_up, g_mid, g_down, j - 1, j, j + 1) written out: through the call
        # the whole frame took 1.6x as long (measured).
        x = np.int16((g_up[j + 1] - g_up[j - 1]) + 2 * (g_mid[j + 1] - g_mid[j - 1])
                     + (g_down[j + 1] - g_down[j - 1]))
        y = np.int16((g_down[j - 1] + 2 * g_down[j] + g_down[j + 1])
                     - (g_up[j - 1] + 2 * g_up[j] + g_up[j + 1]))
        dx[j] = x
        dy[j] = y
        if l2:
            mag[j + 1] = np.int32(np.int32(x) * np.int32(x) + np.int32(y) * np.int32(y))
        else:
            mag[j + 1] = np.int16(abs(x) + abs(y))
    for j in (0, width - 1):  # the border columns (one column: both are column 0)
        x, y = sobel_at(g_up, g_mid, g_down, max(j - 1, 0), j, min(j + 1, width - 1))
        dx[j] = x
        dy[j] = y
        if l2:
            mag[j + 1] = np.int32(np.int32(x) * np.int32(x) + np.int32(y) * np.int32(y))
        else:
            mag[j + 1] = np.int16(abs(x) + abs(y))


@numba.njit(**JIT)
def direction(dx, dy):
    """canny.cpp's direction test of one pixel's int16 gradient, on 16-bit integers.

    Returns ``(horizontal, vertical, same_sign)``: compare left/right, up/down, or the
    diagonal of up-left/down-right (same signs) or up-right/down-left.  canny.cpp tests
    ``y < x * TG22`` and ``y > x * TG22 + (x << 16)`` with ``x = |dx|``,
    ``y = |dy| << 15`` in 32 bits.  With ``t = floor(x * TG22 / 2**15)``, which is
    ``(x * 2 * TG22) >> 16`` (a 16-bit multiply-high: ``x <= 1020``), the same tests are
    ``|dy| <= t and x != 0`` and ``|dy| > 2 x + t``: ``x * TG22 / 2**15`` is never a
    whole number for ``x > 0`` (TG22 is odd and ``x < 2**15``), and for ``x = 0`` the
    first is false and the second is ``|dy| > 0``.  Exact for every Sobel gradient
    (tests/kernels/test_canny_fast.py checks all of them).
    """
    x = np.int16(abs(dx))
    a = np.int16(abs(dy))
    t = np.int16((np.uint32(x) * np.uint32(2 * TG22)) >> np.uint32(16))
    horizontal = (a <= t) & (x != 0)
    vertical = a > np.int16(np.int16(x + x) + t)
    same_sign = np.int16(dx ^ dy) >= 0
    return horizontal, vertical, same_sign


@numba.njit(**JIT)
def suppress_row(magnitudes, up, mid, down, gradients, low, high, map_, k, words, stack,
                 top):
    """Non-maximum suppression of one row into the padded map row ``k``.

    ``magnitudes`` rows ``up``, ``mid``, ``down`` are the padded magnitude rows above, at
    and below (``m[j + 1]`` is column ``j``), ``gradients`` rows ``mid`` and ``3 + mid``
    the row's dx and dy.  ``words`` is the whole map as uint64 (its rows are whole
    words); strong pixels are pushed on ``stack``.  ``dense`` says whether to expect many
    strong pixels (the row above had them): it picks how they are pushed, not what.
    Returns the new ``top``.
    """
    m_up, m_mid, m_down = magnitudes[up], magnitudes[mid], magnitudes[down]
    dx, dy = gradients[mid], gradients[3 + mid]
    row = map_[k]
    base = k * map_.shape[1]
    width = dx.shape[0]
    strong = np.uint8(0)
    # Branch-free: all eight neighbours are loaded and the direction picks two by
    # selects, so the loop vectorizes and its cost does not depend on the image.  The
    # direction test runs on int16 lanes (:func:`direction`) and the magnitude tests on
    # the magnitude's own type: int16 for L1 (32 lanes per AVX-512 vector), int32 for L2;
    # the casts keep numba's int64 promotion out of the lanes.
    for j in range(width):
        m = m_mid[j + 1]
        horizontal, vertical, same_sign = direction(dx[j], dy[j])
        up_left, up, up_right = m_up[j], m_up[j + 1], m_up[j + 2]
        left, right = m_mid[j], m_mid[j + 2]
        down_left, down, down_right = m_down[j], m_down[j + 1], m_down[j + 2]
        # diagonal: s = +1 (same signs) takes up-left and down-right, as canny.cpp's
        # _mag_p[j - s] and _mag_n[j + s]
        before = up_left if same_sign else up_right
        after = down_right if same_sign else down_left
        before = up if vertical else before
        after = down if vertical else after
        before = left if horizontal else before
        after = right if horizontal else after
        # ties: strict before, >= after, except on diagonals (strict both)
        diagonal = m_mid.dtype.type(not (horizontal or vertical))
        peak = (m > low) & (m > before) & (m_mid.dtype.type(m - after) >= diagonal)
        value = np.uint8(EDGE if m > high else WEAK) if peak else np.uint8(NOT_EDGE)
        strong = max(strong, value)
        row[j + 1] = value
    if strong == EDGE:
        # The row's strong pixels onto the stack, found a chunk of 64 map cells (eight
        # uint64 words) at a time: only EDGE (2) has bit 1 set, so a chunk without one
        # costs eight ORs and a test, and most chunks of a row have none.  In a chunk
        # with one, each word holding one pushes its eight cells branch-free (each cell
        # written to the next slot, which only an EDGE keeps): a branch per cell
        # mispredicted on most strong pixels.  The last words of a row, fewer than
        # eight, are taken as a chunk with one.
        first = base // 8
        end = first + row.shape[0] // 8
        c = first
        while c < end:
            stop = c + CHUNK_WORDS
            if stop <= end:
                seen = (words[c] | words[c + 1] | words[c + 2] | words[c + 3]
                        | words[c + 4] | words[c + 5] | words[c + 6] | words[c + 7])
            else:
                stop = end
                seen = EDGE_BYTES
            if seen & EDGE_BYTES:
                for w in range(c, stop):
                    word = words[w]
                    if word & EDGE_BYTES:
                        for b in range(8):
                            stack[top] = 8 * w + b
                            top += np.int64((word >> np.uint64(8 * b + 1)) & np.uint64(1))
            c = stop
    return top


@numba.njit(**JIT)
def flood(flat, step, stack, top, lo, hi):
    """Hysteresis: grow edges from the stacked pixels through weak ones.

    Only pixels with flat index in ``[lo, hi)`` are marked (a band's own rows); pass the
    whole map for the unrestricted flood.  A pixel is pushed only when it turns from
    WEAK to EDGE, so the stack never holds more than the pixels pushed before plus those
    in ``[lo, hi)``: callers size it so, and nothing here grows it.  (A growable stack,
    reassigned inside the loop, made numba count references on every pixel: 20x slower.)
    """
    while top > 0:
        top -= 1
        p = stack[top]
        # Away from the first and last row of [lo, hi) every neighbour is inside (the
        # border columns are NOT_EDGE, never pushed): no range test.
        if lo + step <= p < hi - step:
            for q in (p - step - 1, p - step, p - step + 1, p - 1, p + 1,
                      p + step - 1, p + step, p + step + 1):
                if flat[q] == WEAK:
                    flat[q] = EDGE
                    stack[top] = q
                    top += 1
            continue
        for q in (p - step - 1, p - step, p - step + 1, p - 1, p + 1,
                  p + step - 1, p + step, p + step + 1):
            if lo <= q < hi and flat[q] == WEAK:
                flat[q] = EDGE
                stack[top] = q
                top += 1


@numba.njit(**JIT)
def _grey_ring(pixels, channels, src_row, greys, held):
    # The ring slot of source row src_row, converted to grey unless the slot holds it.
    slot = src_row % 3
    if held[slot] != src_row:
        gray_row(pixels, src_row, channels, greys[slot])
        held[slot] = src_row
    return slot


@numba.njit(**JIT)
def _band(pixels, channels, height, width, first, last, l2, low, high, map_, stack, out,
          magnitudes):
    """Grey, Sobel, magnitude and suppression of rows [first, last), its flood, its output.

    ``magnitudes`` is zeroed scratch (4, W + 2), int16 for L1 and int32 for L2, the type
    of ``low`` and ``high``: a ring of three magnitude rows and a row of zeros.
    """
    greys = np.empty((3, width), np.int16)  # ring of grey rows
    held = np.full(3, -1, np.int64)
    gradients = np.empty((6, width), np.int16)  # ring of dx (0-2), dy (3-5)
    zero = 3  # the row of zeros in magnitudes
    step = map_.shape[1]
    flat = map_.reshape(-1)
    words = flat.view(np.uint64)
    # The columns outside the image first: the word scan in suppress_row reads them.
    for k in range(first + 1, last + 1):
        map_[k, 0] = NOT_EDGE
        for j in range(width + 1, step):
            map_[k, j] = NOT_EDGE
    top = 0
    for r in range(max(first - 1, 0), min(last + 1, height)):
        up = _grey_ring(pixels, channels, max(r - 1, 0), greys, held)
        mid = _grey_ring(pixels, channels, r, greys, held)
        down = _grey_ring(pixels, channels, min(r + 1, height - 1), greys, held)
        gradient_row(greys, up, mid, down, l2, gradients, magnitudes, r % 3)
        i = r - 1  # the row whose three magnitude rows are now ready
        if first <= i < last:
            top = suppress_row(magnitudes, (i - 1) % 3 if i > 0 else zero, i % 3, r % 3,
                               gradients, low, high, map_, i + 1, words, stack, top)
    i = last - 1
    if i == height - 1 and first <= i:  # the last image row: zero magnitude below it
        top = suppress_row(magnitudes, (i - 1) % 3 if i > 0 else zero, i % 3, zero,
                           gradients, low, high, map_, i + 1, words, stack, top)
    flood(flat, step, stack, top, (first + 1) * step, (last + 1) * step)
    # The band's rows are final but for the few pixels the joining flood adds, which
    # it writes itself: no separate pass over the whole map.
    for i in range(first, last):
        src = map_[i + 1]
        dst = out[i]
        for j in range(width):
            dst[j] = 255 if src[j + 1] == EDGE else 0


@numba.njit(**JIT)
def _join_bands(map_, bands, stack, out):
    # Restart the flood, unrestricted, from every edge pixel next to a band boundary:
    # those are the only places where a band's own flood stopped short.
    height = map_.shape[0] - 2
    step = map_.shape[1]
    flat = map_.reshape(-1)
    words = flat.view(np.uint64)
    top = 0
    for b in range(1, bands):
        boundary = b * height // bands  # first image row of band b
        for k in (boundary, boundary + 1):  # map rows of image rows boundary - 1, boundary
            # Eight cells a word, as suppress_row finds strong pixels: this part is serial.
            for w in range(k * step // 8, (k + 1) * step // 8):
                if words[w] & EDGE_BYTES:
                    for q in range(8 * w, 8 * w + 8):
                        if flat[q] == EDGE:
                            stack[top] = q
                            top += 1
    while top > 0:  # flood() without the band limit, also writing each new edge to out
        top -= 1
        p = stack[top]
        for q in (p - step - 1, p - step, p - step + 1, p - 1, p + 1,
                  p + step - 1, p + step, p + step + 1):
            if flat[q] == WEAK:
                flat[q] = EDGE
                out[q // step - 1, q % step - 1] = 255
                stack[top] = q
                top += 1


@numba.njit(**PARALLEL_JIT)
def canny(pixels, channels, low, high, l2, map_, stack, out, bands):
    """Canny edges of a frame into ``out`` (uint8 0/255).

    Parameters
    ----------
    pixels : uint8 array (H, W * channels), C-contiguous rows
    channels : int
        1 (grey), 3 (BGR) or 4 (BGRA); converted as :func:`pipeline.kernels.gray.gray_row`.
    low, high : int
        The integer thresholds, already swapped, squared (L2) and floored by the caller.
    l2 : bool
        Squared L2 magnitude instead of L1.
    map_ : uint8 array (H + 2, S), C-contiguous, S >= W + 2 a multiple of 8
        Scratch edge map (column ``j + 1`` is image column ``j``); every element is
        written.  Rows of whole uint64 words let a row be scanned eight cells at a time.
    stack : int32 or int64 array (H * W + 2 * W * bands,)
        Scratch flood stack of flat map indices: band ``b`` uses its own pixels' share
        and one slot more (the branch-free push may write one slot past what it
        pushed), shifted by ``b``; the joining flood all of it (at most every pixel plus
        the boundary rows).
    out : uint8 array (H, W)
    bands : int
        Number of row bands (1 <= bands <= H).
    """
    height, width = out.shape
    for j in range(map_.shape[1]):
        map_[0, j] = NOT_EDGE
        map_[height + 1, j] = NOT_EDGE
    if l2:
        for b in numba.prange(bands):
            first = b * height // bands
            last = (b + 1) * height // bands
            _band(pixels, channels, height, width, first, last, l2, low, high, map_,
                  stack[first * width + b:last * width + b + 1], out,
                  np.zeros((4, width + 2), np.int32))
    else:
        # An L1 magnitude is 0..2040: thresholds clamped to [-1, 32767] give the same
        # tests in int16, and the band then runs on 16-bit lanes.
        low16 = np.int16(min(max(low, -1), 32767))
        high16 = np.int16(min(max(high, -1), 32767))
        for b in numba.prange(bands):
            first = b * height // bands
            last = (b + 1) * height // bands
            _band(pixels, channels, height, width, first, last, l2, low16, high16, map_,
                  stack[first * width + b:last * width + b + 1], out,
                  np.zeros((4, width + 2), np.int16))
    _join_bands(map_, bands, stack, out)
