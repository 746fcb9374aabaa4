#!/usr/bin/env python
"""Benchmark edgepipe's Canny against OpenCV's, BGR frame in, edge map out.

One run, side by side, at 640x480 up to 3840x2160:

* ``edgepipe``: ``ops.canny(frame, low, high, out=out)`` (grey conversion included)
* ``opencv``: ``cv2.Canny(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=grey), low, high,
  edges=out)``, both with their buffers reused

Before timing, both outputs are asserted equal pixel for pixel.  The two are timed
interleaved (A, B, A, B, ...) so that a change in machine load hits both alike; the
table gives medians over the repetitions and the ratio of the medians.

    python scripts/bench_canny.py [--repeat 60] [--l2] [--low 60 --high 140] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import cv2
import numba
import numpy as np
from benchtools import photo_like_frame

from pipeline import ops

SIZES = [(640, 480), (1280, 720), (1920, 1080), (3840, 2160)]


def real_frame(path, width, height):
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        sys.exit(f"bench_canny: cannot read image {path!r}")
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)


def interleaved(candidates, repeat):
    """Median seconds per call of each candidate, timed in alternation."""
    times = {name: [] for name in candidates}
    for _ in range(repeat):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_size(frame, low, high, l2, repeat):
    h, w = frame.shape[:2]
    ours, theirs, grey = (np.empty((h, w), np.uint8) for _ in range(3))

    def edgepipe():
        return ops.canny(frame, low, high, l2=l2, out=ours)

    def opencv():
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=grey)
        return cv2.Canny(grey, low, high, edges=theirs, apertureSize=3, L2gradient=l2)

    edgepipe()
    opencv()
    if not np.array_equal(ours, theirs):
        sys.exit(f"bench_canny: outputs differ at {w}x{h} in {np.count_nonzero(ours != theirs)} pixels")
    edge_fraction = np.count_nonzero(ours) / ours.size
    for _ in range(3):  # warm caches and thread pools
        edgepipe()
        opencv()
    medians = interleaved({"edgepipe": edgepipe, "opencv": opencv}, repeat)
    return {
        "size": f"{w}x{h}",
        "edgepipe_ms": medians["edgepipe"] * 1e3,
        "opencv_ms": medians["opencv"] * 1e3,
        "speedup": medians["opencv"] / medians["edgepipe"],
        "edge_fraction": edge_fraction,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--repeat", type=int, default=60, help="timed calls per candidate and size")
    parser.add_argument("--low", type=float, default=60.0)
    parser.add_argument("--high", type=float, default=140.0)
    parser.add_argument("--l2", action="store_true", help="L2gradient=True")
    parser.add_argument("--image", help="a photo to resize to each size instead of the synthetic frame")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1; got {args.repeat}")

    print(f"edgepipe Canny vs cvtColor + cv2.Canny, low={args.low:g} high={args.high:g} "
          f"l2={args.l2}, median of {args.repeat} interleaved calls")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__} "
          f"({numba.config.THREADING_LAYER}, {numba.get_num_threads()} threads), "
          f"opencv {cv2.__version__} ({cv2.getNumThreads()} threads), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'size':>10} {'edgepipe ms':>12} {'opencv ms':>10} {'speedup':>8} {'edges':>7}")
    rows = []
    for width, height in SIZES:
        frame = real_frame(args.image, width, height) if args.image else photo_like_frame(width, height)
        row = bench_size(frame, args.low, args.high, args.l2, args.repeat)
        rows.append(row)
        print(f"{row['size']:>10} {row['edgepipe_ms']:>12.2f} {row['opencv_ms']:>10.2f} "
              f"{row['speedup']:>7.2f}x {row['edge_fraction']:>7.1%}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
