"""Time to the first frame written, and to the end, cold and warm, beside ffmpeg and OpenCV.

Two jobs, each a fresh process per run:

* **demo**: ``configs/demo.yaml`` (synthetic 640x480, 150 frames, grayscale, gradient,
  map, ``threshold: auto``, overlay) without its ``hud`` (the hud prints the live frame
  rate, so no two runs would have the same bytes), into a lossless FFV1 file;
* **1080p file**: a 1920x1080 H.264 file (``--frames`` frames of ffmpeg's testsrc2,
  made once) through grayscale, gradient (sobel, l2), map (abs), threshold 60, into
  a lossless grey FFV1 file.

edgepipe runs each job with a ``stats`` sink on standard output beside its video sink:
the first frame is written when its first line arrives (the sink flushes each line as
its frame passes).  Three edgepipe starts: **cold** (an empty ``NUMBA_CACHE_DIR``:
frames go through OpenCV while a child process compiles the kernels), **cold, waits**
(``EDGEPIPE_OPENCV_TIER=0``: compile, then the first frame, as every cold start did
before tiers) and **warm** (a cache filled by ``edgepipe warmup``).  A cold run's child
goes on after the run to fill the cache; the next run starts once it has exited (found
by its ``NUMBA_CACHE_DIR`` under ``/proc``).  The
peers write the same job's edges to a file and one line per frame on standard output:
``ffmpeg -vf format=gray,sobel`` through the tee muxer (the file and ``framemd5``), and
an OpenCV loop (``cvtColor``, two ``Sobel``, ``magnitude``, ``convertScaleAbs``,
``threshold``; ``VideoWriter`` FFV1).  The demo's peers make the same number of
640x480 frames of a moving pattern (ffmpeg's testsrc2; numpy in the OpenCV loop).

Python's own cache counts as part of an install: pip compiles every module to bytecode
when it installs the package, so the edgepipe children run with edgepipe's modules
compiled once beforehand (``compileall`` into the checkout's ``__pycache__`` folders,
which git ignores), even where ``PYTHONDONTWRITEBYTECODE`` is set (it is on the
project's machines, where it made every start compile edgepipe's ~150 modules from
source: about 110-150 ms of CPU).  ``--no-bytecode-cache`` measures that way instead.

Every contender runs ``--runs`` times, in a shuffled order each round; the table shows
medians.  ``--terminal`` gives every run a pseudo-terminal as stderr, as a shell does
(edgepipe then draws its progress bar; without one it draws none).  Then the outputs of
the last cold, cold-waits and warm runs are compared
frame by frame with ``ffmpeg -f framemd5``: they must be identical.  The machine's
load average is printed before and after.

Usage::

    python scripts/bench_startup.py                  # 3 runs, 60 frames at 1080p
    python scripts/bench_startup.py --runs 5 --frames 120 --jobs file
    python scripts/bench_startup.py --contenders "edgepipe warm" ffmpeg --no-bytecode-cache
    python scripts/bench_startup.py --terminal      # stderr a terminal: the progress bar drawn
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import random
import statistics
import subprocess
import sys
import struct
import tempfile
import termios
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONTENDERS = ("edgepipe cold", "edgepipe cold, waits", "edgepipe warm", "ffmpeg", "opencv loop")

OPENCV_LOOP = r"""
import sys, time
import cv2, numpy as np
source, output, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
capture = cv2.VideoCapture(source) if source != "pattern" else None
writer = None
for index in range(frames):
    if capture is not None:
        ok, image = capture.read()
        if not ok:
            break
    else:
        x = np.arange(640, dtype=np.int32)[None, :] + 4 * index
        y = np.arange(480, dtype=np.int32)[:, None]
        image = np.dstack([(x ^ y) & 255, (x + y) & 255, (x * 3 + 0 * y) & 255]).astype(np.uint8)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    dx = cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=3)
    dy = cv2.Sobel(grey, cv2.CV_16S, 0, 1, ksize=3)
    m = cv2.convertScaleAbs(cv2.magnitude(dx.astype(np.float32), dy.astype(np.float32)))
    edges = cv2.threshold(m, 60, 255, cv2.THRESH_BINARY)[1]
    if writer is None:
        writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*"FFV1"), 30,
                                 (edges.shape[1], edges.shape[0]), False)
    writer.write(edges)
    print(index, flush=True)
