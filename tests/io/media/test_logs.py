"""FFmpeg's messages while a file decodes: counted by kind, not printed; other contexts' kept apart."""

from __future__ import annotations

import shutil

import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.media import logs
from pipeline.io.media.reader import MediaReader
from pipeline.pipeline import Pipeline
from tests.harness import bounded
from tests.io.media.test_reader import damaged_clip

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def test_ffmpeg_messages_are_counted_by_kind_not_printed(tmp_path, capfd):
    path = damaged_clip(tmp_path)
    pipe = Pipeline.from_dict({"version": 1, "source": {"type": "file", "path": str(path)},
                               "stages": ["grayscale"]})
    summary = bounded(pipe.run, 60)
    err = capfd.readouterr().err
    lines = [n for n in summary.notes if "FFmpeg (" in n]
    assert lines, summary.notes
    counted = sum(int(n.split(" x", 1)[1].split(",", 1)[0]) if " x" in n.split(",")[0] else 1
                  for n in lines if "more FFmpeg messages" not in n)
    assert counted > len(lines)  # many messages, one line per kind
    assert all(str(path) in n for n in lines)
    assert "marker" not in err and "Error at MB" not in err and "[mpeg4" not in err


def test_tally_groups_messages_that_differ_only_in_numbers():
    tally = logs.MessageTally()
    for x, y in ((3, 4), (5, 6), (7, 8)):
        tally.add(40, "h264", f"error while decoding MB {x} {y}, bytestream -5")
    tally.add(30, "mov,mp4,m4a,3gp,3g2,mj2", "stream 0, offset 0x30: partial file")
    lines = tally.lines("video file 'a.mp4'")
    assert lines[0] == ("video file 'a.mp4': FFmpeg (h264) error x3, e.g. "
                        "\"error while decoding MB 3 4, bytestream -5\"")
    assert len(lines) == 2 and "warning" in lines[1]


def test_messages_of_other_ffmpeg_contexts_are_not_the_sources(tmp_path):
    # The video sink's encoder and muxer log into the same process-wide FFmpeg log.
    tally = logs.MessageTally()
    tally.add(40, "mpeg4", "Error at MB: 6")
    tally.add(30, "libx264", "non-strictly-monotonic PTS")
    tally.add(30, "mp4", "Timestamps are unset in a packet")
    reader = MediaReader(str(damaged_clip(tmp_path)), tally=tally).open()
    reader.close()
    lines = tally.lines("video file 'x'")
    assert len(lines) == 1 and "(mpeg4)" in lines[0] and tally.heard == 1


def test_a_muxers_message_is_the_written_files_never_the_inputs():
    """The AVI muxer logs under "avi", as the AVI demuxer does: told apart by what it says."""
    import logging

    from pipeline.io.media.logs import MessageTally

    text = "Application provided invalid, non monotonically increasing dts to muxer in stream 1: 1 >= 1"
    reading, writing = MessageTally(), MessageTally(writing=True)
    for tally in (reading, writing):
        tally.add(logging.ERROR, "avi", text)
        tally.add(logging.WARNING, "mpeg4", "Discarding excessive bitstream in packed xvid")
    assert reading.lines("video file 'in.avi'") == [
        "video file 'in.avi': FFmpeg (mpeg4) warning, said \"Discarding excessive bitstream in packed xvid\""]
    assert writing.lines("video sink out.avi") == [f"video sink out.avi: FFmpeg (avi) error, said \"{text}\""]


def _open_junk(path) -> None:
    import av  # noqa: PLC0415  (the test's own FFmpeg call, in the thread under test)
    with pytest.raises(av.error.InvalidDataError):
        av.open(str(path))


def _in_thread(function, *args) -> None:
    import threading  # noqa: PLC0415
    thread = threading.Thread(target=function, args=args)
    thread.start()
    thread.join()


def test_a_message_from_a_tallys_own_thread_is_that_tallys_alone(tmp_path):
    """Several streams in one process: one stream's bad file is not blamed on another."""
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    mine, other = logs.MessageTally(), logs.MessageTally()
    _in_thread(other.start)  # the other stream's reader, in a thread of its own
    try:
        def open_as_mine():
            mine.start()
            _open_junk(junk)
        _in_thread(open_as_mine)
        assert mine.heard > 0 and other.heard == 0
        heard = mine.heard
        _in_thread(_open_junk, junk)  # a thread no tally claimed: every open tally hears it
        assert mine.heard > heard and other.heard > 0
    finally:
        mine.stop()
        other.stop()


def test_a_muted_thread_hides_its_own_messages_only(tmp_path):
    """The progress line's count decodes beside the run: its messages are not counted, the
    run's own, from another thread at the same time, still are."""
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    tally = logs.MessageTally()
    tally.start()  # claims this thread: every other thread's messages reach it too
    try:
        def counting_pass():
            with logs.muted():
                _open_junk(junk)
        _in_thread(counting_pass)
        assert tally.heard == 0
        with logs.muted():
            _in_thread(_open_junk, junk)  # muted here, not in the thread that logs
        assert tally.heard > 0
    finally:
        tally.stop()


def test_counting_a_damaged_files_frames_adds_nothing_to_the_runs_messages(tmp_path):
    from pipeline.config.registry import build  # noqa: PLC0415

    source = build("source", "file", {"path": str(damaged_clip(tmp_path))})
    source.open()
    try:
        before = source._tally.heard
        counted = []
        _in_thread(lambda: counted.append(source.count_frames()))  # as the progress line does
        assert counted[0] > 0 and source._tally.heard == before
        while source.read() is not None:  # the run's own read: its messages are heard
            pass
        assert source._tally.heard > before
    finally:
        source.close()
