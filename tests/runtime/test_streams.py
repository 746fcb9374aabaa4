"""Several streams in one process (pipeline/runtime/streams.py, Pipeline.run_streams): real
engines over real sources into real files; each stream's output equals a run of its source
alone (several files on the shared processing pool, frame for frame), one stats file takes
every stream's lines, a failing stream stops no other, and a batch run draws one progress
line for the set."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading

import numpy as np
import pytest

from pipeline.cli.main import main
from pipeline.io.media.probe import ffprobe
from pipeline.pipeline import Pipeline
from tests.harness import decode

CHAIN = ["grayscale", {"gradient": {"kind": "sobel", "norm": "l2"}}, {"map": {"mode": "abs"}},
         {"threshold": {"value": "auto"}}]
LENGTHS = {"door": 9, "yard": 14}


def sources() -> list[dict]:
    return [{"name": "door", "type": "synthetic", "length": LENGTHS["door"], "width": 96, "height": 64},
            {"name": "yard", "type": "synthetic", "length": LENGTHS["yard"], "width": 64, "height": 48,
             "fps": 25.0}]


def config(tmp_path, streams: list[dict], stats: str = "all.jsonl") -> dict:
    return {"version": 1, "sources": streams, "stages": CHAIN,
            "sinks": [{"video": {"path": str(tmp_path / "{source}.mkv"), "codec": "ffv1"}},
                      {"stats": {"path": str(tmp_path / stats)}}],
            "runtime": {"mode": "batch"}}


def frames_in(path) -> tuple[int, int]:
    """(frames counted by decoding, width) of a video file, from ffprobe."""
    stream = ffprobe(path, "-count_frames", "-select_streams", "v:0",
                     "-show_entries", "stream=nb_read_frames,width")["streams"][0]
    return int(stream["nb_read_frames"]), int(stream["width"])


def lines(path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def alone(tmp_path, stream: dict) -> tuple[list, list]:
    """The frames and stats lines of ``stream``'s source run by itself (``source:``)."""
    folder = tmp_path / f"alone_{stream['name']}"
    source = {k: v for k, v in stream.items() if k != "name"}
    data = {"version": 1, "source": source, "stages": CHAIN, "runtime": {"mode": "batch"},
            "sinks": [{"video": {"path": str(folder / "out.mkv"), "codec": "ffv1"}},
                      {"stats": {"path": str(folder / "stats.jsonl")}}]}
    Pipeline.from_dict(data).run()
    return decode(folder / "out.mkv"), lines(folder / "stats.jsonl")


def test_two_streams_each_write_their_own_complete_file(tmp_path):
    pipe = Pipeline.from_dict(config(tmp_path, sources()))
    summary = pipe.run_streams()
    assert summary.ok and summary.stop_reason == "end of stream"
    assert [s["name"] for s in summary.streams] == ["door", "yard"]
    assert [s["frames_out"] for s in summary.streams] == [9, 14]
    assert frames_in(tmp_path / "door.mkv") == (9, 96)
    assert frames_in(tmp_path / "yard.mkv") == (14, 64)
    rows = lines(tmp_path / "all.jsonl")
    for stream in sources():
        frames, stats = alone(tmp_path, stream)
        together = decode(tmp_path / f"{stream['name']}.mkv")
        assert len(together) == len(frames)
        assert all(np.array_equal(a, b) for a, b in zip(together, frames))
        # Own stage instances: each frame's automatic threshold is its own stream's.
        mine = [row for row in rows if row["source"] == stream["name"]]
        assert [row["index"] for row in mine] == list(range(LENGTHS[stream["name"]]))
        assert [row["threshold"] for row in mine] == [row["threshold"] for row in stats]
    assert len(rows) == sum(LENGTHS.values())


def test_each_stream_has_its_own_controls_and_stages(tmp_path):
    pipe = Pipeline.from_dict(config(tmp_path, sources()))
    streams = pipe.stream_set()
    engines = [run.engine for run in streams.streams]
    assert engines[0].controls is not engines[1].controls
    assert [run.engine.controls for run in streams.streams] == list(pipe.stream_controls.values())
    first, second = (list(engine.chain.stages) for engine in engines)
    assert all(a is not b for a, b in zip(first, second))
    streams.run()
    assert streams.summary.ok
    for name, controls in pipe.stream_controls.items():
        assert controls.snapshot().threshold is not None, name


