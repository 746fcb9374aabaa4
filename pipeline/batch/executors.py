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

**Dask.**  ``dask.distributed`` at a scheduler address, or a ``LocalCluster`` (worker
processes, one thread each).  ``retries`` is passed to ``submit``; the scheduler moves
the tasks of a worker that died to another worker on its own.  Workers write outputs
themselves, so every worker must see the inputs and the output folder at the same
paths (a shared filesystem).
"""

from __future__ import annotations

import collections
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
import urllib.parse
from typing import Any, Callable

#: Seconds a worker gets to finish after being asked to stop, before it is killed.
STOP_GRACE = 3.0
#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = 20.0
#: Seconds to wait for ``workers`` workers to join a remote scheduler.
WORKERS_WAIT = 60.0
DASK_INSTALL_HINT = "pip install edgepipe[dask]"


class ExecutorError(Exception):
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
    from pipeline.batch import tasks

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


# ---------------------------------------------------------------------- dask
def import_distributed():
    """``dask.distributed``, or an :class:`ExecutorError` saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ExecutorError(f"the dask executor needs dask.distributed, which is not installed "
                            f"({exc}); install it with `{DASK_INSTALL_HINT}`, or use "
                            f"executor: {{type: local}}") from None
    return distributed


#: The scheduler topic on which Dask tasks report the frames they have written.
PROGRESS_TOPIC = "edgepipe-frames"


def _reporting(task: Callable[[dict], dict], payload: dict) -> dict:
    """On a Dask worker: ``task(payload)``, its frame progress sent as scheduler events."""
    import distributed

    from pipeline.batch import tasks

    worker = distributed.get_worker()
    key = worker.get_current_task()

    def report(frames: int, expected: int | None) -> None:
        try:
            worker.log_event(PROGRESS_TOPIC, {"key": str(key), "frames": frames, "expected": expected})
        except Exception:  # noqa: BLE001  (progress is a nicety; the task goes on)
            pass

    tasks.frame_progress = report
    try:
        return task(payload)
    finally:
        tasks.frame_progress = None


