"""Batch throughput: the local pool at 1 and 2 workers, and Dask at 2 workers, side by side.

::

    python scripts/bench_batch.py                      # 12 clips from tree.avi, 640x480
    python scripts/bench_batch.py --clips 24 --size 1280x720 --json out/bench_batch.json

The clips are made once from ``samples/tree.avi`` (real footage shipped with the
checkout, scaled and looped to ``--frames`` frames).  Each configuration
runs the same job with ``--force`` into its own folder; wall time includes starting the
workers, as a user would see it.  Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pipeline.batch.jobs import job_from_dict
from pipeline.config.batch import available_cores
from pipeline.batch.runner import run_job

TREE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "tree.avi")
STAGES = ["grayscale", {"gradient": {"kind": "sobel", "norm": "l2"}}, {"map": {"mode": "abs"}}]


def source_frames(size: tuple[int, int], frames: int) -> list[np.ndarray]:
    """``frames`` frames of samples/tree.avi scaled to ``size`` (looped)."""
    images = []
    capture = cv2.VideoCapture(TREE)
    while True:
        ok, image = capture.read()
        if not ok:
            break
        images.append(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
    capture.release()
    if not images:
        raise SystemExit(f"bench_batch: cannot read the sample clip {TREE}; "
                         f"it ships in samples/ (see samples/README.md)")
    # forwards then backwards, so the loop has no jump
    cycle = images + images[-2:0:-1]
    return [cycle[i % len(cycle)] for i in range(frames)]


def make_clips(folder: str, count: int, size: tuple[int, int], frames: int) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    images = source_frames(size, frames)
    paths = []
    for index in range(count):
        path = os.path.join(folder, f"clip{index:03d}.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 15.0, size)
        shift = index * 7  # each clip starts elsewhere in the loop
        for i in range(frames):
            writer.write(images[(i + shift) % len(images)])
        writer.release()
        paths.append(path)
    return paths


def run(clips_dir: str, out_dir: str, executor: dict) -> dict:
    job = job_from_dict({"version": 1, "inputs": {"glob": os.path.join(clips_dir, "*.mp4")},
                         "output": {"dir": out_dir}, "stages": STAGES, "executor": executor})
    started = time.perf_counter()
    summary = run_job(job, force=True)
    wall = time.perf_counter() - started
    if summary.failed:
        raise SystemExit(f"benchmark run failed: {summary.failed[0]['error']}")
    busy = [r["seconds"] for r in summary.records if r["status"] == "done"]
    # steady state: what each worker does once started (files per worker-second)
    per_worker_file_seconds = sum(busy) / len(busy)
    return {
        "executor": executor["type"], "workers": job.workers, "threads_per_worker": job.threads,
        "files": summary.count("done"), "frames": summary.frames_processed, "seconds": wall,
        "files_per_minute": 60 * summary.count("done") / wall, "fps": summary.frames_processed / wall,
        "mean_seconds_per_file_in_worker": per_worker_file_seconds,
        "steady_files_per_hour": 3600 * job.workers / per_worker_file_seconds,
        "description": summary.executor,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12, help="number of clips (default 12)")
    parser.add_argument("--frames", type=int, default=120, help="frames per clip (default 120)")
    parser.add_argument("--size", default="640x480", help="clip size WxH (default 640x480)")
    parser.add_argument("--json", default="out/bench_batch.json", help="where to write results")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask run")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    work = tempfile.mkdtemp(prefix="bench-batch-")
    try:
        clips_dir = os.path.join(work, "clips")
        make_clips(clips_dir, args.clips, size, args.frames)
        configs = [{"type": "local", "workers": 1}, {"type": "local", "workers": 2}]
        if not args.no_dask:
            configs.append({"type": "dask", "workers": 2})
        results = []
        for number, executor in enumerate(configs):
            results.append(run(clips_dir, os.path.join(work, f"out{number}"), executor))
            print(f"  {results[-1]['description']}: {results[-1]['seconds']:.1f} s", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    header = f"{'executor':<8} {'workers':>7} {'files':>5} {'frames':>7} {'seconds':>8} {'files/min':>9} {'fps':>7} {'s/file in worker':>16} {'steady files/h':>14}"
    print(f"{args.clips} clips x {args.frames} frames, {size[0]}x{size[1]} mp4v -> sobel edges mp4v; "
          f"{available_cores()} cores")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['executor']:<8} {r['workers']:>7} {r['files']:>5} {r['frames']:>7} {r['seconds']:>8.2f} "
              f"{r['files_per_minute']:>9.1f} {r['fps']:>7.1f} {r['mean_seconds_per_file_in_worker']:>16.3f} {r['steady_files_per_hour']:>14.0f}")
    report = {"clips": args.clips, "frames_per_clip": args.frames, "size": list(size),
              "cores": available_cores(), "machine": platform.platform(),
              "python": platform.python_version(), "opencv": cv2.__version__, "results": results}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
