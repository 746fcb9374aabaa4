"""The local process pool: a dead worker's task is rerun, then given up after its retries."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import cv2

from pipeline.batch.executors import LocalPool


# ---------------------------------------------------------------------- local pool
def die_on_first_try(payload: dict) -> dict:
    marker = Path(payload["marker"])
    if not marker.exists():
        marker.write_text("died once")
        os.kill(os.getpid(), signal.SIGKILL)
    return {"ok": True, "pid": os.getpid()}


def always_die(payload: dict) -> dict:
    os.kill(os.getpid(), signal.SIGKILL)


def thread_caps(payload: dict) -> dict:
    import numba

    import pipeline.kernels.options  # noqa: F401  (the layer the project uses)

    return {"numba": numba.config.NUMBA_NUM_THREADS, "cv2": cv2.getNumThreads(),
            "env": os.environ.get("NUMBA_NUM_THREADS"), "method": __import__("multiprocessing").get_start_method()}


def drain(pool: LocalPool, count: int, limit: float = 60.0) -> dict:
    results, deadline = {}, time.monotonic() + limit
    while len(results) < count:
        assert time.monotonic() < deadline, "pool did not answer in time"
        for ticket, ok, value in pool.poll(0.2):
            results[ticket] = (ok, value)
    return results


def test_local_pool_reruns_the_task_of_a_dead_worker_and_gives_up_after_retries(tmp_path):
    pool = LocalPool(workers=2, threads=1, retries=1)
    try:
        first = pool.submit(die_on_first_try, {"marker": str(tmp_path / "m")})
        doomed = pool.submit(always_die, {})
        caps = pool.submit(thread_caps, {})
        results = drain(pool, 3)
    finally:
        pool.close()
    assert results[first][0] and results[first][1]["ok"]
    ok, message = results[doomed]
    assert not ok and "died (killed by signal 9)" in message and "2 time(s)" in message
    assert results[caps] == (True, {"numba": 1, "cv2": 1, "env": "1", "method": "spawn"})
    assert pool.deaths == 3
