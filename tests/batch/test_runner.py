"""Batch jobs: config errors, planning, manifest, the local pool, resume, split.

Everything runs for real: generated clips, the project's Pipeline in spawned worker
processes, ``python -m pipeline.batch`` as a subprocess that is killed mid-job.
"""

from __future__ import annotations

import json
import os
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from hypothesis import given, strategies as st

from pipeline.batch import command, split
from pipeline.batch.executors import LocalPool
from pipeline.batch.jobs import glob_root, job_from_dict, job_from_text, load_job, resolve_workers
from pipeline.batch.manifest import Manifest, file_identity
from pipeline.batch.runner import BatchError, OutputLock, run_job
from pipeline.config import ConfigError
from tests.harness import ROOT, decode

STAGES = ["grayscale", {"gradient": {"kind": "sobel", "norm": "l2"}}, {"map": {"mode": "abs"}}]
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


# ---------------------------------------------------------------------- config
BASE = """\
version: 1
inputs: {glob: "rec/**/*.mp4"}
output: {dir: out/edges}
stages:
  - grayscale
  - gradient: {kind: sobel}
  - map
executor: {type: local, workers: 2}
"""


CONFIG_CASES = [
    (BASE.replace("kind: sobel", "kind: sobal"), "batch.yaml:6 stages.1.gradient.kind", "sobel"),
    (BASE.replace("workers: 2", "workers: 0"), "batch.yaml:8 executor.workers", ">= 1 or auto"),
    (BASE.replace("workers: 2", "workers: many"), "batch.yaml:8 executor.workers", "auto"),
    (BASE.replace("type: local", "type: spark"), "batch.yaml:8 executor.type", "local, dask"),
    (BASE + "sinks: []\n", "batch.yaml:9 sinks", "inputs and output replace them"),
    (BASE.replace("{dir: out/edges}", "{dir: out/edges, container: webm}"), "batch.yaml:3 output.container", "mp4"),
    (BASE.replace("{dir: out/edges}", "{dir: out/edges, fourcc: H2645}"), "batch.yaml:3 output.fourcc", "4 ASCII"),
    (BASE.replace('{glob: "rec/**/*.mp4"}', '{glob: "a", list: b.txt}'), "batch.yaml:2 inputs", "exactly one"),
    (BASE.replace("type: local, workers: 2", "type: local, workers: 0"), "batch.yaml:8 executor.workers", "or auto"),
    (BASE.replace("type: local, workers: 2", "type: local, address: 'tcp://h:1'"),
     "batch.yaml:8 executor.address", "type: dask"),
    (BASE + "split: {frames: 10}\n", None, None),
    (BASE.replace("  - map\n", "  - map\n  - hud\n") + "split: {frames: 10}\n", "batch.yaml:8 stages.3", "hud"),
    (BASE.replace("version: 1", "version: 2"), "batch.yaml:1 version", "version must be 1"),
    ("version: 1\noutput: {dir: o}\nstages: [grayscale]\n", "batch.yaml:1 inputs", "required"),
    ("version: 1\ninputs: [\n", "batch.yaml:", "not valid YAML"),
]


@pytest.mark.parametrize("text, place, words", CONFIG_CASES,
                         ids=[case[1] or "split ok" for case in CONFIG_CASES])
def test_config_errors_name_file_line_and_key(text, place, words):
    if place is None:
        assert job_from_text(text, "batch.yaml").split == {"frames": 10, "seek": "verify"}
        return
    with pytest.raises(ConfigError) as caught:
        job_from_text(text, "batch.yaml")
    assert str(caught.value).startswith(place), str(caught.value)
    assert words in str(caught.value)


@pytest.mark.parametrize("extra, line, key", [
    ("output: {dir: out/second}\n", 9, "output"),            # the bug: it wrote to the second
    ("inputs: {glob: 'other/*.mp4'}\n", 9, "inputs"),
    ("executor: {type: local}\n", 9, "executor"),
])
def test_a_key_written_twice_is_refused_with_file_and_line(tmp_path, extra, line, key):
    path = tmp_path / "batch.yaml"
    path.write_text(BASE + extra)
    with pytest.raises(ConfigError) as caught:
        load_job(path)
    assert (caught.value.file, caught.value.line, caught.value.key) == (str(path), line, key)
    assert f"key {key!r} appears twice" in caught.value.message
    assert not (tmp_path / "out").exists()


