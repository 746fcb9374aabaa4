"""Cameras and streams that vanish, go silent or never send: bounded, reconnecting.

The url tests use a real ``ffmpeg`` streaming MPEG-TS over loopback (127.0.0.1 only),
killed and restarted mid-stream.  A camera cannot be tested without a device, so the
camera path is tested against a nonexistent /dev/videoN and against a fake capture that
blocks in ``read`` like an unplugged V4L2 device; the watchdog and reconnection code is
the same for camera and url (``_LiveCaptureSource``), so the url tests cover it too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time

import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.base import SourceError
from pipeline.io.sources.camera import CameraSource
from pipeline.io.sources.url import UrlSource
from pipeline.io.sources.live import CaptureTimeout, CaptureWorker
from pipeline.pipeline import Pipeline
from pipeline.config.registry import ParamError, build
from tests.io.sources.test_url import RATE, bounded, free_port, serve, servers  # noqa: F401
from tests import harness

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


# --- the watchdog -----------------------------------------------------------------------------
def test_capture_worker_gives_up_on_a_stuck_call_and_releases_later():
    release = threading.Event()
    released, returned = [], []

    class Stuck:
        def read(self):
            release.wait(10)
            returned.append(True)
            return False, None

        def release(self):
            released.append(True)

    worker = CaptureWorker("test-worker")
    worker.call(lambda: setattr(worker, "capture", Stuck()), 1.0)
    with pytest.raises(CaptureTimeout):
        worker.call(lambda: worker.capture.read(), 0.3)
    assert not returned  # the caller came back while the read was still stuck
    assert not released  # never under a read in progress
    release.set()
    worker._thread.join(5)
    assert released == [True] and not worker.alive


class RecordingEvent(threading.Event):
    """A source's ``_closing`` event that records each backoff wait and how it ended."""

    def __init__(self):
        super().__init__()
        self.waits: list[tuple[float, bool]] = []  # (seconds asked, closed meanwhile)
        self.waiting = threading.Event()  # set once a wait has begun

    def wait(self, timeout=None):
        self.waiting.set()
        closed = super().wait(timeout)
        self.waits.append((timeout, closed))
        return closed


def record_backoff(source) -> RecordingEvent:
    """Swap an opened source's close event for a :class:`RecordingEvent`."""
    source._closing = RecordingEvent()
    return source._closing


class FakeCamera(CameraSource):
    """A camera whose capture delivers ``good`` frames, then blocks in read() (unplugged)."""

    def __init__(self, good=3, replug=False, **settings):
        super().__init__(device=0, **settings)
        self.good, self.replug, self.opened = good, replug, 0
        self.unblock = threading.Event()
        self.unblocked_reads = 0  # reads that came out of the block (unblock was set)

    def _open_capture(self):
        self.opened += 1
        if self.opened > 1 and not self.replug:
            raise SourceError("cannot open camera 0 (fake: still unplugged)")
        source = self

        class Capture:
            delivered = 0

            def read(self):
                if self.delivered >= source.good:
                    source.unblock.wait(30)  # V4L2 would block like this
                    source.unblocked_reads += 1
                    return False, None
                self.delivered += 1
                return True, np.zeros((8, 8, 3), np.uint8)

            def get(self, prop):
                return 0.0

            def release(self):
                pass

        return Capture()


def read_all(source, limit=100):
    return harness.read_all(source, limit)


def test_camera_that_blocks_is_given_up_after_read_timeout():
    camera = FakeCamera(good=3, read_timeout=0.5)
    bounded(camera.open, 5)
    frames = bounded(lambda: read_all(camera), 5)
    assert len(frames) == 3
    assert camera.unblocked_reads == 0  # given up while the read was still blocked
    assert "read_timeout 0.5 s" in camera.report.failure and "camera 0" in camera.report.failure
    assert camera.report.read_errors == 1
    camera.unblock.set()
    bounded(camera.close, 5)


def test_camera_reconnects_with_backoff_when_replugged():
    camera = FakeCamera(good=2, replug=True, read_timeout=0.3, on_error="retry",
                        reconnect_attempts=3, reconnect_backoff=0.05)
    bounded(camera.open, 5)
    frames = bounded(lambda: read_all(camera, limit=5), 10)
    assert len(frames) == 5 and camera.report.reconnects >= 2 and camera.report.failure is None
    camera.unblock.set()
    camera.close()


def test_camera_gives_up_after_its_reconnect_attempts_with_backoff_doubling(caplog):
    camera = FakeCamera(good=1, replug=False, read_timeout=0.3, on_error="retry",
                        reconnect_attempts=3, reconnect_backoff=0.1, reconnect_max_backoff=0.15)
    bounded(camera.open, 5)
    backoff = record_backoff(camera)
    assert len(bounded(lambda: read_all(camera), 10)) == 1
    assert backoff.waits == [(0.1, False), (0.15, False), (0.15, False)]  # doubled, capped
    assert camera.opened == 1 + 3 and camera.report.read_errors == 1
    assert "3 reconnection attempt(s) failed" in camera.report.failure
    assert "in 0.1 s (attempt 1 of 3)" in caplog.text and "in 0.15 s (attempt 3 of 3)" in caplog.text
    camera.unblock.set()
    camera.close()


