"""Several files in one process, batch mode: the shared processing pool against one
processing thread per stream, side by side.

::

    python scripts/bench_pool.py                         # 2 and 4 streams of a 720p clip
    python scripts/bench_pool.py --streams 1 2 4 8 --frames 120 --repeats 5 --json out/pool.json

One H.264 1280x720 clip is made with ffmpeg (``testsrc2`` with temporal noise, so every
frame differs); N streams read it, each through Sobel l2 abs and an automatic threshold
into a ``discard`` sink (nothing stored).  Each round runs the same N streams twice in
one process, once on the pool (``Pipeline.stream_set()``) and once with a processing
thread per engine (``stream_set(pool=False)``, the way before the pool), in alternating
order; the figures are every stream's frames over the set's wall time, and the process's
CPU time (user + system, every thread) per frame, which a machine busy with other work
disturbs less than the wall time.  The kernels are
compiled once before timing (a warm-up set), and the runs start on the numba kernels
(``EDGEPIPE_OPENCV_TIER=0``), not on the OpenCV tier a cold run begins with.  Prints the
median fps of each, their ratio, and the median CPU ms per frame, per N.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pipeline.pipeline import Pipeline  # noqa: E402
from pipeline.runtime.pool import default_workers  # noqa: E402

STAGES = ["grayscale", {"gradient": {"kind": "sobel", "norm": "l2"}}, {"map": {"mode": "abs"}},
          {"threshold": {"value": "auto"}}]


def make_clip(path: str, size: str, frames: int) -> str:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
                    "-vf", "noise=alls=20:allf=t", "-frames:v", str(frames), "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", path], check=True)
    return path


def run_set(clip: str, streams: int, pool: bool, workers: int | None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, frames out) of N streams of ``clip`` in one set."""
    sources = [{"name": f"s{i}", "type": "file", "path": clip} for i in range(streams)]
    pipe = Pipeline.from_dict({"version": 1, "sources": sources, "stages": STAGES,
                               "sinks": ["discard"],
                               "runtime": {"mode": "batch", "workers": workers}})
    stream_set = pipe.stream_set(pool=pool)
    began, cpu = time.perf_counter(), time.process_time()
    summary = stream_set.run()
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    if not summary.ok:
        raise SystemExit(f"bench_pool: a stream failed: {summary.failed}")
    return seconds, cpu, sum(s["frames_out"] for s in summary.streams)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--frames", type=int, default=90, help="frames of the clip")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="pool threads; default the CPUs")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("EDGEPIPE_OPENCV_TIER", "0")  # time the kernels, not the start-up tier
    with tempfile.TemporaryDirectory(prefix="bench_pool_") as folder:
        clip = make_clip(os.path.join(folder, "clip.mp4"), args.size, args.frames)
        run_set(clip, 1, True, args.workers)  # compile the kernels, untimed
        rows = []
        for streams in args.streams:
            fps, cpu_ms = {"pool": [], "threads": []}, {"pool": [], "threads": []}
            for round_ in range(args.repeats):
                order = ("pool", "threads") if round_ % 2 == 0 else ("threads", "pool")
                for way in order:
                    seconds, cpu, frames = run_set(clip, streams, way == "pool", args.workers)
                    fps[way].append(frames / seconds)
                    cpu_ms[way].append(1e3 * cpu / frames)
            pool, threads = statistics.median(fps["pool"]), statistics.median(fps["threads"])
            rows.append({"streams": streams, "pool_fps": pool, "threads_fps": threads,
                         "ratio": pool / threads, "pool_cpu_ms": statistics.median(cpu_ms["pool"]),
                         "threads_cpu_ms": statistics.median(cpu_ms["threads"]),
                         "runs": fps, "cpu_ms": cpu_ms})
    workers = args.workers or default_workers()
    print(f"{args.size}, {args.frames} frames per stream, batch, median of {args.repeats}; "
          f"pool of {workers} workers vs one processing thread per stream")
    print(f"{'streams':>7}  {'pool fps':>9}  {'threads fps':>11}  {'pool/threads':>12}  "
          f"{'pool CPU ms/frame':>17}  {'threads CPU ms/frame':>20}")
    for row in rows:
        print(f"{row['streams']:>7}  {row['pool_fps']:>9.1f}  {row['threads_fps']:>11.1f}  "
              f"{row['ratio']:>12.2f}  {row['pool_cpu_ms']:>17.1f}  {row['threads_cpu_ms']:>20.1f}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"size": args.size, "frames": args.frames, "workers": workers, "rows": rows},
                      handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
