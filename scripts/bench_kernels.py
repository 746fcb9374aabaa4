#!/usr/bin/env python
"""Benchmark the fused edge kernel against OpenCV, numpy and a plain frame copy.

One run, side by side, at 640x480 up to 3840x2160.  The contenders are called in
rounds, one call each per round in a fresh random order, so that a burst of load from other
processes hits all of them alike; each figure is the median over the rounds, and each
ratio the median of the per-round ratios.

* ``edges``: ``ops.edges(frame, "sobel", "l2", "abs", out=out)``
* ``+hist``: the same with ``hist=hist``, as the runtime's fused stage calls it
* the OpenCV chains that give the identical uint8 image (each is checked pixel for
  pixel; one that differs is left out): cvtColor, Sobel CV_32F twice, magnitude,
  convertScaleAbs; cvtColor, spatialGradient, magnitude, convertScaleAbs; and the
  CV_16S Sobel variant.  "OpenCV" in the table is the fastest of them.
* ``numpy``: the same computation vectorized with numpy (a few calls, outside the rounds)
* ``copy``: ``np.copyto(dst, frame)``, the memory floor

Also measures start-up: the first call in a fresh process with an empty numba cache
(cold: compiles) and with the cache filled (warm).

Small-frame throughput (``small_throughput``; ``--throughput-only`` runs just it):
frames per second of ``ops.edges`` against the fastest identical OpenCV chain at
640x480 when frames overlap, as a runtime with two processing threads (or two streams)
would run them: a batch of frames split between 1 and 2 Python threads (both
contenders release the GIL), in shuffled rounds; the ratio is the median of the
per-round ratios of the batch times.  ``ops.edges`` runs a frame this small as one band
in its calling thread (``ops.SMALL_FRAME``).

Canny section (``canny_section``; ``--canny-only`` runs just it, ``--no-canny`` skips it):
``ops.canny(frame, low, high, out=out)`` from the BGR frame against ``cv2.cvtColor`` +
``cv2.Canny(grey, low, high, apertureSize=3)``, both reusing their buffers, outputs
asserted equal pixel for pixel first, timed in the same shuffled rounds, on a real photo
(``benchtools.photo_frame``: OpenCV's sample stereo pair, native pixels up to 1080p) and
on the synthetic frame, on three of OpenCV's sample photos scaled (cubic) to each size
(``CANNY_PHOTOS``: building.jpg, detailed; fruits.jpg and butterfly.jpg, smooth), and with
``--canny-image PATH`` on that photo, resized.

One band or the split (``bands_section``; ``--bands-only``): single calls of the fused
kernel on one band in the calling thread against the frame split over numba's threads,
and the fastest identical OpenCV chain, from 320x240 to 1080p: where ``ops.SMALL_FRAME``
should lie.  ``--one-thread`` puts numba and OpenCV on one thread each; the Canny section
then times each call in CPU time of the calling thread, which the machine's load sways
less than wall time.

    python scripts/bench_kernels.py [--json out/bench_kernels.json] [--quick]
    python scripts/bench_kernels.py --canny-only [--canny-low 60 --canny-high 140] [--canny-l2]
    python scripts/bench_kernels.py --canny-only --one-thread --sizes 1920x1080
    python scripts/bench_kernels.py --bands-only [--sizes 640x480 1280x720]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from concurrent.futures import ThreadPoolExecutor

import cv2
import numba
import numpy as np
from benchtools import SAMPLES, interleaved, median_ratio, photo_frame, photo_like_frame

from pipeline import ops

SIZES = [(640, 480), (1280, 720), (1920, 1080), (3840, 2160)]


def opencv_chains(frame):
    """Candidate OpenCV chains for sobel + l2 + abs, each reusing its buffers."""
    h, w = frame.shape[:2]
    gray = np.empty((h, w), np.uint8)
    gx, gy, mag = (np.empty((h, w), np.float32) for _ in range(3))
    sx, sy = np.empty((h, w), np.int16), np.empty((h, w), np.int16)
    out = np.empty((h, w), np.uint8)

    def sobel_32f():
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=gray)
        cv2.Sobel(gray, cv2.CV_32F, 1, 0, dst=gx)
        cv2.Sobel(gray, cv2.CV_32F, 0, 1, dst=gy)
        cv2.magnitude(gx, gy, magnitude=mag)
        return cv2.convertScaleAbs(mag, dst=out)

    def spatial_gradient():
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=gray)
        cv2.spatialGradient(gray, dx=sx, dy=sy)
        np.copyto(gx, sx)
        np.copyto(gy, sy)
        cv2.magnitude(gx, gy, magnitude=mag)
        return cv2.convertScaleAbs(mag, dst=out)

    def sobel_16s():
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=gray)
        cv2.Sobel(gray, cv2.CV_16S, 1, 0, dst=sx)
        cv2.Sobel(gray, cv2.CV_16S, 0, 1, dst=sy)
        cv2.magnitude(sx.astype(np.float32), sy.astype(np.float32), magnitude=mag)
        return cv2.convertScaleAbs(mag, dst=out)

    return {"cvtColor+Sobel32F x2+magnitude+convertScaleAbs": sobel_32f,
            "cvtColor+spatialGradient+magnitude+convertScaleAbs": spatial_gradient,
            "cvtColor+Sobel16S x2+astype+magnitude+convertScaleAbs": sobel_16s}


def numpy_edges(frame):
    """ops.edges(frame) with numpy array operations only."""
    b, g, r = (frame[..., k].astype(np.int32) for k in range(3))
    gray = ((3735 * b + 19235 * g + 9798 * r + (1 << 14)) >> 15).astype(np.float32)
    p = np.pad(gray, 1, mode="reflect")  # numpy's "reflect" is OpenCV's REFLECT_101
    dx = (p[:-2, 2:] - p[:-2, :-2]) + 2 * (p[1:-1, 2:] - p[1:-1, :-2]) + (p[2:, 2:] - p[2:, :-2])
    dy = (p[2:, :-2] - p[:-2, :-2]) + 2 * (p[2:, 1:-1] - p[:-2, 1:-1]) + (p[2:, 2:] - p[:-2, 2:])
    m = np.sqrt(dx * dx + dy * dy)
    return np.minimum(np.rint(m), 255).astype(np.uint8)


def median_ms(fn, min_seconds, min_reps=15):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3, len(times)


STARTUP_CODE = (
    "import time; t = time.perf_counter(); import numpy as np; from pipeline import ops; "
    "ops.edges(np.zeros((480, 640, 3), np.uint8), hist=True); "
    "print(time.perf_counter() - t)"
)


def startup_seconds():
    """First edges() call in a fresh process: cold (empty numba cache), then warm."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        run = lambda: float(subprocess.run([sys.executable, "-c", STARTUP_CODE], env=env,  # noqa: E731
                                           check=True, capture_output=True, text=True).stdout)
        cold = run()
        warm = statistics.median(run() for _ in range(3))
    return cold, warm


