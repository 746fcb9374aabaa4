"""Batch jobs as the runner drives them: good and bad files, outputs and locks checked before
work, resume after a kill.  The clips and configs the other batch tests use are made here.

Everything runs for real: generated clips, the project's Pipeline in spawned worker
processes, ``python -m pipeline.batch`` as a subprocess that is killed mid-job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.batch import split
from pipeline.batch.jobs import load_job
from pipeline.batch.output_folder import BatchError, OutputLock
from pipeline.batch.runner import run_job
from pipeline.cli import batch as command
from tests.harness import ROOT, decode


STAGES = ["grayscale", {"gradient": {"kind": "sobel", "norm": "l2"}}, {"map": {"mode": "abs"}}]
#: Outputs compared frame for frame are written losslessly (FFV1): equal frames then say
#: the chain saw the same frames at the same times, whatever a lossy encoder's threads do
#: (a split h264 output once differed from its unsplit twin under a cold numba cache and
#: load 15 although every frame going in matched; see the batch/split.py notes).
LOSSLESS = {"container": "mkv", "fourcc": "ffv1"}
WAIT = 120  # seconds any subprocess may take before the test fails instead of hanging


# ---------------------------------------------------------------------- helpers
def make_clip(path: Path, frames: int = 30, size=(160, 120), seed: int = 0, fourcc="mp4v",
              fps: float = 30.0) -> Path:
    """A small clip with moving texture and a frame number, so every frame differs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened()
    base = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    for index in range(frames):
        image = np.roll(base, 3 * index, axis=1).copy()
        cv2.putText(image, str(index), (width // 4, height // 2), cv2.FONT_HERSHEY_SIMPLEX,
                    1.2, (255, 255, 255), 3)
        writer.write(image)
    writer.release()
    return path


def same_frames(a, b) -> bool:
    fa, fb = decode(a), decode(b)
    return len(fa) == len(fb) > 0 and all(np.array_equal(x, y) for x, y in zip(fa, fb))


def write_config(path: Path, **sections) -> Path:
    import yaml

    data = {"version": 1, "stages": STAGES, **sections}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def records(manifest: Path) -> list[dict]:
    return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]


def leftovers(folder: Path) -> list[Path]:
    """Anything under a temporary name, or split parts, left below ``folder``."""
    return [p for p in folder.rglob("*") if p.name.startswith(".") and p.name != ".edgepipe-batch.lock"
            or split.PARTS_FOLDER in p.parts]


def batch_process(config: Path, *args: str, cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "pipeline.batch", str(config), "-q", *args],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


@pytest.fixture
def clips(tmp_path):
    """Four good clips in two folders, one random-bytes .mp4, one truncated .mp4."""
    rec = tmp_path / "rec"
    good = [make_clip(rec / "day1" / f"cam{i}.mp4", seed=i) for i in range(2)]
    good += [make_clip(rec / "day2" / f"cam{i}.mp4", seed=10 + i) for i in range(2)]
    noise = rec / "day2" / "noise.mp4"
    noise.write_bytes(np.random.default_rng(7).bytes(20_000))
    whole = make_clip(tmp_path / "whole.mp4", seed=3)
    truncated = rec / "day1" / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return {"root": rec, "good": good, "bad": [noise, truncated]}


# ---------------------------------------------------------------------- whole jobs
def test_job_processes_good_files_reports_bad_ones_and_resumes(clips, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "batch.yaml", inputs={"glob": "rec/**/*.mp4"},
                          output={"dir": "out", **LOSSLESS}, executor={"workers": 2})
    assert command.main([str(config), "-q", "--json", str(tmp_path / "s.json")]) == 1
    manifest = tmp_path / "out" / "manifest.jsonl"
    by_input = {r["input"]: r for r in records(manifest)}
    for bad in clips["bad"]:
        record = by_input[str(bad)]
        assert record["status"] == "failed" and str(bad) in record["error"]
        assert not Path(record["output"]).exists()
    for good in clips["good"]:
        record = by_input[str(good)]
        assert record["status"] == "done" and record["frames"] == 30 and record["fps"] > 0
        assert same_frames(record["output"], reference_output(good, tmp_path))
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["done"] == 4 and summary["failed"] == 2
    assert {Path(f["input"]).name for f in summary["files"] if f["status"] == "failed"} == \
        {"noise.mp4", "truncated.mp4"}
    assert not leftovers(tmp_path / "out")

    # a rerun skips the finished files and tries the bad ones again
    outputs = {r["output"]: os.stat(r["output"]).st_mtime_ns for r in records(manifest) if r["status"] == "done"}
    assert command.main([str(config), "-q"]) == 1
    rerun = records(manifest)[6:]
    assert sorted(r["status"] for r in rerun) == ["failed"] * 2 + ["skipped"] * 4
    assert all(os.stat(p).st_mtime_ns == m for p, m in outputs.items())

    # --force redoes everything; a changed input is redone without it
    assert command.main([str(config), "-q", "--force"]) == 1
    assert sorted(r["status"] for r in records(manifest)[12:]) == ["done"] * 4 + ["failed"] * 2
    make_clip(clips["good"][0], seed=99)
    good_only = ["--set", "inputs=rec/day*/cam*.mp4"]
    assert command.main([str(config), "-q", *good_only]) == 0
    last = records(manifest)[-4:]
    redone = [r for r in last if r["status"] == "done"]
    assert [r["input"] for r in redone] == [str(clips["good"][0])]
    assert same_frames(redone[0]["output"], reference_output(clips["good"][0], tmp_path))


