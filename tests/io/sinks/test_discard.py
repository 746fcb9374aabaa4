"""The discard sink counts frames and keeps nothing."""

from __future__ import annotations

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.sinks.discard import DiscardSink
from pipeline.config.registry import build
from tests.harness import make_frame


# --- discard and the registry -----------------------------------------------------------------
def test_discard_counts_and_keeps_nothing(tmp_path):
    sink = build("sink", "discard")
    assert isinstance(sink, DiscardSink)
    sink.check()
    sink.open(make_frame(0), 10.0, None)
    for i in range(4):
        sink.write(make_frame(i))
    sink.close()
    assert sink.frames_written == 4
