"""Batch progress within a file (workers report frames), errors that ``--quiet`` never
hides, and the message for a glob whose every match is an output."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest

from pipeline.batch import command, tasks
from pipeline.batch.executors import LocalPool
from pipeline.batch.jobs import job_from_dict
from pipeline.batch.runner import run_job
from pipeline.config import ConfigError
from tests.batch.test_runner import STAGES, make_clip, write_config

FRAMES = 240


def progress_seen(make_executor, tmp_path, seconds: float) -> list[tuple[int, int]]:
    """Run one FRAMES-frame clip through ``make_executor()``; the progress polled meanwhile.

    Checks what every executor must do: the file's answer is good, its progress is
    forgotten once answered, and every report carries the container's frame count.
    """
    clip = make_clip(tmp_path / "long.mp4", frames=FRAMES, size=(320, 240))
    executor = make_executor()
    seen = []
    try:
        ticket = executor.submit(tasks.process_file, {"input": str(clip), "output": str(tmp_path / "e.mp4"),
                                                      "stages": STAGES, "fourcc": None, "threads": 1})
        deadline = time.monotonic() + seconds
        answers = []
        while not answers:
            assert time.monotonic() < deadline, "the task did not end"
            answers = executor.poll(0.05)
            if ticket in executor.progress:
                seen.append(executor.progress[ticket])
    finally:
        executor.close()
    (_, ok, value), = answers
    assert ok and value["ok"] and value["frames"] == FRAMES
    assert ticket not in executor.progress  # forgotten once answered
    assert {total for _, total in seen} == {FRAMES}  # the container's count, for the bar
    return seen


def test_pool_workers_report_frames_while_a_file_runs(tmp_path):
    seen = progress_seen(lambda: LocalPool(workers=1, threads=1), tmp_path, 120)
    middle = [done for done, _ in seen if 0 < done < FRAMES]
    assert middle and middle == sorted(middle)  # it moved within the file, forwards


def test_the_bar_moves_within_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "rec" / "one.mp4", frames=FRAMES, size=(320, 240))
    job = job_from_dict({"version": 1, "inputs": {"glob": "rec/*.mp4"}, "output": {"dir": "out"},
                         "stages": STAGES, "executor": {"workers": 1}})
    stream = io.StringIO()
    summary = run_job(job, progress=True, stream=stream)
    assert summary.ok
    states = [s for s in stream.getvalue().split("\r") if s.strip()]
    percents = [int(m.group(1)) for s in states if (m := re.match(r"batch\s+(\d+)%", s))]
    frames = [int(m.group(1)) for s in states if (m := re.search(r"0/1 files, (\d+) frames", s))]
    assert any(0 < p < 100 for p in percents), states  # before the only file ended
    assert any(0 < f < FRAMES for f in frames), states
    assert f"1/1 files, {FRAMES} frames" in states[-1] and states[-1].endswith("\n")


def test_quiet_batch_still_names_each_failed_file_and_why(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "rec" / "good.mp4", frames=5)
    (tmp_path / "rec" / "noise.mp4").write_bytes(b"\x00not a video" * 100)
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/*.mp4"}, output={"dir": "out"},
                          executor={"workers": 1})
    assert command.main([str(config), "-q"]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgepipe: error: ")
    assert str(tmp_path / "rec" / "noise.mp4") in lines[0] and "decode" in lines[0]
    assert captured.out == ""


def test_glob_whose_every_match_is_an_output_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "out" / "old_edges.mp4", frames=3)
    make_clip(tmp_path / "out" / "sub" / "b_edges.mp4", frames=3)
    job = job_from_dict({"version": 1, "inputs": {"glob": "**/*.mp4"}, "output": {"dir": "out"},
                         "stages": STAGES})
    with pytest.raises(ConfigError) as caught:
        job.plan()
    message = str(caught.value)
    assert "matches no file" not in message
    assert "2 match(es)" in message and "inside output.dir" in message
    assert str(Path(tmp_path / "out")) in message
