"""The marker table in conftest.py names test modules that exist: a renamed module would
otherwise silently move from the slow part into the quick one."""

from tests.conftest import HERE, MARKERS


def test_every_marked_path_matches_a_test_module():
    modules = [p.relative_to(HERE).as_posix() for p in HERE.rglob("test_*.py")]
    for name, prefixes in MARKERS.items():
        for prefix in prefixes:
            assert any(m.startswith(prefix) for m in modules), (name, prefix)
