"""scripts/bench_window_grid.py: a row per size and tile count, its figures computed."""

from __future__ import annotations

import importlib.util

from tests.harness import ROOT


def test_it_prints_each_grid_with_its_cost_and_draw_rate(capsys):
    spec = importlib.util.spec_from_file_location("bench_window_grid", ROOT / "scripts" / "bench_window_grid.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--tiles", "1", "4", "--sizes", "720p", "--repeat", "3", "--width", "640"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["size", "tiles", "draw", "ms", "vs", "1", "tile", "draws/s"]
    rows = [line.split() for line in lines[1:]]
    assert [(row[0], row[1], row[3]) for row in rows] == [("720p", "1", "1.0x"), ("720p", "4", rows[1][3])]
    for row in rows:
        spent = float(row[2]) / 1e3
        # the rate the window draws at for that cost (from the printed, rounded median)
        assert abs(float(row[4]) - 1 / script.next_pause(spent)) < 0.2
        assert 0 < float(row[4]) <= 30.0
