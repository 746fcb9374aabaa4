"""The batch config: errors with file, line and key, overrides, canonical stages, workers,
and the plan of inputs and outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.batch.jobs import glob_root, job_from_dict, job_from_text, load_job
from pipeline.config.batch import resolve_workers
from pipeline.config.document import ConfigError
from tests.harness import ROOT
from tests.batch.test_runner import STAGES
from tests.batch.test_runner import make_clip


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
    (BASE.replace("{dir: out/edges}", "{dir: out/edges, container: flv}"), "batch.yaml:3 output.container", "mp4"),
    (BASE.replace("{dir: out/edges}", "{dir: out/edges, crf: 30, codec: ffv1}"), "batch.yaml:3 output.crf", "ffv1"),
    (BASE.replace("{dir: out/edges}", "{dir: out/edges, audio: off}"), "batch.yaml:3 output.audio", "copy | encode | none"),
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


def test_the_shipped_config_is_valid():
    job = load_job(ROOT / "configs" / "batch.yaml")
    assert job.executor["type"] == "local" and job.inputs["glob"] == "recordings/**/*.mp4"


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


def test_output_takes_the_video_sinks_keys_with_the_sinks_schema():
    """codec, crf, bitrate, preset, pix_fmt, audio reach the sink of every file's run."""
    from pipeline.config.batch import OutputSection
    from pipeline.io.sinks.video import VideoSink

    text = BASE.replace("{dir: out/edges}", "{dir: out/edges, container: mkv, codec: ffv1, audio: none}")
    job = job_from_text(text, "batch.yaml")
    assert job.video == {"codec": "ffv1", "crf": None, "bitrate": None, "preset": None, "pix_fmt": None,
                         "audio": "none", "fourcc": None}
    sink = job.run_config("in.mp4", "out.mkv")["sinks"][0]["video"]
    assert sink["codec"] == "ffv1" and sink["audio"] == "none" and sink["path"] == "out.mkv"
    shared = [p for p in OutputSection.params if p.name in job.video]
    assert all(any(p is q for q in VideoSink.params) for p in shared)
    other = job_from_text(BASE.replace("{dir: out/edges}", "{dir: out/edges, container: mkv, codec: h264}"),
                          "batch.yaml")
    assert other.chain_digest != job_from_text(text, "batch.yaml").chain_digest
