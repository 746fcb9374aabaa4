"""``runtime.scheduling`` (pipeline/runtime/scheduling.py): which runs ask for Linux's
SCHED_BATCH, that threads started inside ``batch_threads`` get it and the caller gets its
own policy back, and that a live ``sources:`` run's threads (pool workers, each stream's
source and sink threads) run under it while ``normal`` leaves them alone."""

from __future__ import annotations

import os
import threading

import pytest

from pipeline.config.document import ConfigError
from pipeline.pipeline import Pipeline
from pipeline.runtime import scheduling
from pipeline.runtime.engine import POOL_LIVE_QUEUE_SIZE
from pipeline.runtime.scheduling import batch_threads, wants_batch

linux_only = pytest.mark.skipif(not scheduling.available(), reason="SCHED_BATCH is Linux's")


@pytest.mark.parametrize("setting, live, pooled, expected", [
    ("auto", True, True, True),
    ("auto", True, False, False),
    ("auto", False, True, False),
    ("batch", False, False, True),
    ("normal", True, True, False),
])
def test_which_runs_ask_for_batch(setting, live, pooled, expected):
    assert wants_batch(setting, live, pooled) is expected


def test_an_unknown_setting_is_refused_by_name():
    with pytest.raises(ValueError, match="scheduling must be one of auto, batch, normal; got 'fast'"):
        wants_batch("fast", True, True)


def test_the_config_refuses_an_unknown_setting_naming_the_key():
    data = {"version": 1, "source": {"type": "synthetic", "length": 2}, "stages": ["grayscale"],
            "sinks": ["discard"], "runtime": {"scheduling": "fast"}}
    with pytest.raises(ConfigError, match=r"runtime.*scheduling.*auto, batch, normal"):
        Pipeline.from_dict(data)


def policy_of_a_thread_started_now() -> int:
    seen = []
    thread = threading.Thread(target=lambda: seen.append(os.sched_getscheduler(0)))
    thread.start()
    thread.join()
    return seen[0]


@linux_only
def test_threads_started_inside_run_batch_and_the_caller_gets_its_policy_back():
    before = os.sched_getscheduler(0)
    assert before == os.SCHED_OTHER
    with batch_threads() as took:
        assert took is True
        assert policy_of_a_thread_started_now() == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == before
    assert policy_of_a_thread_started_now() == os.SCHED_OTHER


@linux_only
def test_batch_threads_off_changes_nothing():
    with batch_threads(False) as took:
        assert took is False
        assert policy_of_a_thread_started_now() == os.SCHED_OTHER


@linux_only
def test_a_refusing_system_runs_the_block_unchanged(monkeypatch):
    def refuse(*args):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with batch_threads() as took:
        assert took is False


def live_streams(setting: str) -> dict:
    streams = [{"name": name, "type": "synthetic", "length": 6, "width": 64, "height": 48, "fps": 100.0}
               for name in ("door", "yard")]
    return {"version": 1, "sources": streams, "stages": ["grayscale"], "sinks": ["discard"],
            "runtime": {"mode": "live", "scheduling": setting}}


def policies_in_a_run(setting: str) -> tuple[dict, dict]:
    """{thread role: policies seen} in a live two-stream run, and the queue sizes."""
    pipe = Pipeline.from_dict(live_streams(setting))
    streams = pipe.stream_set()
    seen: dict[str, set] = {}
    sizes = {}
    lock = threading.Lock()

    def note(role: str) -> None:
        with lock:
            seen.setdefault(role, set()).add(os.sched_getscheduler(0))

    for run in streams.streams:
        sink, source = run.engine.sinks[0], run.engine.source
        write, read = sink.write, source.read

        def watched_write(frame, write=write, engine=run.engine):
            note("sink")
            for worker in streams.pool._threads:  # alive while a frame is on its way
                with lock:
                    seen.setdefault("pool", set()).add(os.sched_getscheduler(worker.thread.native_id))
            sizes.update(input=engine._input.maxsize, sink=engine._runners[0].queue.maxsize)
            return write(frame)

        def watched_read(read=read):
            note("source")
            return read()

        sink.write, source.read = watched_write, watched_read
    summary = streams.run()
    assert summary.ok
    return seen, sizes


@linux_only
def test_a_live_sources_run_runs_its_threads_under_batch_and_keeps_eight_frames():
    seen, sizes = policies_in_a_run("auto")
    assert seen == {"sink": {os.SCHED_BATCH}, "pool": {os.SCHED_BATCH}, "source": {os.SCHED_BATCH}}
    assert sizes == {"input": POOL_LIVE_QUEUE_SIZE, "sink": POOL_LIVE_QUEUE_SIZE}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the caller's own policy is back


@linux_only
def test_scheduling_normal_leaves_a_sources_run_alone():
    seen, _ = policies_in_a_run("normal")
    assert seen == {"sink": {os.SCHED_OTHER}, "pool": {os.SCHED_OTHER}, "source": {os.SCHED_OTHER}}


@linux_only
@pytest.mark.parametrize("setting, expected", [("batch", os.SCHED_BATCH), ("auto", os.SCHED_OTHER)])
def test_one_stream_runs_batch_only_when_asked(setting, expected):
    data = {"version": 1, "source": {"type": "synthetic", "length": 3, "width": 32, "height": 24},
            "stages": ["grayscale"], "sinks": ["discard"], "runtime": {"mode": "live", "scheduling": setting}}
    pipe = Pipeline.from_dict(data)
    engine = pipe.engine()
    seen = set()
    read = engine.source.read

    def watched_read():
        seen.add(os.sched_getscheduler(0))
        return read()

    engine.source.read = watched_read
    assert engine.run().frames_out == 3
    assert seen == {expected}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
