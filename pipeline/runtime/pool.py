"""The processing pool the streams of one process share: K worker threads run the chain
for whichever stream has a frame waiting, oldest frame first.

::

    stream "door": source thread ─► input queue ─┐                     ┌─► door's sink queues
    stream "yard": source thread ─► input queue ─┼─► ProcessingPool ───┼─► yard's sink queues
    ...                                          ┘   (K worker threads) └─► ...

Each stream's engine registers its :class:`~pipeline.runtime.workers.Processor` (input
queue, chain, consumers' queues) with :meth:`ProcessingPool.register` instead of starting a
processing thread of its own.  A free worker takes, among the streams that are not being
processed right now and can go on without waiting, the one whose next frame is the oldest
(capture stamp :attr:`Frame.timestamp`; equal stamps: the stream registered first),
processes that one frame with that stream's chain and hands it to that stream's
consumers.  So:

* one stream's frames are processed one at a time and in order (its chain, histograms and
  tuner are not thread-safe and order matters), while K streams are processed at once;
* a stream that can only wait is passed over, never waited for: a paused one, one whose
  source stalls, one whose sink's full queue would block the put (batch mode);
* a stream whose chain raises fails alone (:meth:`RunState.fail` of its engine: the
  error is in its run, its queues are abandoned); the workers go on with the others;
* a stream is over (its consumers' queues closed by :meth:`Processor.end`, its
  :attr:`PoolEntry.finished` set for its engine) when its input ended, when it was stopped
  with nothing queued, or when it was abandoned.  Everything the processor does on its
  own thread (pause, stop, abandon, failure, tuner, stats) holds here, since the same
  steps run.

No polling: the workers sleep on one condition variable, woken by the streams' queues
and controls (:meth:`FrameQueue.watch`, :meth:`Controls.watch`) whenever a frame comes
(one worker: one job came), room frees in a consumer's full queue, a queue closes or is
abandoned, or a stream is paused, resumed or stopped (every worker); nothing else (the
pool's own takes and puts) wakes them.  An idle pool sleeps.

Threads: the streams are what keeps the cores busy, so while the pool holds more than
one stream each worker runs its kernels on its own thread (:data:`pipeline.ops.ONE_THREAD`:
one band, no parallel launch; with one stream left they use every core again), and
while the pool runs OpenCV's own thread pool has one thread (``cv2.setNumThreads(1)``,
process-wide, given back when the pool stops: it serves the readers' and stages'
OpenCV calls).  A launch per call across both cores only added wake-ups and spinning:
TBB's and OpenCV's idle threads yield in a loop after each call (docs/streams.md,
"Threads and queues").

A pool belongs to whoever made it (a :class:`~pipeline.runtime.streams.StreamSet`):
:meth:`start` it, :meth:`stop` it after its engines ended.  An engine may register before
the start or while the pool runs (a stream added later joins the same workers).
"""

from __future__ import annotations

import itertools
import threading

from pipeline import ops
from pipeline.config.batch import available_cores
from pipeline.runtime.queues import END
from pipeline.runtime.workers import Processor, Worker


def default_workers() -> int:
    """The CPUs this process may run on (its affinity mask), at least 1."""
    return available_cores()


