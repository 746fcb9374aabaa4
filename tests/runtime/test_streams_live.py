"""Several live streams in one ``edgepipe run`` process, from real senders on loopback.

Each test starts real ``ffmpeg`` senders (MPEG-TS over tcp, one listening socket each; the
helpers of tests/io/sources/test_url.py) and, where installed, GStreamer's RTSP server,
then one ``python -m pipeline run CONFIG`` child with a ``stats`` sink on standard output
(one JSON line per frame, with its stream's ``source`` and ``captured_at``) read as it
comes, and ``--json`` for the per-stream summary.  One sender is killed and restarted, or
frozen (SIGSTOP: the socket stays open, nothing more comes), or changes its picture size,
while the test watches the other streams' capture times.  Waits are hang guards only.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

import pytest

from pipeline.io.media.probe import ffprobe
from tests.harness import ROOT
from tests.io.sources.test_url import (RATE, RTSP_SERVER, SYSTEM_PYTHON, _rtsp_server_missing,  # noqa: F401
                                       free_port, serve, servers)
from tests.runtime.test_streams import CHAIN

HANG = 120.0  # seconds: a run that takes longer than this hangs
RECONNECT = {"on_error": "retry", "reconnect_attempts": 60, "reconnect_backoff": 0.1,
             "reconnect_max_backoff": 0.3}


def tcp(name: str, port: int, **settings) -> dict:
    return {"name": name, "type": "url", "url": f"tcp://127.0.0.1:{port}", "open_timeout": 5.0,
            "read_timeout": 2.0, **settings}


class Run:
    """``python -m pipeline run`` of ``sources`` into ``{source}.mkv`` and stats on stdout."""

    def __init__(self, tmp_path, sources: list[dict], **runtime):
        self.folder = tmp_path
        config = {"version": 1, "sources": sources, "stages": CHAIN,
                  "sinks": [{"video": {"path": str(tmp_path / "{source}.mkv")}},
                            {"stats": {"path": "-"}}],
                  "runtime": {"mode": "live", **runtime}}
        path = tmp_path / "streams.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        self.report = tmp_path / "report.json"
        self.rows: list[dict] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", str(path), "--json", str(self.report)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._errors: list[str] = []
        self._readers = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=lambda: self._errors.extend(self.process.stderr),
                                          daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.rows.append(json.loads(line))

    @property
    def stderr(self) -> str:
        return "".join(self._errors)

    def of(self, name: str) -> list[dict]:
        return [row for row in list(self.rows) if row["source"] == name]

    def wait_for(self, name: str, count: int) -> None:
        """Wait until stream ``name`` has ``count`` stats lines (a hang guard bounds it)."""
        end = time.monotonic() + HANG
        while len(self.of(name)) < count:
            if self.process.poll() is not None or time.monotonic() > end:
                self.finish()
                pytest.fail(f"stream {name} has {len(self.of(name))} of {count} frames; "
                            f"exit {self.process.returncode}: {self.stderr}")
            time.sleep(0.02)

    def finish(self) -> tuple[int, dict]:
        """The exit code and the ``--json`` summary's streams by name."""
        try:
            self.process.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the run hangs: {self.stderr}")
        for reader in self._readers:
            reader.join(10)
        if not self.report.exists():
            return self.process.returncode, {}
        outcome = json.loads(self.report.read_text())
        return self.process.returncode, {s["name"]: s for s in outcome["streams"]}


def video_frames(path) -> list[tuple[float, int]]:
    """``(pts seconds, width)`` of every frame of the video at ``path``, from ffprobe."""
    frames = ffprobe(path, "-select_streams", "v:0", "-show_entries", "frame=pts_time,width")["frames"]
    return [(float(f["pts_time"]), int(f["width"])) for f in frames]


def gaps(rows: list[dict]) -> list[tuple[float, float]]:
    """``(gap seconds, time before it)`` between consecutive capture times."""
    times = [row["captured_at"] for row in rows]
    return [(b - a, a) for a, b in zip(times, times[1:])]


