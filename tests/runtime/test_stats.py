"""RunStats keeps bounded memory however long a run lasts, and its percentiles stay right."""

import time

import numpy as np

from pipeline.runtime import stats as stats_module
from pipeline.runtime.stats import RunStats


def test_latency_reservoir_is_bounded_and_representative(monkeypatch):
    monkeypatch.setattr(stats_module, "LATENCY_RESERVOIR", 1000)
    stats = RunStats(["step"], ["sink"])
    assert stats._latencies.shape == (1000,)
    latencies = np.random.default_rng(3).uniform(0.0, 0.1, 20_000)
    latencies[12_345] = 0.5  # the worst one comes long after the reservoir filled
    for latency in latencies:
        stats.record_in()
        stats.record_written(0, time.perf_counter() - latency)
    summary = stats.summary("live", "stopped")
    assert stats._latencies.shape == (1000,)  # no growth after 20x the reservoir
    assert abs(summary.latency_ms["p50"] - np.median(latencies) * 1e3) < 6.0
    assert abs(summary.latency_ms["p95"] - np.percentile(latencies, 95) * 1e3) < 3.0
    assert 500.0 <= summary.latency_ms["max"] < 505.0  # the maximum is kept exactly


def test_progress_line_draws_with_tqdm():
    import io

    from pipeline.runtime.progress import ProgressLine

    stream = io.StringIO()
    line = ProgressLine(200, stream=stream)
    time.sleep(0.3)  # redrawn at most four times a second
    line.update(50)
    line.finish(200)
    text = stream.getvalue()
    assert " 25%|" in text and "50/200" in text and "200/200" in text and text.endswith("\n")
    stream = io.StringIO()
    count = ProgressLine(None, stream=stream)
    count.update(12)
    count.finish(12)
    assert "12 frames" in stream.getvalue()  # no total: a count and a rate