def small_throughput(seconds, distinct=8, width=640, height=480, batch=64):
    """Frames per second of ops.edges and the fastest OpenCV chain, 1 and 2 threads.

    The batch cycles through ``distinct`` different frames (8: 7 MB, more than this
    CPU's caches hold, as frames fresh from a decoder; 1: the same frame, hot).
    """
    frames = [np.ascontiguousarray(np.roll(photo_like_frame(width, height), 7 * k, axis=1))
              for k in range(distinct)]
    reference = ops.edges(frames[0]).copy()
    chains = {name: chain for name, chain in opencv_chains(frames[0]).items()
              if np.array_equal(chain(), reference)}
    best_name = min(chains, key=lambda name: median_ms(chains[name], 0.3)[0])
    pools = {threads: ThreadPoolExecutor(threads) for threads in (1, 2)}

    def contender(threads, make):
        # One worker's share: its own output buffers (and, for OpenCV, intermediates).
        workers = [make(k) for k in range(threads)]

        def run():
            share = batch // threads
            jobs = [pools[threads].submit(lambda w=w, k=k: [w(frames[(k * share + n) % len(frames)])
                                                            for n in range(share)])
                    for k, w in enumerate(workers)]
            for job in jobs:
                job.result()
        return run

    def edgepipe_worker(_):
        out = np.empty((height, width), np.uint8)
        return lambda frame: ops.edges(frame, out=out)

    def opencv_worker(_):
        # opencv_chains binds its buffers to one frame; rebind per call through a closure.
        gray = np.empty((height, width), np.uint8)
        sx, sy = np.empty((height, width), np.int16), np.empty((height, width), np.int16)
        gx, gy, mag = (np.empty((height, width), np.float32) for _ in range(3))
        out = np.empty((height, width), np.uint8)
        ways = {
            "cvtColor+Sobel32F x2+magnitude+convertScaleAbs": lambda f: (
                cv2.cvtColor(f, cv2.COLOR_BGR2GRAY, dst=gray), cv2.Sobel(gray, cv2.CV_32F, 1, 0, dst=gx),
                cv2.Sobel(gray, cv2.CV_32F, 0, 1, dst=gy), cv2.magnitude(gx, gy, magnitude=mag),
                cv2.convertScaleAbs(mag, dst=out)),
            "cvtColor+spatialGradient+magnitude+convertScaleAbs": lambda f: (
                cv2.cvtColor(f, cv2.COLOR_BGR2GRAY, dst=gray), cv2.spatialGradient(gray, dx=sx, dy=sy),
                np.copyto(gx, sx), np.copyto(gy, sy), cv2.magnitude(gx, gy, magnitude=mag),
                cv2.convertScaleAbs(mag, dst=out)),
            "cvtColor+Sobel16S x2+astype+magnitude+convertScaleAbs": lambda f: (
                cv2.cvtColor(f, cv2.COLOR_BGR2GRAY, dst=gray), cv2.Sobel(gray, cv2.CV_16S, 1, 0, dst=sx),
                cv2.Sobel(gray, cv2.CV_16S, 0, 1, dst=sy),
                cv2.magnitude(sx.astype(np.float32), sy.astype(np.float32), magnitude=mag),
                cv2.convertScaleAbs(mag, dst=out)),
        }
        way = ways[best_name]

        def call(frame):
            way(frame)
            return out
        return call

    check = opencv_worker(0)
    assert np.array_equal(check(frames[-1]), ops.edges(frames[-1])), "OpenCV chain differs"
    fns = {f"{who} x{threads}": contender(threads, make)
           for threads in (1, 2) for who, make in (("edgepipe", edgepipe_worker),
                                                   ("opencv", opencv_worker))}
    times = interleaved(fns, seconds, min_rounds=15)
    for pool in pools.values():
        pool.shutdown()
    rows = []
    for threads in (1, 2):
        ours, theirs = times[f"edgepipe x{threads}"], times[f"opencv x{threads}"]
        rows.append(dict(size=f"{width}x{height}", threads=threads, opencv_chain=best_name,
                         distinct_frames=distinct,
                         edgepipe_fps=batch / statistics.median(ours),
                         opencv_fps=batch / statistics.median(theirs),
                         edgepipe_over_opencv=median_ratio(theirs, ours), rounds=len(ours)))
    return rows