writer.release()
"""


def make_input(folder: Path, frames: int) -> Path:
    path = folder / "input-1080p.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=1920x1080:rate=30:duration={frames / 30}",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def edgepipe_config(job: str, source: Path, output: Path, frames: int) -> dict:
    sinks = [{"video": {"path": str(output), "codec": "ffv1"}}, {"stats": {"path": "-"}}]
    if job == "demo":
        config = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
        config["stages"] = [s for s in config["stages"] if s != "hud" and "hud" not in s]
        config["sinks"] = sinks
        return config
    return {"version": 1, "source": {"type": "file", "path": str(source)},
            "stages": ["grayscale", {"gradient": {"kind": "sobel", "norm": "l2"}},
                       {"map": {"mode": "abs"}}, {"threshold": {"value": 60}}],
            "sinks": sinks, "runtime": {"mode": "batch"}}


def python_environment(bytecode_cache: bool = True) -> dict:
    """The environment of the Python children: edgepipe's modules compiled to bytecode once
    (see :func:`compile_bytecode`), as an installed package has them, unless not asked."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def compile_bytecode() -> None:
    """Compile edgepipe's modules as ``pip install`` does (into ``__pycache__`` folders)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "pipeline")],
                   env=python_environment(), check=True, stdout=subprocess.DEVNULL)


def command(contender: str, job: str, folder: Path, source: Path, output: Path,
            frames: int, bytecode_cache: bool = True,
            warm_cache: Path | None = None) -> tuple[list[str], dict]:
    env = python_environment(bytecode_cache)
    if contender.startswith("edgepipe"):
        config = folder / f"{output.stem}.yaml"
        config.write_text(yaml.safe_dump(edgepipe_config(job, source, output, frames)))
        if contender == "edgepipe warm":
            env["NUMBA_CACHE_DIR"] = str(warm_cache or folder / "warm-cache")
        else:
            env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="cold-cache-", dir=folder)
        if contender == "edgepipe cold, waits":
            env["EDGEPIPE_OPENCV_TIER"] = "0"
        return [sys.executable, "-m", "pipeline", "run", str(config)], env
    if contender == "ffmpeg":
        if job == "demo":
            inputs = ["-f", "lavfi", "-i", f"testsrc2=size=640x480:rate=30:duration={150 / 30}"]
        else:
            inputs = ["-i", str(source)]
        return (["ffmpeg", "-v", "error", "-y", *inputs, "-vf", "format=gray,sobel",
                 "-c:v", "ffv1", "-f", "tee", "-map", "0:v",
                 f"[f=matroska]{output}|[f=framemd5]pipe\\:1"], env)
    count = 150 if job == "demo" else frames
    return ([sys.executable, "-c", OPENCV_LOOP, "pattern" if job == "demo" else str(source),
             str(output), str(count)], env)


def terminal() -> tuple[int, int]:
    """A pseudo-terminal of 120 columns, as a user's shell gives: (parent's end, child's end)."""
    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    return parent, child


def drain(fd: int) -> None:
    """Read ``fd`` until the child's end closes, on a thread of its own, then close it."""
    def loop() -> None:
        try:
            while os.read(fd, 65536):
                pass
        except OSError:  # EIO once the child's end is closed
            pass
        os.close(fd)
    threading.Thread(target=loop, daemon=True).start()


def time_run(argv: list[str], env: dict, on_terminal: bool = False) -> tuple[float, float]:
    """(seconds to the first line on stdout, seconds to the exit); waits for the children.
    ``on_terminal``: stderr is a pseudo-terminal (edgepipe draws its progress bar)."""
    parent, stderr = terminal() if on_terminal else (None, subprocess.DEVNULL)
    began = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                               stderr=stderr, start_new_session=True, cwd=ROOT)
    if parent is not None:
        os.close(stderr)
        drain(parent)
    first = None
    for line in process.stdout:
        if first is None and not line.startswith(b"#"):
            first = time.perf_counter() - began
    if process.wait() != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(argv)}")
    end = time.perf_counter() - began
    wait_for_compilers(env.get("NUMBA_CACHE_DIR"))
    return first, end