def test_a_failing_stream_stops_no_other(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 4096)
    clip = tmp_path / "in" / "yard.mp4"
    clip.parent.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25",
                    "-frames:v", "14", "-pix_fmt", "yuv420p", str(clip)], check=True)
    streams = [{"name": "yard", "type": "file", "path": str(clip)},
               {"name": "broken", "type": "file", "path": str(bad)}]
    pipe = Pipeline.from_dict(config(tmp_path, streams))
    summary = pipe.run_streams()
    assert not summary.ok
    assert [record["input"] for record in summary.failed] == ["stream broken"]
    by_name = {s["name"]: s for s in summary.streams}
    assert by_name["yard"]["ok"] and by_name["yard"]["frames_out"] == 14
    assert not by_name["broken"]["ok"] and "broken.mp4" in by_name["broken"]["last_error"]
    # FFmpeg's log is one per process: the broken file's messages are not yard's notes.
    assert not [note for note in by_name["yard"]["notes"] if "FFmpeg" in note]
    assert frames_in(tmp_path / "yard.mkv") == (14, 64)
    assert not (tmp_path / "broken.mkv").exists()
    rows = lines(tmp_path / "all.jsonl")  # the shared file kept: a stream closed it normally
    assert {row["source"] for row in rows} == {"yard"} and len(rows) == 14


def test_the_run_command_reports_each_stream_and_exits_1_if_one_failed(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 4096)
    path = tmp_path / "multi.yaml"
    data = config(tmp_path, [*sources(), {"name": "broken", "type": "file", "path": str(bad)}])
    path.write_text(json.dumps(data))  # JSON is YAML
    report = tmp_path / "report.json"
    code = main(["run", str(path), "--json", str(report)])
    printed = capsys.readouterr().err
    assert code == 1
    assert "edgepipe: error: stream broken:" in printed
    for name, count in LENGTHS.items():
        assert f"  {name}: end of stream  in {count}  out {count}" in printed
    outcome = json.loads(report.read_text())
    assert outcome["ok"] is False and outcome["exit_code"] == 1
    streams = {s["name"]: s for s in outcome["streams"]}
    assert set(streams) == {"door", "yard", "broken"}
    for name, count in LENGTHS.items():
        health = streams[name]
        assert health["ok"] and health["frames_in"] == count and health["frames_out"] == count
        assert set(health["latency_ms"]) >= {"p50", "p95"} and health["fps"] > 0
        assert health["dropped"] == 0 and health["reconnects"] == 0 and health["last_error"] is None
    assert streams["broken"]["error"] and streams["broken"]["frames_out"] == 0
    written = {record["path"]: record for record in outcome["outputs"]}
    assert written[str(tmp_path / "all.jsonl")]["frames"] == sum(LENGTHS.values())
    assert written[str(tmp_path / "door.mkv")]["written"] is True


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_still_names_the_failed_stream(tmp_path, capsys, quiet):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 4096)
    code = main(["run", "-i", "synthetic", "-i", str(bad), str(tmp_path / "{source}.mkv"),
                 "--max-frames", "3", *(["-q"] if quiet else [])])
    printed = capsys.readouterr().err
    assert code == 1 and printed.count("edgepipe: error: stream broken:") == 1
    assert frames_in(tmp_path / "synthetic.mkv")[0] == 3


def test_streams_join_and_leave_a_set_by_name_and_not_after_it_ended(tmp_path):
    pipe = Pipeline.from_dict({**config(tmp_path, sources()), "sinks": [
        {"video": {"path": str(tmp_path / "{source}.mkv"), "codec": "ffv1"}}]})
    streams = pipe.stream_set()
    added = pipe.new_stream({"name": "gate", "type": "synthetic", "length": 5, "width": 32, "height": 24})
    streams.add(added)  # before the run: it starts with the others
    with pytest.raises(ValueError, match="'door' is in this run already"):
        streams.add(dataclasses.replace(added, name="door"))
    with pytest.raises(ValueError, match="no stream 'nope' in this run; its streams: door, yard, gate"):
        streams.remove("nope")
    summary = streams.run()
    assert [s["name"] for s in summary.streams] == ["door", "yard", "gate"]
    assert [s["frames_out"] for s in summary.streams] == [9, 14, 5]
    assert frames_in(tmp_path / "gate.mkv") == (5, 32)
    with pytest.raises(ValueError, match="the run is over"):
        streams.add(pipe.new_stream({"name": "late", "type": "synthetic", "length": 2}))


CLIPS = {"north": ("testsrc2", "96x64", 17), "south": ("mandelbrot", "80x48", 12),
         "east": ("smptehdbars", "64x64", 9)}


