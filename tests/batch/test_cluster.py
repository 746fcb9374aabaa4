"""The Dask executor against a real scheduler and workers on 127.0.0.1.

The scheduler and two workers run as separate processes started here (``python -m
dask scheduler`` / ``python -m dask worker``); the job runs as ``python -m
pipeline.batch`` against them; one worker is SIGKILLed while it holds a task.  Every
output must then be complete and decode to exactly the local executor's frames.

Then a Dask "scheduler" that accepts TCP and never answers, or closes after a while: every
wait is bounded by the timeout its message names (real listener sockets on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from pipeline.batch import executors  # noqa: E402
from pipeline.batch.cluster import DaskExecutor  # noqa: E402
from pipeline.batch.jobs import load_job  # noqa: E402
from pipeline.batch.runner import run_job  # noqa: E402
from pipeline.cli import batch as command  # noqa: E402
from tests.batch.test_runner import (ROOT, WAIT, batch_process, decode, leftovers, make_clip,  # noqa: E402
                              records, same_frames, write_config, LOSSLESS)

START_WAIT = 60  # seconds for the scheduler and workers to come up


def _env() -> dict:
    return dict(os.environ, NUMBA_NUM_THREADS="1",
                PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(WAIT)


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers (no nanny: a killed worker stays dead)."""
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    processes = []

    def start(name, *args):
        log = open(logs / f"{name}.log", "wb")
        process = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=tmp_path, env=_env(),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        processes.append(process)
        return process

    client = None
    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(scheduler_file))
        deadline = time.monotonic() + START_WAIT
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            assert time.monotonic() < deadline, (logs / "scheduler.log").read_text()
            time.sleep(0.1)
        for index in range(2):
            start(f"worker{index}", "worker", "--scheduler-file", str(scheduler_file),
                  "--nworkers", "1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                  "--host", "127.0.0.1", "--death-timeout", "60")
        client = distributed.Client(scheduler_file=str(scheduler_file), timeout=START_WAIT)
        client.wait_for_workers(2, timeout=START_WAIT)
        address = json.loads(scheduler_file.read_text())["address"]
        yield {"client": client, "address": address, "logs": logs}
    finally:
        if client is not None:
            client.close()
        for process in reversed(processes):
            _stop(process)


@pytest.fixture
def clips(tmp_path):
    return [make_clip(tmp_path / "rec" / f"cam{i}.mp4", frames=30, seed=i) for i in range(6)]


def test_a_worker_killed_mid_job_has_its_files_redone_elsewhere_identically(cluster, clips, tmp_path):
    config = write_config(tmp_path / "batch.yaml", inputs={"glob": str(tmp_path / "rec/*.mp4")},
                          output={"dir": str(tmp_path / "local"), **LOSSLESS}, executor={"workers": 2})
    local = run_job(load_job(config))
    assert local.count("done") == 6

    client = cluster["client"]
    pids = client.run(os.getpid)  # worker address -> process id
    job = batch_process(config, "--address", cluster["address"], "--json", str(tmp_path / "summary.json"),
                        "--set", f"output.dir={tmp_path / 'dask'}", cwd=tmp_path)
    victim = None
    try:
        deadline = time.monotonic() + WAIT
        while victim is None:
            assert job.poll() is None, f"the job ended before a worker held a task: {job.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no worker ever held a task"
            busy = [address for address, keys in client.processing().items() if keys]
            if busy:
                victim = busy[0]
                os.kill(pids[victim], signal.SIGKILL)
            else:
                time.sleep(0.005)
        out, err = job.communicate(timeout=WAIT)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(WAIT)
    assert job.returncode == 0, err.decode()
    survivors = set(pids) - {victim}
    client.wait_for_workers(1, timeout=10)
    assert set(client.scheduler_info()["workers"]) == survivors  # the victim really died
    assert json.loads((tmp_path / "summary.json").read_text())["worker_deaths"] == 1  # and is told

    manifest = records(tmp_path / "dask" / "manifest.jsonl")
    assert sorted(r["status"] for r in manifest) == ["done"] * 6
    for clip in clips:
        name = f"{clip.stem}_edges.mkv"
        assert len(decode(tmp_path / "dask" / name)) == 30
        assert same_frames(tmp_path / "dask" / name, tmp_path / "local" / name), name
    assert not leftovers(tmp_path / "dask")


def test_split_files_on_a_local_cluster_match_the_local_pool(clips, tmp_path):
    make_clip(tmp_path / "long" / "long.mp4", frames=70, seed=5)
    config = write_config(tmp_path / "b.yaml", inputs={"glob": str(tmp_path / "long/*.mp4")},
                          output={"dir": str(tmp_path / "local"), **LOSSLESS}, executor={"workers": 2})
    assert run_job(load_job(config)).count("done") == 1
    job = load_job(config, [f"output.dir={tmp_path / 'dask'}", "executor.type=dask",
                            "split.frames=25"])
    summary = run_job(job)
    assert summary.count("done") == 1 and summary.executor.startswith("dask LocalCluster, 2 worker")
    assert records(tmp_path / "dask" / "manifest.jsonl")[0]["parts"] == 3
    assert same_frames(tmp_path / "dask" / "long_edges.mkv", tmp_path / "local" / "long_edges.mkv")
    assert not leftovers(tmp_path / "dask")


def test_missing_dask_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(executors.ExecutorError, match=r"pip install edgepipe\[dask\]"):
        DaskExecutor(None)


def test_an_unreachable_scheduler_is_reported_before_any_work(tmp_path):
    with pytest.raises(executors.ExecutorError, match="cannot reach the dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", workers=1, connect_timeout=2)


# ---------------------------------------------------------------- a silent scheduler

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
        DaskExecutor(silent.address, connect_timeout=TIMEOUT)
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
        DaskExecutor(closing.address, connect_timeout=TIMEOUT + 2)
    waited = time.monotonic() - started
    assert waited < TIMEOUT + 2 + SLACK
    message = str(caught.value)
    assert closing.address in message
    if waited < TIMEOUT + 2:  # it failed when the connection closed: no false "within"
        assert "within" not in message and "()" not in message


def test_batch_against_a_silent_scheduler_exits_1_in_bounded_time(listener, tmp_path, monkeypatch, capsys):
    silent = listener()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("pipeline.batch.cluster.CONNECT_TIMEOUT", TIMEOUT)
    make_clip(tmp_path / "rec" / "a.mp4", frames=3)
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/*.mp4"}, output={"dir": "out"})
    started = time.monotonic()
    assert command.main([str(config), "--address", silent.address, "-q"]) == 1
    assert time.monotonic() - started < TIMEOUT + SLACK + 2
    err = capsys.readouterr().err
    assert silent.address in err and f"within {TIMEOUT:g} s" in err and "Traceback" not in err


def test_dask_workers_report_frames_while_a_file_runs(tmp_path):
    from tests.batch.test_tasks import FRAMES, progress_seen

    seen = progress_seen(lambda: DaskExecutor(None, workers=1), tmp_path, 180)
    assert any(0 < done < FRAMES for done, _ in seen)


@pytest.mark.parametrize("address, says", [
    ("nonsense", "needs a host and a port"), ("tcp://[::1", "is not an address (Invalid IPv6 URL)"),
    ("tcp://host:port", "is not an address"), ("http://x:1", "has scheme 'http'"),
])
def test_an_address_that_is_no_address_is_exit_2_naming_the_key(clips, tmp_path, address, says):
    config = write_config(tmp_path / "batch.yaml", inputs={"glob": str(tmp_path / "rec/*.mp4")},
                          output={"dir": str(tmp_path / "out")})
    job = batch_process(config, "--address", address, cwd=tmp_path)
    _, err = job.communicate(timeout=WAIT)
    assert job.returncode == 2, err.decode()
    text = err.decode()
    assert "--set executor.address: the dask scheduler address" in text and says in text
    assert "unexpected" not in text and not (tmp_path / "out" / "manifest.jsonl").exists()