def test_a_key_written_twice_inside_a_section_is_refused_too():
    text = BASE.replace("output: {dir: out/edges}", "output:\n  dir: out/a\n  dir: out/b")
    with pytest.raises(ConfigError) as caught:
        job_from_text(text, "b.yaml")
    assert (caught.value.line, caught.value.key) == (5, "output.dir")


def test_overrides_change_sections_and_stages_and_name_the_override():
    job = job_from_text(BASE, "b.yaml", ["executor.workers=3", "stages.1.gradient.kind=scharr",
                                         "inputs=clips/*.avi", "split.frames=50"])
    assert job.workers == 3 and job.inputs["glob"] == "clips/*.avi"
    assert job.stages[1] == {"gradient": {**job.stages[1]["gradient"], "kind": "scharr"}}
    assert job.split["frames"] == 50
    with pytest.raises(ConfigError) as caught:
        job_from_text(BASE, "b.yaml", ["executor.workers=-1"])
    assert str(caught.value).startswith("--set executor.workers")
    with pytest.raises(ConfigError, match="unknown top-level key 'sink'"):
        job_from_text(BASE, "b.yaml", ["sink.x=1"])


def test_stages_are_canonical_so_the_digest_ignores_spelling():
    a = job_from_text(BASE, "b.yaml")
    b = job_from_text(BASE.replace("  - map\n", "  - map: {mode: abs}\n"), "b.yaml")
    c = job_from_text(BASE.replace("kind: sobel", "kind: scharr"), "b.yaml")
    assert a.stages == b.stages and a.chain_digest == b.chain_digest != c.chain_digest


def test_workers_auto_fill_the_cores_never_more():
    assert resolve_workers("auto", "auto", cores=8) == (8, 1)
    assert resolve_workers(2, "auto", cores=8) == (2, 4)
    assert resolve_workers("auto", 4, cores=8) == (2, 4)
    assert resolve_workers(3, "auto", cores=2) == (3, 1)