def throughput_section(args):
    print(f"\nSmall frames, throughput: batches of 64 frames at 640x480 ({args.throughput_frames} "
          f"different) split between 1 and 2 threads; load average before "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    rows = small_throughput(args.seconds, args.throughput_frames)
    header = f"{'size':>8} | {'threads':>7} | {'edgepipe fps':>12} | {'OpenCV fps':>10} | {'edgepipe/OpenCV':>15} | {'rounds':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['size']:>8} | {r['threads']:>7} | {r['edgepipe_fps']:12.0f} | {r['opencv_fps']:10.0f} | "
              f"{r['edgepipe_over_opencv']:14.2f}x | {r['rounds']:>6}")
    print(f"OpenCV chain: {rows[0]['opencv_chain']}; load average after: {os.getloadavg()[0]:.2f}")
    for r in rows:
        met = "ok" if r["edgepipe_over_opencv"] >= 3 else "MISSED"
        print(f"target: throughput >= 3x OpenCV at 640x480 with {r['threads']} thread(s): "
              f"{r['edgepipe_over_opencv']:.2f}x {met}")
    return rows


#: Sizes of the one-band/split-bands comparison (``--bands-only``), around ops.SMALL_FRAME.
BANDS_SIZES = [(320, 240), (640, 480), (960, 540), (1280, 720), (1920, 1080)]


