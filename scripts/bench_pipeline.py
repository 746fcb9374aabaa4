"""End-to-end throughput and live latency of edgepipe, side by side with ffmpeg and OpenCV.

Throughput: the same 1080p H.264 input (made with ffmpeg from samples/tree.avi looped and
scaled to 1920x1080, or from the synthetic source when it is missing; 795 frames, the
issue's length, so start-up weighs as much as there), two cases:

* **H.264** (``libx264 -preset veryfast -crf 23``, yuv420p):
  ``edgepipe`` (Pipeline: file -> grayscale, gradient sobel l2, map abs -> video sink
  ``codec: h264, preset: veryfast, crf: 23``, timed in-process), the same config through
  ``python -m pipeline run`` (interpreter start and imports included), and
  ``ffmpeg -i IN -vf format=gray,sobel -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p OUT``;
* **MPEG-4 Part 2** at ffmpeg's default 200 kb/s: edgepipe (``codec: mpeg4, bitrate: 200k``),
  ``ffmpeg -i IN -vf format=gray,sobel -c:v mpeg4 OUT``, and the ``opencv loop`` (one
  thread: read, cvtColor, two Sobel calls, magnitude, convertScaleAbs, ``mp4v`` writer).

Beside them, the floors: decoding the input alone (``ffmpeg -i IN -f null -``, and PyAV
threaded to BGR as the file source does) and encoding edge frames alone (50 of edgepipe's
edge frames cycled to the input's length, fed raw to ffmpeg through a pipe, and to the
video sink without source or stages).  The encode floors' frames repeat every 50, so their
bytes are not comparable; their speed is.  Each is run ``--repeats``
times, interleaved; the table shows medians of wall time and of CPU time (user + sys of
this process and its children: a busy machine stretches wall time, much less CPU time),
output bytes and ratios to ffmpeg (higher is faster).  The H.264 rows also say whether
x264 ran with the same settings as under ffmpeg (x264 writes them into the stream).  Live latency: the synthetic 1080p30 source paced
in live mode through the same chain into the discard sink for ``--live-seconds``; p50,
p95 and max capture-to-sink latency against the 33.3 ms frame interval, and drops.

Usage::

    python scripts/bench_pipeline.py                 # 795 frames, 3 repeats, 10 s live
    python scripts/bench_pipeline.py --frames 120 --repeats 5 --live-seconds 5
    python scripts/bench_pipeline.py --cases h264 --live-seconds 0
    python scripts/bench_pipeline.py --json out/bench_pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import re
import resource
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

SAMPLE_CLIP = ROOT / "samples" / "tree.avi"  # the OpenCV sample clip, committed
WIDTH, HEIGHT = 1920, 1080


def make_input(path: pathlib.Path, frames: int) -> str:
    """Write a 1080p H.264 clip of ``frames`` frames; return where it came from."""
    encode = ["-frames:v", str(frames), "-c:v", "libx264", "-preset", "medium", "-crf", "20",
              "-pix_fmt", "yuv420p", str(path)]
    if SAMPLE_CLIP.exists():
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-stream_loop", "-1", "-i", str(SAMPLE_CLIP),
                        "-vf", f"scale={WIDTH}:{HEIGHT}", *encode], check=True)
        return f"{SAMPLE_CLIP} looped and scaled to {WIDTH}x{HEIGHT}"
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


#: The video sink's settings and ffmpeg's encoder arguments of each case.
CASES = {
    "h264": ({"codec": "h264", "preset": "veryfast", "crf": 23, "audio": "none"},
             ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]),
    "mpeg4": ({"codec": "mpeg4", "bitrate": "200k", "audio": "none"}, ["-c:v", "mpeg4"]),
}


def edgepipe_config(src: pathlib.Path, out: pathlib.Path, case: str = "h264") -> dict:
    return {
        "version": 1,
        "source": {"type": "file", "path": str(src)},
        "stages": ["grayscale", {"gradient": {"kind": "sobel", "norm": "l2"}},
                   {"map": {"mode": "abs", "scale": 1.0}}],
        "sinks": [{"video": {"path": str(out), **CASES[case][0]}}],
        "runtime": {"mode": "batch"},
    }


def cpu_seconds() -> float:
    """User + sys seconds of this process and its waited-for children so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def x264_options(path: pathlib.Path) -> str | None:
    """The settings x264 wrote into ``path`` (its SEI), or None (not x264)."""
    found = re.search(rb"x264 - core .*? options: ([^\x00]+)", path.read_bytes())
    return found.group(1).decode(errors="replace") if found else None


