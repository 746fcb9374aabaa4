"""``pipeline/config/`` keeps its place in the layers (issue 26): the schemas share one set
of checks, the registry loads alone, config sits below the commands and the batch and
experiment runners, and file-format facts live in ``pipeline/io/formats.py`` only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config.document import ConfigError
from pipeline.io import formats
from tests.harness import ROOT

PACKAGE = ROOT / "pipeline"
CONFIG = PACKAGE / "config"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(module imported, line, inside a function)`` for every import in ``path``."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.append((child.module, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def test_the_old_homes_are_gone():
    for old in ("registry.py", "document.py", "config.py", "experiments/schema.py",
                "experiments/quality_schema.py"):
        assert not (PACKAGE / old).exists(), old
    done = subprocess.run([sys.executable, "-c", "import pipeline.registry"], cwd=ROOT,
                          capture_output=True, text=True)
    assert "No module named 'pipeline.registry'" in done.stderr


def test_the_registry_loads_without_the_schemas():
    # A stage imports the registry: that must not pull in the run schema, the stages
    # or the media libraries (the package's __init__ imports nothing).
    code = ("import sys, pipeline.config.registry, pipeline.config.document; "
            "print(sorted(m for m in sys.modules if m.startswith(('pipeline.', 'av', 'cv2', 'numba'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    loaded = set(ast.literal_eval(done.stdout))
    assert loaded == {"pipeline.config", "pipeline.config.registry", "pipeline.config.document",
                      "pipeline.errors"}, loaded
    assert imports(CONFIG / "__init__.py") == []


@pytest.mark.parametrize("path", sorted(CONFIG.glob("*.py")), ids=lambda p: p.name)
def test_config_imports_no_command_nor_runner(path):
    below = ("pipeline.cli", "pipeline.entry", "pipeline.oneliner", "pipeline.batch",
             "pipeline.outcome", "pipeline.helptext", "pipeline.experiments.runners",
             "pipeline.experiments.command")
    wrong = [(name, line) for name, line, _ in imports(path) if name.startswith(below)]
    assert not wrong, f"{path.name} imports a layer above the configs: {wrong}"


def test_function_level_imports_in_config_say_why():
    for path in sorted(CONFIG.glob("*.py")):
        lines = path.read_text().splitlines()
        for name, line, in_function in imports(path):
            if in_function and name.startswith("pipeline"):
                assert "# lazy:" in lines[line - 1], f"{path.name}:{line} imports {name} in a function"


def test_only_the_command_line_dispatches_on_config_kinds():
    users = {module_name(path) for path in PACKAGE.rglob("*.py")
             if any(name == "pipeline.config.dispatch" for name, _, _ in imports(path))}
    assert users and all(user.startswith("pipeline.cli") for user in users), users


def test_extension_lists_live_in_formats_only():
    known = {*formats.PICTURE_EXTENSIONS, *formats.VIDEO_CONTAINERS, *formats.MULTI_FRAME_PICTURES}
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "io" / "formats.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                values = node.keys if isinstance(node, ast.Dict) else node.elts
                strings = {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
                if len(strings & known) >= 2:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"lists of extensions outside pipeline/io/formats.py: {found}"


def test_one_natural_sort_key():
    definitions = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in PACKAGE.rglob("*.py")
                   for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.FunctionDef) and "natural" in node.name]
    assert definitions == ["pipeline/io/formats.py:" + str(next(
        node.lineno for node in ast.walk(ast.parse((PACKAGE / "io" / "formats.py").read_text()))
        if isinstance(node, ast.FunctionDef) and node.name == "natural_sort_key"))]
    assert sorted(["x10.png", "x9.png", "x100.png", "x1.png"], key=formats.natural_sort_key) == \
        ["x1.png", "x9.png", "x10.png", "x100.png"]


RUN = "version: {v}\nsource: synthetic\n"
BATCH = "version: {v}\ninputs: {{glob: 'a/*.mp4'}}\noutput: {{dir: out}}\nstages: [grayscale]\n"
EXPERIMENT = "version: {v}\ninputs: [{{function: square, starts: [1]}}]\noptimizers: [{{name: sgd}}]\n"
QUALITY = "version: {v}\ndataset: {{images: a, ground_truth: b}}\nmethods: {{}}\n"


def load(path: Path):
    from pipeline.config.dispatch import load_any

    return load_any(path)


@pytest.mark.parametrize("text", [RUN, BATCH, EXPERIMENT, QUALITY], ids=["run", "batch", "experiment", "quality"])
def test_every_schema_checks_the_top_level_alike(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text.format(v=2))
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value) == f"{path}:1 version: version must be 1; got 2"

    path.write_text(text.format(v=1) + "zzz: 1\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.key == "zzz" and caught.value.line == text.count("\n") + 1
    assert caught.value.message.startswith("unknown top-level key 'zzz'; known keys: version, ")

    path.write_text(text.format(v=1).replace("version: 1\n", ""))
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.message == "'version: 1' is required at the top of every config"


@pytest.mark.parametrize("text, key", [
    (RUN.format(v=1) + "runtime: 3\n", "runtime"),
    (BATCH.format(v=1) + "executor: 3\n", "executor"),
], ids=["run", "batch"])
def test_every_schema_refuses_a_section_that_is_not_a_mapping_alike(tmp_path, text, key):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.key == key and "must be a mapping of keys to values; got 3" in caught.value.message


def test_a_kind_that_is_not_a_word_is_a_config_error_not_a_crash(tmp_path):
    """The fuzz test's find: ``kind: []`` (a list, unhashable) is refused by key."""
    from pipeline.config.dispatch import load_any  # only the command line imports dispatch

    path = tmp_path / "c.yaml"
    path.write_text("kind: []\n")
    with pytest.raises(ConfigError) as caught:
        load_any(str(path))
    assert "kind must be one of" in str(caught.value) and "got []" in str(caught.value)