def compilers(cache: str) -> list[int]:
    """The processes compiling kernels into ``cache`` (a cold run's child goes on after the
    run in a session of its own, so its process group is not the run's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            if b"pipeline.stages.tiers" not in command:
                continue
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if f"NUMBA_CACHE_DIR={cache}".encode() in environment:
            found.append(int(entry.name))
    return found


def wait_for_compilers(cache: str | None, settle: float = 2.0) -> None:
    """Wait until no process compiles into ``cache``, so the next run meets a quiet machine;
    ``settle`` seconds first, for a child the run started as it ended to show up."""
    if not cache or not Path("/proc").is_dir():
        return
    deadline = time.perf_counter() + settle
    while compilers(cache) or time.perf_counter() < deadline:
        time.sleep(0.2)


def framemd5(path: Path) -> list[str]:
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "framemd5", "-"],
                          capture_output=True, text=True, check=True)
    return [line for line in done.stdout.splitlines() if not line.startswith("#")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=60, help="frames of the 1080p file")
    parser.add_argument("--jobs", nargs="+", default=["demo", "file"], choices=["demo", "file"])
    parser.add_argument("--warm-cache", type=Path, metavar="DIR",
                        help="the warm runs' NUMBA_CACHE_DIR, already warm for the jobs (kept, "
                             "no edgepipe warmup); default a new one filled by edgepipe warmup")
    parser.add_argument("--no-bytecode-cache", dest="bytecode_cache", action="store_false",
                        help="edgepipe's modules compiled from source at every start")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS,
                        metavar="NAME", help=f"a part of {', '.join(CONTENDERS)}")
    parser.add_argument("--terminal", action="store_true",
                        help="stderr on a pseudo-terminal, as in a shell (edgepipe draws its "
                             "progress bar); default /dev/null")
    args = parser.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores; edgepipe's bytecode "
          f"{'compiled beforehand' if args.bytecode_cache else 'compiled at every start'}; "
          f"stderr {'a terminal' if args.terminal else '/dev/null'}")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as temp:
        folder = Path(temp)
        source = make_input(folder, args.frames)
        if args.bytecode_cache:
            compile_bytecode()
        warm_cache = args.warm_cache or folder / "warm-cache"
        env = dict(python_environment(args.bytecode_cache), NUMBA_CACHE_DIR=str(warm_cache))
        if args.warm_cache is None:
            subprocess.run([sys.executable, "-m", "pipeline", "warmup"], env=env, check=True,
                           capture_output=True)
        times = {(job, c): [] for job in args.jobs for c in args.contenders}
        last = {}
        order = random.Random(0)
        for run in range(args.runs):
            for job, contender in order.sample(list(times), len(times)):
                ext = ".mkv"
                output = folder / f"{job}-{contender.replace(' ', '-').replace(',', '')}-{run}{ext}"
                argv, env = command(contender, job, folder, source, output, args.frames,
                                    args.bytecode_cache, warm_cache)
                times[job, contender].append(time_run(argv, env, args.terminal))
                last[job, contender] = output
                print(f"  run {run + 1}/{args.runs} {job:5} {contender:22} first frame "
                      f"{times[job, contender][-1][0]:6.2f} s, end {times[job, contender][-1][1]:6.2f} s",
                      flush=True)
        print()
        print("| job | contender | first frame written (s) | end (s) | runs |")
        print("| --- | --- | ---: | ---: | ---: |")
        for (job, contender), rows in times.items():
            first = statistics.median(r[0] for r in rows)
            end = statistics.median(r[1] for r in rows)
            print(f"| {job} | {contender} | {first:.2f} | {end:.2f} | {len(rows)} |")
        print()
        for job in args.jobs:
            sums = {c: framemd5(last[job, c]) for c in args.contenders if c.startswith("edgepipe")}
            if len(sums) < 2:
                continue
            same = len({tuple(s) for s in sums.values()}) == 1
            frames = len(next(iter(sums.values())))
            print(f"{job}: {', '.join(c.removeprefix('edgepipe ') for c in sums)} outputs "
                  f"{'identical' if same else 'DIFFER'} frame by frame (framemd5 of {frames} "
                  "FFV1 frames)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
