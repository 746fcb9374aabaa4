"""scripts/bench_startup.py and scripts/profile_startup.py on a tiny run: the clocks they put
on a real ``edgepipe run`` child see its steps in order, and the children are told to keep
Python's bytecode (or not, with ``--no-bytecode-cache``).

The runs here are pure Python (``NUMBA_DISABLE_JIT=1``) on 64x48 frames: nothing compiles,
so no child process is left filling a cache.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT


@pytest.fixture(scope="module")
def scripts():
    sys.path.insert(0, str(ROOT / "scripts"))  # the scripts import each other, as when run
    try:
        yield importlib.import_module("bench_startup"), importlib.import_module("profile_startup")
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def tiny_config(folder: Path) -> Path:
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "version": 1, "source": {"type": "synthetic", "width": 64, "height": 48, "length": 4},
        "stages": ["grayscale", {"gradient": {"kind": "sobel"}}, "map", {"threshold": {"value": 60}}],
        "sinks": [{"video": {"path": str(folder / "out.mkv"), "codec": "ffv1"}},
                  {"stats": {"path": "-"}}],
        "runtime": {"mode": "batch"}}))
    return config


def test_the_profile_sees_each_step_in_order(scripts, tmp_path):
    bench, profile = scripts
    environment = dict(bench.python_environment(bytecode_cache=False), NUMBA_DISABLE_JIT="1")
    marks = profile.one_run(tiny_config(tmp_path), tmp_path / "cache", environment)
    steps = ["interpreter up", "imports done", "config checked", "source opened",
             "first frame decoded", "warm-up done", "first frame processed", "first stats line"]
    assert set(steps) <= set(marks)
    assert [marks[step] for step in steps] == sorted(marks[step] for step in steps)
    # The loader (numba's import first) may not be done when four frames are.
    assert marks.get("kernels ready", marks["first frame processed"]) >= marks["first frame processed"]
    assert marks["interpreter up"] > 0
    table = profile.median_marks([marks, marks])
    assert table["imports done"] == marks["imports done"]


def test_the_bench_times_a_run_and_says_how_its_children_treat_bytecode(scripts, tmp_path):
    bench, _ = scripts
    env = dict(bench.python_environment(bytecode_cache=False), NUMBA_DISABLE_JIT="1",
               NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    first, end = bench.time_run([sys.executable, "-m", "pipeline", "run",
                                 str(tiny_config(tmp_path))], env)
    assert 0 < first <= end
    assert len(bench.framemd5(tmp_path / "out.mkv")) == 4
    assert bench.python_environment(bytecode_cache=False)["PYTHONDONTWRITEBYTECODE"] == "1"
    assert "PYTHONDONTWRITEBYTECODE" not in bench.python_environment()


def test_the_edgepipe_configs_are_the_jobs_the_peers_run(scripts, tmp_path):
    bench, _ = scripts
    demo = bench.edgepipe_config("demo", None, tmp_path / "d.mkv", 60)
    assert not any("hud" in str(stage) for stage in demo["stages"])
    assert demo["sinks"][1] == {"stats": {"path": "-"}}
    argv, env = bench.command("edgepipe warm", "file", tmp_path, tmp_path / "in.mp4",
                              tmp_path / "out.mkv", 60, warm_cache=tmp_path / "warm")
    assert env["NUMBA_CACHE_DIR"] == str(tmp_path / "warm") and argv[-2:] == ["run", argv[-1]]
    assert yaml.safe_load(Path(argv[-1]).read_text())["source"]["path"] == str(tmp_path / "in.mp4")


def test_the_bench_can_give_its_runs_a_terminal_as_a_shell_does(scripts):
    bench, _ = scripts
    child = "import sys; assert sys.stderr.isatty() and not sys.stdout.isatty(); print(1)"
    first, end = bench.time_run([sys.executable, "-c", child], dict(os.environ), on_terminal=True)
    assert 0 < first <= end
    with pytest.raises(SystemExit):  # without it, stderr is no terminal: the child fails
        bench.time_run([sys.executable, "-c", child], dict(os.environ))
