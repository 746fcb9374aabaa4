"""Plain-loop twins of the kernels, written as directly as the math.

Slow on purpose: one pixel at a time, the stencil spelled out, the border rule applied
index by index.  ``tests/test_ops.py`` compares every kernel with its twin exactly.
Float32 arithmetic uses numpy float32 scalars in the order the docstrings of
:mod:`pipeline.kernels.derivatives` give, so float32 results must match bit for bit too.
"""

import numpy as np

# The lecture's stencils: (across the axis, along the axis), offsets -1, 0, +1.
STENCILS = {
    "forward": ((0, -1, 1), (0, 1, 0)),
    "central": ((-1, 0, 1), (0, 1, 0)),
    "sobel": ((-1, 0, 1), (1, 2, 1)),
    "scharr": ((-1, 0, 1), (3, 10, 3)),
    "prewitt": ((-1, 0, 1), (1, 1, 1)),
}


def grayscale(frame):
    """OpenCV's fixed-point BGR to grey: (3735 B + 19235 G + 9798 R + 2**14) >> 15."""
    if frame.ndim == 2:
        return frame
    height, width = frame.shape[:2]
    out = np.zeros((height, width), np.uint8)
    for i in range(height):
        for j in range(width):
            b, g, r = (int(c) for c in frame[i, j, :3])
            out[i, j] = (3735 * b + 19235 * g + 9798 * r + (1 << 14)) >> 15
    return out


def _index(k, n, border):
    """Border rule for index k in [-1, n]; None means 'outside' under the zero border."""
    if 0 <= k < n:
        return k
    if border == "zero":
        return None
    if border == "reflect101":
        if n == 1:
            return 0
        return 1 if k < 0 else n - 2
    return 0 if k < 0 else n - 1  # replicate


def derivative(gray, kind, axis, border="reflect101"):
    """d[i, j] = sum_r v[r] * (sum_c h[c] * f[i+r-1, j+c-1]), h across, v along (x axis)."""
    across, along = STENCILS[kind]
    h, v = (across, along) if axis == "x" else (along, across)
    height, width = gray.shape
    is_float = gray.dtype == np.float32
    out = np.zeros((height, width), np.float32 if is_float else np.int16)
    num = np.float32 if is_float else int
    for i in range(height):
        for j in range(width):
            total = num(0)
            outside = False
            for r in range(3):
                row_sum = num(0)
                for c in range(3):
                    ii = _index(i + r - 1, height, border)
                    jj = _index(j + c - 1, width, border)
                    if v[r] != 0 and h[c] != 0 and (ii is None or jj is None):
                        outside = True  # the lecture's loops leave such pixels at 0
                    value = 0 if ii is None or jj is None else gray[ii, jj]
                    row_sum = row_sum + num(h[c]) * num(value) if c else num(h[c]) * num(value)
                total = total + num(v[r]) * row_sum if r else num(v[r]) * row_sum
            out[i, j] = 0 if outside else total
    return out


def magnitude(dx, dy, norm="l2"):
    out = np.zeros(dx.shape, np.float32)
    for i in range(dx.shape[0]):
        for j in range(dx.shape[1]):
            x, y = np.float32(dx[i, j]), np.float32(dy[i, j])
            out[i, j] = abs(x) + abs(y) if norm == "l1" else np.sqrt(x * x + y * y)
    return out


def map_abs(d, scale=1.0):
    out = np.zeros(d.shape, np.uint8)
    for i in range(d.shape[0]):
        for j in range(d.shape[1]):
            out[i, j] = min(255, np.rint(abs(np.float32(d[i, j])) * np.float32(scale)))
    return out


def map_shift(d, offset=127.5, scale=1.0):
    out = np.zeros(d.shape, np.uint8)
    for i in range(d.shape[0]):
        for j in range(d.shape[1]):
            v = np.rint(np.float32(d[i, j]) * np.float32(scale) + np.float32(offset))
            out[i, j] = min(255, max(0, v))
    return out


def threshold(m, t):
    out = np.zeros(m.shape, np.uint8)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            out[i, j] = 255 if m[i, j] > t else 0
    return out


def histogram(image):
    hist = np.zeros(256, np.int64)
    for value in image.ravel():
        hist[value] += 1
    return hist


def edges(frame, kind="sobel", norm="l2", mapping="abs", scale=1.0, border="reflect101"):
    gray = grayscale(frame)
    m = magnitude(derivative(gray, kind, "x", border), derivative(gray, kind, "y", border), norm)
    return map_abs(m, scale) if mapping == "abs" else map_shift(m, scale=scale)


def canny(image, low, high, l2=False):
    """OpenCV's Canny (modules/imgproc/src/canny.cpp) written out pixel by pixel.

    ``low`` and ``high`` are the integer thresholds of ``pipeline.ops.canny_thresholds``
    (swapped, squared for L2, floored).  Sobel 3x3 with the replicate border; magnitude
    0 outside the image; the TG22 direction test; hysteresis by a stack.
    """
    gray = grayscale(image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    height, width = gray.shape

    def g(i, j):  # replicate border
        return int(gray[min(max(i, 0), height - 1), min(max(j, 0), width - 1)])

    dx = np.zeros((height, width), np.int64)
    dy = np.zeros((height, width), np.int64)
    mag = np.zeros((height + 2, width + 2), np.int64)  # mag[i + 1, j + 1]; 0 outside
    for i in range(height):
        for j in range(width):
            x = sum(w * (g(i + r, j + 1) - g(i + r, j - 1)) for r, w in ((-1, 1), (0, 2), (1, 1)))
            y = sum(w * (g(i + 1, j + c) - g(i - 1, j + c)) for c, w in ((-1, 1), (0, 2), (1, 1)))
            dx[i, j], dy[i, j] = x, y
            mag[i + 1, j + 1] = x * x + y * y if l2 else abs(x) + abs(y)

    tg22 = 13573  # round(tan(22.5 degrees) * 2**15)
    state = np.ones((height, width), np.uint8)  # 1 not an edge, 0 weak, 2 edge
    stack = []
    for i in range(height):
        for j in range(width):
            m = mag[i + 1, j + 1]
            if not m > low:
                continue
            x, y = abs(dx[i, j]), abs(dy[i, j]) << 15
            if y < x * tg22:  # gradient near horizontal: left and right
                peak = m > mag[i + 1, j] and m >= mag[i + 1, j + 2]
            elif y > x * tg22 + (x << 16):  # near vertical: up and down
                peak = m > mag[i, j + 1] and m >= mag[i + 2, j + 1]
            else:
                s = 1 if (dx[i, j] < 0) == (dy[i, j] < 0) else -1
                peak = m > mag[i, j + 1 - s] and m > mag[i + 2, j + 1 + s]
            if peak:
                state[i, j] = 2 if m > high else 0
                if m > high:
                    stack.append((i, j))
    while stack:
        i, j = stack.pop()
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                a, b = i + di, j + dj
                if 0 <= a < height and 0 <= b < width and state[a, b] == 0:
                    state[a, b] = 2
                    stack.append((a, b))
    return np.where(state == 2, 255, 0).astype(np.uint8)
