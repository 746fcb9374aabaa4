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


def test_the_cli_sits_on_top_and_nothing_below_imports_it():
    # batch/command.py and cli.py imported each other (report); the outcome of a command
    # now lives in pipeline/outcome.py, below both
    below = [p for p in (ROOT / "pipeline").rglob("*.py")
             if p.name not in ("cli.py", "entry.py", "__main__.py") or p.parent.name != "pipeline"]
    offenders = [str(p.relative_to(ROOT)) for p in below
                 if "pipeline.cli" in imported_modules(str(p.relative_to(ROOT)))]
    assert offenders == []
    assert "pipeline.batch.command" in imported_modules("pipeline/cli.py")
    assert "pipeline.outcome.report" in imported_modules("pipeline/batch/command.py")
