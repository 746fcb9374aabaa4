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


def summary(mode="live", frames_in=1000, drops=None):
    from pipeline.runtime.stats import Summary

    drops = {"source": 0} if drops is None else drops
    return Summary(mode=mode, stop_reason="stopped", frames_in=frames_in,
                   frames_out=frames_in - sum(drops.values()), dropped=sum(drops.values()),
                   drops=drops, seconds=10.0, fps=frames_in / 10, stage_ms={},
                   latency_ms={"p50": 1.0, "p95": 2.0, "max": 3.0}, sinks={"video": frames_in})


def note_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "dropped frames to keep up" in line]


def test_a_live_run_that_dropped_over_one_percent_says_where_and_what_helps():
    lines = note_lines(summary(drops={"source": 240, "video": 30, "stats": 10}).format())
    assert lines == [lines[0]]
    # Worst first; a place at 1% or under is not named; the counts stay on the frames line.
    assert "24.0% at the chain's input, 3.0% at sink video (of the frames read)" in lines[0]
    assert "stats" not in lines[0] and "--mode batch keeps every frame" in lines[0]
    assert "grayscale: {from: luma}" in lines[0]


def test_no_note_at_one_percent_or_in_batch_mode_or_without_frames():
    assert note_lines(summary(drops={"source": 10}).format()) == []  # 1.0%: not over
    assert note_lines(summary(drops={"source": 11}).format())  # 1.1%
    assert note_lines(summary(mode="batch", drops={"source": 500}).format()) == []
    assert note_lines(summary(frames_in=0, drops={"source": 0}).format()) == []


def streams_summary(drops_by_name: dict):
    from pipeline.runtime.streams import StreamsSummary

    streams = [dict(summary(drops=drops).to_dict(), name=name, error=None)
               for name, drops in drops_by_name.items()]
    streams.append({"name": "lost", "error": "did not open", "stop_reason": "error",
                    "frames_in": 0, "frames_out": 0})  # failed before its first frame
    return StreamsSummary("stopped", streams, [])


def test_several_streams_get_one_note_naming_each_stream_that_fell_behind():
    lines = note_lines(streams_summary({"door": {"source": 300}, "yard": {"source": 2},
                                        "gate": {"source": 0, "frames": 50}}).format())
    assert len(lines) == 1 and "in 2 of 4 streams: " in lines[0]
    assert "door (30.0% at the chain's input); gate (5.0% at the caller of frames())" in lines[0]
    assert "yard" not in lines[0] and "lost" not in lines[0]


def test_many_streams_behind_are_counted_by_place_with_their_range():
    from pipeline.runtime.streams import NAMED_BEHIND

    drops = {f"c{i}": {"source": 100 + 10 * i, "video": 20 if i == 0 else 0}
             for i in range(NAMED_BEHIND + 2)}
    lines = note_lines(streams_summary(drops).format())
    count = NAMED_BEHIND + 2
    assert len(lines) == 1 and f"in {count} of {count + 1} streams: " in lines[0]
    assert f"{count} at the chain's input (10.0-{10 + count - 1:.1f}%); 1 at sink video (2.0%)" in lines[0]
    assert "c0" not in lines[0]
