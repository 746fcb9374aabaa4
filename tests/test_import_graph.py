"""The package's imports, function-level ones included, form no cycle through the command
line or the batch executors; and a function-level import in pipeline/cli/ says why it is
there (start-up laziness only: ``# lazy: reason``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline"


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports anywhere in its text (a name imported from a
    module counts as that module, or as a submodule when it is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles() -> list[set[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    modules = module_names()
    edges = {name: imports_of(name, path, modules) for name, path in modules.items()}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for name in sorted(edges):
        if name not in index:
            visit(name)
    return groups


def test_the_measure_finds_a_cycle(tmp_path, monkeypatch):
    package = tmp_path / "pipeline"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pipeline import b\n")
    (package / "b.py").write_text("from pipeline.a import f\n")
    (package / "c.py").write_text("import pipeline.a\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PACKAGE", package)
    assert cycles() == [{"pipeline.a", "pipeline.b"}]


def test_no_cycle_runs_through_the_cli_or_the_batch_executors():
    ours = ("pipeline.cli", "pipeline.batch.cluster", "pipeline.batch.executors",
            "pipeline.batch.runner")
    found = [sorted(group) for group in cycles()
             if any(name.startswith(ours) for name in group)]
    assert found == []


def test_function_level_imports_in_the_cli_say_why():
    unexplained = []
    for path in (PACKAGE / "cli").glob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)) and \
                            "# lazy: " not in lines[inner.lineno - 1]:
                        unexplained.append(f"{path.name}:{inner.lineno}")
    assert unexplained == []