def test_close_during_backoff_returns_at_once():
    camera = FakeCamera(good=1, read_timeout=0.2, on_error="retry", reconnect_attempts=5,
                        reconnect_backoff=30.0, reconnect_max_backoff=30.0)
    bounded(camera.open, 5)
    camera.read()
    backoff = record_backoff(camera)
    reader = threading.Thread(target=lambda: read_all(camera), daemon=True)
    reader.start()
    assert backoff.waiting.wait(10)  # timed out, now waiting 30 s before reconnecting
    bounded(camera.close, 5)
    reader.join(5)
    assert not reader.is_alive()
    assert backoff.waits == [(30.0, True)]  # the one wait ended by the close, not the 30 s
    assert camera.report.failure is None  # closed from outside: not the camera's fault
    camera.unblock.set()


@pytest.mark.parametrize("device", ["/dev/video97", 97])
def test_nonexistent_camera_is_a_clear_error_without_hanging(device):
    pipe = Pipeline.from_dict({"version": 1, "source": {"type": "camera", "device": device,
                                                        "open_timeout": 2.0, "read_timeout": 1.0}})
    with pytest.raises(SourceError, match="camera") as caught:
        bounded(pipe.run, 15)  # a hang guard: the run ends with the error, not by this
    assert "/dev/video" in str(caught.value)


def test_reconnect_settings_need_on_error_retry():
    with pytest.raises(ParamError, match="reconnect_attempts applies only with on_error: retry"):
        build("source", "url", {"url": "tcp://127.0.0.1:1", "reconnect_attempts": 3})
    with pytest.raises(ParamError, match="reconnect_max_backoff must be >="):
        build("source", "camera", {"on_error": "retry", "reconnect_backoff": 5.0, "reconnect_max_backoff": 1.0})
    with pytest.raises(ParamError, match="on_error must be one of stop, retry"):
        build("source", "url", {"url": "tcp://127.0.0.1:1", "on_error": "skip"})


# --- url: killed, restarted, silent -------------------------------------------------------
def open_when_listening(url, deadline_s=8.0, **settings) -> UrlSource:
    end = time.monotonic() + deadline_s
    while True:
        source = UrlSource(url, **settings)
        try:
            bounded(source.open, settings.get("open_timeout", 10.0) + 8)
            return source
        except SourceError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


@needs_ffmpeg
def test_stream_killed_mid_stream_reconnects_to_a_restarted_sender(servers):
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    first = serve([f"{url}?listen=1"], seconds=30)
    servers.append(first)
    source = open_when_listening(url, open_timeout=3.0, read_timeout=1.0, on_error="retry",
                                 reconnect_attempts=20, reconnect_backoff=0.2, reconnect_max_backoff=0.5)
    try:
        assert len(bounded(lambda: read_all(source, limit=5), 10)) == 5
        first.kill()
        first.wait(5)
        servers.append(serve([f"{url}?listen=1"], seconds=30))  # the sender comes back
        items = bounded(lambda: [source.read_timed() for _ in range(3 * RATE)], 40)
    finally:
        source.close()
    frames = [item for item in items if item is not None]
    assert len(frames) == 3 * RATE, source.report
    times = [pts for _, pts in frames]  # the new sender's clock restarts; ours goes on
    assert all(b > a for a, b in zip(times, times[1:]))
    assert source.report.reconnects >= 1 and source.report.failure is None
    assert any("reconnected" in note for note in source.report.notes)


@needs_ffmpeg
def test_stream_gone_silent_ends_the_run_with_a_clear_error_and_keeps_the_output(servers, tmp_path):
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    server = serve([f"{url}?listen=1"], seconds=60)
    servers.append(server)
    out = tmp_path / "out"
    pipe = Pipeline.from_dict({"version": 1,
                               "source": {"type": "url", "url": url, "open_timeout": 5.0, "read_timeout": 1.0},
                               "stages": ["grayscale", "gradient", "map"],
                               "sinks": [{"images": {"path": str(out / "f_{index:04d}.png")}}],
                               "runtime": {"mode": "batch"}})
    timer = threading.Timer(1.5, lambda: os.kill(server.pid, signal.SIGSTOP))  # frozen sender
    time.sleep(0.5)  # ffmpeg listening
    timer.start()
    with pytest.raises(SourceError, match="sent nothing for read_timeout 1 s") as caught:
        bounded(pipe.run, 30)  # a hang guard; the message says the read timeout ended it
    assert url in str(caught.value)
    assert pipe.summary.stop_reason == "source failed"
    assert len(list(out.glob("*.png"))) == pipe.summary.frames_out >= 1  # closed, not aborted


@needs_ffmpeg
def test_retry_against_a_frozen_sender_gives_up(servers):
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    server = serve([f"{url}?listen=1"], seconds=60)
    servers.append(server)
    source = open_when_listening(url, open_timeout=1.0, read_timeout=1.0, on_error="retry",
                                 reconnect_attempts=2, reconnect_backoff=0.1)
    try:
        assert len(bounded(lambda: read_all(source, limit=3), 10)) == 3
        backoff = record_backoff(source)
        os.kill(server.pid, signal.SIGSTOP)
        bounded(lambda: read_all(source, limit=1000), 30)
    finally:
        source.close()
    assert "2 reconnection attempt(s) failed" in source.report.failure
    assert backoff.waits == [(0.1, False), (0.2, False)]  # two attempts, backoff doubling
    assert source.report.read_errors == 1 and source.report.reconnects == 0


def test_sender_that_never_sends_is_a_clear_error_at_open():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        pipe = Pipeline.from_dict({"version": 1, "source": {"type": "url", "url": url,
                                                            "open_timeout": 1.0, "read_timeout": 1.0}})
        with pytest.raises(SourceError) as caught:
            bounded(pipe.run, 15)  # a hang guard: open_timeout ends it
    assert url in str(caught.value)