@pytest.fixture
def rtsp(servers):
    """``rtsp://127.0.0.1:PORT/test``: GStreamer's RTSP server, 40 s of 320x240 per client."""
    missing = _rtsp_server_missing()
    if missing:
        pytest.skip(missing)
    server = subprocess.Popen([SYSTEM_PYTHON, str(RTSP_SERVER), str(40 * RATE), "320", "240", str(RATE)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    servers.append(server)
    port = server.stdout.readline().strip()  # ends when the server dies: not a hang
    assert port.isdigit(), f"the RTSP server did not start: {server.stderr.read()}"
    return f"rtsp://127.0.0.1:{port}/test"


def test_a_killed_sender_reconnects_and_the_other_streams_never_stall(tmp_path, servers, rtsp):
    ports = {"a": free_port(), "c": free_port()}
    senders = {name: serve([f"tcp://127.0.0.1:{port}?listen=1"], seconds=60) for name, port in ports.items()}
    servers.extend(senders.values())
    frames = 6 * RATE
    run = Run(tmp_path, [tcp("a", ports["a"], **RECONNECT),
                         {"name": "b", "type": "url", "url": rtsp, "open_timeout": 10.0,
                          "read_timeout": 2.0, **RECONNECT},
                         tcp("c", ports["c"], **RECONNECT)], max_frames=frames)
    run.wait_for("c", 2 * RATE)
    run.wait_for("a", 2 * RATE)
    run.wait_for("b", 2 * RATE)
    senders["c"].kill()
    senders["c"].wait(5)
    time.sleep(2.0)  # c's camera is away for two seconds
    servers.append(serve([f"tcp://127.0.0.1:{ports['c']}?listen=1"], seconds=60))
    code, streams = run.finish()
    assert code == 0, run.stderr
    for name in "abc":
        assert streams[name]["ok"] and streams[name]["frames_in"] == frames, streams[name]
    assert streams["c"]["reconnects"] >= 1 and streams["a"]["reconnects"] == streams["b"]["reconnects"] == 0
    assert any("reconnected" in note for note in streams["c"]["notes"]), streams["c"]["notes"]
    # c's outage, as its own frames show it: its longest gap between two capture times.
    outage, down = max(gaps(run.of("c")))
    interval = 1.0 / RATE
    assert outage > 10 * interval, outage  # the outage shows (its length is the machine's)
    for name in "ab":
        rows = run.of(name)
        during = [row for row in rows if down < row["captured_at"] < down + outage]
        # The others kept delivering while c was away (counted, not timed).
        assert len(during) >= outage * RATE / 3, (name, len(during), outage)
        assert [row["index"] for row in rows] == sorted({row["index"] for row in rows})
    for name in "abc":  # each stream's own file, every frame its sink wrote
        assert len(video_frames(tmp_path / f"{name}.mkv")) == streams[name]["sinks"]["video"]


def test_a_stalled_sender_ends_its_stream_by_its_settings_and_the_others_go_on(tmp_path, servers):
    ports = {name: free_port() for name in ("a", "stop", "retry")}
    senders = {name: serve([f"tcp://127.0.0.1:{port}?listen=1"], seconds=60) for name, port in ports.items()}
    servers.extend(senders.values())
    frames = 6 * RATE
    run = Run(tmp_path, [tcp("a", ports["a"]),
                         tcp("stop", ports["stop"], read_timeout=1.0),
                         tcp("retry", ports["retry"], read_timeout=1.0, on_error="retry",
                             reconnect_attempts=2, reconnect_backoff=0.1)], max_frames=frames)
    for name in ("stop", "retry", "a"):
        run.wait_for(name, RATE)
    for name in ("stop", "retry"):  # frozen: the socket stays open, nothing more is sent
        os.kill(senders[name].pid, signal.SIGSTOP)
    code, streams = run.finish()
    assert code == 1, run.stderr
    assert streams["a"]["ok"] and streams["a"]["frames_in"] == frames and streams["a"]["stop_reason"] == "max_frames"
    url = f"tcp://127.0.0.1:{ports['stop']}"
    stop, retry = streams["stop"], streams["retry"]
    assert not stop["ok"] and stop["stop_reason"] == "source failed"
    assert url in stop["last_error"] and "sent nothing for read_timeout 1 s" in stop["last_error"]
    assert "on_error: stop" in stop["last_error"]
    assert not retry["ok"] and "2 reconnection attempt(s) failed" in retry["last_error"]
    assert retry["reconnects"] == 0 and retry["read_errors"] >= 1
    for name in ("stop", "retry"):
        assert f"edgepipe: error: stream {name}: " in run.stderr
        assert RATE <= streams[name]["frames_in"] < frames
        # The stalled stream's file is finished and kept, with every frame written.
        assert len(video_frames(tmp_path / f"{name}.mkv")) == streams[name]["sinks"]["video"] >= RATE
    # a went on after both had stopped: its frames come after their last ones.
    last = max(run.of(name)[-1]["captured_at"] for name in ("stop", "retry"))
    later = [row for row in run.of("a") if row["captured_at"] > last]
    assert len(later) >= RATE, len(later)
    assert len(video_frames(tmp_path / "a.mkv")) == streams["a"]["sinks"]["video"]


def size_change_clip(folder, rate: int, sizes: list[tuple[int, int]], seconds: float) -> str:
    """An H.264 MPEG-TS file whose picture size changes: ``sizes`` in turn, ``seconds`` each,
    times running on (the concat protocol joins the parts byte for byte)."""
    parts = []
    for index, (width, height) in enumerate(sizes):
        part = folder / f"part{index}.ts"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={width}x{height}:rate={rate}", "-t", str(seconds),
                        "-c:v", "libx264", "-bf", "0", "-g", str(rate), "-pix_fmt", "yuv420p",
                        "-output_ts_offset", str(index * seconds), "-f", "mpegts", str(part)],
                       check=True, timeout=60)
        parts.append(str(part))
    return "concat:" + "|".join(parts)


