"""Thread caps of batch workers: x264 in every worker uses no more threads than asked.

A real pool worker (spawned, capped by ``prepare_process``) writes an H.264 clip with the
video sink; x264 writes the settings it ran with into the stream (an SEI message), so the
file itself says how many threads encoded it.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np

from pipeline.batch.executors import LocalPool


def x264_settings(path: Path) -> dict[str, str]:
    """``threads=2 ... lookahead_threads=1 ...`` from x264's SEI in ``path``, as a dict."""
    text = Path(path).read_bytes()
    found = re.search(rb"x264 - core .*? options: ([^\x00]+)", text)
    assert found, f"no x264 settings in {path}"
    return dict(item.split("=", 1) for item in found.group(1).decode().split() if "=" in item)


def write_h264(payload: dict) -> dict:
    """Runs in a pool worker: a 1080p H.264 clip of grey ramps (x264 picks threads by size)."""
    from pipeline.frame import Frame
    from pipeline.io.sinks.video import VideoSink

    sink = VideoSink(payload["path"], codec="h264", preset="ultrafast", audio="none")
    for index in range(3):
        image = np.full((1080, 1920), 40 * index, np.uint8)
        frame = Frame(index, time.perf_counter(), image, image, pts=index / 25)
        if index == 0:
            sink.open(frame, 25.0, None)
        sink.write(frame)
    sink.close()
    return {"env": os.environ.get("EDGEPIPE_ENCODE_THREADS"), **x264_settings(Path(payload["path"]))}


def run_in_worker(path: Path, threads: int) -> dict:
    pool = LocalPool(workers=1, threads=threads, retries=0)
    try:
        ticket = pool.submit(write_h264, {"path": str(path)})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for done, ok, value in pool.poll(0.2):
                assert done == ticket and ok, value
                return value
        raise AssertionError("the pool worker did not answer within 120 s")
    finally:
        pool.close()


def test_batch_workers_cap_the_encoders_threads(tmp_path):
    settings = run_in_worker(tmp_path / "capped.mp4", threads=1)
    assert settings["env"] == "1"
    assert settings["threads"] == "1" and settings["lookahead_threads"] == "1"
    assert settings["sliced_threads"] == "0"


def test_outside_batch_x264_picks_its_threads_as_under_ffmpeg(tmp_path, monkeypatch):
    """No cap: FFmpeg's defaults, frame threads, 1.5 per core as the ffmpeg program gets."""
    monkeypatch.delenv("EDGEPIPE_ENCODE_THREADS", raising=False)
    settings = write_h264({"path": str(tmp_path / "free.mp4")})
    assert settings["sliced_threads"] == "0"
    cores = len(os.sched_getaffinity(0))
    assert int(settings["threads"]) == max(1, cores * 3 // 2)