def run_edgepipe(src, out, case="h264") -> float:
    pipe = Pipeline.from_dict(edgepipe_config(src, out, case))
    start = time.perf_counter()
    pipe.run()
    return time.perf_counter() - start


def run_edgepipe_cli(src, out, config_path, case="h264") -> float:
    import yaml

    config_path.write_text(yaml.safe_dump(edgepipe_config(src, out, case)))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", "run", str(config_path), "-q"], cwd=ROOT,
                   check=True)
    return time.perf_counter() - start


def run_ffmpeg(src, out, case="h264") -> float:
    start = time.perf_counter()
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(src), "-vf", "format=gray,sobel",
                    *CASES[case][1], str(out)], check=True)
    return time.perf_counter() - start


def run_decode_floor(src) -> float:
    """Decoding the input alone (ffmpeg, its default threads), nothing written."""
    start = time.perf_counter()
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(src), "-f", "null", "-"], check=True)
    return time.perf_counter() - start


def run_pyav_decode_floor(src) -> float:
    """Decoding the input alone as edgepipe's file source does: PyAV, threaded, to BGR."""
    import av

    start = time.perf_counter()
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="bgr24")
    return time.perf_counter() - start


def edge_frames(edges: pathlib.Path, keep: int = 50) -> list[np.ndarray]:
    """The first ``keep`` edge frames of the lossless copy (cycled by the encode floors)."""
    import av

    with av.open(str(edges)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="gray"))
            if len(frames) == keep:
                break
    return frames


def run_ffmpeg_encode_floor(frames: list[np.ndarray], count: int, out, case) -> float:
    """ffmpeg encoding edge frames alone: raw grey frames through a pipe, nothing decoded."""
    height, width = frames[0].shape
    start = time.perf_counter()
    ffmpeg = subprocess.Popen(["ffmpeg", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "gray",
                               "-s", f"{width}x{height}", "-r", "25", "-i", "-", *CASES[case][1], str(out)],
                              stdin=subprocess.PIPE)
    for index in range(count):
        ffmpeg.stdin.write(frames[index % len(frames)].data)
    ffmpeg.stdin.close()
    if ffmpeg.wait() != 0:
        raise RuntimeError("ffmpeg failed in the encode floor")
    return time.perf_counter() - start


