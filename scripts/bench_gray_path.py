"""The cheap path to grey: the decoder's luma plane against BGR-then-grey, side by side.

::

    python scripts/bench_gray_path.py                       # 720p and 1080p, 150 frames each
    python scripts/bench_gray_path.py --sizes 1280x720 --frames 300 --json out/gray_path.json

For each size an H.264 clip (``libx264 -preset veryfast``, yuv420p, limited range) is made
with ffmpeg from ``samples/tree.avi`` (real footage, scaled), then in one run:

1. **Per frame, the conversion alone**: each decoded frame is turned grey both ways, in
   alternating order: the exact path (``to_bgr``, swscale to OpenCV's BGR, then
   ``ops.grayscale``, the chain's kernel, bit-exact with ``cv2.cvtColor``) and the luma
   path (``to_grey``: a view of the Y plane, range-expanded by ``expand_range``).  Medians in ms.
2. **Per frame, decoded and grey**, as a run reads: ``FileSource`` read to the end
   without and with ``take_luma()``, each frame through ``ops.grayscale`` (the stage),
   in alternating passes (``--passes`` each); wall ms and CPU ms (every thread:
   FFmpeg's decoder threads included) per frame, medians over the passes.
3. **Per frame, luma to edges**: on the same decoded frames, in alternating order, the
   fused edge pass (Sobel l2, the chain's ``gradient, map``) after the range expansion
   (``to_grey``, then ``ops.edges``) and with the expansion inside the pass
   (``deferred_grey``, then ``ops.edges(limited=True)``, what a run does when
   ``grayscale: {from: luma}`` folds into that pass); CPU ms of all threads, medians.
4. **How far from the exact grey**: max and mean absolute difference and the share of
   pixels that differ, for the luma path and for the raw luma without the range table,
   on the clips above plus a BT.709-tagged 720p H.264 and a full-range MJPEG (yuvj420p).

Prints the tables and the ratios (exact / luma); ``--json`` writes the numbers.
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

import av
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pipeline import ops
from pipeline.frame import LimitedLuma
from pipeline.io.media.luma import deferred_grey, luma_plane, to_grey
from pipeline.io.media.reader import to_bgr
from pipeline.io.sources.file import FileSource

TREE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "tree.avi")

#: The extra clips the difference is measured on: name -> (ffmpeg output options, extension).
EXTRA_CLIPS = {
    "h264-bt709": (["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-colorspace",
                    "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"], ".mp4"),
    "mjpeg-full-range": (["-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p"], ".avi"),
}
H264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]


def make_clip(path: str, size: str, frames: int, options: list[str]) -> str:
    """``frames`` frames of samples/tree.avi scaled to ``size``, encoded with ``options``."""
    width, height = size.split("x")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-stream_loop", "-1", "-i", TREE, "-frames:v", str(frames),
                    "-vf", f"scale={width}:{height}", *options, path], check=True, timeout=600)
    return path


def exact_grey(frame: av.VideoFrame) -> np.ndarray:
    """What ``grayscale`` (from: bgr) does to a decoded frame: OpenCV's BGR, then grey."""
    return ops.grayscale(to_bgr(frame))


def conversion_times(path: str) -> dict:
    """Per-frame ms of each conversion on the same decoded frames, in alternating order."""
    times = {"exact": [], "luma": []}
    with av.open(path) as container:
        for index, frame in enumerate(container.decode(video=0)):
            order = ("exact", "luma") if index % 2 == 0 else ("luma", "exact")
            for name in order:
                convert = exact_grey if name == "exact" else to_grey
                started = time.perf_counter()
                convert(frame)
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def edge_times(path: str) -> dict:
    """Per-frame CPU ms of luma to edges: expanded first, or inside the fused pass."""
    def expanded_first(frame):
        return ops.edges(to_grey(frame))

    def inside(frame):
        grey = deferred_grey(frame)
        return ops.edges(grey, limited=isinstance(grey, LimitedLuma))

    ways = {"expanded first": expanded_first, "inside the pass": inside}
    times = {name: [] for name in ways}
    with av.open(path) as container:
        for index, frame in enumerate(container.decode(video=0)):
            order = list(ways) if index % 2 == 0 else list(reversed(ways))
            results = []
            for name in order:
                started = time.process_time()
                results.append(ways[name](frame))
                times[name].append((time.process_time() - started) * 1000)
            if not np.array_equal(*results):
                raise SystemExit(f"bench_gray_path: the two ways differ on frame {index} of {path}")
    return {name: statistics.median(values) for name, values in times.items()}


def read_pass(path: str, luma: bool) -> tuple[float, float, int]:
    """One read of the whole file through FileSource: (wall ms, CPU ms, frames)."""
    source = FileSource(path)
    if luma:
        source.take_luma()
    wall, cpu = time.perf_counter(), time.process_time()
    frames = 0
    with source:
        while (image := source.read()) is not None:
            ops.grayscale(image)  # the stage: converts BGR; a grey luma frame passes through
            frames += 1
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, frames


