"""CPU of one encoded output against three (a file, HLS and a UDP push), side by side.

::

    python scripts/bench_outputs.py                    # 720p30 synthetic, 300 frames, 3 rounds
    python scripts/bench_outputs.py --size 640x480 --frames 150 --rounds 5

Each round runs ``edgepipe run`` (batch mode, the plain edge chain) once with one output
and once with three, and reads the CPU seconds (user + system) the run used from
``getrusage(RUSAGE_CHILDREN)``; the table gives the medians and the ratio.  Every output
encodes on its own today (H.264 veryfast, zerolatency), so three outputs cost about three
encodes: the figure an encode-once, send-to-many design would bring towards one.  The UDP
push goes to a port on 127.0.0.1 nobody listens on (datagrams are sent all the same).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(config: dict, folder: Path) -> float:
    """CPU seconds (user + system) one ``edgepipe run`` of ``config`` takes."""
    for old in ("one.mp4", "three.mp4"):  # a config does not replace outputs: start clean
        (folder / old).unlink(missing_ok=True)
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", str(path), "-q"], cwd=ROOT,
                          capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"bench_outputs: the run failed: {done.stderr.strip()}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    keys = {"preset": "veryfast"}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        base = {"version": 1,
                "source": {"type": "synthetic", "width": width, "height": height, "fps": 30,
                           "length": args.frames},
                "stages": ["grayscale", "gradient", "map"], "runtime": {"mode": "batch"}}
        one = [{"video": {"path": str(folder / "one.mp4"), **keys}}]
        three = [{"video": {"path": str(folder / "three.mp4"), **keys}},
                 {"hls": {"path": str(folder / "hls" / "live.m3u8"), **keys}},
                 {"network": {"url": f"udp://127.0.0.1:{free_udp_port()}", **keys}}]
        none = [{"discard": {}}]
        times: dict[str, list[float]] = {"no output (discard)": [], "one output": [], "three outputs": []}
        for _ in range(args.rounds):
            for name, sinks in zip(times, (none, one, three)):
                times[name].append(cpu_seconds({**base, "sinks": sinks}, folder))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{width}x{height}, {args.frames} frames, {args.rounds} rounds, {os.cpu_count()} cores; "
          "CPU seconds (user+system), medians")
    for name, value in medians.items():
        print(f"  {name:22s} {value:7.2f} s")
    base_cpu = medians["no output (discard)"]
    one_cost = medians["one output"] - base_cpu
    three_cost = medians["three outputs"] - base_cpu
    print(f"  three / one (whole run)        {medians['three outputs'] / medians['one output']:.2f}x")
    print(f"  three / one (outputs only)     {three_cost / one_cost:.2f}x" if one_cost > 0 else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
