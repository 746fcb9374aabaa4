"""A run never writes over its input: every sink type, every path spelling, and neighbours.

Each case builds a real folder (symlinked files and folders, hard links, ``..``) and
loads a config through :class:`pipeline.config.run.Config`, which both ``validate`` and
``run`` use; a refusal must name the sink's key, the output and the input as written.
Neighbours (another file in the folder, a name sharing a prefix, a copy with the same
bytes) must load.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.batch.jobs import job_from_dict
from pipeline.config.document import ConfigError
from pipeline.config.run import Config
from pipeline.io.overwrite import find_overwrite, pattern_outputs
from tests.harness import ROOT

TREE = ROOT / "samples" / "tree.avi"

#: Spellings of in/tree.avi, relative to the test's folder, built by ``folder``.
SAME = ["in/tree.avi", "./in/tree.avi", "in/../in/tree.avi", "in//tree.avi", "ABS",
        "link.avi", "hard.avi", "alias/tree.avi", "IN/tree.avi", "alias/../in/tree.avi",
        "chain.avi"]
#: Output spellings through folders that do not exist yet: the sink makes them, and then
#: ``..`` lands on the input (they cannot name a source: it would not open).
THROUGH_NEW_FOLDERS = ["missing/../in/tree.avi", "in/new/../tree.avi"]
#: Paths that are not in/tree.avi, though they look alike.
NEIGHBOURS = ["in/tree2.avi", "in/tre.avi", "in/tree.avi.avi", "copy.avi", "in/new.avi",
              "alias/new.avi", "tree.avi"]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """in/tree.avi and its other names; ``IN`` is a folder symlink that differs by case."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    shutil.copy(TREE, tmp_path / "in" / "tree.avi")
    shutil.copy(TREE, tmp_path / "in" / "tree2.avi")
    shutil.copy(TREE, tmp_path / "copy.avi")
    (tmp_path / "in" / "tre.avi").write_bytes(b"x")
    (tmp_path / "in" / "tree.avi.avi").write_bytes(b"x")
    (tmp_path / "tree.avi").write_bytes(b"x")
    os.symlink("in/tree.avi", tmp_path / "link.avi")
    os.symlink("link.avi", tmp_path / "chain.avi")
    os.link(tmp_path / "in" / "tree.avi", tmp_path / "hard.avi")
    os.symlink("in", tmp_path / "alias")
    os.symlink("in", tmp_path / "IN")
    return tmp_path


def spelled(path: str, root: Path) -> str:
    return str(root / "in" / "tree.avi") if path == "ABS" else path


def config(source: dict, sink: dict) -> dict:
    return {"version": 1, "source": source, "stages": ["grayscale"], "sinks": [sink]}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("sink", ["video", "stats"])
@pytest.mark.parametrize("spelling", SAME + THROUGH_NEW_FOLDERS)
def test_a_file_sink_on_the_file_source_is_refused_naming_both(folder, sink, spelling):
    path = spelled(spelling, folder)
    with pytest.raises(ConfigError) as caught:
        Config.from_dict(config({"type": "file", "path": "in/tree.avi"}, {sink: {"path": path}}))
    message = str(caught.value)
    assert f"sinks.0.{sink}.path" in message
    assert repr(path) in message and "'in/tree.avi'" in message
    assert str(folder / "in" / "tree.avi") in message and "another path" in message


@pytest.mark.parametrize("spelling", SAME)
def test_the_input_spelled_otherwise_in_the_source_is_refused_too(folder, spelling):
    source = {"type": "file", "path": spelled(spelling, folder)}
    with pytest.raises(ConfigError, match="would write over the input"):
        Config.from_dict(config(source, {"video": {"path": "in/tree.avi"}}))


@pytest.mark.parametrize("sink", ["video", "stats"])
@pytest.mark.parametrize("spelling", NEIGHBOURS)
def test_neighbours_of_the_input_are_accepted(folder, sink, spelling):
    loaded = Config.from_dict(config({"type": "file", "path": "in/tree.avi"}, {sink: {"path": spelling}}))
    assert loaded.sinks[0].settings["path"] == spelling


