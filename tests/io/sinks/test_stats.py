"""The stats sink: one JSON line a frame, to a file (never half-written) or to stdout."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.sinks.stats import StatsSink
from pipeline.controls import Controls
from tests.harness import files_in, make_frame


# --- stats ------------------------------------------------------------------------------------
def test_stats_json_lines(tmp_path):
    final = tmp_path / "run" / "stats.jsonl"
    controls = Controls()
    controls.publish_stats(dropped=3)
    sink = StatsSink(str(final))
    sink.check()
    sink.open(make_frame(0), 10.0, controls)
    sides = [
        {"threshold": 40.0, "drops": 1, "tuner": {"objective": np.float32(0.5), "iterations": np.int64(7)},
         "histogram": np.zeros(256)},
        {"threshold": np.float64(42.5), "stage_ms": (1.5, 2.0), "bad": float("nan")},
        {},
    ]
    for i, side in enumerate(sides):
        sink.write(make_frame(i, side=side))
    assert not final.exists()
    sink.close()
    rows = [json.loads(line) for line in final.read_text().splitlines()]
    assert [r["index"] for r in rows] == [0, 1, 2]
    for row in rows:
        assert 0 <= row["latency_ms"] < 10_000
        assert abs(row["captured_at"] - time.time()) < 60
    assert rows[0]["threshold"] == 40.0 and rows[0]["drops"] == 1
    assert rows[0]["tuner"] == {"objective": 0.5, "iterations": 7}
    assert "histogram" not in rows[0]
    assert rows[1]["threshold"] == 42.5 and rows[1]["stage_ms"] == [1.5, 2.0] and rows[1]["bad"] is None
    assert rows[1]["drops"] == 3  # not in side: the run's live count
    assert rows[2]["threshold"] is None
    assert files_in(final.parent) == ["stats.jsonl"]


def test_stats_latency_is_measured_from_capture(tmp_path):
    sink = StatsSink(str(tmp_path / "s.jsonl"))
    sink.open(None, 10.0, None)
    frame = make_frame(0)
    frame.timestamp -= 0.25  # captured a quarter second ago
    row = sink.record(frame)
    assert 250 <= row["latency_ms"] < 350
    sink.abort()


def test_stats_abort_leaves_nothing(tmp_path):
    sink = StatsSink(str(tmp_path / "s.jsonl"))
    sink.open(None, 10.0, None)
    sink.write(make_frame(0))
    sink.abort()
    assert files_in(tmp_path) == []


def test_stats_to_stdout(capsys):
    sink = StatsSink("-")
    sink.check()
    sink.open(None, 10.0, None)
    sink.write(make_frame(4, side={"threshold": 9}))
    sink.close()
    row = json.loads(capsys.readouterr().out)
    assert row["index"] == 4 and row["threshold"] == 9


def test_each_line_reaches_the_file_as_its_frame_passes(tmp_path):
    # `tail -f` of the file being written sees a frame's line before the next frame.
    sink = StatsSink(str(tmp_path / "s.jsonl"))
    sink.open(None, 10.0, None)
    temp = sink._output.temp
    for index in range(3):
        sink.write(make_frame(index))
        lines = temp.read_text().splitlines()
        assert [json.loads(line)["index"] for line in lines] == list(range(index + 1))
    sink.close()


def test_a_pipe_or_device_is_written_in_place_not_replaced(tmp_path):
    """``stats: {path: /dev/null}`` once replaced /dev/null with a regular file (the sink
    renamed its temporary onto it).  A FIFO takes the same path as a device: written in
    place, no lock or temporary beside it, still a FIFO afterwards."""
    import os
    import stat

    from pipeline.io.outputs.commit import is_device

    assert is_device(os.devnull) and not is_device(tmp_path) and not is_device(tmp_path / "none")
    fifo = tmp_path / "lines"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the reader is there first
    try:
        sink = StatsSink(path=str(fifo))
        sink.check()
        frame = make_frame(0)
        sink.open(frame, 30.0)
        sink.write(frame)
        sink.close()
        got = os.read(reader, 65536).decode()
        assert os.read(reader, 1) == b""  # every writer closed: the reader's end of input
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert len(got.splitlines()) == 1 and "latency_ms" in json.loads(got)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lines"]


def test_the_readers_check_leaves_a_pipe_with_a_writer_until_the_output_ends(tmp_path):
    """Finding out whether a FIFO has a reader opens its write end; closed at once, the
    pipe had no writer until the sink opened it, and a reader already waiting (``cat``)
    read the end of its input and left: the sink's own open then blocked for ever."""
    import os

    from pipeline.io.outputs.commit import StagedOutput

    fifo = tmp_path / "lines"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        output = StagedOutput(str(fifo), "stats sink")
        assert output.begin() == fifo
        with pytest.raises(BlockingIOError):  # a writer is there: no end of input yet
            os.read(reader, 1)
        output.commit()
        assert os.read(reader, 1) == b""  # the probe closed with the output
        output = StagedOutput(str(fifo), "stats sink")
        output.begin()
        output.discard()
        assert os.read(reader, 1) == b""
    finally:
        os.close(reader)


def test_a_pipe_nobody_reads_is_refused_not_waited_for(tmp_path):
    import os

    from pipeline.io.base import SinkError

    fifo = tmp_path / "nobody"
    os.mkfifo(fifo)
    sink = StatsSink(path=str(fifo))
    sink.check()
    with pytest.raises(SinkError, match=r"is a pipe \(FIFO\) that no process reads; start its reader first"):
        sink.open(make_frame(0), 30.0)
