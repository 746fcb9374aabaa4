"""The Dask executor: tasks on a ``dask.distributed`` cluster, every wait bounded.

The local pool's twin (:mod:`pipeline.batch.executors`, whose :class:`ExecutorError` it
raises too), with the same three calls (``submit``, ``poll``, ``close``).  A scheduler that accepts TCP and never
answers, or goes away during the job, ends the job with an :class:`ExecutorError`
naming its address and the seconds waited, instead of hanging it.  Tasks report the
frames they have written as scheduler events (:data:`PROGRESS_TOPIC`), so the batch
bar moves within a file on a cluster too.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
import urllib.parse
from typing import Any, Callable

from pipeline.batch import tasks
from pipeline.batch.executors import ExecutorError

#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = 20.0
#: Seconds to wait for ``workers`` workers to join a remote scheduler.
WORKERS_WAIT = 60.0
DASK_INSTALL_HINT = "pip install edgepipe[dask]"


def import_distributed():
    """``dask.distributed``, or an :class:`ExecutorError` saying how to install it."""
    try:
        import distributed  # lazy: an optional dependency (edgepipe[dask]), seconds to import
    except ImportError as exc:
        raise ExecutorError(f"the dask executor needs dask.distributed, which is not installed "
                            f"({exc}); install it with `{DASK_INSTALL_HINT}`, or use "
                            f"executor: {{type: local}}") from None
    return distributed


#: The scheduler topic on which Dask tasks report the frames they have written.
PROGRESS_TOPIC = "edgepipe-frames"


def _reporting(task: Callable[[dict], dict], payload: dict) -> dict:
    """On a Dask worker: ``task(payload)``, its frame progress sent as scheduler events."""
    import distributed  # lazy: an optional dependency, seconds to import; on a Dask worker only

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


#: Address schemes a Dask scheduler is reached by (``HOST:PORT`` alone means tcp).
ADDRESS_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot name a Dask scheduler, or None: checked before connecting."""
    example = "e.g. tcp://10.0.0.5:8786 or 10.0.0.5:8786 ([::1]:8786 for IPv6)"
    try:
        parts = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}")
        port = parts.port
    except ValueError as exc:
        return f"the dask scheduler address {address!r} is not an address ({exc}); {example}"
    if parts.scheme not in ADDRESS_SCHEMES:
        return (f"the dask scheduler address {address!r} has scheme {parts.scheme!r}; one of "
                f"{', '.join(s + '://' for s in ADDRESS_SCHEMES)}, {example}")
    if parts.scheme in ("tcp", "tls") and (not parts.hostname or port is None):
        return f"the dask scheduler address {address!r} needs a host and a port, {example}"
    return None


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
        self.deaths = 0  # workers lost while running a task of this job (their tasks rerun)
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
        problem = address_problem(address)
        if problem is not None:
            raise ExecutorError(problem)
        self._probe(address)
        try:
            self.client = _within(self.timeout, self._silent("the connection"),
                                  distributed.Client, address, timeout=self.timeout)
        except ValueError as exc:  # an address distributed cannot parse
            raise ExecutorError(f"the dask scheduler address {address!r} is not usable "
                                f"({_reason(exc)}); e.g. tcp://10.0.0.5:8786") from None
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
        try:
            _within(WORKERS_WAIT, self._silent("while the workers loaded", WORKERS_WAIT),
                    self.client.run, tasks.warm_up, self.threads)
        except Exception as exc:  # noqa: BLE001  (each task caps and loads itself anyway)
            logging.getLogger(__name__).warning("warming up the dask workers failed: %s", exc)

    def _follow_progress(self) -> None:
        """Frames written by running tasks, from their events, into :attr:`progress`."""
        def on_event(event) -> None:  # on the client's event-loop thread
            message = event[1]
            ticket = self._by_key.get(message.get("key"))
            if ticket is not None and ticket in self._futures:
                self.progress[ticket] = (message["frames"], message["expected"])

        def on_scheduler_event(event) -> None:  # the scheduler's "all" topic
            message = event[1] if isinstance(event, tuple) and len(event) == 2 else {}
            if not isinstance(message, dict) or message.get("action") != "remove-worker":
                return
            ours = [key for key in message.get("processing-tasks", ()) if str(key) in self._by_key]
            if ours and not message.get("expected"):  # died, not retired: its tasks run again
                self.deaths += 1

        try:
            self.client.subscribe_topic(PROGRESS_TOPIC, on_event)
            self.client.subscribe_topic("all", on_scheduler_event)
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
