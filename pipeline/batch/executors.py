"""Where tasks run: a local process pool (the default) or a Dask cluster.

Both offer the same three calls to the runner::

    ticket = executor.submit(task, payload)       # task: a function of pipeline.batch.tasks
    for ticket, ok, value in executor.poll(0.2):  # finished tasks; value: result or message
        ...
    executor.close(kill=False)

``ok`` is False only when the task could not run to an answer (its worker died more
often than ``retries`` allows, the cluster gave up on it); the message says why.

**Local pool.**  ``workers`` processes started with the ``spawn`` method: numba's
thread pools and OpenCV's threads do not survive ``fork``.  Each worker caps numba,
OpenCV and FFmpeg at ``threads`` before anything loads, so ``workers x threads`` stays
within the cores and two workers on two cores do not fight.  Each worker has its own
pipe, so when one dies (a decoder crash, the OOM killer) the pool knows which task it
held and runs that task again on a fresh worker, up to ``retries`` times; the others
carry on.  Workers ignore Ctrl+C (the driver decides) and exit when the driver is gone.

**Dask** (:mod:`pipeline.batch.cluster`, which builds on this module).
``dask.distributed`` at a scheduler address, or a ``LocalCluster`` (worker processes,
one thread each).  ``retries`` is passed to ``submit``; the scheduler moves
the tasks of a worker that died to another worker on its own.  Workers write outputs
themselves, so every worker must see the inputs and the output folder at the same
paths (a shared filesystem).
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from typing import Any, Callable

from pipeline.errors import EdgepipeError

#: Seconds a worker gets to finish after being asked to stop, before it is killed.
STOP_GRACE = 3.0


class ExecutorError(EdgepipeError):
    """An executor cannot start: one line naming what is missing and how to get it."""


# ---------------------------------------------------------------------- local pool
def _watch_parent(parent: int) -> None:
    """Exit when the driver is gone (killed), instead of finishing work nobody records."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _worker_main(conn, threads: int, parent: int) -> None:
    """A pool worker: cap threads, then run tasks from ``conn`` until told to stop.

    While a task runs, the frames it has written go back on the same pipe as
    ``("progress", frames, expected)`` messages, before the task's answer.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the driver to handle
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    from pipeline.batch import tasks  # lazy: in the worker, after Ctrl+C is ignored

    tasks.warm_up(threads)
    sending = threading.Lock()  # progress comes from the engine's threads too

    def send(message) -> bool:
        with sending:
            try:
                conn.send(message)
                return True
            except (BrokenPipeError, OSError):
                return False

    tasks.frame_progress = lambda frames, expected: send(("progress", frames, expected))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task, payload = message
        try:
            reply = ("ok", task(payload))
        except BaseException as exc:  # noqa: BLE001  (tasks answer errors themselves)
            reply = ("error", f"{type(exc).__name__}: {exc}")
        if not send(reply):
            return


class _Slot:
    """One worker process with its pipe and the task it holds."""

    def __init__(self, context, threads: int):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, threads, os.getpid()),
                                       name="edgepipe-batch-worker", daemon=True)
        self.process.start()
        child.close()
        self.job: tuple | None = None  # (ticket, task, payload, attempts)


class LocalPool:
    """A process pool that knows which task each worker holds.

    Parameters
    ----------
    workers : int
        Processes at most (started as tasks arrive).
    threads : int
        Compute threads each worker may use.
    retries : int
        Times a task is run again after its worker died.
    start_method : {"spawn", "forkserver"}
    """

    def __init__(self, workers: int, threads: int = 1, retries: int = 2,
                 start_method: str = "spawn"):
        if start_method not in ("spawn", "forkserver"):
            raise ValueError(f"start_method must be spawn or forkserver; got {start_method!r} "
                             "(fork does not mix with numba's and OpenCV's threads)")
        self.workers, self.threads, self.retries = int(workers), int(threads), int(retries)
        self._context = multiprocessing.get_context(start_method)
        self._slots: list[_Slot] = []
        self._queue: collections.deque = collections.deque()
        self._tickets = itertools.count()
        self.deaths = 0
        #: ticket -> (frames written, frames expected or None) of the tasks running now
        self.progress: dict[int, tuple[int, int | None]] = {}

    @property
    def description(self) -> str:
        return f"local pool, {self.workers} worker(s) x {self.threads} thread(s)"

    def submit(self, task: Callable[[dict], dict], payload: dict) -> int:
        ticket = next(self._tickets)
        self._queue.append((ticket, task, payload, 0))
        self._dispatch()
        return ticket

    def _dispatch(self) -> None:
        while self._queue:
            slot = next((s for s in self._slots if s.job is None), None)
            if slot is None:
                if len(self._slots) >= self.workers:
                    return
                slot = _Slot(self._context, self.threads)
                self._slots.append(slot)
            job = self._queue.popleft()
            try:
                slot.conn.send((job[1], job[2]))
            except (BrokenPipeError, OSError):
                self._queue.appendleft(job)
                self._retire(slot)
                continue
            slot.job = job

    def _retire(self, slot: _Slot) -> None:
        self._slots.remove(slot)
        slot.conn.close()
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(STOP_GRACE)

    def poll(self, timeout: float) -> list[tuple[int, bool, Any]]:
        """Tasks finished within ``timeout`` seconds: ``(ticket, ok, result or message)``.

        Progress messages that arrived meanwhile update :attr:`progress`.
        """
        self._dispatch()
        busy = [s for s in self._slots if s.job is not None]
        if not busy:
            return []
        waitables = [s.conn for s in busy] + [s.process.sentinel for s in busy]
        multiprocessing.connection.wait(waitables, timeout)
        finished = []
        for slot in busy:
            answer = self._read(slot)
            if answer is not None:
                finished.append(answer)
            elif not slot.process.is_alive():
                finished.extend(self._died(slot))
        self._dispatch()
        return finished

    def _read(self, slot: _Slot) -> tuple | None:
        """The slot's answer if it came; progress messages are taken on the way."""
        ticket = slot.job[0]
        try:
            while slot.conn.poll():
                message = slot.conn.recv()
                if message[0] == "progress":
                    self.progress[ticket] = (message[1], message[2])
                    continue
                slot.job = None
                self.progress.pop(ticket, None)
                status, value = message
                return ticket, status == "ok", value
        except (EOFError, OSError):
            pass
        return None

    def _died(self, slot: _Slot) -> list[tuple]:
        """The worker died holding its task: run it again elsewhere, or give up on it."""
        ticket, task, payload, attempts = slot.job
        code = slot.process.exitcode
        self.deaths += 1
        self.progress.pop(ticket, None)
        self._retire(slot)
        if attempts < self.retries:
            self._queue.appendleft((ticket, task, payload, attempts + 1))
            return []
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return [(ticket, False, f"the worker process died ({how}) while running it, "
                                f"{attempts + 1} time(s)")]

    def close(self, kill: bool = False) -> None:
        """Stop the workers: ask them to finish (or kill them at once with ``kill``)."""
        self._queue.clear()
        for slot in self._slots:
            if kill:
                slot.process.kill()
            else:
                try:
                    slot.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
        deadline = time.monotonic() + STOP_GRACE
        for slot in self._slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(STOP_GRACE)
            slot.conn.close()
        self._slots.clear()

