"""End-to-end throughput and live latency of edgepipe, side by side with ffmpeg and OpenCV.

Throughput: the same 1080p H.264 input (made with ffmpeg from the shared tree.avi clip
scaled to 1920x1080, or from the synthetic source when it is missing) through

* ``edgepipe``: Pipeline (file -> grayscale, gradient sobel l2, map abs -> video sink,
  MPEG-4 Part 2 via OpenCV's ``mp4v``), timed in-process, and the same config through
  the ``python -m pipeline run`` command (interpreter start and imports included);
* ``ffmpeg``: ``ffmpeg -i IN -vf format=gray,sobel -c:v mpeg4 OUT``;
* ``opencv loop``: one thread: read, cvtColor, two Sobel calls, magnitude,
  convertScaleAbs, write (MPEG-4 Part 2, ``mp4v``).

Each is run ``--repeats`` times; the table shows medians and ratios to ffmpeg and to
the OpenCV loop (higher is faster).  Live latency: the synthetic 1080p30 source paced
in live mode through the same chain into the discard sink for ``--live-seconds``; p50,
p95 and max capture-to-sink latency against the 33.3 ms frame interval, and drops.

Usage::

    python scripts/bench_pipeline.py                 # 300 frames, 3 repeats, 10 s live
    python scripts/bench_pipeline.py --frames 120 --repeats 5 --live-seconds 5
    python scripts/bench_pipeline.py --json out/bench_pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.pipeline import Pipeline  # noqa: E402

SHARED_CLIP = ROOT.parent / "shared" / "data" / "tree.avi"  # beside the checkout
WIDTH, HEIGHT = 1920, 1080


def make_input(path: pathlib.Path, frames: int) -> str:
    """Write a 1080p H.264 clip of ``frames`` frames; return where it came from."""
    encode = ["-frames:v", str(frames), "-c:v", "libx264", "-preset", "medium", "-crf", "20",
              "-pix_fmt", "yuv420p", str(path)]
    if SHARED_CLIP.exists():
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-stream_loop", "-1", "-i", str(SHARED_CLIP),
                        "-vf", f"scale={WIDTH}:{HEIGHT}", *encode], check=True)
        return f"{SHARED_CLIP} looped and scaled to {WIDTH}x{HEIGHT}"
    from pipeline.io.sources.synthetic import SyntheticSource

    source = SyntheticSource(width=WIDTH, height=HEIGHT, fps=30.0, length=frames)
    source.open()
    ffmpeg = subprocess.Popen(["ffmpeg", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
                               "-s", f"{WIDTH}x{HEIGHT}", "-r", "30", "-i", "-", *encode],
                              stdin=subprocess.PIPE)
    while (frame := source.read()) is not None:
        ffmpeg.stdin.write(np.ascontiguousarray(frame).tobytes())
    ffmpeg.stdin.close()
    ffmpeg.wait()
    source.close()
    return "the synthetic source (tree.avi not found)"


def count_frames(path: pathlib.Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count


def edgepipe_config(src: pathlib.Path, out: pathlib.Path) -> dict:
    return {
        "version": 1,
        "source": {"type": "file", "path": str(src)},
        "stages": ["grayscale", {"gradient": {"kind": "sobel", "norm": "l2"}},
                   {"map": {"mode": "abs", "scale": 1.0}}],
        "sinks": [{"video": {"path": str(out), "fourcc": "mp4v"}}],
        "runtime": {"mode": "batch"},
    }


def run_edgepipe(src, out) -> float:
    pipe = Pipeline.from_dict(edgepipe_config(src, out))
    start = time.perf_counter()
    pipe.run()
    return time.perf_counter() - start


def run_edgepipe_cli(src, out, config_path) -> float:
    import yaml

    config_path.write_text(yaml.safe_dump(edgepipe_config(src, out)))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", "run", str(config_path), "-q"], cwd=ROOT,
                   check=True)
    return time.perf_counter() - start


def run_ffmpeg(src, out) -> float:
    start = time.perf_counter()
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(src), "-vf", "format=gray,sobel",
                    "-c:v", "mpeg4", str(out)], check=True)
    return time.perf_counter() - start


def run_opencv_loop(src, out) -> float:
    start = time.perf_counter()
    capture = cv2.VideoCapture(str(src))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    writer = None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        dx = cv2.Sobel(gray, cv2.CV_32F, 1, 0)
        dy = cv2.Sobel(gray, cv2.CV_32F, 0, 1)
        edges = cv2.convertScaleAbs(cv2.magnitude(dx, dy))
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                     edges.shape[::-1], False)
        writer.write(edges)
    capture.release()
    writer.release()
    return time.perf_counter() - start


def live_latency(seconds: float) -> dict:
    fps = 30.0
    pipe = Pipeline.from_dict({
        "version": 1,
        "source": {"type": "synthetic", "width": WIDTH, "height": HEIGHT, "fps": fps,
                   "length": int(seconds * fps), "live": True},
        "stages": ["grayscale", "gradient", "map"],
        "sinks": ["discard"],
        "runtime": {"mode": "live"},
    })
    summary = pipe.run()
    return {"seconds": seconds, "frame_interval_ms": 1e3 / fps, "frames_in": summary.frames_in,
            "frames_out": summary.frames_out, "dropped": summary.dropped,
            "fps": summary.fps, **{f"latency_{k}_ms": v for k, v in summary.latency_ms.items()},
            "stage_ms": summary.stage_ms}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300, help="frames in the 1080p input")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each contender (median)")
    parser.add_argument("--live-seconds", type=float, default=10.0, help="live measurement length; 0 skips")
    parser.add_argument("--input", type=pathlib.Path, help="use this clip instead of making one")
    parser.add_argument("--json", type=pathlib.Path, default=ROOT / "out" / "bench_pipeline.json")
    parser.add_argument("--no-cli", action="store_true", help="skip the `python -m pipeline run` row")
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        parser.error("ffmpeg is needed (apt-get install ffmpeg)")

    work = pathlib.Path(tempfile.mkdtemp(prefix="edgepipe-bench-"))
    try:
        src = args.input or work / "input_1080p.mp4"
        origin = str(args.input) if args.input else make_input(src, args.frames)
        frames = count_frames(src)
        print(f"input: {frames} frames of {WIDTH}x{HEIGHT} H.264 from {origin}")
        print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
              f"OpenCV {cv2.__version__}\n")
        run_edgepipe(src, work / "warmup.mp4")  # numba cache load, codec init

        contenders = {"edgepipe": lambda o: run_edgepipe(src, o),
                      "ffmpeg": lambda o: run_ffmpeg(src, o),
                      "opencv loop": lambda o: run_opencv_loop(src, o)}
        if not args.no_cli:
            contenders["edgepipe run (CLI)"] = lambda o: run_edgepipe_cli(src, o, work / "bench.yaml")
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.repeats):  # interleaved, so a noisy moment hits everyone
            for name, run in contenders.items():
                out = work / f"{name.split()[0]}.mp4"
                times[name].append(run(out))
                written = count_frames(out)
                if written != frames:
                    print(f"warning: {name} wrote {written} frames of {frames}")

        median = {name: statistics.median(ts) for name, ts in times.items()}
        rows = []
        for name, seconds in median.items():
            rows.append({"name": name, "seconds": seconds, "fps": frames / seconds,
                         "ms_per_frame": 1e3 * seconds / frames,
                         "vs_ffmpeg": median["ffmpeg"] / seconds,
                         "vs_opencv_loop": median["opencv loop"] / seconds,
                         "runs": times[name]})
        print(f"{'contender':<20} {'fps':>7} {'ms/frame':>9} {'vs ffmpeg':>10} {'vs opencv':>10}")
        for row in rows:
            print(f"{row['name']:<20} {row['fps']:7.1f} {row['ms_per_frame']:9.2f} "
                  f"{row['vs_ffmpeg']:9.2f}x {row['vs_opencv_loop']:9.2f}x")
        print(f"(median of {args.repeats}; targets: edgepipe >= 1.0x ffmpeg and >= 1.3x opencv loop)")

        live = None
        if args.live_seconds > 0:
            live = live_latency(args.live_seconds)
            print(f"\nlive 1080p30 synthetic, {live['seconds']:.0f} s: "
                  f"p50 {live['latency_p50_ms']:.1f} ms, p95 {live['latency_p95_ms']:.1f} ms, "
                  f"max {live['latency_max_ms']:.1f} ms (frame interval "
                  f"{live['frame_interval_ms']:.1f} ms); {live['frames_out']} out of "
                  f"{live['frames_in']}, {live['dropped']} dropped")

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"input": {"frames": frames, "origin": origin,
                                                   "size": [WIDTH, HEIGHT]},
                                         "cpus": os.cpu_count(), "repeats": args.repeats,
                                         "throughput": rows, "live": live}, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
