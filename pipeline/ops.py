"""Public array functions over the numba kernels.

Each function checks its inputs and raises ``ValueError`` naming the bad value and what
is allowed *before* any kernel runs, allocates (or accepts) the output, then calls the
kernel in :mod:`pipeline.kernels`.  Results are exact: see ``tests/test_ops.py`` for the
parity with OpenCV and with the plain loops of ``tests/naive.py``.

While a chain runs on the OpenCV tier (:mod:`pipeline.opencv_tier`, set per thread
until the kernels are ready) each function, once its inputs are checked, returns the
same bytes from OpenCV and numpy instead.
"""

from __future__ import annotations

import contextvars
import importlib
import math
import threading

import numpy as np

from pipeline import opencv_tier as _cv
from pipeline import stencils as _stencils


class _Kernels:
    """``pipeline.kernels.<name>``, imported at its first use.

    Importing the kernels imports numba (0.3-0.8 s, and scipy with it), which the OpenCV
    tier does not need: a run's first frame no longer waits for it.  The first access
    puts the module itself in this module's globals, so later calls pay nothing.
    """

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, attribute):
        module = importlib.import_module(f"pipeline.kernels.{self.name}")
        globals()[f"_{self.name}"] = module
        return getattr(module, attribute)


_border = _Kernels("border")
_canny = _Kernels("canny")
_derivatives = _Kernels("derivatives")
_edges = _Kernels("edges")
_gray = _Kernels("gray")
_maps = _Kernels("maps")

KINDS = tuple(_stencils.STENCILS)
AXES = ("x", "y")
BORDERS = ("zero", "reflect101", "replicate")
NORMS = ("l1", "l2")
MAPPINGS = ("abs", "shift")
HIST_BINS = 256
_OFFSET = np.float32(127.5)  # map_shift's default: mid-grey



def _border_code(border):
    return {"zero": _border.ZERO, "reflect101": _border.REFLECT101,
            "replicate": _border.REPLICATE}[border]


def _choice(name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _array(name, a, dtypes, ndims):
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array; got {type(a).__name__}")
    if a.dtype not in dtypes:
        allowed = ", ".join(np.dtype(d).name for d in dtypes)
        raise ValueError(f"{name} must have dtype {allowed}; got {a.dtype}")
    if a.ndim not in ndims:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndims))} dimensions; got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {a.shape}")
    return a


def _pixels(frame):
    """Check a uint8 frame; return it as (H, W * C) rows and its channel count C.

    The kernels read each row as one flat array.  A frame whose rows are not contiguous
    (a strided view) is copied once to make them so.
    """
    _array("frame", frame, (np.uint8,), (2, 3))
    if frame.ndim == 3 and frame.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"frame must have 1 (grey), 3 (BGR) or 4 (BGRA) channels; got shape {frame.shape}"
        )
    channels = 1 if frame.ndim == 2 else frame.shape[2]
    height, width = frame.shape[:2]
    if frame.flags.c_contiguous or _rows_contiguous(frame):
        return frame.reshape(height, width * channels), channels
    return np.ascontiguousarray(frame).reshape(height, width * channels), channels


def _rows_contiguous(frame):
    # Each row contiguous (rows may be apart, as in a crop of a larger frame).
    item = frame.itemsize
    expected = item
    for axis in range(frame.ndim - 1, 0, -1):
        if frame.shape[axis] > 1 and frame.strides[axis] != expected:
            return False
        expected *= frame.shape[axis]
    return True


def _output(name, out, shape, dtype):
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype:
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"{name} must be a {np.dtype(dtype).name} array of shape {shape}; got {got}")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    return out


