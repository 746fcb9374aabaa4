"""CPU of one network output against three, each with its own encoder and sharing one.

::

    python scripts/bench_outputs.py                    # 720p30 synthetic, 300 frames, 3 rounds
    python scripts/bench_outputs.py --size 640x480 --frames 150 --rounds 5

Each round runs ``edgepipe run`` (batch mode, the plain edge chain) with: no output
(``discard``, the chain alone); one output (a UDP MPEG-TS push); three outputs (HLS, a
second HLS with longer segments, the UDP push) each encoding on its own (``share:
false``); and the same three sharing one encoder (the default: outputs with the same
codec settings encode once, ffmpeg's tee).  It reads the CPU seconds (user + system) each
run used from ``getrusage(RUSAGE_CHILDREN)``; the table gives the medians and the ratios
of what the outputs cost beyond the chain.  The UDP push goes to a port on 127.0.0.1
nobody listens on (datagrams are sent all the same).
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
    for old in folder.glob("*/live*"):  # a config does not replace outputs: start clean
        old.unlink()
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
        udp = f"udp://127.0.0.1:{free_udp_port()}"

        def three(share: bool) -> list:
            return [{"hls": {"path": str(folder / "a" / "live.m3u8"), "share": share, **keys}},
                    {"hls": {"path": str(folder / "b" / "live.m3u8"), "segment": 4, "share": share, **keys}},
                    {"network": {"url": udp, "share": share, **keys}}]
        runs = {"no output (discard)": [{"discard": {}}],
                "one output": [{"network": {"url": udp, **keys}}],
                "three, an encoder each": three(False),
                "three, one encoder": three(True)}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, sinks in runs.items():
                times[name].append(cpu_seconds({**base, "sinks": sinks}, folder))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{width}x{height}, {args.frames} frames, {args.rounds} rounds, {os.cpu_count()} cores; "
          "CPU seconds (user+system), medians")
    for name, value in medians.items():
        print(f"  {name:22s} {value:7.2f} s")
    chain = medians["no output (discard)"]
    one = medians["one output"] - chain
    for name in ("three, an encoder each", "three, one encoder"):
        cost = medians[name] - chain
        print(f"  outputs' cost, {name:24s} {cost / one:.2f}x one output's" if one > 0 else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
