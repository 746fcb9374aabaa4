"""scripts/bench_tiles.py: a quick run encodes every stream at full size and at each tile
width through the sink's own Feed, and prints the sizes it encoded and the ratios."""

from __future__ import annotations

import importlib.util

import pytest

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