def bands_rows(sizes, seconds):
    """Single calls of the fused kernel on one band in the calling thread against the
    frame split into ``ops._bands`` bands over numba's threads, and the fastest identical
    OpenCV chain, in shuffled rounds: where one band stops paying (``ops.SMALL_FRAME``)."""
    weights = ops._EDGE_WEIGHTS["sobel"]
    rows = []
    for width, height in sizes:
        frame = photo_like_frame(width, height)
        pixels = frame.reshape(height, -1)
        out = np.empty((height, width), np.uint8)
        reference = ops.edges(frame).copy()
        split = ops._bands(height)

        def kernel(bands):
            return lambda: ops._edges.edges(pixels, 3, False, out, ops._NO_HIST, *weights,
                                            ops._border_code("reflect101"), False, False,
                                            np.float32(1), ops._OFFSET, False, 0.0, False, bands)
        fns = {"one band": kernel(1), f"{split} bands": kernel(split)}
        for fn in list(fns.values()):
            fn()
            assert np.array_equal(out, reference), "the kernel differs from ops.edges"
        chains = {name: chain for name, chain in opencv_chains(frame).items()
                  if np.array_equal(chain(), reference)}
        fns.update(chains)
        times = interleaved(fns, seconds)
        best = min(chains, key=lambda name: statistics.median(times[name]))
        one, many = times["one band"], times[f"{split} bands"]
        rows.append(dict(size=f"{width}x{height}", bands=split, rounds=len(one),
                         one_band_ms=statistics.median(one) * 1e3,
                         bands_ms=statistics.median(many) * 1e3,
                         opencv_ms=statistics.median(times[best]) * 1e3, opencv_chain=best,
                         bands_over_one=median_ratio(many, one),
                         opencv_over_one=median_ratio(times[best], one),
                         opencv_over_bands=median_ratio(times[best], many),
                         ops_runs_one_band=width * height <= ops.SMALL_FRAME))
    return rows


