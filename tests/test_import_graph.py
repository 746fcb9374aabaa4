"""The package's imports point one way: no cycle among its modules, function-level imports
counted, and every function-level import says why it waits (``# lazy: reason``).

The graph is read from the source with :mod:`ast` (nothing imported): an edge from a
module to each ``pipeline`` module it imports, at module level or inside a function.
``from pipeline.io import formats`` is an edge to ``pipeline.io.formats``; ``from
pipeline.io.base import Sink`` to ``pipeline.io.base``.  A package's own ``__init__`` that
its submodules run first is not an edge (Python runs it before any submodule).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """``name`` or the nearest enclosing module that exists (``pipeline.io.base.Sink`` ->
    ``pipeline.io.base``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]


def imports(function_level: bool | None = None) -> dict[str, set[str]]:
    """Each module's imported ``pipeline`` modules (``function_level``: only those inside
    functions, only those at module level, or None: all)."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inner = {id(node) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for node in ast.walk(fn) if isinstance(node, (ast.Import, ast.ImportFrom))}
        found = set()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if function_level is not None and (id(node) in inner) != function_level:
                continue
            for target in _targets(node, module, path.name == "__init__.py"):
                resolved = target if target in MODULES else _resolve(target)
                if target.startswith("pipeline") and resolved and resolved != module:
                    found.add(resolved)
        graph[module] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_finds_a_cycle_when_there_is_one():
    """The detector itself: a made-up graph with a three-module loop and a tail."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_imports():
    """The lazy imports are in the graph: the CLI's command modules are reached only from
    inside functions, and they are found."""
    inner = imports(function_level=True)
    assert sum(len(targets) for targets in inner.values()) > 0
    everything = imports()
    for module, targets in inner.items():
        assert targets <= everything[module]


def test_no_import_cycle_among_the_package_modules():
    found = cycles(imports())
    assert found == [], "import cycles (function-level imports counted): " + "; ".join(
        " <-> ".join(component) for component in found)


def unexplained_lazy_imports(folder: Path = PACKAGE, root: Path = ROOT) -> list[str]:
    """Function-level imports under ``folder`` whose line does not say why they wait
    (``# lazy: reason``): start-up laziness is the only reason left for one."""
    unexplained = []
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)) and "# lazy: " not in lines[inner.lineno - 1]:
                        unexplained.append(f"{path.relative_to(root)}:{inner.lineno}")
    return unexplained


def test_every_function_level_import_in_the_package_says_why():
    assert unexplained_lazy_imports(PACKAGE) == []


def test_the_check_finds_an_unexplained_function_level_import(tmp_path):
    """The check itself: a made-up module with one explained and one bare import."""
    folder = tmp_path / "made_up"
    folder.mkdir()
    (folder / "module.py").write_text("def f():\n    import json  # lazy: a reason\n"
                                      "    import csv\n    return json, csv\n")
    assert unexplained_lazy_imports(folder, root=tmp_path) == ["made_up/module.py:3"]
