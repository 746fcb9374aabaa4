"""The boundary benchmark's kernels: thinning, one-to-one matching, one image's counts.

Thinning: see :mod:`pipeline.quality.thinning` for the rules (``bwmorph thin``).

Matching:

The benchmark's ``correspondPixels`` (``bench/source/match.cc``) links every detector
pixel to every human pixel at Euclidean distance ``<= maxDist`` (pixels, inclusive),
adds outlier nodes of cost ``outlierCost = 100 maxDist`` for unmatched pixels, and solves
the assignment with CSA (``csa.cc``).  Since a matched pair saves at least
``99 maxDist`` over two outliers while distances differ by at most ``maxDist``, the
optimum matches as many pixels as possible and, among those matchings, prefers short
links.  Here the matching is:

1. greedy by distance: every distance level in increasing order, each unmatched detector
   pixel (in raster order) takes the first unmatched human pixel at that level;
2. Hopcroft-Karp augmentation to a maximum-cardinality matching.

Step 2 never unmatches a pixel, so the matched sets keep step 1's preference for close
pairs; the number matched (recall's count) is exactly the benchmark's maximum, and which
detector pixels are matched (precision's count, accumulated over annotators) follows
the short links as CSA's minimum cost does, up to ties.
"""

import numpy as np
from numba import njit, prange

from pipeline.kernels.options import JIT, PARALLEL_JIT


@njit(**JIT)
def _code(image, y, x):
    height, width = image.shape
    code = 0
    # E, NE, N, NW, W, SW, S, SE
    dys = (0, -1, -1, -1, 0, 1, 1, 1)
    dxs = (1, 1, 0, -1, -1, -1, 0, 1)
    for k in range(8):
        yy = y + dys[k]
        xx = x + dxs[k]
        if 0 <= yy < height and 0 <= xx < width and image[yy, xx]:
            code |= 1 << k
    return code


@njit(**JIT)
def _queue_around(image, ys, xs, n, stamp, mark, qy, qx, queued):
    """Append the foreground 8-neighbours of pixels ``(ys, xs)[:n]`` not yet marked."""
    height, width = image.shape
    for i in range(n):
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                y = ys[i] + dy
                x = xs[i] + dx
                if 0 <= y < height and 0 <= x < width and image[y, x] and stamp[y, x] != mark:
                    stamp[y, x] = mark
                    qy[queued] = y
                    qx[queued] = x
                    queued += 1
    return queued


@njit(**JIT)
def thin(image, tables):
    """Thin a binary image in place until stable (``bwmorph(image, 'thin', Inf)``).

    Parameters
    ----------
    image : (H, W) uint8 array of 0 and 1, modified in place
    tables : (2, 256) bool array, :data:`pipeline.quality.thinning.TABLES`

    Returns
    -------
    int
        The number of foreground pixels left.

    Notes
    -----
    A subiteration's verdict on a pixel depends only on its 8-neighbourhood, so after
    each subiteration has seen every foreground pixel once, a subiteration needs to look
    only at the neighbours of the pixels deleted in the two before it (any other pixel's
    neighbourhood is as that subiteration last saw it, and it stayed).  The algorithm
    stops after two subiterations in a row delete nothing, which is where the plain one
    stops (a whole pass without a change), with the same image.
    """
    height, width = image.shape
    count = 0
    for y in range(height):
        for x in range(width):
            if image[y, x]:
                count += 1
    cy = np.empty(count, np.int32)
    cx = np.empty(count, np.int32)
    n = 0
    for y in range(height):
        for x in range(width):
            if image[y, x]:
                cy[n] = y
                cx[n] = x
                n += 1
    every_y = cy.copy()
    every_x = cx.copy()
    dy_now = np.empty(count, np.int32)
    dx_now = np.empty(count, np.int32)
    dy_before = np.empty(count, np.int32)
    dx_before = np.empty(count, np.int32)
    before = 0
    stamp = np.zeros((height, width), np.int32)
    left = count
    quiet = 0
    sub = 0
    rounds = 0
    while quiet < 2:
        now = 0
        for i in range(n):
            if image[cy[i], cx[i]] and tables[sub, _code(image, cy[i], cx[i])]:
                dy_now[now] = cy[i]
                dx_now[now] = cx[i]
                now += 1
        for i in range(now):
            image[dy_now[i], dx_now[i]] = 0
        left -= now
        quiet = quiet + 1 if now == 0 else 0
        rounds += 1
        sub = 1 - sub
        if rounds == 1:  # the second subiteration sees everything once too
            cy[:] = every_y
            cx[:] = every_x
        else:
            n = _queue_around(image, dy_now, dx_now, now, stamp, rounds, cy, cx, 0)
            n = _queue_around(image, dy_before, dx_before, before, stamp, rounds, cy, cx, n)
        dy_now, dy_before = dy_before, dy_now
        dx_now, dx_before = dx_before, dx_now
        before = now
    return left


