"""One stats file for several streams (pipeline/io/sinks/stats_shared.py): whole lines from
threads writing at once, each with its stream's name; finished once every stream let go."""

from __future__ import annotations

import json
import threading

from pipeline.controls import Controls
from pipeline.io.sinks.stats import StatsSink
from pipeline.io.sinks.stats_shared import SharedStats
from tests.harness import make_frame

LINES = 200


def test_streams_writing_at_once_give_whole_lines_each_with_its_source(tmp_path):
    path = tmp_path / "all.jsonl"
    shared = SharedStats(StatsSink(path=str(path)))
    handles = [shared.handle(name) for name in ("a", "b", "c")]
    for handle in handles:
        handle.check()  # once for all: a later check would meet the first's lock
        handle.open(make_frame(0), 30.0, Controls())

    def write(handle):
        for index in range(LINES):
            handle.write(make_frame(index))
        handle.close()

    threads = [threading.Thread(target=write, args=(handle,)) for handle in handles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.exists()  # every stream closed its handle: the file is finished
    for handle in handles:
        handle.release()  # the end of each stream's run, after its close: nothing more
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for name in "abc":
        assert [row["index"] for row in rows if row["source"] == name] == list(range(LINES))
    assert len(rows) == 3 * LINES and shared.error is None


def test_the_file_is_kept_if_one_stream_closed_it_and_removed_if_none_did(tmp_path):
    kept, removed = tmp_path / "kept.jsonl", tmp_path / "removed.jsonl"
    for path, ends in ((kept, ("close", "abort")), (removed, ("abort", "release"))):
        shared = SharedStats(StatsSink(path=str(path)))
        first, second = shared.handle("a"), shared.handle("b")
        first.open(make_frame(0), 30.0, Controls())
        first.write(make_frame(0))
        getattr(first, ends[0])()
        assert not path.exists()  # the other stream still holds it
        getattr(second, ends[1])()
    assert [json.loads(line)["source"] for line in kept.read_text().splitlines()] == ["a"]
    assert not removed.exists() and not list(tmp_path.glob("*removed*"))