def make_clips(folder) -> dict:
    """Three small H.264 clips, each its own picture, size and length (real ffmpeg)."""
    folder.mkdir()
    paths = {}
    for name, (pattern, size, count) in CLIPS.items():
        paths[name] = folder / f"{name}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"{pattern}=size={size}:rate=25",
                        "-vf", "noise=alls=30:allf=t", "-frames:v", str(count), "-pix_fmt", "yuv420p",
                        str(paths[name])], check=True)
    return paths


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_batch_run_of_several_files_equals_separate_runs_frame_for_frame(tmp_path, workers):
    paths = make_clips(tmp_path / "in")
    streams = [{"name": name, "type": "file", "path": str(path)} for name, path in paths.items()]
    data = config(tmp_path, streams)
    data["runtime"]["workers"] = workers
    pipe = Pipeline.from_dict(data)
    summary = pipe.run_streams()
    assert pipe.pool.size == workers and pipe.pool.alive() == 0
    assert summary.ok and [s["frames_out"] for s in summary.streams] == [c for *_, c in CLIPS.values()]
    rows = lines(tmp_path / "all.jsonl")
    for stream in streams:
        frames, stats = alone(tmp_path, stream)
        together = decode(tmp_path / f"{stream['name']}.mkv")
        assert len(together) == len(frames) == CLIPS[stream["name"]][2]
        assert all(np.array_equal(a, b) for a, b in zip(together, frames)), stream["name"]
        mine = [row for row in rows if row["source"] == stream["name"]]
        assert [row["threshold"] for row in mine] == [row["threshold"] for row in stats]


def test_the_streams_share_one_pool_whose_threads_end_with_the_set(tmp_path):
    pipe = Pipeline.from_dict(config(tmp_path, sources()))
    streams = pipe.stream_set()
    assert streams.pool is pipe.pool and all(run.engine.pool is pipe.pool for run in streams.streams)
    streams.run()
    assert streams.summary.ok and pipe.pool.alive() == 0 and pipe.pool.streams() == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("edgepipe-pool-")]


def test_without_a_pool_each_engine_has_its_processing_thread_and_writes_the_same(tmp_path):
    pipe = Pipeline.from_dict(config(tmp_path, sources()))
    streams = pipe.stream_set(pool=False)
    assert streams.pool is None and all(run.engine.pool is None for run in streams.streams)
    assert streams.run().ok
    for stream in sources():
        frames, _ = alone(tmp_path, stream)
        together = decode(tmp_path / f"{stream['name']}.mkv")
        assert len(together) == len(frames) == LENGTHS[stream["name"]]
        assert all(np.array_equal(a, b) for a, b in zip(together, frames))


def test_a_batch_run_shows_one_progress_line_for_every_stream(tmp_path, capsys):
    Pipeline.from_dict(config(tmp_path, sources())).run_streams(progress=True)
    printed = capsys.readouterr().err
    total = sum(LENGTHS.values())
    assert "edgepipe (2 streams)" in printed and f"{total}/{total}" in printed
    assert printed.count("edgepipe (") == printed.count("edgepipe (2 streams)")


def test_the_progress_line_counts_only_when_a_stream_cannot_tell_its_length(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 4096)
    streams = [*sources(), {"name": "broken", "type": "file", "path": str(bad)}]
    summary = Pipeline.from_dict(config(tmp_path, streams)).run_streams(progress=True)
    printed = capsys.readouterr().err
    assert [record["input"] for record in summary.failed] == ["stream broken"]
    total = sum(LENGTHS.values())
    last = printed.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith(f"edgepipe (3 streams): {total} frames [")  # no "of N", no bar


def test_a_live_run_shows_no_progress_line(tmp_path, capsys):
    data = config(tmp_path, [{**stream, "length": 3} for stream in sources()])
    data["runtime"] = {"mode": "live"}
    assert Pipeline.from_dict(data).run_streams(progress=True).ok
    assert "edgepipe (" not in capsys.readouterr().err


def run_on_a_terminal(args: list[str]) -> str:
    """What ``edgepipe ARGS`` (a real subprocess) writes on stderr when it is a terminal."""
    master, slave = pty.openpty()
    # A new pty is 0 columns wide: tqdm would draw an empty line.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        done = subprocess.run([sys.executable, "-m", "pipeline", *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=slave, timeout=600)
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed and everything was read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert done.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_the_run_command_on_a_terminal_draws_one_line_for_the_set(tmp_path):
    path = tmp_path / "multi.yaml"
    data = config(tmp_path, sources())
    data["sinks"] = [{"stats": {"path": str(tmp_path / "all.jsonl")}}]
    path.write_text(json.dumps(data))
    total = sum(LENGTHS.values())
    shown = run_on_a_terminal(["run", str(path)])
    assert "edgepipe (2 streams)" in shown and f"{total}/{total}" in shown
    assert "edgepipe (2 streams)" not in run_on_a_terminal(["run", str(path), "-q"])