def run_writer_encode_floor(frames: list[np.ndarray], count: int, out, case) -> float:
    """edgepipe's video sink encoding edge frames alone (no source, no stages)."""
    from pipeline.frame import Frame
    from pipeline.io.sinks.video import VideoSink

    sink = VideoSink(str(out), **CASES[case][0])
    start = time.perf_counter()
    for index in range(count):
        image = frames[index % len(frames)]
        frame = Frame(index, time.perf_counter(), image, image, pts=index / 25)
        if index == 0:
            sink.open(frame, 25.0, None)
        sink.write(frame)
    sink.close()
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
    parser.add_argument("--frames", type=int, default=795, help="frames in the 1080p input")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each contender (median)")
    parser.add_argument("--live-seconds", type=float, default=10.0, help="live measurement length; 0 skips")
    parser.add_argument("--input", type=pathlib.Path, help="use this clip instead of making one")
    parser.add_argument("--json", type=pathlib.Path, default=ROOT / "out" / "bench_pipeline.json")
    parser.add_argument("--no-cli", action="store_true", help="skip the `python -m pipeline run` row")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES),
                        help="codecs to run (default: all)")
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        parser.error("ffmpeg is needed (apt-get install ffmpeg)")

    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    work = pathlib.Path(tempfile.mkdtemp(prefix="edgepipe-bench-"))
    try:
        src = args.input or work / "input_1080p.mp4"
        origin = str(args.input) if args.input else make_input(src, args.frames)
        frames = count_frames(src)
        print(f"input: {frames} frames of {WIDTH}x{HEIGHT} H.264 from {origin}")
        import av  # noqa: PLC0415  (only for the versions line)
        print(f"PyAV {av.__version__}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}; "
              f"ffmpeg {subprocess.run(['ffmpeg', '-version'], capture_output=True, text=True).stdout.split()[2]}")
        print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
              f"OpenCV {cv2.__version__}\n")
        run_edgepipe(src, work / "warmup.mp4")  # numba cache load, codec init
        edges = work / "edges_ffv1.mkv"  # the edge frames, for the encode-only floors
        Pipeline.from_dict({**edgepipe_config(src, edges), "sinks": [{"video": {"path": str(edges),
                                                                              "codec": "ffv1"}}]}).run()
        cycled = edge_frames(edges)

        contenders: dict[str, tuple] = {}
        for case in args.cases:
            contenders[f"{case} edgepipe"] = (case, lambda o, c=case: run_edgepipe(src, o, c))
            if not args.no_cli:
                contenders[f"{case} edgepipe run (CLI)"] = (
                    case, lambda o, c=case: run_edgepipe_cli(src, o, work / "bench.yaml", c))
            contenders[f"{case} ffmpeg"] = (case, lambda o, c=case: run_ffmpeg(src, o, c))
            if case == "mpeg4":
                contenders["mpeg4 opencv loop"] = (case, lambda o: run_opencv_loop(src, o))
            contenders[f"{case} floor: ffmpeg encode only"] = (
                case, lambda o, c=case: run_ffmpeg_encode_floor(cycled, frames, o, c))
            contenders[f"{case} floor: sink encode only"] = (
                case, lambda o, c=case: run_writer_encode_floor(cycled, frames, o, c))
        contenders["floor: ffmpeg decode only"] = (None, lambda o: run_decode_floor(src))
        contenders["floor: PyAV decode to BGR"] = (None, lambda o: run_pyav_decode_floor(src))
        times: dict[str, list[float]] = {name: [] for name in contenders}
        cpu: dict[str, list[float]] = {name: [] for name in contenders}
        sizes: dict[str, int | None] = {name: None for name in contenders}
        options: dict[str, str | None] = {}
        for _ in range(args.repeats):  # interleaved, so a noisy moment hits everyone
            for name, (case, run) in contenders.items():
                out = work / (name.replace(" ", "_").replace(":", "").replace("(", "").replace(")", "") + ".mp4")
                before = cpu_seconds()
                times[name].append(run(out))
                cpu[name].append(cpu_seconds() - before)
                if out.exists():
                    sizes[name] = out.stat().st_size
                    options[name] = x264_options(out)
                    written = count_frames(out)
                    if written != frames:
                        print(f"warning: {name} wrote {written} frames of {frames}")

        median = {name: statistics.median(ts) for name, ts in times.items()}
        rows = []
        for name, seconds in median.items():
            case = contenders[name][0]
            reference = median.get(f"{case} ffmpeg")
            rows.append({"name": name, "case": case, "seconds": seconds, "fps": frames / seconds,
                         "ms_per_frame": 1e3 * seconds / frames, "bytes": sizes[name],
                         "cpu_ms_per_frame": 1e3 * statistics.median(cpu[name]) / frames,
                         "vs_ffmpeg": reference / seconds if reference else None,
                         "bytes_vs_ffmpeg": (sizes[name] / sizes[f"{case} ffmpeg"]
                                             if case and sizes[name] and sizes.get(f"{case} ffmpeg") else None),
                         "runs": times[name], "cpu_runs": cpu[name]})
        print(f"{'contender':<36} {'fps':>7} {'ms/frame':>9} {'cpu ms/f':>9} {'vs ffmpeg':>10} {'bytes':>11} "
              f"{'bytes/ffmpeg':>13}")
        for row in rows:
            ratio = f"{row['vs_ffmpeg']:9.2f}x" if row["vs_ffmpeg"] else f"{'':>10}"
            size = f"{row['bytes']:11d}" if row["bytes"] else f"{'':>11}"
            size_ratio = f"{row['bytes_vs_ffmpeg']:12.2f}x" if row["bytes_vs_ffmpeg"] else ""
            print(f"{row['name']:<36} {row['fps']:7.1f} {row['ms_per_frame']:9.2f} {row['cpu_ms_per_frame']:9.2f} "
                  f"{ratio} {size} {size_ratio}")
        print(f"(median of {args.repeats}; targets on two cores: edgepipe >= 1.15x ffmpeg on h264, "
              ">= 1.2x on mpeg4)")
        reference = (options.get("h264 ffmpeg") or "").split()
        for name in (n for n in options if n.startswith("h264") and n != "h264 ffmpeg" and options[n]):
            # keyint_min is min(keyint / 10, fps): the floors' input runs at 25 fps
            differ = [item for item in options[name].split() if item not in reference]
            print(f"x264 settings of {name}: " + (f"ffmpeg's but {' '.join(differ)}" if differ else "ffmpeg's"))

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
                                         "throughput": rows, "live": live,
                                         "x264_options": options}, indent=2) + "\n")
        print(f"\nwrote {args.json}")
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
