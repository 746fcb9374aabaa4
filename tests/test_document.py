"""The one YAML loader (pipeline.config.document) under hostile and unusual files, for every config kind.

Each rule is tried on run, batch and experiment configs, since they share the loader:
what files are read (regular files and pipes, not devices or folders, at most 1 MB),
alias expansion (bounded), merge keys (override by design), exponent numbers.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import pytest

from pipeline.batch.jobs import job_from_text, load_job
from pipeline.config.dispatch import load_any
from pipeline.config.document import MAX_CONFIG_BYTES, MAX_VALUES, ConfigError, Document
from pipeline.config.overrides import parse_override
from pipeline.config.run import Config
from pipeline.config.experiment import load_experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RUN = """\
version: 1
source: {type: synthetic, width: 64, height: 48, length: 5}
stages: [grayscale, {gradient: {kind: sobel}}, {map: {mode: abs}}]
sinks: [discard]
"""
BATCH = """\
version: 1
inputs: {glob: "clips/*.mp4"}
output: {dir: out/edges}
stages: [grayscale, {gradient: {kind: sobel}}, {map: {mode: abs}}]
"""
EXPERIMENT = """\
version: 1
iterations: 5
inputs: [{function: square, starts: [1.0]}]
optimizers: [{name: sgd, lr: 0.1}]
"""
LOADERS = {"run": Config.from_yaml, "batch": load_job, "experiment": load_experiment}
TEXTS = {"run": RUN, "batch": BATCH, "experiment": EXPERIMENT}


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refused(load, *args) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(*args)
    return info.value


# ---------------------------------------------------------------- what is read (issue 15.3)

@pytest.mark.parametrize("kind", LOADERS)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused_before_reading(kind, device):
    if not os.path.exists(device):
        pytest.skip(f"{device} missing")
    error = refused(LOADERS[kind], device)
    assert error.file == device and "not a regular file" in error.message
    assert "device" in error.message


@pytest.mark.parametrize("kind", LOADERS)
def test_a_symlink_to_a_device_is_refused_like_the_device(tmp_path, kind):
    link = tmp_path / "looks.yaml"
    link.symlink_to("/dev/zero")
    assert "not a regular file" in refused(LOADERS[kind], link).message


@pytest.mark.parametrize("kind", LOADERS)
def test_a_folder_and_a_socket_are_not_regular_files(tmp_path, kind):
    assert "a folder, not a regular file" in refused(LOADERS[kind], tmp_path).message
    path = tmp_path / "s.yaml"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        assert "a socket, not a regular file" in refused(LOADERS[kind], path).message
    finally:
        server.close()


def feed_fifo(path, data: bytes):
    """Write ``data`` into the FIFO at ``path`` from a thread, as a shell pipe would."""
    def writer():
        try:
            with open(path, "wb") as handle:
                handle.write(data)
        except BrokenPipeError:  # the reader stopped at its cap: expected for big data
            pass
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("kind", LOADERS)
def test_a_fifo_is_read_like_a_file(tmp_path, kind):
    path = tmp_path / "piped.yaml"
    os.mkfifo(path)
    thread = feed_fifo(path, TEXTS[kind].encode())
    piped = LOADERS[kind](path)
    thread.join(10)
    assert not thread.is_alive()  # the writer got everything through
    os.remove(path)
    path.write_text(TEXTS[kind], encoding="utf-8")  # the same text from a plain file
    assert loaded_fields(piped) == loaded_fields(LOADERS[kind](path))
    assert loaded_fields(piped)  # the case meant: a checked object with its settings


def loaded_fields(checked) -> dict:
    """What a loader's dataclass holds, the parsed document (an object per load) left out."""
    return {field.name: getattr(checked, field.name) for field in dataclasses.fields(checked)
            if not field.name.startswith("_")}


def test_process_substitution_is_read():
    # bash's <(...) is a /dev/fd path onto a pipe.
    script = (f"{sys.executable} -m pipeline validate <(cat {ROOT}/configs/demo.yaml) && "
              f"{sys.executable} -m pipeline validate <(cat {ROOT}/configs/batch.yaml)")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(": ok (") == 2


@pytest.mark.parametrize("kind", LOADERS)
def test_a_file_over_the_cap_is_refused_by_size(tmp_path, kind):
    big = TEXTS[kind] + "# " + "x" * MAX_CONFIG_BYTES + "\n"
    error = refused(LOADERS[kind], write(tmp_path, big))
    assert f"larger than {MAX_CONFIG_BYTES // 2**20} MB" in error.message
    # Just under the cap loads: the limit is the size, not the comment.
    under = TEXTS[kind] + "# " + "x" * (MAX_CONFIG_BYTES - len(TEXTS[kind]) - 10) + "\n"
    LOADERS[kind](write(tmp_path, under, "under.yaml"))


