"""The soak script: a short live soak (about 40 s at 640x480) and its flatness verdict.

The long run (``python scripts/soak.py``: 30 minutes at 1080p) is run by hand; here CI
runs the same code path short and small, with tolerances suited to a short run: 10%
relative growth, or 10 MiB / 10 ms absolute (a leak of one 640x480 frame a second
grows memory by about 27 MiB in 30 s and still fails).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from tests.harness import ROOT

SCRIPT = ROOT / "scripts" / "soak.py"
SECONDS, EVERY = 40, 2


def load_soak():
    spec = importlib.util.spec_from_file_location("soak_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def soak():
    return load_soak()


def test_flatness_sees_growth(soak):
    times = [float(t) for t in range(20)]
    growing = [100.0 + 2.0 * t for t in times]
    result = soak.flatness(times, growing, warmup=4.0, tolerance=0.05, slack=0.0)
    assert result["flat"] is False
    assert result["last"] > result["first"] * 1.05


def test_flatness_passes_noise_and_skips_warmup(soak):
    times = [float(t) for t in range(20)]
    values = [500.0 if t < 4 else 100.0 + (t % 3) for t in times]  # a high warm-up, then noise
    result = soak.flatness(times, values, warmup=4.0, tolerance=0.05, slack=0.0)
    assert result["flat"] is True
    assert result["samples"] == 16


def test_flatness_slack_and_missing_values(soak):
    times = [float(t) for t in range(10)]
    values = [4.0, None, 4.0, 4.0, 4.0, 4.0, 5.0, 5.0, 5.0, None]  # +25%, but 1 ms
    assert soak.flatness(times, values, 0.0, 0.05, slack=0.0)["flat"] is False
    assert soak.flatness(times, values, 0.0, 0.05, slack=2.0)["flat"] is True
    assert soak.flatness(times[:2], values[:2], 0.0, 0.05, 0.0)["flat"] is None


def test_short_soak_is_flat(tmp_path):
    report_path = tmp_path / "soak.json"
    command = [sys.executable, str(SCRIPT), "--seconds", str(SECONDS), "--every", str(EVERY),
               "--width", "640", "--height", "480", "--stats-sink", "--tolerance", "0.10",
               "--memory-slack-mb", "10", "--latency-slack-ms", "10", "--json", str(report_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 60)
    assert report_path.exists(), done.stderr[-2000:]
    report = json.loads(report_path.read_text())
    verdict = report["verdict"]
    assert done.returncode == (0 if verdict["flat"] else 1), done.stdout[-2000:] + done.stderr[-2000:]
    samples = report["samples"]
    assert SECONDS // EVERY - 1 <= len(samples) <= SECONDS // EVERY
    assert all(set(s["queues"]) == {"source", "discard", "stats"} for s in samples)
    assert all(0 <= depth <= 2 for s in samples for depth in s["queues"].values())  # live queues hold 2
    assert samples[-1]["frames_out"] > 10 * SECONDS  # 30 fps nominal; a loaded CI box still does 10
    assert all(s["rss_mb"] > 10 for s in samples)
    assert report["summary"]["mode"] == "live"
    assert verdict["error"] is None, verdict
    assert verdict["memory"]["flat"] is True, verdict["memory"]
    # Latency over a short soak follows whatever else the machine runs (a second test
    # suite beside this one took p95 from 24 to 104 ms): it is judged, and the exit code
    # follows the judgement (above), but its flatness is the benchmark's to measure
    # (scripts/soak.py --minutes 30, in the README), not a test's to require.
    # What is checked is that the judgement is the rule applied to what was measured.
    latency = verdict["latency"]
    assert latency["first"] > 0 and latency["last"] > 0, latency
    within = (latency["last"] <= latency["first"] * 1.10  # --tolerance 0.10
              or latency["last"] - latency["first"] <= 10)  # --latency-slack-ms 10
    assert latency["flat"] is within, latency
    assert verdict["flat"] is within  # memory is flat and there was no error (above)
    assert ("verdict: FLAT" in done.stdout) == (done.returncode == 0)
