"""A Dask "scheduler" that accepts TCP and never answers, or closes after a while: every
wait is bounded by the timeout its message names (real listener sockets on 127.0.0.1)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from pipeline.batch import cluster, command, executors  # noqa: E402
from tests.test_batch import make_clip, write_config  # noqa: E402

TIMEOUT = 2.0
SLACK = 4.0  # thread start, the loaded machine


class Listener:
    """Accepts every connection; says nothing; closes each after ``close_after`` s (or never)."""

    def __init__(self, close_after: float | None = None):
        self.close_after = close_after
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.address = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.accepted = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.accepted += 1
            self.held.append(conn)
            if self.close_after is not None:
                timer = threading.Timer(self.close_after, conn.close)
                timer.daemon = True
                timer.start()

    def close(self) -> None:
        self._stop.set()
        for conn in self.held:
            conn.close()
        self.server.close()


@pytest.fixture
def listener(request):
    made = []

    def make(close_after=None):
        made.append(Listener(close_after))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_a_scheduler_that_never_answers_fails_within_the_timeout_it_names(listener):
    silent = listener()
    started = time.monotonic()
    with pytest.raises(executors.ExecutorError) as caught:
        executors.DaskExecutor(silent.address, connect_timeout=TIMEOUT)
    waited = time.monotonic() - started
    assert silent.accepted >= 1  # it did reach the socket
    assert TIMEOUT - 0.5 <= waited < TIMEOUT + SLACK
    message = str(caught.value)
    assert silent.address in message and f"within {TIMEOUT:g} s" in message


@pytest.mark.parametrize("close_after", [0.5, 1.5])
def test_a_scheduler_that_closes_after_a_while_fails_then_and_says_why(listener, close_after):
    closing = listener(close_after)
    started = time.monotonic()
    with pytest.raises(executors.ExecutorError) as caught:
        executors.DaskExecutor(closing.address, connect_timeout=TIMEOUT + 2)
    waited = time.monotonic() - started
    assert waited < TIMEOUT + 2 + SLACK
    message = str(caught.value)
    assert closing.address in message
    if waited < TIMEOUT + 2:  # it failed when the connection closed: no false "within"
        assert "within" not in message and "()" not in message


def test_batch_against_a_silent_scheduler_exits_1_in_bounded_time(listener, tmp_path, monkeypatch, capsys):
    silent = listener()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", TIMEOUT)
    make_clip(tmp_path / "rec" / "a.mp4", frames=3)
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/*.mp4"}, output={"dir": "out"})
    started = time.monotonic()
    assert command.main([str(config), "--address", silent.address, "-q"]) == 1
    assert time.monotonic() - started < TIMEOUT + SLACK + 2
    err = capsys.readouterr().err
    assert silent.address in err and f"within {TIMEOUT:g} s" in err and "Traceback" not in err


def test_dask_workers_report_frames_while_a_file_runs(tmp_path):
    from tests.test_batch_progress import FRAMES, progress_seen

    seen = progress_seen(lambda: executors.DaskExecutor(None, workers=1), tmp_path, 180)
    assert any(0 < done < FRAMES for done, _ in seen)
