"""Real receivers for the network sink tests: ffmpeg listening or calling on 127.0.0.1,
ffprobe reading back what arrived, and an ``edgepipe`` run of a paced synthetic source.
Every wait is a bounded loop (a count of short sleeps)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT

FPS = 30
STEP = 1 / FPS
QUIET = {**os.environ, "OPENCV_LOG_LEVEL": "OFF"}
needs_ffmpeg = pytest.mark.skipif(subprocess.run(["which", "ffmpeg"], capture_output=True).returncode != 0,
                                  reason="ffmpeg is not installed")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_udp_pair() -> int:
    """An even UDP port whose odd neighbour is free too (RTP sends RTCP on port + 1)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM) & ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    pytest.fail("no free pair of UDP ports")


def bound(port: int, proto: str) -> bool:
    """True when something on this machine listens on (tcp) or is bound to (udp) ``port``."""
    needle = f":{port:04X} "
    for table in (f"/proc/net/{proto}", f"/proc/net/{proto}6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if needle in fields[1] + " " and (proto == "udp" or fields[3] == "0A"):
                return True
    return False


def wait_until(condition, what: str, tries: int = 400, pause: float = 0.05) -> None:
    for _ in range(tries):
        if condition():
            return
        time.sleep(pause)
    pytest.fail(f"gave up waiting: {what}")


#: Every process started here, ended by :func:`end_all` after each test (a failed
#: assertion must not leave a receiver listening).
STARTED: list = []


def end_all() -> None:
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
        process.communicate()


def receiver(args: list, out: Path) -> subprocess.Popen:
    """ffmpeg copying what it receives into ``out`` (MPEG-TS or FLV by extension)."""
    fmt = "flv" if out.suffix == ".flv" else "mpegts"
    return started(subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args,
                             "-map", "0", "-c", "copy", "-flush_packets", "1", "-f", fmt, str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))


def started(process: subprocess.Popen) -> subprocess.Popen:
    STARTED.append(process)
    return process


def stop(process: subprocess.Popen, interrupt: bool = True, seconds: float = 20) -> str:
    """End a receiver (Ctrl+C lets ffmpeg write its trailer); its error output."""
    if interrupt and process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err


def video_times(path: Path) -> list[float]:
    """The pts (seconds) of every video packet in ``path``, in order."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, timeout=60).stdout
    return sorted(float(line.strip(",")) for line in out.split() if line.strip(",") not in ("", "N/A"))


def stream_codecs(path: Path) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                          str(path)], capture_output=True, text=True, timeout=60).stdout
    return sorted(set(out.split()))  # a playlist lists its streams per program too


def assert_paced(times: list[float], count: int) -> None:
    """``count`` frames, one every 1/30 s, as the synthetic source made them."""
    assert len(times) == count, f"{len(times)} of {count} frames arrived"
    steps = [b - a for a, b in zip(times, times[1:])]
    assert all(abs(step - STEP) < 0.002 for step in steps), steps


def config(folder: Path, sinks: list, length: int, live: bool = True, width: int = 320,
           height: int = 240) -> Path:
    data = {"version": 1,
            "source": {"type": "synthetic", "width": width, "height": height, "fps": FPS,
                       "length": length, "live": live},
            "stages": [{"grayscale": {}}, {"gradient": {}}, {"map": {}}],
            "sinks": sinks,
            # paced like a camera, but batch mode: no frame is dropped when the shared
            # machine is busy, so every frame can be counted at the receiver
            "runtime": {"mode": "batch"}}
    path = folder / f"run-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def edgepipe(path: Path) -> subprocess.Popen:
    return started(subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(path)], cwd=ROOT, env=QUIET,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))


def finish(process: subprocess.Popen, seconds: float = 90) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"edgepipe did not end within {seconds} s")
    return process.returncode, err
