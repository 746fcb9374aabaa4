"""The batch progress bar moves within a file, not only between files."""

from __future__ import annotations

import io
import re

from pipeline.batch.jobs import job_from_dict
from pipeline.batch.runner import run_job
from tests.batch.test_runner import STAGES, make_clip
from tests.batch.test_tasks import FRAMES


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