def bands_section(args, sizes, seconds):
    print(f"\nFused pass (sobel l2 abs), single calls: one band in the calling thread against "
          f"the frame split over {numba.get_num_threads()} threads; load average before "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    rows = bands_rows(sizes, seconds)
    header = (f"{'size':>10} | {'one band ms':>11} | {'bands ms':>12} | {'OpenCV ms':>9} | "
              f"{'split/one':>9} | {'OpenCV/one':>10} | {'OpenCV/split':>12} | {'ops.edges':>9} | "
              f"{'rounds':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['size']:>10} | {r['one_band_ms']:11.3f} | {r['bands_ms']:9.3f} ({r['bands']}) | "
              f"{r['opencv_ms']:9.3f} | {r['bands_over_one']:8.2f}x | {r['opencv_over_one']:9.2f}x | "
              f"{r['opencv_over_bands']:11.2f}x | {'one band' if r['ops_runs_one_band'] else 'split':>9} | "
              f"{r['rounds']:>6}")
    print(f"split/one above 1: one band is faster. ops.SMALL_FRAME = {ops.SMALL_FRAME} pixels; "
          f"load average after: {os.getloadavg()[0]:.2f}")
    return rows


CANNY_FRAMES = {"photo": photo_frame, "synthetic": photo_like_frame}
#: OpenCV's sample photos (samples/README.md), scaled to each size: one detailed, two
#: smooth (fruits: smooth shading; butterfly: fine detail on a smooth background).
CANNY_PHOTOS = ("building.jpg", "fruits.jpg", "butterfly.jpg")


def resized_image(path):
    """A frame maker that resizes the photo at ``path`` (cubic) to each size."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        sys.exit(f"bench_kernels: cannot read --canny-image {path!r} (a photo OpenCV reads: jpg, png)")
    return lambda width, height: cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)


def canny_rows(sizes, seconds, low, high, l2, image=None):
    """Time edgepipe's BGR -> Canny against cvtColor + cv2.Canny on each frame and size."""
    frames = dict(CANNY_FRAMES)
    for name in CANNY_PHOTOS:
        frames[name] = resized_image(str(SAMPLES / name))
    if image:
        frames[os.path.basename(image)] = resized_image(image)
    rows = []
    for width, height in sizes:
        for kind, make in frames.items():
            frame = make(width, height)
            ours, theirs, grey = (np.empty((height, width), np.uint8) for _ in range(3))

            def edgepipe():
                return ops.canny(frame, low, high, l2=l2, out=ours)

            def opencv():
                cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=grey)
                return cv2.Canny(grey, low, high, edges=theirs, apertureSize=3, L2gradient=l2)

            edgepipe()
            opencv()
            if not np.array_equal(ours, theirs):
                sys.exit(f"bench_kernels: ops.canny differs from cv2.Canny on the {kind} frame "
                         f"at {width}x{height} in {np.count_nonzero(ours != theirs)} pixels")
            # One thread each: both run in this thread, so its CPU time is each call's
            # cost whatever the machine's load (wall time counts the time preempted).
            one_thread = numba.get_num_threads() == cv2.getNumThreads() == 1
            clock = time.thread_time if one_thread else time.perf_counter
            times = interleaved({"edgepipe": edgepipe, "opencv": opencv}, seconds, clock=clock)
            rows.append(dict(size=f"{width}x{height}", frame=kind, rounds=len(times["edgepipe"]),
                             edgepipe_ms=statistics.median(times["edgepipe"]) * 1e3,
                             opencv_ms=statistics.median(times["opencv"]) * 1e3,
                             opencv_over_edgepipe=median_ratio(times["opencv"], times["edgepipe"]),
                             edge_fraction=np.count_nonzero(ours) / ours.size))
    return rows


