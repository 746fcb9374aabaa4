"""The OpenCV tier gives the kernels' bytes: every op, and every stage that calls one.

Each case runs once with :data:`pipeline.opencv_tier.ACTIVE` off (the numba kernels)
and once with it on (OpenCV and numpy), and compares the outputs exactly, dtype
included.  A counter on cv2 proves the tier really ran where it covers the input.
"""

from __future__ import annotations

import contextlib

import cv2
import numpy as np
import pytest

from pipeline import opencv_tier, ops
from pipeline.config.registry import build
from pipeline.stages import Chain
from tests.harness import DATA, grey, make_frame, photo

SHAPES = [(2, 2), (3, 7), (24, 31), (97, 130)]


@contextlib.contextmanager
def tier():
    token = opencv_tier.ACTIVE.set(True)
    try:
        yield
    finally:
        opencv_tier.ACTIVE.reset(token)


def both(function, *args, **kwargs):
    kernel = function(*args, **kwargs)
    with tier():
        twin = function(*args, **kwargs)
    return kernel, twin


def same(a, b):
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def frames():
    for shape in SHAPES:
        bgr = photo(shape)
        yield bgr
        yield grey(shape)
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
        yield bgr[:, :, :1]
    yield photo((60, 90))[5:50:2, 3:80]  # strided rows
    yield cv2.imread(str(DATA / "fruits.jpg"))
    yield cv2.imread(str(DATA / "baboon.jpg"))


@pytest.mark.parametrize("frame", list(frames()), ids=lambda f: "x".join(map(str, f.shape)))
def test_grey_edges_and_canny_are_the_kernels_bytes(frame):
    same(*both(ops.grayscale, frame))
    for kind in ops.KINDS:
        for norm in ops.NORMS:
            for border in ops.BORDERS:
                same(*both(ops.edges, frame, kind=kind, norm=norm, border=border, hist=True))
    for scale in (0.25, 1.0, 3.7):
        same(*both(ops.edges, frame, mapping="shift", scale=scale))
        same(*both(ops.edges, frame, scale=scale, norm="l1"))
    for low, high, l2 in ((20, 60, False), (90, 30, True), (50.5, 50.5, False), (0, 0, True),
                          (-5, 1e10, False)):
        same(*both(ops.canny, frame, low, high, l2=l2))


@pytest.mark.parametrize("shape", SHAPES)
def test_derivatives_magnitude_maps_threshold_histogram(shape):
    g = grey(shape)
    for kind in ops.KINDS:
        for axis in ops.AXES:
            for border in ops.BORDERS:
                same(*both(ops.derivative, g, kind, axis, border))
            same(*both(ops.derivative, g.astype(np.float32) / 7, kind, axis))  # the kernel's
    dx, dy = ops.derivative(g, "scharr", "x"), ops.derivative(g, "scharr", "y")
    rng = np.random.default_rng(1)
    floats = rng.normal(0, 300, shape).astype(np.float32)
    floats.flat[::5] = np.nan
    floats.flat[1::7] = np.inf
    for norm in ops.NORMS:
        same(*both(ops.magnitude, dx, dy, norm))
        same(*both(ops.magnitude, floats, dx.astype(np.float32), norm))
    wide = rng.integers(-2**31, 2**31 - 1, shape, dtype=np.int64).astype(np.int32)
    for d in (dx, floats, wide, g):
        for scale in (1.0, 0.37, 1e30):
            same(*both(ops.map_abs, d, scale))
            same(*both(ops.map_shift, d, 127.5, scale))
            same(*both(ops.map_shift, d, -3.25, scale))
    for m in (g, dx, floats):
        for t in (-1, 0, 40.5, 60, 255, 1e9):
            same(*both(ops.threshold, m, t))
    same(*both(ops.histogram, g))


def test_the_tier_runs_opencv_where_it_covers_the_input(monkeypatch):
    calls = []
    original = cv2.filter2D
    monkeypatch.setattr(cv2, "filter2D", lambda *a, **k: calls.append(1) or original(*a, **k))
    frame = photo((40, 50))
    with tier():
        ops.edges(frame)
        assert len(calls) == 2
        ops.edges(frame, border="zero")  # not covered: the kernel
        assert len(calls) == 2
    ops.edges(frame)  # tier off
    assert len(calls) == 2


STAGES = [
    ["grayscale", "gradient", "map", "threshold"],
    ["grayscale", {"gradient": {"kind": "scharr", "norm": "l1"}}, {"map": {"mode": "shift"}},
     {"threshold": {"value": 40}}],
    ["grayscale", {"derivative": {"kind": "prewitt", "axis": "y", "mapping": "abs"}}],
    ["grayscale", {"derivative": {"kind": "central", "mapping": "none"}}, "map"],
    ["grayscale", {"canny": {"low": 30, "high": 90}}],
    [{"canny": {"low": "auto", "high": "auto", "l2": True}}],
    ["grayscale", "gradient", {"map": {"mode": "abs", "scale": 0.5}},
     {"threshold": {"value": "auto"}}, "overlay"],
]


def build_chain(names, fuse):
    stages = []
    for item in names:
        name, settings = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        stages.append(build("stage", name, settings))
    return Chain(stages, fuse=fuse)


@pytest.mark.parametrize("names", STAGES, ids=lambda n: "-".join(
    x if isinstance(x, str) else next(iter(x)) for x in n))
@pytest.mark.parametrize("fuse", [True, False])
def test_every_stage_gives_the_same_frame_on_both_tiers(names, fuse):
    kernel_chain, cv_chain = build_chain(names, fuse), build_chain(names, fuse)
    cv_chain.tier = "opencv"
    for index in range(2):
        a, b = make_frame(index), make_frame(index)
        a, b = kernel_chain(a), cv_chain(b)
        same(a.image, b.image)
        assert sorted(a.side) == sorted(b.side)
        for key, value in a.side.items():
            if isinstance(value, np.ndarray):
                same(value, b.side[key])
            else:
                assert value == b.side[key], key
    assert not opencv_tier.active()  # the chain's tier does not leak out of the frame
