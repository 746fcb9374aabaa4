"""scripts/bench_pool.py: a quick run times both ways for each N and writes what it prints."""

from __future__ import annotations

import importlib.util
import json

from tests.harness import ROOT


def test_a_quick_run_prints_and_writes_a_row_per_stream_count(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EDGEPIPE_OPENCV_TIER", "0")  # what the script sets; undone after
    spec = importlib.util.spec_from_file_location("bench_pool", ROOT / "scripts" / "bench_pool.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "pool.json"
    assert bench.main(["--streams", "1", "3", "--frames", "6", "--size", "96x64", "--repeats", "2",
                       "--workers", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("96x64, 6 frames per stream") and "pool of 2 workers" in printed[0]
    rows = json.loads(out.read_text())["rows"]
    assert [row["streams"] for row in rows] == [1, 3]
    for row, line in zip(rows, printed[2:]):
        assert line.split()[0] == str(row["streams"])
        for way in ("pool", "threads"):
            assert len(row["runs"][way]) == 2 and all(fps > 0 for fps in row["runs"][way])
            assert row[f"{way}_cpu_ms"] > 0
        assert row["ratio"] == row["pool_fps"] / row["threads_fps"]