# ---------------------------------------------------------------------- planning
def test_outputs_mirror_the_glob_root_and_skip_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("rec/day1/a.mp4", "rec/day2/deep/b.MP4", "rec/day2/.c.mp4.part-9.mp4",
                 "rec/out/old_edges.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    job = job_from_text(BASE.replace("rec/**/*.mp4", "rec/**/*.[mM][pP]4").replace("out/edges", "rec/out"), "b.yaml")
    plan = {Path(i.input).relative_to(tmp_path).as_posix(): Path(i.output).relative_to(tmp_path).as_posix()
            for i in job.plan()}
    assert plan == {"rec/day1/a.mp4": "rec/out/day1/a_edges.mp4",
                    "rec/day2/deep/b.MP4": "rec/out/day2/deep/b_edges.mp4"}
    assert glob_root("rec/**/*.mp4") == "rec" and glob_root("*.mp4") == "."
    assert glob_root("/data/x*/a.mp4") == "/data"


def test_list_file_paths_are_relative_to_the_list_and_mirror_their_common_folder(tmp_path):
    for name in ("clips/a/1.mp4", "clips/b/2.avi"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "clips" / "list.txt").write_text("# inputs\na/1.mp4\n\nb/2.avi\n")
    job = job_from_dict({"version": 1, "inputs": {"list": str(tmp_path / "clips/list.txt")},
                         "output": {"dir": str(tmp_path / "o"), "suffix": "", "container": "mkv"},
                         "stages": STAGES})
    assert [i.output for i in job.plan()] == [str(tmp_path / "o/a/1.mkv"), str(tmp_path / "o/b/2.mkv")]


def test_glob_matching_nothing_and_colliding_outputs_are_config_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"b.yaml:2 inputs.glob: glob 'rec/\*\*/\*.mp4' matches no file"):
        job_from_text(BASE, "b.yaml").plan()
    for name in ("rec/a.mp4", "rec/a.avi"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(ConfigError, match="would both be written"):
        job_from_text(BASE.replace("*.mp4", "*"), "b.yaml").plan()


# ---------------------------------------------------------------------- pieces
@given(total=st.integers(0, 5000), frames=st.integers(2, 400))
def test_frame_ranges_cover_every_frame_once_in_parts_near_the_size(total, frames):
    ranges = split.frame_ranges(total, frames)
    covered = [i for start, stop in ranges for i in range(start, stop)]
    assert covered == list(range(total))
    assert all(start % frames == 0 for start, _ in ranges)  # boundaries the probe notes
    assert all(stop - start <= frames * 1.5 for start, stop in ranges)
    assert all(stop - start >= frames / 2 for start, stop in ranges[:-1] or ranges[1:])


def test_manifest_proves_completion_only_while_files_are_unchanged(tmp_path):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    src.write_bytes(b"input")
    out.write_bytes(b"output")
    manifest = Manifest(str(tmp_path / "m.jsonl"))
    size, mtime = file_identity(str(out))
    isize, imtime = file_identity(str(src))
    manifest.write({"input": str(src), "output": str(out), "status": "done", "chain": "c",
                    "output_bytes": size, "output_mtime_ns": mtime,
                    "input_bytes": isize, "input_mtime_ns": imtime})
    manifest.close()
    with open(tmp_path / "m.jsonl", "a") as handle:
        handle.write('{"input": "cut sho')  # a line cut by a kill
    again = Manifest(str(tmp_path / "m.jsonl"))
    assert again.completed(str(src), str(out), "c")
    assert not again.completed(str(src), str(out), "other chain")
    out.write_bytes(b"output, changed")
    assert not again.completed(str(src), str(out), "c")
    out.unlink()
    assert not again.completed(str(src), str(out), "c")


def test_seek_by_pts_is_verified_and_falls_back_to_decoding_from_the_start(tmp_path):
    clip = make_clip(tmp_path / "long.mp4", frames=60)
    truth = decode(clip)
    info = split.probe(str(clip), 20)
    assert info["frames"] == 60 and set(info["boundaries"]) == {"0", "19", "20", "39", "40", "59"}
    # the boundaries are the stream's own pts of those frames
    with av.open(str(clip)) as container:
        time_base = container.streams.video[0].time_base
        pts = [frame.pts for frame in container.decode(video=0)]
    assert all(info["boundaries"][key] == pts[int(key)] for key in info["boundaries"])
    wrong = pts[20] + 1  # no frame has this pts: the seek cannot verify
    for bounds, how in ((info["boundaries"], "seek"), ({**info["boundaries"], "20": wrong}, "decode")):
        source = split.FrameRangeSource(str(clip), 20, 20, bounds, total=60)
        source.open()
        got = [source.read() for _ in range(21)]
        source.close()
        assert source.positioned_by == how and source.ended_right
        assert got[-1] is None and all(np.array_equal(a, b) for a, b in zip(got, truth[20:40]))
        assert source.delivered_pts == pytest.approx([float(p * time_base) for p in pts[20:40]], abs=1e-9)
    # a part whose last frame is not the one the probe saw, or that does not end the
    # file it claims to end, reports it (the part task then decodes from the start)
    for start, count, total, bounds in ((20, 20, 60, {**info["boundaries"], "39": pts[38]}),
                                        (40, 19, 59, info["boundaries"])):
        source = split.FrameRangeSource(str(clip), start, count, bounds, total=total)
        source.open()
        while source.read() is not None:
            pass
        source.close()
        assert source.positioned_by == "seek" and source.ended_right is False


# ---------------------------------------------------------------------- local pool
def die_on_first_try(payload: dict) -> dict:
    marker = Path(payload["marker"])
    if not marker.exists():
        marker.write_text("died once")
        os.kill(os.getpid(), signal.SIGKILL)
    return {"ok": True, "pid": os.getpid()}


def always_die(payload: dict) -> dict:
    os.kill(os.getpid(), signal.SIGKILL)


def thread_caps(payload: dict) -> dict:
    import numba

    import pipeline.kernels.options  # noqa: F401  (the layer the project uses)

    return {"numba": numba.config.NUMBA_NUM_THREADS, "cv2": cv2.getNumThreads(),
            "env": os.environ.get("NUMBA_NUM_THREADS"), "method": __import__("multiprocessing").get_start_method()}


def drain(pool: LocalPool, count: int, limit: float = 60.0) -> dict:
    results, deadline = {}, time.monotonic() + limit
    while len(results) < count:
        assert time.monotonic() < deadline, "pool did not answer in time"
        for ticket, ok, value in pool.poll(0.2):
            results[ticket] = (ok, value)
    return results


def test_local_pool_reruns_the_task_of_a_dead_worker_and_gives_up_after_retries(tmp_path):
    pool = LocalPool(workers=2, threads=1, retries=1)
    try:
        first = pool.submit(die_on_first_try, {"marker": str(tmp_path / "m")})
        doomed = pool.submit(always_die, {})
        caps = pool.submit(thread_caps, {})
        results = drain(pool, 3)
    finally:
        pool.close()
    assert results[first][0] and results[first][1]["ok"]
    ok, message = results[doomed]
    assert not ok and "died (killed by signal 9)" in message and "2 time(s)" in message
    assert results[caps] == (True, {"numba": 1, "cv2": 1, "env": "1", "method": "spawn"})
    assert pool.deaths == 3


# ---------------------------------------------------------------------- whole jobs
def test_job_processes_good_files_reports_bad_ones_and_resumes(clips, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "batch.yaml", inputs={"glob": "rec/**/*.mp4"},
                          output={"dir": "out"}, executor={"workers": 2})
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
    """The same clip through `edgepipe run`'s Pipeline, for comparison."""
    from pipeline.pipeline import Pipeline

    out = tmp_path / "reference" / (clip.parent.name + "_" + clip.stem + ".mp4")
    Pipeline.from_dict({"version": 1, "source": {"type": "file", "path": str(clip)},
                        "stages": STAGES, "sinks": [{"video": {"path": str(out)}}],
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


@pytest.mark.parametrize("seek", ["verify", "exact"])
def test_split_output_is_identical_to_the_unsplit_run(tmp_path, monkeypatch, seek):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "rec" / "mp4v.mp4", frames=75, seed=1)
    make_clip(tmp_path / "rec" / "mjpg.avi", frames=75, seed=2, fourcc="MJPG")
    make_clip(tmp_path / "rec" / "short.mp4", frames=12, seed=3)
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/*"}, output={"dir": "whole"},
                          executor={"workers": 2})
    assert command.main([str(config), "-q"]) == 0
    assert command.main([str(config), "-q", "--set", "output.dir=parts",
                         "--set", f"split={{frames: 20, seek: {seek}}}"]) == 0
    by_name = {Path(r["output"]).name: r for r in records(tmp_path / "parts" / "manifest.jsonl")}
    assert by_name["mp4v_edges.mp4"]["parts"] == 4 and by_name["short_edges.mp4"]["parts"] == 1
    for name in ("mp4v_edges.mp4", "mjpg_edges.mp4", "short_edges.mp4"):
        assert same_frames(tmp_path / "parts" / name, tmp_path / "whole" / name), name
        assert by_name[name]["frames"] == len(decode(tmp_path / "whole" / name))
    assert not leftovers(tmp_path / "parts")


def test_the_shipped_config_is_valid():
    job = load_job(ROOT / "configs" / "batch.yaml")
    assert job.executor["type"] == "local" and job.inputs["glob"] == "recordings/**/*.mp4"


def ffprobe_streams(path: Path) -> list[tuple[str, str, float]]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,duration",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True,
                         timeout=WAIT).stdout
    rows = [line.split(",") for line in out.split()]
    return sorted((kind, codec, float(duration)) for codec, kind, duration in rows)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_split_output_carries_the_sound_like_the_unsplit_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rec").mkdir()
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(tmp_path / "rec" / "talk.mp4")], check=True, timeout=WAIT)
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/*.mp4"}, output={"dir": "whole"},
                          executor={"workers": 2})
    assert command.main([str(config), "-q"]) == 0
    assert command.main([str(config), "-q", "--set", "output.dir=parts", "--set", "split={frames: 20}"]) == 0
    whole, parts = tmp_path / "whole" / "talk_edges.mp4", tmp_path / "parts" / "talk_edges.mp4"
    assert same_frames(parts, whole)
    streams = ffprobe_streams(parts)
    assert [s[:2] for s in streams] == [("audio", "aac"), ("video", "h264")]
    assert streams == ffprobe_streams(whole)  # the same sound, the same durations
    assert streams[0][2] == pytest.approx(3.0, abs=0.05)
    frame_times = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                   "frame=pts_time", "-of", "csv=p=0"]
    times = [subprocess.run(frame_times + [str(path)], capture_output=True, text=True, check=True,
                            timeout=WAIT).stdout for path in (parts, whole)]
    assert times[0] == times[1] and len(times[0].split()) == 75  # every frame at the same time
