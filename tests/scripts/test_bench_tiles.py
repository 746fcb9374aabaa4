"""scripts/bench_tiles.py: a quick run encodes every stream at full size and at each tile
width through the sink's own Feed, and prints the sizes it encoded and the ratios."""

from __future__ import annotations

import importlib.util

import pytest

from tests.end_to_end.test_http_browser import needs_chromium
from tests.harness import ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_tiles", ROOT / "scripts" / "bench_tiles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_clips_edge_maps_are_real_grey_pictures(bench):
    maps = bench.edge_maps(160, 90)
    assert len(maps) > 10 and maps[0].shape == (90, 160) and maps[0].dtype.name == "uint8"
    assert maps[0].std() > 5 and not (maps[0] == maps[5]).all()  # edges, and they move


def test_a_quick_run_prints_full_and_tile_rows_side_by_side(bench, capsys):
    assert bench.main(["--streams", "2", "--pictures", "4", "--widths", "80", "--size", "320x180"]) == 0
    printed = capsys.readouterr().out
    rows = {line.split()[0] + (" " + line.split()[1] if line.startswith("tile") else ""): line.split()
            for line in printed.splitlines() if line.startswith(("full ", "tile "))}
    assert set(rows) == {"full", "tile 80"}
    assert rows["full"][1] == "320x180" and rows["tile 80"][2] == "80x44"  # 180 * 80 / 320 = 45: a tie, to 44
    assert rows["full"][2] == "2.00M" and rows["tile 80"][3] == "0.12M"  # 2 Mbps * 80*44/(320*180)
    assert "2 streams of 320x180" in printed and "2 tiles" in printed


@needs_chromium
def test_a_short_live_grid_prints_both_cases_with_what_each_encoded(bench, capsys):
    bench.grid(1, warmup=0.5, seconds=1.0, rounds=1)
    printed = capsys.readouterr().out
    rows = {line[:16].strip(): line[16:].split() for line in printed.splitlines()
            if line.startswith(("tile 640", "full-size tiles"))}
    assert rows["tile 640"][0] == "640x360" and rows["full-size tiles"][0] == "1280x720"
    assert all(float(row[1]) > 0 and float(row[2]) > 0 for row in rows.values())  # CPU, pictures drawn
