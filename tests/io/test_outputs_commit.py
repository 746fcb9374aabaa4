"""The one commit path (``pipeline.io.outputs.commit``) as the video and stats sinks use it.

A rename that fails at close (here: a non-empty folder appeared under the output's name
while the run wrote) must raise an error naming the output, leave no temporary file and
put nothing half-written under the final name.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.frame import Frame
from pipeline.io.base import SinkError
from pipeline.io.outputs.commit import commit
from pipeline.io.temporaries import temporary_path
from pipeline.config.registry import build


def frame(index: int) -> Frame:
    image = np.zeros((32, 48, 3), np.uint8)
    image[:, : 8 + index] = 200
    return Frame(index, time.perf_counter(), image, image)


@pytest.mark.parametrize("name, file", [("video", "edges.mp4"), ("stats", "stats.jsonl")])
def test_a_refused_rename_names_the_output_and_leaves_nothing(tmp_path, name, file):
    out = tmp_path / file
    sink = build("sink", name, {"path": str(out)})
    sink.check()
    sink.open(frame(0), 10.0, None)
    for index in range(5):
        sink.write(frame(index))
    out.mkdir()
    (out / "keep").write_text("not empty, so os.replace refuses")
    with pytest.raises(SinkError) as caught:
        sink.close()
    message = str(caught.value)
    assert f"{name} sink: cannot move the finished file onto {str(out)!r}" in message
    assert "nothing was saved under that name" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [file]  # no temporary, no lock
    assert [p.name for p in out.iterdir()] == ["keep"]


def test_commit_without_a_writer_raises_the_oserror_and_keeps_the_temporary(tmp_path):
    final = tmp_path / "a.txt"
    final.mkdir()
    (final / "x").write_text("x")
    temp = temporary_path(final)
    temp.write_bytes(b"whole")
    with pytest.raises(OSError):
        commit(temp, final)
    assert temp.read_bytes() == b"whole"  # left for the caller to remove


def test_commit_moves_a_whole_file(tmp_path):
    final = tmp_path / "a.txt"
    final.write_bytes(b"old")
    temp = temporary_path(final)
    temp.write_bytes(b"new and whole")
    commit(temp, final, "test writer")
    assert final.read_bytes() == b"new and whole" and not temp.exists()
