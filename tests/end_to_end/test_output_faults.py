"""Outputs that go wrong: a full disk, a folder removed mid-run, a file size limit, and two
runs writing the same output at once (the video sink writes through PyAV).  Real processes (``python -m pipeline run``), real
files, a real 2 MiB tmpfs (root only; skipped where ``mount`` is not permitted).

What every case must show: exit code 1, one line ``edgepipe: error: ...`` naming the
output and the cause, no temporary file left, nothing under the final name (or, for two
runs, one complete run's output), and no lock file left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from pipeline.io.outputs import watch
from pipeline.io.base import SinkError
from pipeline.io.temporaries import lock_path, temporary_path
from pipeline.io.sinks.video import VideoSink
from pipeline.frame import Frame
from tests.harness import ROOT, decode

RUN_TIMEOUT = 60  # seconds any one run may take before the test fails
QUIET = {**os.environ, "OPENCV_LOG_LEVEL": "OFF", "OPENCV_FFMPEG_LOGLEVEL": "-8"}


# ----------------------------------------------------------------------------- helpers
def write_config(folder: Path, sink: dict, *, length: int = 300, live: bool = False,
                 stages: list | None = None, width: int = 640, height: int = 480,
                 mode: str | None = None) -> Path:
    config = {
        "version": 1,
        "source": {"type": "synthetic", "width": width, "height": height, "fps": 30,
                   "length": length, "live": live},
        "stages": stages if stages is not None else [],
        "sinks": [sink],
        "runtime": {"mode": mode or ("live" if live else "batch")},
    }
    path = folder / f"run-{os.getpid()}-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def edgepipe(config: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(config), "-q"], cwd=ROOT,
                            env=QUIET, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(process: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"edgepipe run did not end within {timeout} s")
    return process.returncode, err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("edgepipe: error:")]
    assert len(lines) == 1, err
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary and lock files anywhere under ``folder``."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*")
                  if ".part-" in p.name or p.name.endswith(".lock"))


def make_frame(index: int, rng=np.random.default_rng(0)) -> Frame:
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # noise: does not compress
    return Frame(index, time.perf_counter(), image, image)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs mounted for the test, unmounted afterwards even when the test fails."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` up to ``leave`` free bytes."""
    vfs = os.statvfs(disk)
    with open(disk / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, vfs.f_bavail * vfs.f_frsize - leave))


# ----------------------------------------------------------------------------- full disk
@pytest.mark.parametrize("name, fourcc", [("edges.mkv", "FFV1"), ("edges.avi", "MJPG"), ("edges.mp4", "mp4v")])
def test_video_on_a_full_disk(small_disk, tmp_path, name, fourcc):
    fill(small_disk, leave=256 * 1024)
    out = small_disk / "out" / name
    config = write_config(tmp_path, {"video": {"path": str(out), "fourcc": fourcc}}, length=300)
    code, err = finish(edgepipe(config))
    assert code == 1, err
    line = error_line(err)
    assert str(out) in line and "No space left on device" in line
    assert not out.exists()
    assert leftovers(small_disk) == []


def test_stats_on_a_full_disk(small_disk, tmp_path):
    fill(small_disk, leave=64 * 1024)
    out = small_disk / "s.jsonl"
    config = write_config(tmp_path, {"stats": {"path": str(out)}}, length=5000, width=64, height=48)
    code, err = finish(edgepipe(config))
    assert code == 1, err
    line = error_line(err)
    assert str(out) in line and "No space left on device" in line
    assert not out.exists()
    assert leftovers(small_disk) == []


def test_images_on_a_full_disk(small_disk, tmp_path):
    fill(small_disk, leave=256 * 1024)
    pattern = small_disk / "frames" / "f_{index:04d}.png"
    config = write_config(tmp_path, {"images": {"path": str(pattern), "png_compression": 0}}, length=100,
                          width=160, height=120)  # 57 KiB a picture: a few fit
    code, err = finish(edgepipe(config))
    assert code == 1, err
    line = error_line(err)
    assert "images sink" in line and "No space left on device" in line and str(small_disk / "frames") in line
    assert leftovers(small_disk) == []
    written = sorted((small_disk / "frames").glob("f_*.png"))
    assert 0 < len(written) < 100
    assert all(cv2.imread(str(p)) is not None for p in written)  # every named picture is whole


def test_video_disk_full_for_a_while_is_caught(small_disk, monkeypatch):
    """The disk fills and frees again between two looks of the watch: FFmpeg reports
    the failed write (through PyAV) at the next frame or at close, and the read-back
    count would catch a write that went missing without a word."""
    monkeypatch.setattr(watch, "WATCH_EVERY", 1e9)
    out = small_disk / "edges.avi"
    sink = VideoSink(str(out), fourcc="MJPG")
    sink.open(make_frame(0), 30.0, None)
    for i in range(5):
        sink.write(make_frame(i))
    fill(small_disk, leave=0)
    with pytest.raises(SinkError) as caught:
        try:
            for i in range(5, 60):
                sink.write(make_frame(i))
        finally:
            (small_disk / "filler").unlink()
        sink.close()
    sink.abort()
    message = str(caught.value)
    assert str(out) in message and ("No space left on device" in message or "of 60 frames" in message)
    assert not out.exists()
    assert leftovers(small_disk) == []