def test_each_stream_has_its_own_file_and_timing_and_one_may_change_size(tmp_path, servers):
    ports = {"a": free_port(), "r": free_port()}
    fast = 25  # r's rate, a's is RATE (15)
    clip = size_change_clip(tmp_path, fast, [(240, 180), (160, 120)], 2.0)
    servers.append(serve([f"tcp://127.0.0.1:{ports['a']}?listen=1"], seconds=4))
    servers.append(subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", clip, "-c", "copy",
         "-f", "mpegts", f"tcp://127.0.0.1:{ports['r']}?listen=1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    run = Run(tmp_path, [tcp("a", ports["a"]), tcp("r", ports["r"])])
    code, streams = run.finish()
    assert code == 0, run.stderr
    expected = {"a": (4 * RATE, 320, RATE), "r": (4 * fast, 240, fast)}
    for name, (sent, width, rate) in expected.items():
        health = streams[name]
        assert health["ok"] and health["stop_reason"] == "end of stream", health
        assert health["frames_in"] == sent, (name, health["frames_in"])
        frames = video_frames(tmp_path / f"{name}.mkv")
        # Its own frames: as many as its video sink wrote, at its own size ...
        assert len(frames) == health["sinks"]["video"] >= health["frames_out"] > sent / 2
        if health["dropped"] == 0:
            assert len(frames) == health["frames_out"] == sent
        assert {w for _, w in frames} == {width}
        # ... and its own timing: frames 1/rate apart, as its sender sent them.
        steps = [b - a for (a, _), (b, _) in zip(frames, frames[1:])]
        assert statistics.median(steps) == pytest.approx(1 / rate, abs=0.002), (name, steps)
        rows = run.of(name)
        assert len(rows) == health["sinks"]["stats"] and rows[-1]["index"] >= 0.9 * sent, (name, len(rows), health)
    # r changed size at its frame 2 s * 25: its output and stats went on, the sink scaled it.
    scaled = [note for note in streams["r"]["notes"] if "of another size" in note]
    assert scaled and "160x120" in scaled[0] and "scaled to 240x180" in scaled[0], streams["r"]["notes"]
    assert not [note for note in streams["a"]["notes"] if "of another size" in note]