def test_an_endless_pipe_is_cut_at_the_cap(tmp_path):
    path = tmp_path / "endless.yaml"
    os.mkfifo(path)
    feed_fifo(path, b"# " + b"y" * (4 * MAX_CONFIG_BYTES))
    began = time.monotonic()
    assert "larger than 1 MB" in refused(Config.from_yaml, path).message
    assert time.monotonic() - began < 30


def test_text_that_is_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(RUN.encode() + b"# caf\xe9\n")
    assert "not UTF-8" in refused(Config.from_yaml, path).message


# ---------------------------------------------------------------- aliases (issue 15.4)

def laughs(levels: int, width: int = 9, mapping: bool = False) -> str:
    """The billion-laughs document: each level repeats the one below ``width`` times."""
    lines = ["version: 1", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        if mapping:
            body = ", ".join(f"k{i}: *a{level - 1}" for i in range(width))
            lines.append(f"a{level}: &a{level} {{{body}}}")
        else:
            lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("kind", LOADERS)
@pytest.mark.parametrize("mapping", [False, True], ids=["lists", "mappings"])
def test_billion_laughs_is_refused_fast_in_bounded_memory(tmp_path, kind, mapping):
    path = write(tmp_path, laughs(9, mapping=mapping))
    tracemalloc.start()
    began = time.monotonic()
    try:
        error = refused(LOADERS[kind], path)
        seconds = time.monotonic() - began
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"aliases expand to more than {MAX_VALUES} values" in error.message
    assert error.file == str(path) and error.line is not None
    # Generous bounds a loaded machine still meets; unbounded expansion is 9**9 values.
    assert seconds < 30 and peak < 200 * 2**20


def test_billion_laughs_in_a_set_value_is_refused(tmp_path):
    value = laughs(9).replace("version: 1\n", "").replace("\n", ", ")
    with pytest.raises(ConfigError, match="aliases expand") as info:
        parse_override("runtime.x={" + value.rstrip(", ") + "}")
    assert info.value.file == "--set"


def test_aliases_within_the_budget_load_like_safe_load(tmp_path):
    text = RUN.replace("width: 64, height: 48", "width: &side 64, height: *side") \
        .replace("{map: {mode: abs}}", "{map: {mode: abs}}")
    config = Config.from_yaml(write(tmp_path, text))
    assert config.source.settings["height"] == 64
    # Three levels of nine are 7381 values: within the budget; four are 66430: over it.
    assert Document.parse(laughs(3), "x").data["a3"][8][8][8][8] == "lol"
    with pytest.raises(ConfigError, match="aliases expand"):
        Document.parse(laughs(4), "x")


def test_an_alias_that_contains_itself_is_refused():
    for text in ("a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a [1, [2, *a]]\n"):
        with pytest.raises(ConfigError, match="contains it"):
            Document.parse(text, "x")


# ---------------------------------------------------------------- merge keys (issue 15.11)

def test_merge_key_is_overridden_by_the_mappings_own_keys(tmp_path):
    text = """\
    version: 1
    source: {type: synthetic, width: 64, height: 48, length: 5}
    stages:
      - grayscale
      - blur: &b {ksize: 7, sigma: 2.0}
      - blur: {<<: *b, ksize: 3}
      - gradient: &g {kind: scharr, norm: l1}
      - map: {mode: abs}
    sinks: [discard]
    """
    config = Config.from_yaml(write(tmp_path, text))
    assert config.stages[2].settings == {"ksize": 3, "sigma": 2.0}


def test_merge_key_first_spelled_in_the_issue(tmp_path):
    # gradient: {<<: *g, kind: sobel} was refused with "key 'kind' appears twice".
    text = """\
    version: 1
    source: {type: synthetic, width: 64, height: 48, length: 5}
    stages:
      - grayscale
      - gradient: {<<: &g {kind: scharr, norm: l1}, kind: sobel}
      - map: {mode: abs}
    sinks: [discard]
    """
    config = Config.from_yaml(write(tmp_path, text))
    assert config.stages[1].settings["kind"] == "sobel" and config.stages[1].settings["norm"] == "l1"


def test_merge_of_several_mappings_earlier_wins_and_own_keys_win_over_all():
    doc = Document.parse("a: &a {x: 1, y: 1}\nb: &b {x: 2, y: 2, z: 2}\n"
                         "c: {<<: [*a, *b], y: 3}\n", "m.yaml")
    assert doc.data["c"] == {"x": 1, "y": 3, "z": 2}
    # Merged keys keep the line where they were written (the anchor's), own keys theirs.
    assert doc.lines[("c", "y")] == 3 and doc.lines[("c", "x")] == 1 and doc.lines[("c", "z")] == 2


def test_duplicate_own_keys_are_still_refused_next_to_a_merge():
    with pytest.raises(ConfigError, match="key 'kind' appears twice") as info:
        Document.parse("g: &g {kind: a}\nh: {<<: *g, kind: b, kind: c}\n", "d.yaml")
    assert info.value.line == 2


@pytest.mark.parametrize("value", ["3", "[1, 2]", "[*g, 3]", "null"])
def test_merge_of_something_not_a_mapping_is_refused(value):
    with pytest.raises(ConfigError, match="merge key"):
        Document.parse(f"g: &g {{kind: a}}\nh: {{<<: {value}}}\n", "d.yaml")


def test_merge_keys_in_batch_and_experiment_configs(tmp_path):
    batch = BATCH.replace("output: {dir: out/edges}",
                          "output: {<<: {dir: out/a, suffix: _x}, dir: out/b}")
    job = job_from_text(batch, "b.yaml")
    assert job.output["dir"] == "out/b" and job.output["suffix"] == "_x"
    experiment = EXPERIMENT.replace("optimizers: [{name: sgd, lr: 0.1}]",
                                    "optimizers:\n  - &sgd {name: sgd, lr: 0.1}\n"
                                    "  - {<<: *sgd, name: momentum}\n")
    loaded = load_experiment(write(tmp_path, experiment))
    assert [spec["name"] for spec in loaded.optimizers] == ["sgd", "momentum"]
    assert loaded.optimizers[1]["lr"] == 0.1


# ---------------------------------------------------------------- exponent numbers (issue 15.12)

@pytest.mark.parametrize("text, number", [
    ("3e3", 3000.0), ("1e-4", 1e-4), ("1E6", 1e6), ("-2.5e+2", -250.0), ("+1e0", 1.0),
    ("1.5E3", 1500.0), (".5e1", 5.0), ("1_000e-3", 1.0), ("1.0e+3", 1000.0),
])
def test_exponent_numbers_are_numbers(text, number):
    assert Document.parse(f"x: {text}\n", "n.yaml").data["x"] == number
    assert parse_override(f"x={text}") == ("x", number)


@pytest.mark.parametrize("text", ["'3e3'", '"1e-4"', "e3", "3e", "3e3e3", "0x1e3", "1e3s"])
def test_quoted_and_malformed_exponents_stay_text(text):
    value = Document.parse(f"x: {text}\n", "n.yaml").data["x"]
    assert isinstance(value, str) or (text == "0x1e3" and value == 0x1e3)


def test_exponents_reach_every_schema(tmp_path):
    config = Config.from_yaml(write(tmp_path, RUN
                                    .replace("{map: {mode: abs}}", "{map: {mode: abs, scale: 2.5e-1}}")),
                              ["runtime.fps=2.5E1"])
    assert config.stages[2].settings["scale"] == 0.25 and config.runtime["fps"] == 25.0
    experiment = load_experiment(write(tmp_path, EXPERIMENT.replace("lr: 0.1", "lr: 3e3"), "e.yaml"),
                                 ["optimizers.0.lr=1e-4"])
    assert experiment.optimizers[0]["lr"] == 1e-4
    # 9e2 is now the number 900.0, so a whole-number setting says so, as for 900.0.
    with pytest.raises(ConfigError, match=r"frames must be int.*got 900\.0"):
        job_from_text(BATCH + "split: {frames: 9e2}\n", "b.yaml")


# ---------------------------------------------------------------- one loader for every kind

def test_load_any_tells_the_kinds_apart_and_kind_key_wins(tmp_path):
    for kind, text in TEXTS.items():
        found, checked = load_any(write(tmp_path, text, f"{kind}.yaml"))
        assert found == kind
        found, _ = load_any(write(tmp_path, f"kind: {kind}\n" + text, f"k-{kind}.yaml"))
        assert found == kind
        LOADERS[kind](write(tmp_path, f"kind: {kind}\n" + text, f"own-{kind}.yaml"))
    error = refused(load_any, write(tmp_path, "kind: movie\n" + RUN, "bad.yaml"))
    assert error.line == 1 and "kind must be one of run, batch, experiment" in error.message
    error = refused(Config.from_yaml, write(tmp_path, "kind: batch\n" + BATCH, "wrong.yaml"))
    assert "run it with edgepipe batch" in error.message and error.line == 1


def test_the_same_set_spellings_work_on_every_kind(tmp_path):
    bad = {"run": "stages.1.gradient.kind=sobal", "batch": "stages.1.gradient.kind=sobal",
           "experiment": "optimizers.0.name=sgdd"}
    for kind, override in bad.items():
        error = refused(LOADERS[kind], write(tmp_path, TEXTS[kind], f"{kind}.yaml"), [override])
        assert error.file == "--set" and error.key == override.split("=")[0], (kind, error)
    for kind in LOADERS:
        error = refused(LOADERS[kind], write(tmp_path, TEXTS[kind], f"{kind}.yaml"), ["novalue"])
        assert "expected KEY=VALUE" in error.message