def _scalar(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number; got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return np.float32(value)


#: Whether this thread's kernel calls run on this thread alone (a context variable, so
#: per thread): one band, no parallel launch.  The processing pool's workers set it
#: while they share the cores among several streams (:mod:`pipeline.runtime.pool`):
#: the streams keep the cores busy, and a launch per call across both cores only added
#: TBB's wake-ups and spinning (docs/streams.md, "Threads and queues").
ONE_THREAD: contextvars.ContextVar[bool] = contextvars.ContextVar("edgepipe_one_thread",
                                                                  default=False)

# The numba thread count a thread had before ONE_THREAD lowered it, to give it back.
_lowered = threading.local()


def _threads():
    """numba threads for this thread's next parallel launch, after applying ONE_THREAD."""
    import numba  # lazy: ops loads without numba (OpenCV tier); the kernels loaded it by now

    saved = getattr(_lowered, "threads", None)
    if ONE_THREAD.get():
        if saved is None:
            _lowered.threads = numba.get_num_threads()
            numba.set_num_threads(1)
        return 1
    if saved is not None:
        _lowered.threads = None
        numba.set_num_threads(saved)
        return saved
    return numba.get_num_threads()


def _bands(height):
    # A few bands per thread balance the load when another thread competes for a core;
    # each band costs two extra grey rows of overlap.  One thread: one band.
    threads = _threads()
    return 1 if threads == 1 else max(1, min(height, 4 * threads))


#: The fused pass runs a frame of at most this many pixels as one band in the calling
#: thread, without the parallel launch, the second thread's wake-up and
#: ``numba.get_num_threads()``, and leaves the other core to a second frame or stream.
#: On the shared 2-core machine one band was faster per call at 640x480 (0.120 against
#: 0.130 ms); an earlier measurement on an idle one gave two threads 1.47x per call
#: (docs/performance.md, "Small frames").
SMALL_FRAME = 640 * 480


def _edge_bands(height, width):
    return 1 if height * width <= SMALL_FRAME else _bands(height)


@_cv.recorded
def grayscale(frame):
    """Grey image of a BGR, BGRA or grey uint8 frame.

    Bit-exact with ``cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)`` (and ``COLOR_BGRA2GRAY``).

    Parameters
    ----------
    frame : ndarray, uint8, (H, W, 3), (H, W, 4) or (H, W)

    Returns
    -------
    ndarray, uint8, (H, W)
        A new array; a grey (H, W) frame comes back unchanged (the same object).
    """
    pixels, channels = _pixels(frame)
    if frame.ndim == 2:
        return frame
    if _cv.active():
        return _cv.grayscale(frame)
    out = np.empty(frame.shape[:2], np.uint8)
    _threads()
    _gray.grayscale(pixels, channels, out)
    return out


@_cv.recorded
def expand_luma(luma):
    """Full-range grey (0-255) of a decoder's limited-range luma plane (16-235).

    Each pixel becomes ``round((Y - 16) * 255 / 219)`` clipped to 0..255, what swscale
    makes of such a plane when it converts it to ``gray`` (and what
    :func:`edges` computes inside its pass with ``limited=True``).

    Parameters
    ----------
    luma : ndarray, uint8, (H, W)

    Returns
    -------
    ndarray, uint8, (H, W), a new array
    """
    luma = np.asarray(luma)
    _array("luma", luma, (np.uint8,), (2,))
    if _cv.active():
        return _cv.expand_luma(luma)
    pixels, _ = _pixels(luma)
    out = np.empty(luma.shape, np.uint8)
    _threads()
    _gray.expand(pixels, out)
    return out


@_cv.recorded
def derivative(gray, kind, axis, border="reflect101"):
    """Discrete derivative of a grey image along one axis.

    Parameters
    ----------
    gray : ndarray, uint8 or float32, (H, W)
    kind : {"forward", "central", "sobel", "scharr", "prewitt"}
        ``forward``: ``d[j] = f[j+1] - f[j]`` (step 1).  ``central``:
        ``d[j] = f[j+1] - f[j-1]`` (step 2, the 1/2 left out as in the lecture's code).
        ``sobel``/``scharr``/``prewitt``: ``[-1 0 1]`` across the axis and
        ``[1 2 1]`` (``[3 10 3]``, ``[1 1 1]``) along it.
    axis : {"x", "y"}
        ``x`` differentiates along a row (columns), ``y`` along a column.
    border : {"reflect101", "replicate", "zero"}
        ``zero`` reproduces the lecture's loops: pixels whose stencil leaves the image
        are 0.  ``reflect101`` is OpenCV's default border.

    Returns
    -------
    ndarray, (H, W)
        int16 for uint8 input (exact), float32 for float32 input.

    Notes
    -----
    With ``reflect101`` the result equals ``cv2.Sobel``/``cv2.Scharr`` with ``cv2.CV_16S``
    and ``cv2.filter2D`` with the matching kernel, exactly, at every size.
    """
    _array("gray", gray, (np.uint8, np.float32), (2,))
    _choice("kind", kind, KINDS)
    _choice("axis", axis, AXES)
    _choice("border", border, BORDERS)
    dtype = np.int16 if gray.dtype == np.uint8 else np.float32
    h, v = _stencils.axis_weights(kind, axis, dtype)
    if _cv.active() and _cv.covers_derivative(gray, border):
        return _cv.derivative(gray, h, v, border)
    out = np.empty(gray.shape, dtype)
    _derivatives.derivative(gray, out, h, v, _border_code(border), _bands(gray.shape[0]))
    return out


def _pair(dx, dy):
    _array("dx", dx, (np.int16, np.float32), (2,))
    _array("dy", dy, (np.int16, np.float32), (2,))
    if dx.shape != dy.shape:
        raise ValueError(f"dx and dy must have the same shape; got {dx.shape} and {dy.shape}")


@_cv.recorded
def magnitude(dx, dy, norm="l2"):
    """Gradient magnitude as float32.

    Parameters
    ----------
    dx, dy : ndarray, int16 or float32, (H, W)
    norm : {"l2", "l1"}
        ``l2``: ``sqrt(dx**2 + dy**2)`` in float32 (agrees with ``cv2.magnitude`` to
        float32 rounding); ``l1``: ``|dx| + |dy|``.

    Returns
    -------
    ndarray, float32, (H, W)
    """
    _pair(dx, dy)
    _choice("norm", norm, NORMS)
    if _cv.active():
        return _cv.magnitude(dx, dy, norm == "l1")
    out = np.empty(dx.shape, np.float32)
    _threads()
    _maps.magnitude(dx, dy, out, norm == "l1")
    return out


def _signed(name, d):
    return _array(name, d, (np.uint8, np.int16, np.int32, np.float32), (2,))


@_cv.recorded
def map_abs(d, scale=1.0):
    """``min(255, rint(|d| * scale))`` as uint8: the lecture's "using magnitude".

    Parameters
    ----------
    d : ndarray, uint8, int16, int32 or float32, (H, W)
    scale : float
        Computed in float32; ``rint`` rounds half to even, like OpenCV's ``cvRound``.

    Returns
    -------
    ndarray, uint8, (H, W)
    """
    _signed("d", d)
    if _cv.active():
        return _cv.map_abs(d, _scalar("scale", scale))
    out = np.empty(d.shape, np.uint8)
    _threads()
    _maps.map_abs(d, out, _scalar("scale", scale))
    return out


@_cv.recorded
def map_shift(d, offset=127.5, scale=1.0):
    """``clip(rint(d * scale + offset), 0, 255)`` as uint8: the lecture's "shift values".

    127.5 is mid-grey, so flat regions are grey and the sign of the slope shows as
    brighter or darker.

    Parameters
    ----------
    d : ndarray, uint8, int16, int32 or float32, (H, W)
    offset, scale : float
        Computed in float32, in the order ``d * scale + offset``.

    Returns
    -------
    ndarray, uint8, (H, W)
    """
    _signed("d", d)
    if _cv.active():
        return _cv.map_shift(d, _scalar("offset", offset), _scalar("scale", scale))
    out = np.empty(d.shape, np.uint8)
    _threads()
    _maps.map_shift(d, out, _scalar("scale", scale), _scalar("offset", offset))
    return out


@_cv.recorded
def threshold(m, t):
    """255 where ``m > t`` else 0, as uint8 (the ``cv2.THRESH_BINARY`` convention).

    Parameters
    ----------
    m : ndarray, uint8, int16 or float32, (H, W)
    t : float

    Returns
    -------
    ndarray, uint8, (H, W)
    """
    _array("m", m, (np.uint8, np.int16, np.float32), (2,))
    t = _scalar("t", t)
    t = np.float64(t) if m.dtype != np.float32 else t
    if _cv.active():
        return _cv.threshold(m, t)
    out = np.empty(m.shape, np.uint8)
    _threads()
    _maps.threshold(m, out, t)
    return out


@_cv.recorded
def histogram(image, out=None):
    """256-bin histogram (int64) of a uint8 (H, W) image, equal to ``np.bincount``."""
    _array("image", image, (np.uint8,), (2,))
    hist = _hist_output(out)
    if _cv.active():
        hist[...] = _cv.histogram(image)
        return hist
    parts = np.zeros((_bands(image.shape[0]), _maps.HIST_LANES, HIST_BINS), np.uint32)
    _maps.histogram(np.ascontiguousarray(image), parts)
    _maps.sum_parts(parts, hist)
    return hist


def _hist_output(hist):
    if hist is None or hist is True:
        return np.empty(HIST_BINS, np.int64)
    return _output("hist", hist, (HIST_BINS,), np.int64)


# Per kind: (hx, vx, hy, vy), made once rather than four small arrays per call.  Shared
# by every call and thread: the kernels only read them.  (Not flagged read-only: numba
# would type them apart and compile every kernel twice.)
_EDGE_WEIGHTS = {
    kind: tuple(w for axis in AXES for w in _stencils.axis_weights(kind, axis, np.int16))
    for kind in KINDS
}
# What the kernel gets for ``hist`` when no histogram is asked for; it never writes it.
_NO_HIST = np.zeros(HIST_BINS, np.int64)


@_cv.recorded
def edges(frame, kind="sobel", norm="l2", mapping="abs", scale=1.0, border="reflect101",
          out=None, hist=False, limited=False, binarize=None):
    """Edge image of a frame in one fused pass.

    Equal pixel for pixel to ``map_abs(magnitude(derivative(grayscale(frame), kind, "x",
    border), derivative(grayscale(frame), kind, "y", border), norm), scale)`` (or
    ``map_shift(..., scale=scale)`` for ``mapping="shift"``), without any full-size
    intermediate array.

    Parameters
    ----------
    frame : ndarray, uint8, (H, W, 3), (H, W, 4) or (H, W)
    kind, norm, border
        As in :func:`derivative` and :func:`magnitude`.
    mapping : {"abs", "shift"}
    scale : float
    out : ndarray, uint8, (H, W), optional
        Written in place when given, so a video loop allocates nothing per frame.
    hist : bool or ndarray, int64, (256,)
        ``True`` returns a new histogram of the output; an array is filled in place.
    limited : bool
        ``frame`` is a decoder's limited-range luma plane (16-235, (H, W)): the result
        is that of ``edges(expand_luma(frame), ...)``, with the range expansion made
        row by row inside the pass instead of as a pass of its own.
    binarize : float, optional
        A threshold: the result is then ``threshold(edges(...), binarize)`` (255 above
        it, else 0), made in the same pass; the histogram stays that of the edge image.

    Returns
    -------
    image : ndarray, uint8, (H, W)
    histogram : ndarray, int64, (256,)
        Only when ``hist`` is true or an array.
    """
    frame = np.asarray(frame)  # a LimitedLuma marker is a plain plane to the kernel
    if limited:
        _array("frame", frame, (np.uint8,), (2,))
    pixels, channels = _pixels(frame)
    _choice("kind", kind, KINDS)
    _choice("norm", norm, NORMS)
    _choice("mapping", mapping, MAPPINGS)
    _choice("border", border, BORDERS)
    scale = _scalar("scale", scale)
    want_hist = hist is not False and hist is not None
    counts = _hist_output(hist) if want_hist else _NO_HIST
    out = _output("out", out, frame.shape[:2], np.uint8)
    # The kernel writes and counts whole contiguous rows; a strided ``out`` gets a copy.
    dst = out if out.flags.c_contiguous else np.empty(out.shape, np.uint8)
    hx, vx, hy, vy = _EDGE_WEIGHTS[kind]
    level = np.float64(0.0 if binarize is None else _scalar("binarize", binarize))
    if _cv.active() and _cv.covers_derivative(frame, border):
        grey = expand_luma(frame) if limited else frame
        out[...] = _cv.edges(grey, hx, vx, hy, vy, border, norm == "l1", mapping == "shift",
                             scale, _OFFSET)
        if want_hist:
            counts[...] = _cv.histogram(out)
        if binarize is not None:
            out[...] = _cv.threshold(out, level)
        return (out, counts) if want_hist else out
    _edges.edges(pixels, channels, limited, dst, counts, hx, vx, hy, vy, _border_code(border),
                 norm == "l1", mapping == "shift", scale, _OFFSET, binarize is not None, level,
                 want_hist, _edge_bands(*frame.shape[:2]))
    if dst is not out:
        out[...] = dst
    return (out, counts) if want_hist else out


def otsu_threshold(hist):
    """Otsu's threshold of a 256-bin histogram: levels ``> t`` are the upper class.

    Shared by the ``threshold`` stage (``value: auto`` before any tuner answer) and the
    tuner (its first starting point), so both agree on the same frame.

    Parameters
    ----------
    hist : ndarray, (256,)
        Counts of levels 0..255.

    Returns
    -------
    float
        The ``t`` in 0..254 maximizing the between-class variance of ``[0, t]`` and
        ``(t, 255]`` (the smallest such ``t``; 0 for an empty or one-level histogram).
    """
    counts = np.asarray(hist, dtype=np.float64)
    if counts.shape != (HIST_BINS,):
        raise ValueError(f"hist must have {HIST_BINS} bins; got shape {counts.shape}")
    total = counts.sum()
    if total <= 0:
        return 0.0
    levels = np.arange(HIST_BINS, dtype=np.float64)
    weight_low = np.cumsum(counts)[:-1]
    sum_low = np.cumsum(counts * levels)[:-1]
    weight_high = total - weight_low
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = sum_low / weight_low
        mean_high = (sum_low[-1] + counts[-1] * 255.0 - sum_low) / weight_high
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
    between = np.where((weight_low > 0) & (weight_high > 0), between, -1.0)
    return float(np.argmax(between)) if between.max() > 0 else 0.0


APERTURES = (3,)
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _canny_threshold(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"{name} must be a number; got {value!r}")
    value = float(value)
    if np.isnan(value):
        raise ValueError(f"{name} must be a number, not NaN; got {value!r}")
    return value


def _cv_floor(value):
    # OpenCV 5.1 saturates a floor outside int32 (or an infinity) to INT_MIN or INT_MAX.
    # (5.0 and 4.x cast with cvttsd2si, which gave INT_MIN for both: a huge ``high``
    # then made every candidate strong.)
    return int(min(max(np.floor(value), _INT32_MIN), _INT32_MAX))


def canny_thresholds(low, high, l2=False):
    """The integer thresholds ``cv2.Canny`` compares the magnitude with.

    Swaps ``low > high``; with ``l2`` clamps each to 32767 and squares it if positive;
    floors both as OpenCV 5.1 does (saturated to int32: past ``2**31 - 1``, no pixel
    passes).

    Returns
    -------
    low, high : int
    """
    low = _canny_threshold("low", low)
    high = _canny_threshold("high", high)
    if low > high:
        low, high = high, low
    if l2:
        low, high = min(32767.0, low), min(32767.0, high)
        low = low * low if low > 0 else low
        high = high * high if high > 0 else high
    return _cv_floor(low), _cv_floor(high)


@_cv.recorded
def canny(image, low, high, aperture=3, l2=False, out=None):
    """Canny edges, bit for bit ``cv2.Canny(grey, low, high, apertureSize=3, L2gradient=l2)``.

    Grey, Sobel, magnitude and non-maximum suppression run fused over row bands, then
    hysteresis; OpenCV's rules (threshold rounding, the integer direction test, ties,
    borders) are listed in :mod:`pipeline.kernels.canny`.

    Parameters
    ----------
    image : ndarray, uint8, (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA
        Colour is converted to grey exactly as :func:`grayscale` does (``cvtColor``).
    low, high : float
        Hysteresis thresholds on the Sobel magnitude; swapped if ``low > high``.
        With ``l2`` they bound the Euclidean norm (OpenCV squares them).
    aperture : int
        Sobel aperture; 3 only.
    l2 : bool
        ``sqrt(dx**2 + dy**2)`` instead of ``|dx| + |dy|``.
    out : ndarray, uint8, (H, W), optional
        Written in place when given.

    Returns
    -------
    ndarray, uint8, (H, W)
        255 on edges, 0 elsewhere.
    """
    pixels, channels = _pixels(image)
    if isinstance(aperture, (bool, np.bool_)) or aperture not in APERTURES:
        raise ValueError(
            f"aperture must be 3 (the Sobel 3x3; 5 and 7 are not implemented); got {aperture!r}"
        )
    if not isinstance(l2, (bool, np.bool_)):
        raise ValueError(f"l2 must be True or False; got {l2!r}")
    low_i, high_i = canny_thresholds(low, high, bool(l2))
    height, width = image.shape[:2]
    out = _output("out", out, (height, width), np.uint8)
    if _cv.active():
        out[...] = _cv.canny(image, low, high, bool(l2))
        return out
    bands = _bands(height)
    # Map rows padded to whole uint64 words: the kernel scans them eight cells at a time.
    scratch = np.empty((height + 2, (width + 2 + 7) // 8 * 8), np.uint8)
    # Untouched pages of np.empty cost nothing: only the pixels the flood pushes count.
    index = np.int32 if scratch.size < 2**31 else np.int64
    stack = np.empty(height * width + 2 * width * bands, index)
    _canny.canny(pixels, channels, np.int32(low_i), np.int32(high_i), bool(l2), scratch,
                 stack, out, bands)
    return out