def test_stats_to_standard_output_and_sinks_without_files_are_never_refused(folder):
    data = config({"type": "file", "path": "in/tree.avi"}, {"stats": {"path": "-"}})
    data["sinks"].append("discard")
    assert [c.name for c in Config.from_dict(data).sinks] == ["stats", "discard"]


@pytest.mark.parametrize("spelling", ["./t2.avi", "t2.avi", "alias2/t2.avi", "sub/../t2.avi"])
def test_a_set_override_onto_the_input_is_refused_at_the_override(folder, spelling):
    shutil.copy(TREE, folder / "t2.avi")
    os.symlink(".", folder / "alias2")
    (folder / "sub").mkdir()
    (folder / "run.yaml").write_text(
        "version: 1\nsource: {type: file, path: t2.avi}\nstages: [grayscale]\n"
        "sinks:\n  - video: {path: out/edges.avi}\n")
    with pytest.raises(ConfigError) as caught:
        Config.from_yaml(folder / "run.yaml", [f"sinks.0.video.path={spelling}"])
    assert caught.value.file == "--set" and caught.value.key == "sinks.0.video.path"
    assert repr(spelling) in str(caught.value) and "'t2.avi'" in str(caught.value)


def pictures(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image = np.zeros((8, 8, 3), np.uint8)
    for name in names:
        assert cv2.imwrite(str(folder / name), image)


@pytest.mark.parametrize("pattern", [
    "pics/shot_{index:03d}.png", "./pics/shot_{index:03d}.png", "album/shot_{index:03d}.png",
    "pics/../pics/shot_{index:03d}.png", "pics/shot_{index:03}.png", "pics/shot_{index:0>3}.png",
])
def test_an_images_pattern_landing_on_the_globs_pictures_is_refused(folder, pattern):
    pictures(folder / "pics", ["shot_000.png", "shot_001.png", "shot_002.png"])
    os.symlink("pics", folder / "album")
    with pytest.raises(ConfigError) as caught:
        Config.from_dict(config({"type": "images", "glob": "pics/*.png"}, {"images": {"path": pattern}}))
    assert "sinks.0.images.path" in str(caught.value) and "pics/shot_00" in str(caught.value)


@pytest.mark.parametrize("names,pattern", [
    (["img27.png"], "pics/img2{index}.png"),          # the index glued to literal digits
    (["f_12345.png"], "pics/f_{index}.png"),          # any index, not only the first ones
    (["f_0041.png", "g.png"], "pics/f_{index:04d}.png"),
    (["shot_001.png"], "pics/{index:05d}/../shot_001.png"),  # the field in a folder part
])
def test_an_images_pattern_on_any_index_of_an_input_is_refused(folder, names, pattern):
    pictures(folder / "pics", names)
    (folder / "pics" / "00001").mkdir()
    with pytest.raises(ConfigError, match="would write over the input"):
        Config.from_dict(config({"type": "images", "glob": "pics/*.png"}, {"images": {"path": pattern}}))


@pytest.mark.parametrize("pattern", [
    "pics/edge_{index:03d}.png", "out/shot_{index:03d}.png", "pics/shot_{index:04d}.png",
    "pics/shot_{index:03d}.jpg", "pics/shot_{index:03d}x.png",
])
def test_images_patterns_beside_the_pictures_are_accepted(folder, pattern):
    pictures(folder / "pics", ["shot_000.png", "shot_001.png"])
    Config.from_dict(config({"type": "images", "glob": "pics/*.png"}, {"images": {"path": pattern}}))


@pytest.mark.parametrize("sink", ["video", "stats"])
def test_a_file_sink_on_one_of_the_globs_pictures_is_refused(folder, sink):
    pictures(folder / "pics", ["a.png", "b.png"])
    with pytest.raises(ConfigError, match="'pics/b.png'"):
        Config.from_dict(config({"type": "images", "glob": "pics/*.png"}, {sink: {"path": "./pics/b.png"}}))


def test_the_second_sink_is_the_one_named(folder):
    data = config({"type": "file", "path": "in/tree.avi"}, {"video": {"path": "out.avi"}})
    data["sinks"].append({"stats": {"path": "link.avi"}})
    with pytest.raises(ConfigError, match=r"sinks\.1\.stats\.path.*'link.avi'"):
        Config.from_dict(data)


def test_pattern_outputs_are_the_existing_pictures_the_pattern_names_at_any_index(folder):
    pictures(folder / "pics", ["f12.png", "f7.png", "f07.png", "g3.png", "f12.jpg", "f123.png", "fx.png"])
    assert pattern_outputs("pics/f{index:02d}.png") == ["pics/f07.png", "pics/f12.png", "pics/f123.png"]
    assert pattern_outputs("pics/f{index}.png") == ["pics/f12.png", "pics/f123.png", "pics/f7.png"]
    assert pattern_outputs("nowhere/f{index}.png") == []
    # the index in a folder name: every number in every input's path is tried
    assert {"pics/3/f.png", "pics/12/f.png", "pics/1/f.png", "pics/2/f.png"} <= set(
        pattern_outputs("pics/{index}/f.png", ["pics/f12.png", "pics/g3.png"]))


def test_find_overwrite_compares_files_not_strings(folder):
    assert find_overwrite(["alias/tree.avi"], ["in/tree.avi"]) == ("alias/tree.avi", "in/tree.avi")
    assert find_overwrite(["copy.avi", "missing.avi"], ["in/tree.avi"]) is None


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_run_and_validate_refuse_before_anything_opens_and_the_input_is_untouched(folder):
    (folder / "run.yaml").write_text(
        "version: 1\nsource: {type: file, path: in/tree.avi}\nstages: [grayscale]\n"
        "sinks:\n  - video: {path: alias/tree.avi}\n")
    before = digest(folder / "in" / "tree.avi")
    listing = sorted(os.listdir(folder / "in"))
    for command in ("validate", "run"):
        done = run_cli(command, "run.yaml", cwd=folder)
        assert done.returncode == 2, done.stderr
        assert "'alias/tree.avi' would write over the input 'in/tree.avi'" in done.stderr
        assert "Traceback" not in done.stderr
    assert digest(folder / "in" / "tree.avi") == before
    assert sorted(os.listdir(folder / "in")) == listing  # no temporary, no lock made
    done = run_cli("validate", "run.yaml", "--set", "sinks.0.video.path=in/tree_edges.avi", cwd=folder)
    assert done.returncode == 0, done.stderr


def batch(folder: Path, output: dict) -> None:
    job = job_from_dict({"version": 1, "inputs": {"glob": "in/*.avi"}, "output": output,
                         "stages": ["grayscale"]}, str(folder / "batch.yaml"))
    return job.plan()


@pytest.mark.parametrize("dir_spelling", ["out", "./out", "in/../out"])
def test_batch_through_a_symlinked_output_dir_onto_its_inputs_is_refused(folder, dir_spelling):
    os.symlink("in", folder / "out")
    with pytest.raises(ConfigError) as caught:
        batch(folder, {"dir": dir_spelling, "suffix": "", "container": "avi"})
    message = str(caught.value)
    assert "would overwrite the input" in message and "/in/tre" in message
    assert str(folder / "in") in message


def test_batch_beside_its_inputs_with_a_suffix_is_accepted(folder):
    os.symlink("in", folder / "out")
    items = batch(folder, {"dir": "out", "suffix": "_edges", "container": "avi"})
    assert sorted(Path(i.output).name for i in items) == [
        "tre_edges.avi", "tree.avi_edges.avi", "tree2_edges.avi", "tree_edges.avi"]
