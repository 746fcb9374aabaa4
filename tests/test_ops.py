"""Exactness of pipeline.ops: against OpenCV where it computes the same thing, against
the plain-loop twins in tests/naive.py everywhere, and the lecture's worked numbers."""

import os
import threading

import cv2
import numba
import numpy as np
import pytest

from pipeline import ops
from tests import naive

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT") == "1"
needs_jit = pytest.mark.skipif(JIT_DISABLED, reason="too slow as pure Python")

# Sizes that catch border mistakes: single pixels, single rows and columns, tiny, odd.
SIZES = [(1, 1), (1, 7), (7, 1), (2, 2), (2, 5), (3, 3), (5, 4), (13, 17)]
BIG_SIZES = [(31, 47), (240, 321), (481, 639)]
CV_DX_DY = {"x": (1, 0), "y": (0, 1)}
CV_BORDERS = {"reflect101": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}


def random_image(shape, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        return (rng.standard_normal(shape) * 60).astype(np.float32)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def photo_like(shape, seed=0):
    """A smooth image with hard edges: the case real frames are made of."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 2)
    cv2.rectangle(img, (shape[1] // 4, shape[0] // 4), (shape[1] // 2, shape[0] // 2), (255,) * 3, -1)
    cv2.circle(img, (2 * shape[1] // 3, shape[0] // 2), min(shape[:2]) // 5, (0,) * 3, -1)
    return img


def filter2d_kernel(kind, axis):
    across, along = naive.STENCILS[kind]
    k = np.outer(along, across).astype(np.float32)
    return k if axis == "x" else k.T.copy()


# ---------------------------------------------------------------- grayscale

@needs_jit
def test_grayscale_matches_opencv_on_every_colour():
    values = np.arange(1 << 24, dtype=np.uint32)
    frame = np.stack([values & 255, (values >> 8) & 255, values >> 16], -1).astype(np.uint8)
    frame = frame.reshape(4096, 4096, 3)
    np.testing.assert_array_equal(ops.grayscale(frame), cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))


@pytest.mark.parametrize("shape", SIZES + [(37, 53)])
def test_grayscale_bgr_and_bgra_match_opencv_and_twin(shape):
    bgr = random_image(shape + (3,), seed=sum(shape))
    bgra = random_image(shape + (4,), seed=sum(shape) + 1)
    np.testing.assert_array_equal(ops.grayscale(bgr), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    np.testing.assert_array_equal(ops.grayscale(bgra), cv2.cvtColor(bgra, cv2.COLOR_BGRA2GRAY))
    np.testing.assert_array_equal(ops.grayscale(bgr), naive.grayscale(bgr))


def test_grayscale_of_grey_is_the_same_array_and_views_work():
    grey = random_image((9, 11))
    assert ops.grayscale(grey) is grey
    big = random_image((20, 30, 3), seed=3)
    view = big[2:17:2, 29:3:-3]  # strided, reversed: not contiguous
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(ops.grayscale(view), cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_BGR2GRAY))
    one_channel = random_image((6, 5, 1), seed=4)
    np.testing.assert_array_equal(ops.grayscale(one_channel), one_channel[:, :, 0])


# ---------------------------------------------------------------- derivative

@pytest.mark.parametrize("shape", SIZES + BIG_SIZES)
@pytest.mark.parametrize("axis", ops.AXES)
@pytest.mark.parametrize("border", CV_BORDERS)
def test_sobel_and_scharr_equal_opencv_cv16s(shape, axis, border):
    if JIT_DISABLED and shape in BIG_SIZES:
        pytest.skip("too slow as pure Python")
    gray = photo_like(shape) if min(shape) > 8 else random_image(shape, seed=shape[0])
    dx, dy = CV_DX_DY[axis]
    btype = CV_BORDERS[border]
    np.testing.assert_array_equal(ops.derivative(gray, "sobel", axis, border),
                                  cv2.Sobel(gray, cv2.CV_16S, dx, dy, borderType=btype))
    np.testing.assert_array_equal(ops.derivative(gray, "scharr", axis, border),
                                  cv2.Scharr(gray, cv2.CV_16S, dx, dy, borderType=btype))


@pytest.mark.parametrize("shape", SIZES + BIG_SIZES)
@pytest.mark.parametrize("kind", ["forward", "central", "prewitt", "sobel"])
@pytest.mark.parametrize("axis", ops.AXES)
def test_filter2d_parity(shape, kind, axis):
    if JIT_DISABLED and shape in BIG_SIZES:
        pytest.skip("too slow as pure Python")
    gray = random_image(shape, seed=7)
    expected = cv2.filter2D(gray, cv2.CV_16S, filter2d_kernel(kind, axis),
                            borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_array_equal(ops.derivative(gray, kind, axis), expected)


def test_derivative_on_non_contiguous_views_equals_opencv():
    base = photo_like((64, 80))
    for view in (base[::2, ::3], base[5:40, 70:10:-1], base.T):
        assert not view.flags.c_contiguous
        contiguous = np.ascontiguousarray(view)
        for axis in ops.AXES:
            np.testing.assert_array_equal(
                ops.derivative(view, "sobel", axis),
                cv2.Sobel(contiguous, cv2.CV_16S, *CV_DX_DY[axis]))


@pytest.mark.parametrize("kind", ops.KINDS)
@pytest.mark.parametrize("axis", ops.AXES)
@pytest.mark.parametrize("border", ops.BORDERS)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (4, 1), (2, 3), (6, 7)])
def test_derivative_equals_plain_loops(kind, axis, border, dtype, shape):
    gray = random_image(shape, seed=11, dtype=dtype)
    got = ops.derivative(gray, kind, axis, border)
    want = naive.derivative(gray, kind, axis, border)
    assert got.dtype == (np.int16 if dtype == np.uint8 else np.float32)
    np.testing.assert_array_equal(got, want)


def test_zero_border_reproduces_the_lecture_loops():
    # The lecture's loops run j from 1 to n-2 (central) or 0 to n-2 (forward) and leave
    # the rest at 0.  Written out here independently of tests/naive.py.
    f = random_image((5, 8), seed=2).astype(np.int32)
    central = np.zeros_like(f)
    forward = np.zeros_like(f)
    sobel = np.zeros_like(f)
    for i in range(5):
        for j in range(1, 7):
            central[i, j] = f[i, j + 1] - f[i, j - 1]
        for j in range(0, 7):
            forward[i, j] = f[i, j + 1] - f[i, j]
    for i in range(1, 4):
        for j in range(1, 7):
            sobel[i, j] = (f[i - 1, j + 1] + 2 * f[i, j + 1] + f[i + 1, j + 1]
                           - f[i - 1, j - 1] - 2 * f[i, j - 1] - f[i + 1, j - 1])
    gray = f.astype(np.uint8)
    np.testing.assert_array_equal(ops.derivative(gray, "central", "x", "zero"), central)
    np.testing.assert_array_equal(ops.derivative(gray, "forward", "x", "zero"), forward)
    np.testing.assert_array_equal(ops.derivative(gray, "sobel", "x", "zero"), sobel)


def test_lecture_sobel_worked_example():
    # The lecture's 10x10 grey grid: at the marked pixel the Sobel-x value is
    # -230 + 147 - 2*237 + 2*188 - 210 + 180 = -211, shown as |a| = 211.  The grid's
    # other values are not printed in the lecture; only the marked 3x3 neighbourhood
    # (left column 230, 237, 210; right column 147, 188, 180) matters here.
    grid = np.full((10, 10), 120, np.uint8)
    grid[3:6, 4] = [230, 237, 210]
    grid[3:6, 6] = [147, 188, 180]
    grid[3:6, 5] = [90, 17, 250]  # the centre column has weight 0 in Sobel-x
    d = ops.derivative(grid, "sobel", "x")
    assert d[4, 5] == -230 + 147 - 2 * 237 + 2 * 188 - 210 + 180 == -211
    assert ops.map_abs(d)[4, 5] == 211
    assert ops.derivative(grid, "sobel", "x", "zero")[4, 5] == -211


def test_lecture_central_difference_row():
    row = np.array([[32, 30, 45, 36, 160, 156, 155, 170]], np.uint8)
    d = ops.derivative(row, "central", "x", "zero")
    assert d[0, 4] == 156 - 36 == 120
    assert ops.map_abs(d, scale=0.5)[0, 4] == 60  # with the 1/2 of the true central difference
    assert ops.derivative(row, "forward", "x", "zero")[0, 3] == 160 - 36


# ---------------------------------------------------------------- pointwise

@pytest.mark.parametrize("norm", ops.NORMS)
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_magnitude_twin_and_opencv(norm, dtype):
    rng = np.random.default_rng(5)
    dx = (rng.integers(-4080, 4081, (9, 13))).astype(dtype)
    dy = (rng.integers(-4080, 4081, (9, 13))).astype(dtype)
    got = ops.magnitude(dx, dy, norm)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, naive.magnitude(dx, dy, norm))
    if norm == "l2":
        ref = cv2.magnitude(dx.astype(np.float32), dy.astype(np.float32))
        np.testing.assert_array_max_ulp(got, ref, maxulp=1)


def test_map_abs_equals_convert_scale_abs_including_halves():
    d = np.array([[0, 0.5, 1.5, 2.5, -2.5, 254.5, 255.5, 300, -1e6, 7.49]], np.float32)
    for scale in (1.0, 0.5, 3.0):
        np.testing.assert_array_equal(ops.map_abs(d, scale), cv2.convertScaleAbs(d, alpha=scale))
    d16 = random_image((7, 9), dtype=np.float32).astype(np.int16)
    np.testing.assert_array_equal(ops.map_abs(d16), cv2.convertScaleAbs(d16))
    np.testing.assert_array_equal(ops.map_abs(d16, 0.3), naive.map_abs(d16, 0.3))


def test_map_shift_mid_grey_and_twin():
    d = np.array([[-1000, -128, -127.5, -0.5, 0, 0.5, 127, 127.5, 128, 1000]], np.float32)
    got = ops.map_shift(d)
    assert got[0, 4] == 128  # flat: 127.5 rounds half to even
    np.testing.assert_array_equal(got, naive.map_shift(d))
    d16 = random_image((7, 9), dtype=np.float32).astype(np.int16)
    np.testing.assert_array_equal(ops.map_shift(d16, 100, 0.25), naive.map_shift(d16, 100, 0.25))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_threshold_matches_thresh_binary(dtype):
    m = random_image((11, 17), seed=9).astype(dtype)
    for t in (0, 40, 99.5, 254, 255):
        _, ref = cv2.threshold(m, t, 255, cv2.THRESH_BINARY)
        np.testing.assert_array_equal(ops.threshold(m, t), ref.astype(np.uint8))
        np.testing.assert_array_equal(ops.threshold(m, t), naive.threshold(m, t))


@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (7, 5), (64, 99)])
def test_histogram(shape):
    img = random_image(shape, seed=1)
    np.testing.assert_array_equal(ops.histogram(img), np.bincount(img.ravel(), minlength=256))
    np.testing.assert_array_equal(ops.histogram(img), naive.histogram(img))


# ---------------------------------------------------------------- fused edges

def composed(frame, kind="sobel", norm="l2", mapping="abs", scale=1.0, border="reflect101"):
    gray = ops.grayscale(frame)
    m = ops.magnitude(ops.derivative(gray, kind, "x", border), ops.derivative(gray, kind, "y", border), norm)
    return ops.map_abs(m, scale) if mapping == "abs" else ops.map_shift(m, scale=scale)


@pytest.mark.parametrize("kind", ops.KINDS)
@pytest.mark.parametrize("border", ops.BORDERS)
@pytest.mark.parametrize("norm,mapping,scale", [("l2", "abs", 1.0), ("l1", "abs", 0.25),
                                                ("l2", "shift", 0.5), ("l1", "shift", 1.0)])
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (2, 2), (9, 14)])
def test_edges_equals_composition_and_twin(kind, border, norm, mapping, scale, shape):
    frame = random_image(shape + (3,), seed=sum(shape))
    got = ops.edges(frame, kind, norm, mapping, scale, border)
    np.testing.assert_array_equal(got, composed(frame, kind, norm, mapping, scale, border))
    np.testing.assert_array_equal(got, naive.edges(frame, kind, norm, mapping, scale, border))


@needs_jit
@pytest.mark.parametrize("channels", [None, 1, 3, 4])
@pytest.mark.parametrize("shape", [(480, 640), (241, 333), (1, 500), (500, 1)])
def test_edges_equals_composition_on_larger_frames(channels, shape):
    full = shape + ((channels,) if channels else ())
    frame = photo_like(shape + (3,))
    frame = frame if channels == 3 else (cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA) if channels == 4 else frame[..., 0])
    if channels == 1:
        frame = frame[..., None]
    assert frame.shape == full
    for kind in ("sobel", "scharr", "central"):
        np.testing.assert_array_equal(ops.edges(frame, kind), composed(frame, kind))


@needs_jit
def test_edges_matches_the_opencv_chain():
    frame = photo_like((240, 320, 3))
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    np.testing.assert_array_equal(ops.edges(frame), cv2.convertScaleAbs(cv2.magnitude(gx, gy)))


def test_edges_writes_into_out_and_fills_histogram():
    frame = photo_like((50, 70, 3))
    out = np.zeros((50, 70), np.uint8)
    hist = np.full(256, 7, np.int64)
    image, counts = ops.edges(frame, out=out, hist=hist)
    assert image is out and counts is hist
    np.testing.assert_array_equal(out, composed(frame))
    np.testing.assert_array_equal(hist, np.bincount(out.ravel(), minlength=256))
    image, counts = ops.edges(frame, hist=True)
    np.testing.assert_array_equal(counts, hist)
    assert isinstance(ops.edges(frame), np.ndarray)


@pytest.mark.parametrize("width", [1, 7, 8, 9, 23, 64])
def test_histograms_count_zero_words_runs_and_tails(width):
    # The counter reads eight pixels as one word and counts all-zero words apart:
    # zero runs that start and end inside a word, runs of 255, and widths that leave
    # a tail of 1 to 7 pixels after the last whole word.
    image = np.zeros((5, width), np.uint8)
    image[1, width // 3:] = 255
    image[2, ::3] = 7
    image[3] = np.arange(width) % 256
    image[4, -1] = 1
    want = np.bincount(image.ravel(), minlength=256)
    np.testing.assert_array_equal(ops.histogram(image), want)
    np.testing.assert_array_equal(ops.histogram(image), naive.histogram(image))
    frame = np.zeros((6, width, 3), np.uint8)
    frame[2:4, width // 2:] = 200  # a block: zero words around an edge
    out, counts = ops.edges(frame, hist=True)
    np.testing.assert_array_equal(counts, naive.histogram(out))


def test_edges_into_a_strided_out_and_histogram_of_a_view():
    frame = photo_like((40, 52, 3))
    canvas = np.full((40, 104), 9, np.uint8)
    out = canvas[:, ::2]  # not contiguous: filled through a copy
    image, counts = ops.edges(frame, out=out, hist=True)
    assert image is out
    np.testing.assert_array_equal(out, composed(frame))
    assert (canvas[:, 1::2] == 9).all()
    np.testing.assert_array_equal(counts, np.bincount(out.ravel(), minlength=256))
    np.testing.assert_array_equal(ops.histogram(out), counts)


def test_edges_on_a_view_and_a_crop():
    big = photo_like((90, 120, 3))
    for view in (big[10:70, 20:100], big[::2, ::2], big[:, ::-1]):
        np.testing.assert_array_equal(ops.edges(view), composed(np.ascontiguousarray(view)))


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("call,match", [
    (lambda: ops.grayscale(np.zeros((4, 4, 3), np.float32)), "frame must have dtype uint8; got float32"),
    (lambda: ops.grayscale(np.zeros((4, 4, 2), np.uint8)), r"1 \(grey\), 3 \(BGR\) or 4 \(BGRA\) channels; got shape \(4, 4, 2\)"),
    (lambda: ops.grayscale(np.zeros((0, 4, 3), np.uint8)), "must not be empty"),
    (lambda: ops.grayscale([[1, 2]]), "must be a numpy array; got list"),
    (lambda: ops.derivative(np.zeros((4, 4), np.uint8), "sobol", "x"), "kind must be one of forward, central, sobel, scharr, prewitt; got 'sobol'"),
    (lambda: ops.derivative(np.zeros((4, 4), np.uint8), "sobel", "z"), "axis must be one of x, y; got 'z'"),
    (lambda: ops.derivative(np.zeros((4, 4), np.uint8), "sobel", "x", "mirror"), "border must be one of zero, reflect101, replicate; got 'mirror'"),
    (lambda: ops.derivative(np.zeros((4, 4), np.int32), "sobel", "x"), "gray must have dtype uint8, float32; got int32"),
    (lambda: ops.derivative(np.zeros((4, 4, 3), np.uint8), "sobel", "x"), "gray must have 2 dimensions"),
    (lambda: ops.magnitude(np.zeros((2, 2), np.int16), np.zeros((2, 3), np.int16)), "same shape"),
    (lambda: ops.magnitude(np.zeros((2, 2), ">f4"), np.zeros((2, 2), np.float32)), "dx must have dtype int16, float32; got >f4"),
    (lambda: ops.magnitude(np.zeros((2, 2), np.int16), np.zeros((2, 2), np.int16), "l3"), "norm must be one of l1, l2"),
    (lambda: ops.map_abs(np.zeros((2, 2), np.float32), scale="big"), "scale must be a number"),
    (lambda: ops.map_shift(np.zeros((2, 2), np.float32), offset=float("nan")), "offset must be finite"),
    (lambda: ops.threshold(np.zeros((2, 2), np.uint8), None), "t must be a number"),
    (lambda: ops.edges(np.zeros((4, 4, 3), np.uint8), mapping="log"), "mapping must be one of abs, shift"),
    (lambda: ops.edges(np.zeros((4, 4, 3), np.uint8), out=np.zeros((4, 5), np.uint8)), r"out must be a uint8 array of shape \(4, 4\); got uint8 \(4, 5\)"),
    (lambda: ops.edges(np.zeros((4, 4, 3), np.uint8), hist=np.zeros(255, np.int64)), r"hist must be a int64 array of shape \(256,\)"),
])
def test_bad_input_is_refused_with_a_clear_message(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- threads

@needs_jit
def test_kernels_are_safe_from_many_threads_at_once():
    frames = [photo_like((360, 480, 3), seed=s) for s in range(4)]
    expected = [composed(f) for f in frames]
    expected_dx = [ops.derivative(ops.grayscale(f), "scharr", "x") for f in frames]
    errors = []
    start = threading.Barrier(6)

    def hammer(k):
        try:
            start.wait()
            out = np.empty((360, 480), np.uint8)
            for n in range(40):
                f = frames[(k + n) % 4]
                ops.edges(f, out=out)
                if not np.array_equal(out, expected[(k + n) % 4]):
                    errors.append(f"thread {k}: edges differ at iteration {n}")
                if not np.array_equal(ops.derivative(ops.grayscale(f), "scharr", "x"), expected_dx[(k + n) % 4]):
                    errors.append(f"thread {k}: derivative differs at iteration {n}")
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(f"thread {k}: {exc!r}")

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert numba.threading_layer() in ("tbb", "omp")


@needs_jit
def test_one_thread_runs_every_kernel_on_the_calling_thread_with_the_same_bytes():
    """ONE_THREAD (the pool's workers, several streams): one band, numba's count at 1 in
    this thread only while it is on, the bytes unchanged."""
    frame = photo_like((720, 1280, 3), seed=3)
    grey = ops.grayscale(frame)
    dx, dy = ops.derivative(grey, "sobel", "x"), ops.derivative(grey, "sobel", "y")
    calls = {
        "grayscale": lambda: ops.grayscale(frame),
        "derivative": lambda: ops.derivative(grey, "sobel", "x"),
        "magnitude": lambda: ops.magnitude(dx, dy),
        "map_abs": lambda: ops.map_abs(dx),
        "map_shift": lambda: ops.map_shift(dy),
        "threshold": lambda: ops.threshold(grey, 100),
        "histogram": lambda: ops.histogram(grey),
        "edges": lambda: ops.edges(frame, hist=True),
        "canny": lambda: ops.canny(grey, 50, 150),
    }
    expected = {name: call() for name, call in calls.items()}
    threads = numba.get_num_threads()
    seen = {}

    def alone():  # a thread of its own, as a pool worker is
        seen["before"] = numba.get_num_threads()
        token = ops.ONE_THREAD.set(True)
        seen["bands"] = ops._bands(720)
        seen["results"] = {name: call() for name, call in calls.items()}
        seen["threads"] = numba.get_num_threads()
        ops.ONE_THREAD.reset(token)
        ops.histogram(grey)  # the next kernel call gives the thread its count back
        seen["after"] = numba.get_num_threads()

    worker = threading.Thread(target=alone)
    worker.start()
    worker.join(120)
    assert seen["bands"] == 1 and seen["threads"] == 1 and seen["after"] == seen["before"]
    for name, value in expected.items():
        got = seen["results"][name]
        pairs = zip(value, got) if isinstance(value, tuple) else [(value, got)]
        assert all(np.array_equal(a, b) for a, b in pairs), name
    assert numba.get_num_threads() == threads  # this thread never changed