def reference_output(clip: Path, tmp_path: Path) -> Path:
    """The same clip through `edgepipe run`'s Pipeline, written as :data:`LOSSLESS` is."""
    from pipeline.pipeline import Pipeline

    out = tmp_path / "reference" / (clip.parent.name + "_" + clip.stem + ".mkv")
    Pipeline.from_dict({"version": 1, "source": {"type": "file", "path": str(clip)},
                        "stages": STAGES, "sinks": [{"video": {"path": str(out), "codec": "ffv1"}}],
                        "runtime": {"mode": "batch"}}).run()
    return out


def test_unwritable_output_and_a_held_lock_stop_the_job_before_it_starts(clips, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/**/*.mp4"},
                          output={"dir": "afile/edges"})
    assert command.main([str(config), "-q"]) == 1
    with pytest.raises(BatchError, match="is a file, not a folder"):
        run_job(load_job(config))
    job = load_job(config, ["output.dir=out"])
    with OutputLock(job.output_dir):
        with pytest.raises(BatchError, match="another batch job"):
            run_job(job)
    assert not (tmp_path / "out" / "manifest.jsonl").exists()
    assert command.main([str(tmp_path / "missing.yaml")]) == 2


def test_killed_and_terminated_runs_resume_without_redoing_finished_files(tmp_path):
    rec = tmp_path / "rec"
    clips = [make_clip(rec / f"clip{i:02d}.mp4", frames=60, size=(320, 240), seed=i) for i in range(10)]
    config = write_config(tmp_path / "batch.yaml", inputs={"glob": "rec/*.mp4"},
                          output={"dir": "out"}, executor={"workers": 1})
    manifest = tmp_path / "out" / "manifest.jsonl"

    def start_and_wait_for(done: int, sig: int) -> subprocess.Popen:
        process = batch_process(config, cwd=tmp_path)
        deadline = time.monotonic() + WAIT
        try:
            while True:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "the job made no progress"
                if manifest.exists() and sum(r["status"] == "done" for r in records(manifest)) >= done:
                    break
                time.sleep(0.01)
            os.killpg(process.pid, sig)
            process.wait(WAIT)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(WAIT)
        return process

    # SIGTERM: the job stops its workers, cleans up and says so
    process = start_and_wait_for(2, signal.SIGTERM)
    assert process.returncode == 143
    assert not leftovers(tmp_path / "out")
    done_first = {r["input"] for r in records(manifest) if r["status"] == "done"}
    assert 2 <= len(done_first) < len(clips)
    finished_names = {p for p in (tmp_path / "out").glob("*.mp4")}
    assert {Path(r["output"]) for r in records(manifest) if r["status"] == "done"} == finished_names

    # SIGKILL of the whole process group, workers included: nothing is cleaned up then
    process = start_and_wait_for(len(done_first) + 2, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    done_second = {r["input"] for r in records(manifest) if r["status"] == "done"}
    assert len(done_second) < len(clips), "the job finished before it could be killed"
    second_run = records(manifest)[len(records(manifest)) - len(done_second - done_first) - len(done_first):]
    assert {r["input"] for r in second_run if r["status"] == "skipped"} == done_first

    # the rerun skips what the manifest proves finished and completes the rest
    process = batch_process(config, cwd=tmp_path)
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 0, err.decode()
    last = records(manifest)[-len(clips):]
    assert {r["input"] for r in last if r["status"] == "skipped"} == done_second
    assert {r["input"] for r in last if r["status"] == "done"} == {str(c) for c in clips} - done_second
    assert not leftovers(tmp_path / "out")
    for clip in clips:
        output = tmp_path / "out" / f"{clip.stem}_edges.mp4"
        assert len(decode(output)) == 60