def shared_of(pipe, kind: str):
    from pipeline.io.sinks.http.streams import SharedHttp
    from pipeline.io.sinks.stats_shared import SharedStats

    wanted = {"http": SharedHttp, "stats": SharedStats}[kind]
    return next(shared for shared in pipe._shared if isinstance(shared, wanted))


def test_an_add_refused_by_a_finished_shared_sink_holds_none_of_the_others(tmp_path, monkeypatch):
    """Stream b's stats handle is taken, then the http sink (finished) refuses its own: the
    stats handle must be let go of, or the shared file is never finished."""
    from pipeline.io.base import SinkError
    from pipeline.io.sinks.http.streams import SharedHttp
    from pipeline.io.sinks.stats_shared import StatsHandle

    data = {"version": 1, "stages": CHAIN, "runtime": {"mode": "batch"},
            "sources": [{"name": "a", "type": "synthetic", "width": 64, "height": 48, "length": 5}],
            "sinks": [{"stats": {"path": str(tmp_path / "all.jsonl")}}, {"http": {"port": 0}}]}
    pipe = Pipeline.from_dict(data)
    streams = pipe.stream_set()
    stats, http = shared_of(pipe, "stats"), shared_of(pipe, "http")
    closing, go_on, http_done = threading.Event(), threading.Event(), threading.Event()
    close, release = StatsHandle.close, SharedHttp.release

    def held_close(handle):  # stream a's stats sink finishes after its http sink
        closing.set()
        go_on.wait()
        close(handle)

    def noted_release(shared, name, forget=False):
        release(shared, name, forget)
        if shared._finished:
            http_done.set()

    monkeypatch.setattr(StatsHandle, "close", held_close)
    monkeypatch.setattr(SharedHttp, "release", noted_release)
    runner = threading.Thread(target=streams.run)
    runner.start()
    try:
        assert closing.wait(120) and http_done.wait(120)
        assert stats._waiting == 1  # stream a's handle, held in its close
        with pytest.raises(SinkError, match="server has stopped"):
            http.add_stream({"name": "b", "type": "synthetic", "width": 64, "height": 48, "length": 5})
        assert stats._waiting == 1 and "b" not in pipe.stream_controls and pipe._added == []
    finally:
        go_on.set()
        runner.join()
    assert streams.summary.ok and stats._finished and stats.error is None
    assert sorted(os.listdir(tmp_path)) == ["all.jsonl"]  # no temporary, no lock left
    assert [row["source"] for row in lines(tmp_path / "all.jsonl")] == ["a"] * 5


def test_no_stream_joins_after_an_interrupt_even_when_every_stream_had_stopped(tmp_path):
    """The interrupt reached only streams stopped already (their reason stays "removed"):
    the set itself remembers it, and refuses a stream that comes after."""
    pipe = Pipeline.from_dict(config(tmp_path, sources()[:1]))
    streams = pipe.stream_set()
    streams.streams[0].engine.controls.stop("removed")
    streams.interrupt("interrupted")
    late = pipe.new_stream({"name": "late", "type": "synthetic", "length": 2})
    with pytest.raises(ValueError, match="the run is over"):
        streams.add(late)
    assert [s.name for s in streams.streams] == ["door"]


def test_a_stream_the_set_refuses_leaves_nothing_behind(tmp_path):
    """Refused after Ctrl+C: its channel leaves the page, its handles are let go of, its
    controls and sinks are dropped and its name is free again."""
    data = config(tmp_path, sources()[:1])
    data["sinks"].append({"http": {"port": 0}})
    pipe = Pipeline.from_dict(data)
    streams = pipe.stream_set()
    stats, http = shared_of(pipe, "stats"), shared_of(pipe, "http")
    sinks = list(pipe.sinks)
    streams.interrupt("interrupted")
    item = {"name": "late", "type": "synthetic", "length": 2}
    with pytest.raises(ValueError, match="the run is over"):
        http.add_stream(item)
    assert list(http.channels) == ["door"] and [s["name"] for s in http.listing()["streams"]] == ["door"]
    assert stats._waiting == 1 and http._waiting == 1  # door's only
    assert list(pipe.stream_controls) == ["door"] and pipe.sinks == sinks and pipe._added == []
    assert pipe.new_stream(item).name == "late"  # the name was not kept
