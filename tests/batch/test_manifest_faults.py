"""The manifest as an output like the others: never the config, the list of inputs, an
input or an output; appends start on a fresh line; damaged lines are skipped and named;
a folder, a device or a full disk (a real tmpfs) is one clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.batch.manifest import Manifest, ManifestError
from tests.batch.test_runner import make_clip, write_config
from tests.end_to_end.test_output_faults import fill, small_disk  # noqa: F401
from tests.harness import ROOT

WAIT = 120


def record(name: str) -> dict:
    return {"input": f"/in/{name}.mp4", "output": f"/out/{name}.mp4", "status": "failed", "error": "x"}


def test_an_append_after_a_cut_line_starts_on_a_fresh_line(tmp_path):
    path = tmp_path / "m.jsonl"
    with Manifest(str(path)) as manifest:
        manifest.write(record("a"))
    with open(path, "a") as handle:
        handle.write('{"input": "/in/b.mp4", "outp')  # a kill mid-line
    with Manifest(str(path)) as manifest:
        assert manifest.notes == [f"manifest {path} line 2 is damaged (not JSON: cut short by a kill?); "
                                  "skipped, so the file it was about is redone"]
        manifest.write(record("c"))
    again = Manifest(str(path))
    assert set(again.latest) == {"/in/a.mp4", "/in/c.mp4"}
    assert len(again.notes) == 1 and "line 2" in again.notes[0]


def test_damaged_lines_are_skipped_and_named(tmp_path):
    path = tmp_path / "m.jsonl"
    lines = [json.dumps(record("a")).encode(), b"\xff\xfe not utf-8", b"[" * 100_000,
             b'["a list"]', b"", json.dumps(record("b")).encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    manifest = Manifest(str(path))
    assert set(manifest.latest) == {"/in/a.mp4", "/in/b.mp4"}
    assert [note.split(" is damaged ")[1].split(";")[0] for note in manifest.notes] == [
        "(not UTF-8)", "(nested too deeply)", "(not a record with an input)"]
    assert [int(note.split(" line ")[1].split()[0]) for note in manifest.notes] == [2, 3, 4]


def test_a_manifest_that_is_a_folder_is_named(tmp_path):
    with pytest.raises(ManifestError, match=f"cannot read the manifest '{tmp_path}'"):
        Manifest(str(tmp_path))


def test_a_full_disk_under_the_manifest_is_named(small_disk):
    path = small_disk / "m.jsonl"
    manifest = Manifest(str(path))
    fill(small_disk, leave=0)
    with pytest.raises(ManifestError, match=f"cannot write the manifest '{path}' .No space left on device"):
        for _ in range(1000):
            manifest.write(record("a" * 1000))
    manifest.close()


@pytest.fixture
def job(tmp_path):
    make_clip(tmp_path / "in" / "a.mp4", frames=3)
    (tmp_path / "list.txt").write_text("in/a.mp4\n")
    return write_config(tmp_path / "job.yaml", inputs={"list": "list.txt"},
                        output={"dir": str(tmp_path / "out")})


def batch(config: Path, *sets: str) -> subprocess.CompletedProcess:
    args = [arg for value in sets for arg in ("--set", value)]
    return subprocess.run([sys.executable, "-m", "pipeline.batch", str(config), "-q", *args], cwd=config.parent,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                          timeout=WAIT)


@pytest.mark.parametrize("target, says", [
    ("job.yaml", "is the job's config"), ("list.txt", "is the list of inputs"),
    ("in/a.mp4", "is the input"), ("out/a_edges.mp4", "is the output of"),
    ("in", "is a folder"), ("/dev/null", "is not a regular file"),
])
def test_the_manifest_is_never_an_input_the_config_or_an_output(job, target, says):
    path = target if target.startswith("/") else str(job.parent / target)
    before = {p: p.read_bytes() for p in job.parent.rglob("*") if p.is_file()}
    done = batch(job, f"output.manifest={json.dumps(path)}")
    assert done.returncode == 2, done.stderr
    assert "error: --set output.manifest: the manifest" in done.stderr and says in done.stderr
    assert "Traceback" not in done.stderr
    assert {p: p.read_bytes() for p in job.parent.rglob("*") if p.is_file()} == before
