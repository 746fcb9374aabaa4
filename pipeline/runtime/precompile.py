"""Compile every kernel version a run can ask for, ahead of time (``edgepipe warmup``,
:mod:`pipeline.cli.warmup`).

numba compiles one machine-code version of a kernel per type signature (dtypes, number
of dimensions, memory layout) and keeps it in the on-disk cache
(:mod:`pipeline.kernels.options`, one folder per digest of the kernels' sources).  A
run compiles only what its first frame needs, in a child process while its frames go
through OpenCV (:mod:`pipeline.stages.tiers`).  ``edgepipe warmup`` fills the cache
with every version :mod:`pipeline.ops` can call, by calling each public op on small
arrays of every accepted type: grey, BGR and BGRA frames with C-contiguous or strided
rows; uint8, int16, int32 and float32 images where an op takes them.  Run it once in a
cluster image, a container build or a CI cache step, with ``NUMBA_CACHE_DIR`` pointing
where the runs will look if it is not the default.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

import numpy as np

from pipeline import ops


def _layouts(image: np.ndarray) -> Iterator[np.ndarray]:
    """``image`` with C-contiguous rows, and the same pixels as a view of strided rows."""
    yield np.ascontiguousarray(image)
    wide = np.zeros((image.shape[0], image.shape[1] + 3) + image.shape[2:], image.dtype)
    wide[:, :image.shape[1]] = image
    yield wide[:, :image.shape[1]]


def calls() -> Iterator[tuple[str, Callable[[], object]]]:
    """(what, call) for every kernel version the ops can compile."""
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    frames = {"grey": bgr[:, :, 0].copy(), "BGR": bgr,
              "BGRA": np.dstack([bgr, bgr[:, :, :1]])}
    for name, frame in frames.items():
        for layout, image in zip(("", " strided"), _layouts(frame)):
            what = f"{name}{layout}"
            yield f"grayscale {what}", lambda image=image: ops.grayscale(image)
            yield f"edges {what}", lambda image=image: ops.edges(image)
            yield f"edges+histogram {what}", lambda image=image: ops.edges(image, hist=True)
            yield f"canny {what}", lambda image=image: ops.canny(image, 20, 60)
    grey = frames["grey"]
    for layout, image in zip(("", " strided"), _layouts(grey)):
        yield f"expand_luma{layout}", lambda image=image: ops.expand_luma(image)
    for dtype in (np.uint8, np.float32):
        for layout, image in zip(("", " strided"), _layouts(grey.astype(dtype))):
            what = f"{np.dtype(dtype).name}{layout}"
            yield f"derivative {what}", lambda image=image: ops.derivative(image, "sobel", "x")
    for dtype in (np.int16, np.float32):
        for layout, d in zip(("", " strided"), _layouts(grey.astype(dtype) - 100)):
            what = f"{np.dtype(dtype).name}{layout}"
            yield f"magnitude {what}", lambda d=d: ops.magnitude(d, d)
    for dtype in (np.uint8, np.int16, np.int32, np.float32):
        for layout, d in zip(("", " strided"), _layouts(grey.astype(dtype))):
            what = f"{np.dtype(dtype).name}{layout}"
            yield f"map_abs {what}", lambda d=d: ops.map_abs(d)
            yield f"map_shift {what}", lambda d=d: ops.map_shift(d)
            if dtype != np.int32:
                yield f"threshold {what}", lambda d=d: ops.threshold(d, 60)
    yield "histogram", lambda: ops.histogram(grey)


def precompile(say: Callable[[str], None] = print) -> tuple[int, int, float]:
    """Make every version of :func:`calls`; (compiled, loaded from the cache, seconds)."""
    from numba.core import event as numba_event  # lazy: numba takes 0.3-0.8 s to import

    class Count(numba_event.Listener):
        compiles = 0

        def on_start(self, event):
            Count.compiles += 1

        def on_end(self, event):
            pass

    began = time.perf_counter()
    compiled = loaded = 0
    with numba_event.install_listener("numba:compile", Count()):
        for what, call in calls():
            before = Count.compiles
            call()
            if Count.compiles > before:
                compiled += 1
                say(f"  compiled {what} ({time.perf_counter() - began:.1f} s)")
            else:
                loaded += 1
    return compiled, loaded, time.perf_counter() - began