def _within(seconds: float, on_timeout: Callable[[], str], call: Callable, *args, **kwargs):
    """``call(*args, **kwargs)``, waited for at most ``seconds``; ExecutorError after that.

    The call runs on a daemon thread: a cluster that accepts TCP and never answers
    blocks that thread, not the job (and not the interpreter's exit).
    """
    box: dict = {}

    def target():
        try:
            box["value"] = call(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001  (handed to the caller)
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="edgepipe-dask-call")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise ExecutorError(on_timeout())
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class DaskExecutor:
    """Tasks on a ``dask.distributed`` cluster.

    Every wait on the cluster is bounded by the timeout its message names: a
    scheduler that accepts the connection and never answers, or goes silent during
    the job, ends the job with an :class:`ExecutorError` instead of hanging it.

    Parameters
    ----------
    address : str or None
        Scheduler address (``tcp://host:8786``); None starts a ``LocalCluster``.
    workers : int
        Worker processes of the LocalCluster.
    wait_for : int, optional
        With an address: wait up to :data:`WORKERS_WAIT` seconds for this many workers
        to join before any task is submitted (a cluster still starting up would
        otherwise run the first files on whoever joined first).
    connect_timeout : float, optional
        Seconds to wait for the scheduler to answer (default :data:`CONNECT_TIMEOUT`),
        at connection and whenever the connection is lost during the job.
    threads : int
        Compute threads per worker (a LocalCluster's workers get ``NUMBA_NUM_THREADS``;
        every task also caps itself, see :func:`pipeline.batch.tasks.prepare_process`).
    retries : int
        Passed to ``Client.submit``.
    """

    def __init__(self, address: str | None, workers: int = 1, threads: int = 1, retries: int = 2,
                 wait_for: int | None = None, connect_timeout: float | None = None):
        distributed = import_distributed()
        self.retries = int(retries)
        self.threads = int(threads)
        self.address = address
        self.timeout = float(CONNECT_TIMEOUT if connect_timeout is None else connect_timeout)
        self.cluster = None
        self.client = None
        #: ticket -> (frames written, frames expected or None) of the tasks running now
        self.progress: dict[int, tuple[int, int | None]] = {}
        self._futures: dict[int, Any] = {}
        self._by_key: dict[str, int] = {}
        self._tickets = itertools.count()
        self._silent_since: float | None = None
        if address:
            self._connect(distributed, address, wait_for)
        else:
            self.cluster = distributed.LocalCluster(
                n_workers=int(workers), threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR,
                env={"NUMBA_NUM_THREADS": str(self.threads)})
            self.client = distributed.Client(self.cluster)
            self.description = f"dask LocalCluster, {workers} worker(s) x {self.threads} thread(s)"
        self._warm_up()
        self._follow_progress()

    def _silent(self, what: str, seconds: float | None = None) -> Callable[[], str]:
        seconds = self.timeout if seconds is None else seconds
        return lambda: (f"the dask scheduler at {self.address!r} did not answer {what} within "
                        f"{seconds:g} s (it accepts connections but does not speak Dask?); "
                        "check the address and the scheduler's log")

    def _probe(self, address: str) -> None:
        """A plain TCP connection first: a refused port is said at once, as such."""
        parts = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}")
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or parts.port is None:
            return  # inproc://, ucx:// ...: distributed knows them
        hint = "start one with `dask scheduler` and check the address"
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=self.timeout).close()
        except ConnectionRefusedError:
            raise ExecutorError(f"cannot reach the dask scheduler at {address!r}: nothing "
                                f"listens there (connection refused); {hint}") from None
        except TimeoutError:
            raise ExecutorError(f"cannot reach the dask scheduler at {address!r} within "
                                f"{self.timeout:g} s (no answer to the TCP connection); "
                                f"{hint}") from None
        except OSError as exc:
            raise ExecutorError(f"cannot reach the dask scheduler at {address!r} "
                                f"({_reason(exc)}); {hint}") from None

    def _connect(self, distributed, address: str, wait_for: int | None) -> None:
        self._probe(address)
        try:
            self.client = _within(self.timeout, self._silent("the connection"),
                                  distributed.Client, address, timeout=self.timeout)
        except (OSError, TimeoutError) as exc:
            # distributed's timeouts are OSErrors too; a refused or reset connection is not one
            timed_out = isinstance(exc, TimeoutError) or "timed out" in str(exc).lower()
            when = f" within {self.timeout:g} s" if timed_out else ""
            raise ExecutorError(f"cannot reach the dask scheduler at {address!r}{when} "
                                f"({_reason(exc)}); start one with `dask scheduler` and "
                                "check the address") from None
        if wait_for:
            try:
                _within(WORKERS_WAIT + self.timeout, self._silent("while waiting for workers",
                                                                  WORKERS_WAIT + self.timeout),
                        self.client.wait_for_workers, wait_for, timeout=WORKERS_WAIT)
            except TimeoutError:
                joined = len(self._info()["workers"])
                self.close()
                raise ExecutorError(f"only {joined} of the {wait_for} workers asked for "
                                    f"(executor.workers) joined the scheduler at {address!r} "
                                    f"within {WORKERS_WAIT:g} s; start more with `dask worker "
                                    f"{address}`, or set workers: auto") from None
        joined = len(self._info()["workers"])
        self.description = f"dask cluster at {address}, {joined} worker(s)"

    def _info(self) -> dict:
        return _within(self.timeout, self._silent("a request for its workers"),
                       self.client.scheduler_info)

    def _warm_up(self) -> None:
        """Cap threads and load the pipeline on every worker there now, all at once."""
        from pipeline.batch.tasks import warm_up

        try:
            _within(WORKERS_WAIT, self._silent("while the workers loaded", WORKERS_WAIT),
                    self.client.run, warm_up, self.threads)
        except Exception as exc:  # noqa: BLE001  (each task caps and loads itself anyway)
            logging.getLogger(__name__).warning("warming up the dask workers failed: %s", exc)

    def _follow_progress(self) -> None:
        """Frames written by running tasks, from their events, into :attr:`progress`."""
        def on_event(event) -> None:  # on the client's event-loop thread
            message = event[1]
            ticket = self._by_key.get(message.get("key"))
            if ticket is not None and ticket in self._futures:
                self.progress[ticket] = (message["frames"], message["expected"])

        try:
            self.client.subscribe_topic(PROGRESS_TOPIC, on_event)
        except Exception as exc:  # noqa: BLE001  (the bar then moves per file only)
            logging.getLogger(__name__).debug("no frame progress from dask: %s", exc)

    def submit(self, task: Callable[[dict], dict], payload: dict) -> int:
        ticket = next(self._tickets)
        future = self.client.submit(_reporting, task, payload, pure=False, retries=self.retries)
        self._futures[ticket] = future
        self._by_key[str(future.key)] = ticket
        return ticket

    def poll(self, timeout: float) -> list[tuple[int, bool, Any]]:
        """Tasks finished within ``timeout`` s; ExecutorError once the scheduler was
        gone for longer than the connect timeout."""
        deadline = time.monotonic() + timeout
        while True:
            done = [t for t, f in self._futures.items() if f.done()]
            if done or time.monotonic() >= deadline or not self._futures:
                break
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        self._check_connected()
        finished = []
        for ticket in done:
            future = self._futures.pop(ticket)
            self._by_key.pop(str(future.key), None)
            self.progress.pop(ticket, None)
            if future.status == "finished":
                finished.append((ticket, True, future.result()))
            else:
                try:
                    message = _reason(future.exception(timeout=self.timeout))
                except Exception as error:  # noqa: BLE001  (cancelled, lost)
                    message = _reason(error)
                finished.append((ticket, False, f"the cluster could not run it ({message})"))
        return finished

    def _check_connected(self) -> None:
        if self.cluster is not None or self.client.status == "running":
            self._silent_since = None
            return
        now = time.monotonic()
        self._silent_since = self._silent_since or now
        if now - self._silent_since > self.timeout:
            raise ExecutorError(f"lost the dask scheduler at {self.address!r}: no connection for "
                                f"{self.timeout:g} s (client {self.client.status}); files in "
                                "flight are redone by the next run")

    def close(self, kill: bool = False) -> None:
        if self.client is None:
            return
        silent = self._silent("when asked to close")
        try:
            if self._futures:
                _within(self.timeout, silent, self.client.cancel, list(self._futures.values()))
            self._futures.clear()
            _within(self.timeout + 1, silent, self.client.close, timeout=self.timeout)
        except ExecutorError as exc:
            logging.getLogger(__name__).warning("%s", exc)
        finally:
            if self.cluster is not None:
                self.cluster.close()