# ----------------------------------------------------------------------------- folder removed
@pytest.mark.parametrize("sink", ["video", "stats"])
def test_folder_removed_mid_run(tmp_path, sink):
    out_dir = tmp_path / "out"
    out = out_dir / ("edges.mp4" if sink == "video" else "s.jsonl")
    config = write_config(tmp_path, {sink: {"path": str(out)}}, length=0, live=True, width=160, height=120)
    process = edgepipe(config)
    try:
        deadline = time.monotonic() + 30
        while not list(out_dir.glob(f".{out.name}.part-*")):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the run never opened its output"
            time.sleep(0.05)
        time.sleep(0.3)
        shutil.rmtree(out_dir)
        removed = time.monotonic()
        code, err = finish(process, timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert code == 1, err
    assert time.monotonic() - removed < 5  # noticed by the watch, not at some end
    line = error_line(err)
    assert str(out) in line and "disappeared" in line
    assert not out.exists()
    assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- size limit
def limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes then fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("sink, name", [("video", "edges.mkv"), ("stats", "s.jsonl")])
def test_file_size_limit(tmp_path, sink, name):
    out = tmp_path / "out" / name
    settings = {"path": str(out), **({"fourcc": "FFV1"} if sink == "video" else {})}
    config = write_config(tmp_path, {sink: settings}, length=3000 if sink == "stats" else 200)
    code, err = finish(edgepipe(config, preexec_fn=limit_file_size(256 * 1024)))
    assert code == 1, err
    line = error_line(err)
    assert str(out) in line and "File too large" in line
    assert not out.exists()
    assert leftovers(tmp_path / "out") == []


# ----------------------------------------------------------------------------- two runs at once
def test_two_runs_one_output_one_wins(tmp_path):
    """Policy: lock and refuse.  The run that takes the lock writes the file; the other
    fails at once naming the winner's pid; the file is the winner's, whole."""
    out = tmp_path / "out" / "edges.avi"
    lengths = (240, 90)  # tell the runs apart by their frame counts
    # Paced at 30 fps, batch mode (nothing dropped).  The second starts once the first
    # holds the lock, and the first holds it 8 s: started together, a loaded machine could
    # start the second after the first had ended (both then won, one after the other).
    configs = [write_config(tmp_path, {"video": {"path": str(out)}}, length=n, live=True, mode="batch",
                            stages=["grayscale", {"gradient": {"kind": "sobel"}}, "map"],
                            width=320, height=240) for n in lengths]
    processes = [edgepipe(configs[0])]
    end = time.monotonic() + 120  # a hang guard
    while lock_holder(lock_path(out)) != str(processes[0].pid):
        assert processes[0].poll() is None and time.monotonic() < end, finish(processes[0])
        time.sleep(0.05)
    processes.append(edgepipe(configs[1]))
    results = [finish(p) for p in processes]
    codes = [code for code, _ in results]
    assert sorted(codes) == [0, 1], results
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    line = error_line(results[loser][1])
    assert f"another edgepipe run is writing {str(out)!r} (pid {processes[winner].pid})" in line
    assert len(decode(out)) == lengths[winner]
    assert leftovers(tmp_path / "out") == []


def lock_holder(path: Path) -> str:
    """The pid a sink wrote into the output lock at ``path`` once it held it ("" before).
    Read, not probed with flock: a probe holding it for a moment could refuse the run."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def test_a_held_lock_refuses_before_work_and_a_stale_one_does_not(tmp_path):
    out = tmp_path / "edges.avi"
    config = write_config(tmp_path, {"video": {"path": str(out)}}, length=10)
    lock = lock_path(out)
    with open(lock, "w") as handle:
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, err = finish(edgepipe(config))
        assert code == 1
        assert f"(pid {os.getpid()})" in error_line(err)
        assert not out.exists() and not temporary_path(out).exists()
    assert lock.exists()  # left by a holder that died: nobody holds it now
    code, err = finish(edgepipe(config))
    assert code == 0, err
    assert len(decode(out)) == 10
    assert leftovers(tmp_path) == []


def test_a_killed_run_does_not_block_the_next(tmp_path):
    out = tmp_path / "edges.avi"
    config = write_config(tmp_path, {"video": {"path": str(out)}}, length=0, live=True, width=160, height=120)
    process = edgepipe(config)
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: process.poll() is None and process.kill())
        deadline = time.monotonic() + 30
        while not lock_path(out).exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        process.kill()
        process.communicate()
    assert not out.exists()
    config = write_config(tmp_path, {"video": {"path": str(out)}}, length=10)
    code, err = finish(edgepipe(config))
    assert code == 0, err
    assert len(decode(out)) == 10
