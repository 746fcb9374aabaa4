"""The engine's threads: what the source thread, the processing thread and each sink do.

* :class:`SourceReader` reads and stamps frames into the input queue until the end of
  the stream, ``max_frames`` or a stop;
* :class:`Processor` runs the chain on each frame (feeding the tuner) and puts the
  result into every consumer's queue, on its own thread or as steps the shared
  processing pool (:mod:`pipeline.runtime.pool`) calls;
* :class:`SinkRunner` opens its sink on the first frame, writes, and closes it at the
  end; a failure costs that sink alone (see the engine's notes).

They share one :class:`RunState`: why the run ends, its first error, the failures
raised at the end, and the flag that makes every queue give up.  Each runs on a
:class:`Worker`.  :mod:`pipeline.runtime.engine` builds, starts and joins them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Sequence

from pipeline.frame import Frame
from pipeline.io.base import Sink, Source, SourceError, frame_image
from pipeline.controls import Controls
from pipeline.runtime.queues import END, POLL, FrameQueue, _End
from pipeline.runtime.stats import RunStats
from pipeline.stages.chain import Chain

log = logging.getLogger(__name__)


class RunState:
    """What the engine's threads share about the run; every change under :attr:`lock`.

    Attributes
    ----------
    error : BaseException or None
        The first error that stopped everything (raised again by the engine).
    reason : str or None
        Why the run ended, the first one told (``end of stream``, ``max_frames``, ...).
    abandoned : threading.Event
        Set when the run stops without waiting for queued frames.
    source_failure : SourceError or None
        The source's input ended on an error (raised after the sinks were closed).
    sink_failures : list
        The sinks' errors, in the order the sinks failed.
    sink_count : int
        How many sinks run (set with the queues); all of them failed stops the run.
    queues : list of FrameQueue
        The input queue and every sink's: :meth:`abandon` gives up on all of them.
    first_out : threading.Event
        Set once the first frame is out: a sink wrote it (or failed), or, without sinks,
        it went to the caller; or the run stopped.  The kernel loader waits for it
        (:attr:`pipeline.stages.chain.Chain.loader_after`).
    """

    def __init__(self, controls: Controls):
        self.controls = controls
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.reason: str | None = None
        self.abandoned = threading.Event()
        self.source_failure: SourceError | None = None
        self.sink_failures: list[BaseException] = []
        self.sink_count = 0
        self.queues: list[FrameQueue] = []
        self.first_out = threading.Event()

    def set_reason(self, reason: str) -> None:
        """Why the run ends, unless a reason was told already."""
        with self.lock:
            if self.reason is None:
                self.reason = reason

    def fail(self, exc: BaseException) -> None:
        """Record the first error and stop everything without waiting for the queues."""
        with self.lock:
            if self.error is None:
                self.error = exc
        self.set_reason("error")
        self.controls.stop("error")
        self.abandon()

    def abandon(self) -> None:
        """Stop waiting for queued frames: every queue drops what it holds and gives up."""
        self.abandoned.set()
        self.first_out.set()  # no frame may come out now: nothing to wait for
        for queue in self.queues:
            queue.abandon()


class Worker:
    """One engine thread, known by its role: ``source``, ``process`` or ``sink:NAME``.

    The main thread waits on :attr:`finished` (set when the target returns, whatever it
    raised), not on ``Thread.join``: CPython 3.11's join, interrupted by Ctrl+C at the
    wrong moment, releases the thread's state lock although the thread still runs and
    marks it stopped (bpo-45274's fix, in ``Thread._wait_for_tstate_lock``).  The engine
    then closed a sink while its thread was still writing, and counted one frame fewer
    than the sink wrote.  An Event's wait, interrupted, leaves nothing wrong behind.
    """

    def __init__(self, role: str, target: Callable, *args):
        self.role = role
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(target, args),
                                       name=f"edgepipe-{role}", daemon=True)

    def _run(self, target: Callable, args: tuple) -> None:
        try:
            target(*args)
        finally:
            self.finished.set()

    def __repr__(self) -> str:
        return f"Worker({self.role!r}, finished={self.finished.is_set()})"


class SourceReader:
    """The source thread: frames from ``source``, stamped, into ``queue``.

    ``on_first(image)`` runs on the first frame before it is stamped (the chain's
    warm-up, untimed); ``pacer`` (or None) paces a source that is not live in a live run.
    """

    def __init__(self, source: Source, queue: FrameQueue, state: RunState, stats: RunStats, *,
                 pacer, max_frames: int | None, on_first: Callable):
        self.source, self.queue, self.state, self.stats = source, queue, state, stats
        self.pacer = pacer
        self.max_frames = max_frames
        self.on_first = on_first

    def read(self, index: int) -> Frame | None:
        """The source's next frame, stamped; None at the end of its input (reason set)."""
        if self.pacer is not None:
            self.pacer.wait()
        timed = self.source.read_timed()
        if timed is None:
            failure = self.source.report.failure
            if failure is not None:
                self.state.source_failure = SourceError(failure)
                self.state.set_reason("source failed")
            else:
                self.state.set_reason("end of stream")
            return None
        image = frame_image(timed[0], index, self.source)
        if index == 0:
            self.on_first(image)
        return Frame(index, time.perf_counter(), image, image, pts=timed[1])

    def loop(self) -> None:
        """Read until the end, ``max_frames`` or a stop; close the queue either way."""
        state, stats, queue = self.state, self.stats, self.queue
        controls = state.controls
        index = 0
        try:
            while True:
                if controls.stopped or state.abandoned.is_set():
                    state.set_reason(controls.stop_reason or "stopped")
                    break
                if self.max_frames is not None and index >= self.max_frames:
                    state.set_reason("max_frames")
                    break
                frame = self.read(index)
                if frame is None:
                    break
                if controls.stopped or state.abandoned.is_set():
                    # Stopped while this frame was read: it is not taken (a processor that
                    # found the input empty may have ended the stream already).
                    state.set_reason(controls.stop_reason or "stopped")
                    break
                stats.record_in()
                dropped = queue.put(frame)
                if dropped:
                    stats.record_drop("source", dropped)
                index += 1
        except BaseException as exc:  # noqa: BLE001  (reported by the engine's run())
            state.fail(exc)
        finally:
            queue.close()


class Processor:
    """The chain on every input frame, into every consumer's queue; one stream's frames
    one at a time and in order.

    ``consumers`` are ``(queue, name)`` pairs (a sink's, or ``frames()``'s caller's); a
    drop in one is counted under its name.  With a ``tuner``, each frame's histogram is
    offered to it, and with ``histograms_on_demand`` only the frames it will take get one.

    Driven either by its own thread (:meth:`loop`) or by the shared processing pool
    (:mod:`pipeline.runtime.pool`), which asks :meth:`ready` what can be done without
    waiting, then calls :meth:`take` and :meth:`step` for a frame, or :meth:`end` once
    the stream is over.  Both ways run the same steps.
    """

    def __init__(self, chain: Chain, source_queue: FrameQueue, consumers: list[tuple[FrameQueue, str]],
                 state: RunState, stats: RunStats, *, tuner=None, histograms_on_demand: bool = False):
        self.chain, self.input, self.consumers = chain, source_queue, consumers
        self.state, self.stats = state, stats
        self.tuner = tuner
        self.histograms_on_demand = histograms_on_demand
        self.ended = False
        chain.loader_after = state.first_out

    # ------------------------------------------------------------------ own thread
    def next_input(self) -> Frame | None:
        """The next frame to process, or None once the input ended or the run stopped."""
        controls, abandoned = self.state.controls, self.state.abandoned
        while True:
            item = self.input.get(POLL)
            if item is None:
                if controls.stopped:  # do not wait on a source stuck in a device read
                    return None
                continue
            if item is END or abandoned.is_set():
                return None
            while controls.paused and not controls.stopped and not abandoned.is_set():
                controls.wait_while_paused(POLL)
            return item

    def loop(self) -> None:
        """Process until the input ends or the run stops; close every consumer's queue."""
        try:
            while True:
                item = self.next_input()
                if item is None or not self.step(item):
                    break
        except BaseException as exc:  # noqa: BLE001
            self.state.fail(exc)
        finally:
            self.end()

    # ------------------------------------------------------------------ steps
    def ready(self) -> Frame | _End | None:
        """What can be done now without waiting: the next frame (left in the input),
        :data:`END` when the stream is over (input ended, run stopped with nothing
        queued, or abandoned), None when nothing can be done yet (no frame, paused, or a
        consumer's full queue would block the put)."""
        controls = self.state.controls
        if self.ended or self.state.abandoned.is_set():
            return END
        head = self.input.peek()
        if head is END or (head is None and controls.stopped):
            return END
        if head is None or (controls.paused and not controls.stopped):
            return None
        if not all(queue.has_room() for queue, _ in self.consumers):
            return None
        return head

    def take(self) -> Frame | None:
        """The next frame out of the input, without waiting (None: there is none)."""
        item = self.input.get(0)
        return item if isinstance(item, Frame) else None

    def process(self, item: Frame) -> Frame:
        """``item`` through the chain, stamped with its latency and the tuner's steps."""
        if self.histograms_on_demand:
            # Only frames the tuner will take get a histogram (at 1080p it is a quarter
            # of the fused pass); a later stage that reads one still gets it every frame.
            self.chain.leave_histograms(read_after=self.tuner.wants(item.index))
        frame = self.chain(item, self.stats.stage_seconds)
        frame.side["latency"] = time.perf_counter() - frame.timestamp
        if self.tuner is not None:
            histogram = frame.side.get("histogram")
            if histogram is not None:
                self.tuner.offer(frame.index, histogram)  # every N-th reaches the mailbox
            records = self.state.controls.tuned.records()
            if records is not None:
                frame.side["tuner"] = records  # the steps in effect for this frame
        self.stats.record_processed()
        return frame

    def step(self, item: Frame) -> bool:
        """Process ``item`` and hand it to every consumer; False if that failed (the
        error is the run's: :meth:`RunState.fail` stopped it)."""
        try:
            frame = self.process(item)
            for queue, name in self.consumers:
                dropped = queue.put(frame)
                if dropped:
                    self.stats.record_drop(name, dropped)
            if not self.state.sink_count and not self.state.first_out.is_set():
                self.state.first_out.set()  # frames() hands it to its caller: it is out
            return True
        except BaseException as exc:  # noqa: BLE001  (reported by the engine's run())
            self.state.fail(exc)
            return False

    def end(self) -> None:
        """The stream is over: close every consumer's queue (once)."""
        if self.ended:
            return
        self.ended = True
        for queue, _ in self.consumers:
            queue.close()


def sink_names(sinks: Sequence[Sink]) -> list[str]:
    """Registered names, made unique with ``#2``... (``video``, ``video#2``)."""
    names, seen = [], {}
    for sink in sinks:
        base = getattr(sink, "registry_name", type(sink).__name__)
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return names


class SinkRunner:
    """One sink with its queue and state: opened on the first frame, written, closed.

    Runs on its own :attr:`worker` (:meth:`loop`), or, for a sink with
    ``main_thread = True``, step by step from the main thread's loop (:meth:`step`).
    """

    def __init__(self, sink: Sink, name: str, index: int, queue: FrameQueue, *,
                 source: Source, fps: float, state: RunState, stats: RunStats):
        self.sink, self.name, self.index, self.queue = sink, name, index, queue
        self.source, self.fps, self.state, self.stats = source, fps, state, stats
        self.opened = False
        self.done = False
        self.failure: BaseException | None = None
        self.worker: Worker | None = None

    def step(self, timeout: float | None) -> bool:
        """Handle at most one queued item; False once the sink is finished."""
        if self.done:
            return False
        try:
            item = self.queue.get(timeout)
            if item is None:
                return True
            if item is END or self.state.abandoned.is_set():
                self.finish()
                return False
            if not self.opened:
                self.sink.set_input(self.source.media)
                self.sink.open(item, self.fps, self.state.controls)
                self.opened = True
            self.sink.write(item)
            self.stats.record_written(self.index, item.timestamp)
            if not self.state.first_out.is_set():
                self.state.first_out.set()
            return True
        except BaseException as exc:  # noqa: BLE001
            self.failed(exc)
            return False

    def loop(self) -> None:
        """The sink's thread: step until finished."""
        while self.step(None):
            pass

    def failed(self, exc: BaseException) -> None:
        """The sink failed: abort it alone; stop the run once no sink is left."""
        state = self.state
        self.failure = exc
        state.first_out.set()  # this sink will write nothing: not worth waiting for
        with state.lock:
            state.sink_failures.append(exc)
            every_sink_failed = len(state.sink_failures) >= state.sink_count
        self.done = True
        self.queue.abandon()  # the processing thread no longer waits on this sink
        self.stats.record_sink_failed(self.index, str(exc))
        if self.opened:
            self.opened = False
            try:
                self.sink.abort()
            except BaseException as again:  # noqa: BLE001  (the first error is the one told)
                log.debug("abort of sink %s failed too: %s", self.name, again)
        if not isinstance(exc, Exception) or every_sink_failed:
            # Nothing left to write to (or a Ctrl+C met in a sink): stop everything.
            state.fail(exc if not isinstance(exc, Exception) else state.sink_failures[0])

    def finish(self) -> None:
        """Close the sink (abort it after an error elsewhere); the runner is done."""
        self.done = True
        if not self.opened:
            return
        if self.state.error is not None:
            self.opened = False
            try:
                self.sink.abort()
            except BaseException as exc:  # noqa: BLE001
                self.state.fail(exc)
            return
        try:
            self.sink.close()
            self.opened = False
        except BaseException as exc:  # noqa: BLE001
            self.failed(exc)