@njit(**JIT)
def offsets(max_dist):
    """(dy, dx, level) of every offset with ``dy^2 + dx^2 <= max_dist^2``, by distance."""
    r = int(np.ceil(max_dist))
    limit = max_dist * max_dist
    count = 0
    for v in range(-r, r + 1):
        for u in range(-r, r + 1):
            if u * u + v * v <= limit:
                count += 1
    d2 = np.empty(count, np.int64)
    table = np.empty((count, 3), np.int32)
    k = 0
    for v in range(-r, r + 1):
        for u in range(-r, r + 1):
            if u * u + v * v <= limit:
                d2[k] = u * u + v * v
                table[k, 0] = v
                table[k, 1] = u
                k += 1
    order = np.argsort(d2, kind="mergesort")
    table = table[order]
    d2 = d2[order]
    level = 0
    for k in range(count):
        if k > 0 and d2[k] != d2[k - 1]:
            level += 1
        table[k, 2] = level
    return table


@njit(**JIT)
def near_truth(truth_ids, table):
    """Where a detector pixel has a human pixel within the tolerance: the truth dilated
    by the disc of offsets (symmetric, so the offsets serve both ways)."""
    height, width = truth_ids.shape
    near = np.zeros((height, width), np.bool_)
    for y0 in range(height):
        for x0 in range(width):
            if truth_ids[y0, x0] < 0:
                continue
            for k in range(table.shape[0]):
                y = y0 + table[k, 0]
                x = x0 + table[k, 1]
                if 0 <= y < height and 0 <= x < width:
                    near[y, x] = True
    return near


@njit(**JIT)
def _edges(ys, xs, truth_ids, table, near):
    """CSR adjacency of detector pixels to human pixel ids, each row by distance.

    Pixels with no human pixel near (``near``, made once per annotator) are not scanned:
    at low thresholds most detector pixels are texture far from any boundary.
    """
    height, width = truth_ids.shape
    n1 = ys.shape[0]
    start = np.zeros(n1 + 1, np.int64)
    for i in range(n1):
        c = 0
        if not near[ys[i], xs[i]]:
            start[i + 1] = start[i]
            continue
        for k in range(table.shape[0]):
            y = ys[i] + table[k, 0]
            x = xs[i] + table[k, 1]
            if 0 <= y < height and 0 <= x < width and truth_ids[y, x] >= 0:
                c += 1
        start[i + 1] = start[i] + c
    target = np.empty(start[n1], np.int32)
    level = np.empty(start[n1], np.int32)
    for i in range(n1):
        e = start[i]
        if start[i + 1] == e:
            continue
        for k in range(table.shape[0]):
            y = ys[i] + table[k, 0]
            x = xs[i] + table[k, 1]
            if 0 <= y < height and 0 <= x < width and truth_ids[y, x] >= 0:
                target[e] = truth_ids[y, x]
                level[e] = table[k, 2]
                e += 1
    return start, target, level


@njit(**JIT)
def _greedy(start, target, level, levels, match1, match2):
    n1 = start.shape[0] - 1
    cursor = start[:-1].copy()
    for lv in range(levels):
        for i in range(n1):
            e = cursor[i]
            while e < start[i + 1] and level[e] <= lv:
                if match1[i] < 0 and match2[target[e]] < 0:
                    match1[i] = target[e]
                    match2[target[e]] = i
                e += 1
            cursor[i] = e


@njit(**JIT)
def _layers(start, target, match1, match2, dist, queue):
    """Hopcroft-Karp's BFS: layer numbers from the free detector pixels; any path left?"""
    infinite = np.iinfo(np.int32).max
    head = 0
    tail = 0
    for i in range(match1.shape[0]):
        if match1[i] < 0:
            dist[i] = 0
            queue[tail] = i
            tail += 1
        else:
            dist[i] = infinite
    found = False
    while head < tail:
        i = queue[head]
        head += 1
        for e in range(start[i], start[i + 1]):
            k = match2[target[e]]
            if k < 0:
                found = True
            elif dist[k] == infinite:
                dist[k] = dist[i] + 1
                queue[tail] = k
                tail += 1
    return found


