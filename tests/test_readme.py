"""What the README claims that a program can check: exit codes, names, configs, links.

Fast: two child processes (``edgepipe --help`` with ``edgepipe stages``, and one that
validates every config the README names or shows), no run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")

#: Each exit constant in the code, and a phrase its README row must contain.
EXIT_MEANINGS = {
    "EXIT_OK": "done",
    "EXIT_FAILED": "failed",
    "EXIT_USAGE": "bad config or command line",
    "EXIT_INTERRUPTED": "Ctrl+C",
    "EXIT_BROKEN_PIPE": "reader of the output went away",
    "EXIT_TERMINATED": "SIGTERM",
}
#: The top-level keys of a run config: a YAML block made of these alone is a run config.
RUN_KEYS = {"version", "source", "stages", "sinks", "runtime", "tuner"}

VALIDATE = textwrap.dedent("""
    import contextlib, io, json, runpy, sys
    results = {}
    for path in sys.argv[1:]:
        sys.argv = ["edgepipe", "validate", path]
        said = io.StringIO()
        try:
            with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                runpy.run_module("pipeline", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code
        results[path] = [code, said.getvalue()]
    print(json.dumps(results))
""")


def edgepipe(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def section(title: str) -> str:
    """The README's ``## title`` section, up to the next one."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, re.M | re.S)
    assert match, f"the README has no section {title!r}"
    return match.group(1)


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", TEXT, re.M | re.S)


def bullet(start: str) -> str:
    """The README bullet that starts with ``start``, its continuation lines included."""
    match = re.search(rf"^- {re.escape(start)}(.*?)(?=^- |^\n|\Z)", TEXT, re.M | re.S)
    assert match, f"no bullet {start!r}"
    return match.group(1)


def top_level_names(text: str) -> set[str]:
    """The backticked words outside parentheses: the items a list names (``a`` (about a), ``b``)."""
    names, depth, position = set(), 0, 0
    while position < len(text):
        char = text[position]
        if char == "`":
            end = text.index("`", position + 1)
            word = text[position + 1:end]
            if depth == 0 and re.fullmatch(r"[a-z_]+", word):
                names.add(word)
            position = end + 1
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        position += 1
    return names


# --- exit codes -----------------------------------------------------------------------------
def exit_constants() -> dict[str, int]:
    """Every ``EXIT_NAME = N`` in the package; a name defined twice must agree."""
    found: dict[str, int] = {}
    for path in (ROOT / "pipeline").rglob("*.py"):
        for name, value in re.findall(r"^(EXIT_[A-Z_]+) = (\d+)", path.read_text(), re.M):
            assert found.setdefault(name, int(value)) == int(value), (name, path)
    return found


def test_the_exit_code_table_is_the_codes_in_the_code():
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", section("When things go wrong"), re.M))
    constants = exit_constants()
    assert set(constants) == set(EXIT_MEANINGS), "an exit code the README does not know"
    assert {int(code) for code in rows} == set(constants.values())
    for name, phrase in EXIT_MEANINGS.items():
        assert phrase in rows[str(constants[name])], (name, rows[str(constants[name])])


def test_the_exit_code_table_is_the_one_edgepipe_help_prints():
    help_text = edgepipe("--help")
    listed = help_text.split("exit codes:")[1].split("\n\n")[0]
    readme = {int(code) for code in re.findall(r"^\| (\d+) \|", section("When things go wrong"), re.M)}
    assert {int(code) for code in re.findall(r"^\s+(\d+)\s", listed, re.M)} == readme


# --- names ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def registered() -> dict[str, set[str]]:
    """``edgepipe stages``' names per kind: ``{"Sources": {...}, "Stages": ..., "Sinks": ...}``."""
    text = edgepipe("stages", "stages", "sources", "sinks")
    names: dict[str, set[str]] = {}
    kind = None
    for line in text.splitlines():
        if re.fullmatch(r"[a-z]+s", line):
            kind = line.capitalize()
            names[kind] = set()
        elif kind and (match := re.match(r"^  ([a-z_]+)  ", line)):
            names[kind].add(match.group(1))
    return names


@pytest.mark.parametrize("kind", ["Sources", "Stages", "Sinks"])
def test_the_readme_names_every_source_stage_and_sink_and_no_other(kind, registered):
    named = top_level_names(bullet(f"**{kind}**:"))
    assert registered[kind], "edgepipe stages listed none: the parse is wrong"
    assert named == registered[kind], (named ^ registered[kind])


def test_every_command_in_the_readme_exists():
    help_text = edgepipe("--help")
    listed = help_text.split("positional arguments:")[1].split("options:")[0]
    commands = set(re.findall(r"^ {4}([a-z]+)\b", listed, re.M))
    assert {"run", "validate", "stages"} <= commands  # the case meant: the help was parsed
    code = "\n".join(code_blocks("sh") + re.findall(r"`([^`\n]+)`", TEXT))
    used = set(re.findall(r"\bedgepipe ([a-z]+)\b", code))
    assert used, "no command found in the README"
    assert used <= commands, used - commands


def test_every_stage_in_the_shipped_yaml_examples_exists(registered):
    for block in code_blocks("yaml"):
        data = yaml.safe_load(block)
        for entry in data.get("stages", []) if isinstance(data, dict) else []:
            name = entry if isinstance(entry, str) else next(iter(entry))
            assert name in registered["Stages"], name


# --- configs, links and YAML blocks -----------------------------------------------------------
def named_configs() -> list[Path]:
    """Every ``configs/...yaml`` the README names, and the YAML files of each folder it names."""
    files = {ROOT / name for name in re.findall(r"\bconfigs/[\w./-]+?\.yaml\b", TEXT)}
    for folder in re.findall(r"\b(configs/[\w-]+)/(?![\w.-])", TEXT):
        assert (ROOT / folder).is_dir(), folder
        found = sorted((ROOT / folder).glob("*.yaml"))
        assert found, f"{folder}/ holds no config"
        files.update(found)
    return sorted(files)


def yaml_configs(tmp_path: Path) -> list[Path]:
    """The README's YAML blocks that are run configs, or parts of one, as files."""
    paths = []
    for index, block in enumerate(code_blocks("yaml")):
        data = yaml.safe_load(block)
        assert isinstance(data, dict), block
        if set(data) <= RUN_KEYS:  # a whole config, or a section of one: completed, checked
            path = tmp_path / f"block{index}.yaml"
            path.write_text(block if "version" in data else "version: 1\n" + block)
            paths.append(path)
    return paths


def test_every_named_config_exists_and_every_yaml_block_validates(tmp_path):
    configs = named_configs()
    assert ROOT / "configs/demo.yaml" in configs  # the case meant: the names were found
    missing = [str(path) for path in configs if not path.is_file()]
    assert not missing, missing
    blocks = yaml_configs(tmp_path)
    assert len(blocks) >= 2  # the config example and the tuner section at least
    done = subprocess.run([sys.executable, "-c", VALIDATE, *map(str, configs + blocks)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    failed = {path: said for path, (code, said) in results.items() if code != 0}
    assert not failed, failed
    assert all(": ok (" in said for _, said in results.values())


def links(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [target.split("#")[0] for target in re.findall(r"\]\(([^)\s]+)\)", text)
            if not re.match(r"[a-z]+://", target) and not target.startswith("#")]


@pytest.mark.parametrize("page", [README, *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_link_resolves(page):
    targets = links(page)
    if page == README:
        assert any(target.startswith("docs/") for target in targets)
    broken = [target for target in targets if not (page.parent / target).exists()]
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme():
    linked = {target for target in links(README) if target.startswith("docs/")}
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, pages - linked


def test_the_readme_is_a_guide_not_a_diary():
    lines = TEXT.splitlines()
    assert 300 <= len(lines) <= 400, len(lines)
    assert not re.search(r"\b[0-9a-f]{7,40}\b", TEXT.replace("0x", "")), "a commit hash"
    assert not re.search(r"this round|issue #?\d+|\bcommit\b", TEXT, re.I)


def test_the_two_commands_name_what_exists():
    blocks = [block.strip() for block in re.findall(r"^```sh\n(.*?)^```", section("Two commands"), re.M | re.S)]
    assert blocks == ["python -m pip install . && edgepipe run configs/demo.yaml",
                      "python -m pip install -e '.[dev]' && python -m pytest"]
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "edgepipe" in project["scripts"]  # what the first command calls
    assert "pytest" in " ".join(project["optional-dependencies"]["dev"])  # what the second needs


def test_the_python_examples_compile_and_import_what_exists():
    import pipeline

    blocks = code_blocks("python")
    assert len(blocks) >= 2  # Pipeline and the push API
    for block in blocks:
        compile(block, "README.md", "exec")
        for names in re.findall(r"^from pipeline import (.+)$", block, re.M):
            for name in names.split(","):
                assert getattr(pipeline, name.strip()) is not None, name
    push = next(block for block in blocks if "Chain" in block)
    assert len(push.strip().splitlines()) <= 12  # the OpenCV loop, about ten lines
