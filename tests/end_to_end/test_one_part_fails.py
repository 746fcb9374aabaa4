"""One part of a run fails, the rest is kept: a sink on a full disk (a real 1 MiB tmpfs)
or whose folder is removed costs that sink alone; the other sinks finish and keep their
outputs, the summary names what failed and counts frames per sink, the run exits 1."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.end_to_end.test_output_faults import (QUIET, ROOT, error_line, fill, finish,
                                                 leftovers, small_disk, write_config)  # noqa: F401
from tests.harness import decode

FRAMES = 60


def three_sinks(tmp_path: Path, pictures: Path, *, length: int = FRAMES, live: bool = False) -> Path:
    config = write_config(tmp_path, {"video": {"path": str(tmp_path / "out" / "edges.mkv"),
                                               "fourcc": "FFV1"}},
                          length=length, live=live, width=160, height=120)
    data = yaml.safe_load(config.read_text())
    data["sinks"] += [{"stats": {"path": str(tmp_path / "out" / "s.jsonl")}},
                      {"images": {"path": str(pictures / "f_{index:04d}.png"), "png_compression": 0}}]
    config.write_text(yaml.safe_dump(data))
    return config


def run_verbose(config: Path) -> subprocess.Popen:
    """``edgepipe run`` with its summary (the summary is what these tests read)."""
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(config)], cwd=ROOT, env=QUIET,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_full_disk_under_one_sink_keeps_the_others(small_disk, tmp_path):
    fill(small_disk, leave=1024 * 1024)  # 57 KiB a picture: some fit, not 60
    pictures = small_disk / "frames"
    code, err = finish(run_verbose(three_sinks(tmp_path, pictures)))
    assert code == 1, err
    line = error_line(err)
    assert "images sink" in line and "No space left on device" in line
    video, stats = tmp_path / "out" / "edges.mkv", tmp_path / "out" / "s.jsonl"
    assert len(decode(video)) == FRAMES
    assert len([json.loads(row) for row in stats.read_text().splitlines()]) == FRAMES
    assert f"video {FRAMES}  stats {FRAMES}  images " in err and " FAILED" in err
    assert "failed   images: " in err and "kept: video, stats" in err
    assert f"out {FRAMES}" in err
    assert leftovers(tmp_path / "out") == [] and leftovers(small_disk) == []
    written = sorted(pictures.glob("f_*.png"))
    assert 0 < len(written) < FRAMES


def test_a_folder_removed_under_one_sink_keeps_the_others(tmp_path):
    pictures = tmp_path / "frames"
    process = run_verbose(three_sinks(tmp_path, pictures, length=0, live=True))
    try:
        deadline = time.monotonic() + 30
        while len(list(pictures.glob("f_*.png"))) < 3:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the run never wrote a picture"
            time.sleep(0.05)
        shutil.rmtree(pictures)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        code, err = finish(process, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert code == 1, err
    assert "images sink" in error_line(err)
    video, stats = tmp_path / "out" / "edges.mkv", tmp_path / "out" / "s.jsonl"
    written = len(decode(video))
    assert written > 3 and len(stats.read_text().splitlines()) == written
    assert "failed   images: " in err and "kept: video, stats" in err
    assert leftovers(tmp_path / "out") == []