def source_times(path: str, passes: int) -> dict:
    """Median per-frame wall and CPU ms of reading ``path`` without and with the luma."""
    runs = {"exact": [], "luma": []}
    for index in range(passes):
        for luma in ((False, True) if index % 2 == 0 else (True, False)):
            runs["luma" if luma else "exact"].append(read_pass(path, luma))
    out = {}
    for name, items in runs.items():
        out[name] = {"wall_ms": statistics.median(w / n for w, _, n in items),
                     "cpu_ms": statistics.median(c / n for _, c, n in items),
                     "frames": items[0][2]}
    return out


def difference(path: str) -> dict:
    """How far the luma path (and the raw luma) is from the exact grey, over every frame."""
    found = {"luma": [0, 0, 0], "raw_luma": [0, 0, 0]}  # max, sum of |d|, pixels differing
    pixels = 0
    with av.open(path) as container:
        for frame in container.decode(video=0):
            exact = exact_grey(frame).astype(np.int16)
            pixels += exact.size
            for name, grey in (("luma", to_grey(frame)), ("raw_luma", luma_plane(frame))):
                d = np.abs(grey.astype(np.int16) - exact)
                totals = found[name]
                totals[0] = max(totals[0], int(d.max()))
                totals[1] += int(d.sum())
                totals[2] += int(np.count_nonzero(d))
    return {name: {"max": t[0], "mean": t[1] / pixels, "differing": t[2] / pixels}
            for name, t in found.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1280x720,1920x1080", help="comma-separated WxH")
    parser.add_argument("--frames", type=int, default=150, help="frames per clip")
    parser.add_argument("--passes", type=int, default=3, help="file-source passes each way")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    ops.grayscale(np.zeros((8, 8, 3), np.uint8))  # the kernels compiled (or loaded) before timing
    ops.edges(np.zeros((8, 8), np.uint8), limited=True)
    results = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "frames": args.frames, "sizes": {}, "difference": {}}
    with tempfile.TemporaryDirectory(prefix="bench_gray_") as folder:
        clips = {}
        for size in sizes:
            clips[f"h264-{size}"] = make_clip(os.path.join(folder, f"h264_{size}.mp4"), size,
                                              args.frames, H264)
        for name, (options, extension) in EXTRA_CLIPS.items():
            clips[name] = make_clip(os.path.join(folder, name + extension), sizes[0],
                                    min(args.frames, 60), options)
        print(f"grey from the decoder: exact (BGR, then grey) vs luma plane; "
              f"{args.frames} frames of samples/tree.avi per size, H.264 yuv420p")
        print(f"{'size':>10} {'convert exact':>14} {'convert luma':>13} {'ratio':>7} "
              f"{'read exact':>11} {'read luma':>10} {'saved':>7} {'ratio':>7}   (ms per frame, "
              "medians; read = decode + grey through FileSource, CPU of all threads)")
        for size in sizes:
            path = clips[f"h264-{size}"]
            convert = conversion_times(path)
            read = source_times(path, args.passes)
            results["sizes"][size] = {"convert_ms": convert, "read": read}
            exact, luma = read["exact"]["cpu_ms"], read["luma"]["cpu_ms"]
            print(f"{size:>10} {convert['exact']:14.2f} {convert['luma']:13.3f} "
                  f"{convert['exact'] / convert['luma']:6.1f}x {exact:11.2f} {luma:10.2f} "
                  f"{exact - luma:7.2f} {exact / luma:6.2f}x")
            print(f"{'':>10} {'':>14} {'':>13} {'':>7} {read['exact']['wall_ms']:11.2f} "
                  f"{read['luma']['wall_ms']:10.2f} {read['exact']['wall_ms'] - read['luma']['wall_ms']:7.2f} "
                  f"{read['exact']['wall_ms'] / read['luma']['wall_ms']:6.2f}x   (wall)")
        print("\nluma to edges (Sobel l2), CPU ms per frame, medians:")
        print(f"{'size':>10} {'expanded first':>15} {'inside the pass':>16} {'saved':>7} {'ratio':>7}")
        for size in sizes:
            found = edge_times(clips[f"h264-{size}"])
            results["sizes"][size]["edges_ms"] = found
            first, inside = found["expanded first"], found["inside the pass"]
            print(f"{size:>10} {first:15.3f} {inside:16.3f} {first - inside:7.3f} {first / inside:6.2f}x")
        print("\ndifference from the exact grey (cvtColor of OpenCV's BGR), every frame:")
        print(f"{'clip':>20} {'':>10} {'max':>4} {'mean':>6} {'pixels differing':>17}")
        for name, path in clips.items():
            found = difference(path)
            results["difference"][name] = found
            for kind, values in found.items():
                label = "luma" if kind == "luma" else "raw luma"
                print(f"{name:>20} {label:>10} {values['max']:4d} {values['mean']:6.2f} "
                      f"{values['differing']:16.1%}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
