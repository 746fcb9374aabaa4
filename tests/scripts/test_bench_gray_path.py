"""scripts/bench_gray_path.py: a quick run prints both paths, and the figures it writes are
the ones it measured (the differences computed over the clips it made)."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from tests.harness import ROOT

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_gray_path", ROOT / "scripts" / "bench_gray_path.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_quick_run_prints_and_writes_both_paths(bench, tmp_path, capsys):
    out = tmp_path / "gray.json"
    assert bench.main(["--sizes", "96x64", "--frames", "6", "--passes", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "96x64" in printed and "mjpeg-full-range" in printed and "raw luma" in printed
    figures = json.loads(out.read_text())
    timing = figures["sizes"]["96x64"]
    assert timing["read"]["exact"]["frames"] == timing["read"]["luma"]["frames"] == 6
    assert all(timing["convert_ms"][name] > 0 for name in ("exact", "luma"))
    assert set(timing["edges_ms"]) == {"expanded first", "inside the pass"}  # and equal output
    assert "inside the pass" in printed
    h264 = figures["difference"]["h264-96x64"]
    assert 0 < h264["luma"]["mean"] < h264["raw_luma"]["mean"]  # the range table brings it closer
    full = figures["difference"]["mjpeg-full-range"]
    assert full["luma"] == full["raw_luma"]  # full range: the plane itself