def canny_section(args, sizes, seconds):
    """Run, print and save the Canny table; the target is >= 2x at 1080p on the photo."""
    print(f"\nCanny: ops.canny vs cvtColor + cv2.Canny, low={args.canny_low:g} "
          f"high={args.canny_high:g} l2={args.canny_l2}; load average before "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    rows = canny_rows(sizes, seconds, args.canny_low, args.canny_high, args.canny_l2,
                      args.canny_image)
    header = (f"{'size':>10} | {'frame':>12} | {'edgepipe ms':>11} | {'OpenCV ms':>9} | "
              f"{'OpenCV/edgepipe':>15} | {'edges':>6} | {'rounds':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['size']:>10} | {r['frame']:>12} | {r['edgepipe_ms']:11.2f} | {r['opencv_ms']:9.2f} | "
              f"{r['opencv_over_edgepipe']:14.2f}x | {r['edge_fraction']:6.1%} | {r['rounds']:>6}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for r in rows:
        if r["size"] == "1920x1080" and r["frame"] != "synthetic":
            met = "ok" if r["opencv_over_edgepipe"] >= 2 else "MISSED"
            print(f"target: OpenCV/edgepipe >= 2x at 1920x1080 on {r['frame']}: "
                  f"{r['opencv_over_edgepipe']:.2f}x {met}")
    os.makedirs(os.path.dirname(os.path.abspath(args.canny_json)), exist_ok=True)
    with open(args.canny_json, "w") as fh:
        json.dump(dict(rows=rows, low=args.canny_low, high=args.canny_high, l2=args.canny_l2,
                       numba=numba.__version__, opencv=cv2.__version__,
                       threads=numba.get_num_threads(), opencv_threads=cv2.getNumThreads()),
                  fh, indent=2)
    print(f"wrote {args.canny_json}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="out/bench_kernels.json", help="where to write the results")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum time per measurement")
    parser.add_argument("--quick", action="store_true", help="only 640x480, short measurements")
    canny = parser.add_mutually_exclusive_group()
    canny.add_argument("--canny-only", action="store_true", help="run only the Canny section")
    canny.add_argument("--no-canny", action="store_true", help="skip the Canny section")
    canny.add_argument("--throughput-only", action="store_true",
                       help="run only the small-frame throughput section")
    canny.add_argument("--bands-only", action="store_true",
                       help="run only the one-band against split-bands section of the fused pass")
    parser.add_argument("--throughput-frames", type=int, default=8, metavar="N",
                        help="different frames the throughput batch cycles through (1: one hot frame)")
    parser.add_argument("--canny-low", type=float, default=60.0, help="Canny's low threshold")
    parser.add_argument("--canny-high", type=float, default=140.0, help="Canny's high threshold")
    parser.add_argument("--canny-l2", action="store_true", help="Canny with L2gradient=True")
    parser.add_argument("--canny-image", help="also time Canny on this photo, resized to each size")
    parser.add_argument("--canny-json", default="out/bench_canny.json",
                        help="where to write the Canny results")
    parser.add_argument("--one-thread", action="store_true",
                        help="numba and OpenCV on one thread each (a comparison the machine's load "
                             "sways less: the Canny section then times CPU time of this thread; "
                             "OpenCV's Canny may take its IPP path)")
    parser.add_argument("--sizes", nargs="+", metavar="WxH",
                        help="only these sizes, e.g. 640x480 1920x1080")
    args = parser.parse_args(argv)
    sizes = SIZES[:1] if args.quick else SIZES
    if args.sizes:
        sizes = [tuple(int(n) for n in size.split("x")) for size in args.sizes]
    seconds = 0.3 if args.quick else args.seconds
    if args.one_thread:
        numba.set_num_threads(1)
        cv2.setNumThreads(1)

    print(f"edgepipe kernel benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, numba {numba.__version__} ({numba.get_num_threads()} threads), "
          f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), numpy {np.__version__}")
    if args.canny_only:
        return canny_section(args, sizes, seconds)
    if args.throughput_only:
        return throughput_section(args)
    if args.bands_only:
        return bands_section(args, [tuple(int(n) for n in size.split("x")) for size in args.sizes]
                             if args.sizes else BANDS_SIZES, seconds)
    rows = []
    for width, height in sizes:
        frame = photo_like_frame(width, height)
        out = np.empty((height, width), np.uint8)
        hist = np.empty(256, np.int64)
        dst = np.empty_like(frame)
        reference = ops.edges(frame, out=out).copy()
        _, counts = ops.edges(frame, out=out, hist=hist)
        assert np.array_equal(counts, np.bincount(reference.ravel(), minlength=256)), "histogram differs"
        fns = {"edges": lambda: ops.edges(frame, out=out),
               "+hist": lambda: ops.edges(frame, out=out, hist=hist),
               "copy": lambda: np.copyto(dst, frame)}
        chains = []
        for name, chain in opencv_chains(frame).items():
            if np.array_equal(chain(), reference):
                fns[name] = chain
                chains.append(name)
            else:
                print(f"  {width}x{height} {name}: not identical to ops.edges, left out")
        times = interleaved(fns, seconds)
        ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
        best = min(chains, key=ms.get)
        assert np.array_equal(numpy_edges(frame), reference), "numpy version differs"
        numpy_ms, _ = median_ms(lambda: numpy_edges(frame), 0.0, min_reps=5)
        rows.append(dict(size=f"{width}x{height}", rounds=len(times["edges"]),
                         edges_ms=ms["edges"], edges_hist_ms=ms["+hist"],
                         hist_over_edges=median_ratio(times["+hist"], times["edges"]),
                         opencv_ms=ms[best], opencv_chain=best,
                         opencv_all={name: ms[name] for name in chains},
                         opencv_over_edges=median_ratio(times[best], times["edges"]),
                         opencv_all_over_edges={name: median_ratio(times[name], times["edges"])
                                                for name in chains},
                         numpy_ms=numpy_ms, copy_ms=ms["copy"],
                         numpy_over_edges=numpy_ms / ms["edges"],
                         edges_over_copy=median_ratio(times["edges"], times["copy"])))

    header = (f"{'size':>10} | {'edges ms':>8} | {'+hist ms':>8} | {'hist/edges':>10} | {'OpenCV ms':>9} | "
              f"{'OpenCV/edges':>12} | {'numpy ms':>8} | {'copy ms':>7} | {'edges/copy':>10} | {'rounds':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['size']:>10} | {r['edges_ms']:8.3f} | {r['edges_hist_ms']:8.3f} | {r['hist_over_edges']:9.2f}x | "
              f"{r['opencv_ms']:9.3f} | {r['opencv_over_edges']:11.2f}x | {r['numpy_ms']:8.2f} | "
              f"{r['copy_ms']:7.3f} | {r['edges_over_copy']:9.2f}x | {r['rounds']:>6}")
    print("OpenCV chains, median ms (median ratio chain/edges):")
    for r in rows:
        listed = "; ".join(f"{name} {r['opencv_all'][name]:.3f} ({r['opencv_all_over_edges'][name]:.2f}x)"
                           for name in r["opencv_all"])
        print(f"  {r['size']}: {listed}")
    print("targets: +hist <= 1.15x edges at 640x480, 1280x720, 1920x1080; OpenCV/edges >= 3x there, >= 5x at 4K")
    for r in rows:
        big = r["size"] == "3840x2160"
        checks = [f"OpenCV/edges {r['opencv_over_edges']:.2f}x "
                  f"{'ok' if r['opencv_over_edges'] >= (5 if big else 3) else 'MISSED'}"]
        if not big:
            checks.append(f"hist/edges {r['hist_over_edges']:.2f}x {'ok' if r['hist_over_edges'] <= 1.15 else 'MISSED'}")
        print(f"  {r['size']}: " + ", ".join(checks))

    cold, warm = startup_seconds()
    print(f"start-up, first edges() call in a new process: cold (empty numba cache) {cold:.2f} s, "
          f"warm (cached) {warm:.2f} s")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(dict(rows=rows, startup=dict(cold_s=cold, warm_s=warm),
                       numba=numba.__version__, opencv=cv2.__version__, threads=numba.get_num_threads()),
                  fh, indent=2)
    throughput = throughput_section(args) if (640, 480) in sizes else []
    with open(args.json, "w") as fh:
        json.dump(dict(rows=rows, startup=dict(cold_s=cold, warm_s=warm), throughput=throughput,
                       numba=numba.__version__, opencv=cv2.__version__, threads=numba.get_num_threads()),
                  fh, indent=2)
    print(f"wrote {args.json}")
    if not args.no_canny:
        canny_section(args, sizes, seconds)


if __name__ == "__main__":
    main()
