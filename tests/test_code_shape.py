"""The package stays readable: no function over 80 lines, none nested more than four
blocks deep, in every module but the numba kernels (issue 14)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Every module of the package but the numba kernels, which are loops written out on purpose.
MODULES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pipeline").rglob("*.py")
                 if "kernels" not in p.relative_to(ROOT).parts)
MAX_LINES, MAX_DEPTH = 80, 4
BLOCKS = (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.AsyncFor, ast.AsyncWith, ast.Match)
NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def depth(node: ast.AST, level: int = 0) -> int:
    """Deepest nesting of blocks in ``node``, not counting functions defined inside it."""
    deepest = level
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, NESTED_SCOPES):
            deepest = max(deepest, depth(child, level + isinstance(child, BLOCKS)))
    return deepest


def functions(module: str):
    """Every function defined in ``module``, nested ones included."""
    for node in ast.walk(ast.parse((ROOT / module).read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_the_measure_counts_nesting():
    tree = ast.parse("def f():\n for a in b:\n  if a:\n   with c:\n    try:\n     if d:\n      pass\n"
                     "    except E:\n     pass\n")
    assert depth(tree.body[0]) == 5


@pytest.mark.parametrize("module", MODULES)
def test_functions_are_short_and_shallow(module):
    found = list(functions(module))
    too_long = [(n.name, n.end_lineno - n.lineno + 1) for n in found
                if n.end_lineno - n.lineno + 1 > MAX_LINES]
    too_deep = [(n.name, depth(n)) for n in found if depth(n) > MAX_DEPTH]
    assert not too_long and not too_deep


def imported_modules(module: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse((ROOT / module).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_cli_sits_on_top_and_nothing_below_imports_it_but_the_guard():
    # The guard (exit codes, standard streams, install_stop_signals) is the one part of
    # pipeline/cli/ the rest may use: the engine installs its stop signals through it.
    # It imports nothing of the package, so using it closes no cycle.
    cli = ROOT / "pipeline" / "cli"
    below = [p for p in (ROOT / "pipeline").rglob("*.py") if cli not in p.parents
             and p.name != "__main__.py"]
    offenders = {str(p.relative_to(ROOT)): sorted(
        name for name in imported_modules(str(p.relative_to(ROOT)))
        if name.startswith("pipeline.cli") and not name.startswith("pipeline.cli.guard"))
        for p in below}
    assert {path: names for path, names in offenders.items() if names} == {}
    assert not [name for name in imported_modules("pipeline/cli/guard.py") if name.startswith("pipeline")]
    assert "pipeline.cli.guard.install_stop_signals" in imported_modules("pipeline/runtime/engine.py")
    assert "pipeline.cli.guard.install_stop_signals" in imported_modules("pipeline/cli/batch.py")