@njit(**JIT)
def _augment_from(root, start, target, match1, match2, dist, cursor, stack):
    """Hopcroft-Karp's DFS from one free detector pixel, iterative; True if augmented."""
    infinite = np.iinfo(np.int32).max
    top = 0
    stack[0] = root
    while top >= 0:
        u = stack[top]
        advanced = False
        while cursor[u] < start[u + 1]:
            j = target[cursor[u]]
            k = match2[j]
            if k < 0:
                for s in range(top, -1, -1):  # flip the path: each level's current edge
                    w = stack[s]
                    jj = target[cursor[w]]
                    match1[w] = jj
                    match2[jj] = w
                return True
            if dist[k] == dist[u] + 1:
                top += 1
                stack[top] = k
                advanced = True
                break
            cursor[u] += 1
        if not advanced:
            dist[u] = infinite
            top -= 1
            if top >= 0:
                cursor[stack[top]] += 1
    return False


@njit(**JIT)
def match_pixels(ys, xs, truth_ids, truth_count, table):
    """:func:`match_near` with the annotator's :func:`near_truth` made here."""
    return match_near(ys, xs, truth_ids, truth_count, table, near_truth(truth_ids, table))


@njit(**JIT)
def match_near(ys, xs, truth_ids, truth_count, table, near):
    """Maximum one-to-one matching, short links first; returns (match1, match2).

    ``match1[i]`` is the human pixel id matched to detector pixel ``(ys[i], xs[i])``
    or -1; ``match2[j]`` the detector index matched to human pixel ``j`` or -1.
    ``truth_ids`` maps a human boundary pixel to its id, -1 elsewhere.
    """
    start, target, level = _edges(ys, xs, truth_ids, table, near)
    n1 = ys.shape[0]
    match1 = np.full(n1, -1, np.int32)
    match2 = np.full(truth_count, -1, np.int32)
    _greedy(start, target, level, table[-1, 2] + 1 if table.shape[0] else 0, match1, match2)
    dist = np.empty(n1, np.int32)
    queue = np.empty(n1, np.int32)
    stack = np.empty(n1 + 1, np.int32)
    while _layers(start, target, match1, match2, dist, queue):
        cursor = start[:-1].copy()
        for i in range(n1):
            if match1[i] < 0 and start[i + 1] > start[i]:
                _augment_from(i, start, target, match1, match2, dist, cursor, stack)
    return match1, match2


@njit(**JIT)
def _thinned_pixels(pb, level, tables):
    """Coordinates of the pixels of ``pb >= level`` after thinning."""
    image = (pb >= level).astype(np.uint8)
    n = thin(image, tables)
    ys = np.empty(n, np.int32)
    xs = np.empty(n, np.int32)
    k = 0
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            if image[y, x]:
                ys[k] = y
                xs[k] = x
                k += 1
    return ys, xs


@njit(**PARALLEL_JIT)
def image_counts(pb, levels, truth_ids, truth_counts, tables, table):
    """``evaluation_bdry_image.m`` for one soft map: (T, 4) counts cntR, sumR, cntP, sumP.

    Parameters
    ----------
    pb : (H, W) float64, the soft map in [0, 1]
    levels : (T,) float64 thresholds; the map at level t is ``pb >= t``, thinned
    truth_ids : (K, H, W) int32, annotator k's boundary pixel ids (-1 elsewhere)
    truth_counts : (K,) int64, each annotator's boundary pixel count
    tables : (2, 256) bool thinning tables; table : :func:`offsets` of the tolerance

    Notes
    -----
    Recall counts every annotator's matched pixels over all their pixels; precision
    counts the detector pixels matched to *any* annotator over the detector's pixels
    (``accP = accP | match1``).  Thresholds run in parallel, each owning its row.
    """
    counts = np.zeros((levels.shape[0], 4), np.int64)
    near = np.empty(truth_ids.shape, np.bool_)
    for k in range(truth_ids.shape[0]):
        near[k] = near_truth(truth_ids[k], table)
    for t in prange(levels.shape[0]):
        ys, xs = _thinned_pixels(pb, levels[t], tables)
        matched = np.zeros(ys.shape[0], np.bool_)
        for k in range(truth_ids.shape[0]):
            match1, match2 = match_near(ys, xs, truth_ids[k], truth_counts[k], table, near[k])
            for j in range(match2.shape[0]):
                if match2[j] >= 0:
                    counts[t, 0] += 1
            for i in range(match1.shape[0]):
                if match1[i] >= 0:
                    matched[i] = True
            counts[t, 1] += truth_counts[k]
        counts[t, 2] = matched.sum()
        counts[t, 3] = ys.shape[0]
    return counts