class _OpenCVThreads:
    """``cv2.setNumThreads(1)`` while at least one pool runs; the former count back after."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pools = 0
        self._saved: int | None = None

    def enter(self) -> None:
        import cv2  # lazy: loaded by the readers already; the pool itself needs no OpenCV

        with self._lock:
            if self._pools == 0:
                self._saved = cv2.getNumThreads()
                cv2.setNumThreads(1)
            self._pools += 1

    def leave(self) -> None:
        import cv2  # lazy: as in enter

        with self._lock:
            self._pools -= 1
            if self._pools == 0 and self._saved is not None:
                cv2.setNumThreads(self._saved)
                self._saved = None


_OPENCV_THREADS = _OpenCVThreads()


class PoolEntry:
    """One registered stream: its processor, whether a worker has it now, and when it ended.

    Stands in the engine's place of a processing thread (role ``process``): the engine
    waits on :attr:`finished`.
    """

    role = "process"

    def __init__(self, processor: Processor, order: int):
        self.processor = processor
        self.order = order
        self.busy = False
        self.finished = threading.Event()
        self.frames = 0  # processed by the pool (a failed one counts too)

    def __repr__(self) -> str:
        return f"PoolEntry(order={self.order}, busy={self.busy}, finished={self.finished.is_set()})"


class ProcessingPool:
    """K worker threads shared by every registered stream (see the module's notes).

    Parameters
    ----------
    workers : int, optional
        How many threads; default :func:`default_workers`.

    Attributes
    ----------
    size : int
        The number of worker threads.
    """

    def __init__(self, workers: int | None = None):
        size = default_workers() if workers is None else workers
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"workers must be a whole number >= 1; got {workers!r}")
        self.size = size
        self._cond = threading.Condition()  # an RLock: a queue's watcher may call in under it
        self._entries: list[PoolEntry] = []
        self._order = itertools.count()
        self._threads: list[Worker] = []
        self._running = False
        self._stopping = False
        self._opencv_set = False

    def __repr__(self) -> str:
        return (f"ProcessingPool(size={self.size}, running={self.running}, "
                f"streams={len(self._entries)})")

    @property
    def running(self) -> bool:
        """Started and not stopped."""
        return self._running and not self._stopping

    def alive(self) -> int:
        """How many worker threads have not ended."""
        return sum(not worker.finished.is_set() for worker in self._threads)

    def streams(self) -> int:
        """How many registered streams have not ended."""
        with self._cond:
            return len(self._entries)

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        """Start the worker threads (a second call does nothing)."""
        with self._cond:
            if self._running:
                return
            if self._stopping:
                raise RuntimeError("a stopped processing pool does not start again; make a new one")
            self._running = True
            self._threads = [Worker(f"pool-{i}", self._work) for i in range(self.size)]
        _OPENCV_THREADS.enter()
        self._opencv_set = True
        for worker in self._threads:
            worker.thread.start()

    def stop(self) -> None:
        """Let the workers finish the frame each has, end their threads, and wait for them.

        Meant for after every registered stream ended; a stream still registered fails
        (its engine raises that the pool stopped) rather than lose its frames quietly.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for worker in self._threads:
            worker.finished.wait()
            worker.thread.join()  # past its last line: gone in a moment, not left running
        if self._opencv_set:
            self._opencv_set = False
            _OPENCV_THREADS.leave()
        with self._cond:
            left, self._entries = self._entries, []
        for entry in left:
            entry.processor.state.fail(RuntimeError("the processing pool stopped before this stream ended"))
            self._forget(entry)
            entry.processor.end()
            entry.finished.set()

    def register(self, processor: Processor) -> PoolEntry:
        """Take ``processor``'s stream into the pool; return its :class:`PoolEntry`.

        Before :meth:`start`, the stream waits for the workers; after, a worker may take
        its first frame at once.

        Raises
        ------
        RuntimeError
            The pool was stopped.
        """
        with self._cond:
            if self._stopping:
                raise RuntimeError("the processing pool was stopped: a new stream needs a running pool")
            entry = PoolEntry(processor, next(self._order))
            processor.input.watch(self._wake_one)  # a frame came, the input ended: one job
            for queue, _ in processor.consumers:  # room made, a consumer gone (not our puts)
                queue.watch(self._wake, puts=False)
            processor.state.controls.watch(self._wake)
            self._entries.append(entry)
            self._cond.notify_all()
        return entry

    # ------------------------------------------------------------------ scheduling
    @staticmethod
    def _queues(processor: Processor) -> list:
        return [processor.input] + [queue for queue, _ in processor.consumers]

    def _forget(self, entry: PoolEntry) -> None:
        for queue in self._queues(entry.processor):
            queue.watch(None)
        entry.processor.state.controls.unwatch(self._wake)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _wake_one(self) -> None:
        # One new job (a frame, or a stream's end) needs one worker: a worker that is busy
        # looks for work before it waits again, so waking both only put one back to sleep
        # (a thread switch per frame for nothing).
        with self._cond:
            self._cond.notify()

    def _next_job(self) -> tuple[PoolEntry, object] | None:
        """Under the lock: a stream that ended, else the oldest frame any idle stream can
        process now (taken out of its input), else None."""
        best, best_head = None, None
        for entry in self._entries:
            if entry.busy:
                continue
            head = entry.processor.ready()
            if head is END:
                entry.busy = True
                return entry, END
            if head is not None and (best is None or head.timestamp < best_head.timestamp):
                best, best_head = entry, head
        if best is None:
            return None
        item = best.processor.take()  # the head just seen (or, live, a newer one of the same stream)
        if item is None:
            return None
        best.busy = True
        return best, item

    def _done(self, entry: PoolEntry, item) -> None:
        """Under the lock: the worker is through with ``entry``'s job."""
        entry.busy = False
        if item is END:
            self._entries.remove(entry)
            self._forget(entry)
            entry.finished.set()
        else:
            entry.frames += 1

    def _work(self) -> None:
        """One worker thread: take a job, run it outside the lock, repeat until stopped."""
        job = None
        while True:
            with self._cond:
                if job is not None:
                    self._done(*job)
                    job = None
                while job is None:
                    if self._stopping:
                        return
                    job = self._next_job()
                    if job is None:
                        self._cond.wait()
                shared = len(self._entries) > 1
            ops.ONE_THREAD.set(shared)
            entry, item = job
            if item is END:
                entry.processor.end()
            else:
                entry.processor.step(item)  # a failure fails this stream alone
