"""The engine: a source thread, a processing thread and one thread per sink.

::

    source thread ──► FrameQueue ──► processing thread ──► FrameQueue per sink ──► sink threads
    (read, stamp)     live: drop oldest   (chain of stages)    live: drop oldest     (open, write, close)
                      batch: block                             batch: block

* ``batch``: nothing is lost; a full queue blocks its producer, so a slow sink slows
  the source, and every frame leaves every sink in order.
* ``live``: a full queue drops its oldest frame (counted per place), so the latency from
  capture to sink stays bounded by the queue sizes, whatever the sinks' speed.  A source
  that is not live itself (a file, the synthetic source) is paced at its frame rate.

Stopping: the end of the stream, ``runtime.max_frames``, :meth:`Controls.stop` (a window
closed, ``q``), Ctrl+C and SIGTERM all stop the source; the frames already queued flow
through, each sink's ``close()`` finalizes its output, and the threads are joined.  A
second Ctrl+C stops waiting for the queues (outputs are still closed, not aborted).

A sink's failure costs that sink alone: the failing sink is ``abort()``-ed (its temporary
output removed), its queue is dropped, and the other sinks go on to the end of the stream
and are closed normally, so their outputs are kept; :meth:`Engine.run` then raises the
failed sink's error, and the summary names the failed sink and counts frames per sink.
When every sink has failed the run stops.  An error in the source or the processing
thread stops everything and every opened sink is ``abort()``-ed; the error is raised
again from :meth:`Engine.run`.

Sinks that declare ``main_thread = True`` (an OpenCV window under Qt) are run by the
main thread's loop instead of a thread of their own.

Bad input: what the source met (damaged frames skipped, timeouts, reconnections) comes
into the summary from its :class:`~pipeline.io.base.ReadReport`.  A source whose input
ended because of an error (``report.failure``) ends the run like the end of its stream
(queued frames flow through, sinks are closed, not aborted, so nothing is lost), and
:meth:`Engine.run` then raises :class:`SourceError` with the source's message.

Frames may change size or channel count mid-stream: every stage works per frame, so
nothing re-allocates.  The engine hands stages a grey (H, W) or BGR (H, W, 3) uint8
array: a (H, W, 1) frame is taken as grey and BGRA loses its alpha channel; anything
else (another dtype, no pixels) is a :class:`SourceError` naming the frame.  Sinks
decide about size changes themselves (the video sink scales them and says so).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import sys
import threading
import time
from typing import Callable, Iterator, Sequence

from pipeline.cli.guard import install_stop_signals
from pipeline.frame import Frame
from pipeline.io.base import Sink, Source, SourceError, frame_image
from pipeline.io.sources.pacing import FramePacer
from pipeline.runtime.controls import Controls
from pipeline.runtime.stats import ProgressLine, RunStats, Summary
from pipeline.runtime.warmup import WarmUp, warm_chain

#: How long the first frame waits for the tuner's warm-up at most.
TUNER_WARM_SECONDS = 60.0
from pipeline.stages.chain import Chain

MODES = ("auto", "live", "batch")
DEFAULT_QUEUE_SIZE = {"live": 2, "batch": 8}
DEFAULT_FPS = 30.0
PUBLISH_EVERY = 0.25  # seconds between live-stats updates (hud, progress line)
POLL = 0.05  # seconds a waiting thread sleeps before looking at stop/abandon flags
SOURCE_JOIN_TIMEOUT = 2.0  # a source stuck in a device read is left behind after this


class _End:
    """Marker closing a :class:`FrameQueue`."""

    def __repr__(self) -> str:
        return "END"


END = _End()

log = logging.getLogger(__name__)


class FrameQueue:
    """A bounded FIFO of frames, closed by :data:`END`.

    Parameters
    ----------
    maxsize : int
        Frames held at most (``END`` does not count).
    drop_oldest : bool
        Live mode: a put into a full queue drops the oldest frame instead of waiting.
    """

    def __init__(self, maxsize: int, drop_oldest: bool):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1; got {maxsize}")
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self._items: collections.deque = collections.deque()
        self._closed = False
        self._abandoned = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, frame: Frame) -> int:
        """Add ``frame``; return how many old frames were dropped to make room.

        Once abandoned (its sink failed) it takes nothing and drops nothing; in blocking
        mode it waits for room.
        """
        with self._cond:
            if self._abandoned:
                return 0
            dropped = 0
            if self.drop_oldest:
                while len(self._items) >= self.maxsize:
                    self._items.popleft()
                    dropped += 1
            else:
                while len(self._items) >= self.maxsize and not self._abandoned:
                    self._cond.wait(POLL)
                if self._abandoned:
                    return 0
            self._items.append(frame)
            self._cond.notify_all()
            return dropped

    def close(self) -> None:
        """No more frames: :meth:`get` returns :data:`END` once the queue is empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abandon(self) -> None:
        """Drop everything queued; :meth:`get` returns END and :meth:`put` stops waiting."""
        with self._cond:
            self._abandoned = True
            self._items.clear()
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Frame | _End | None:
        """The oldest frame, :data:`END` when closed and empty, None after ``timeout``."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed or self._abandoned:
                    return END
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(POLL if remaining is None else min(POLL, remaining))
            item = self._items.popleft()
            self._cond.notify_all()
            return item


class _Worker:
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
        return f"_Worker({self.role!r}, finished={self.finished.is_set()})"


class _SinkRunner:
    """One sink with its queue, its state and (unless it runs in the main thread) its worker."""

    def __init__(self, sink: Sink, name: str, index: int, queue: FrameQueue):
        self.sink, self.name, self.index, self.queue = sink, name, index, queue
        self.opened = False
        self.done = False
        self.failure: BaseException | None = None
        self.worker: _Worker | None = None


def sink_names(sinks: Sequence[Sink]) -> list[str]:
    """Registered names, made unique with ``#2``... (``video``, ``video#2``)."""
    names, seen = [], {}
    for sink in sinks:
        base = getattr(sink, "registry_name", type(sink).__name__)
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return names


def resolve_mode(mode: str, source: Source) -> str:
    """``live`` or ``batch``: ``auto`` follows ``source.live``.

    The one meaning of live for the engine: a live run drops the oldest queued frame
    rather than wait.  ``source.live`` means something else, that the source delivers
    at its own pace (a camera); a live run over a source that is not live paces it at
    its frame rate, as if a camera were filming it.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if mode == "auto":
        return "live" if source.live else "batch"
    return mode


class Engine:
    """Runs one source through a :class:`Chain` into sinks, on threads.

    Parameters
    ----------
    source : Source
        Not yet opened; the engine opens and closes it.
    chain : Chain
    sinks : sequence of Sink
        Not yet checked or opened.
    mode : {"auto", "live", "batch"}
        ``auto`` is live for a live source, else batch (see :func:`resolve_mode`).
    queue_size : int, optional
        Capacity of every queue; default 2 in live mode, 8 in batch mode.
    max_frames : int, optional
        Stop after this many frames from the source.
    fps : float, optional
        Frame rate given to sinks and used to pace non-live sources in live mode;
        default the source's, else 30.
    controls : Controls, optional
        Shared run controls; a fresh one by default.
    progress : bool
        Show a progress line on stderr (batch mode, when the source can count frames).
    tuner_settings : dict, optional
        A ``tuner:`` section: a :class:`~pipeline.runtime.tuner.Tuner` runs beside the chain.

    Attributes
    ----------
    mode : str
        ``"live"`` or ``"batch"``, resolved at construction.
    warmup : WarmUp or None
        What the chain's warm-up on the first frame took (seconds, numba compiles);
        not part of any latency or fps figure.  None before the first frame.
    """

    def __init__(self, source: Source, chain: Chain, sinks: Sequence[Sink], *,
                 mode: str = "auto", queue_size: int | None = None, max_frames: int | None = None,
                 fps: float | None = None, controls: Controls | None = None,
                 progress: bool = False, tuner_settings: dict | None = None):
        self.source = source
        self.chain = chain
        self.sinks = list(sinks)
        self.requested_mode = mode
        self.mode = resolve_mode(mode, source)
        self.queue_size = queue_size
        self.max_frames = max_frames
        self.requested_fps = fps
        self.controls = controls if controls is not None else Controls()
        self.progress = progress
        self.tuner_settings = tuner_settings
        self.tuner = None
        self._histograms_on_demand = False  # set by _prepare
        self.summary: Summary | None = None
        self.fps: float | None = None  # resolved when the source is open
        self.stats: RunStats | None = None
        self.warmup: WarmUp | None = None
        self._input: FrameQueue | None = None
        self._outlet: FrameQueue | None = None  # frames(): the caller's queue
        self._runners: list[_SinkRunner] = []
        self._workers: dict[str, _Worker] = {}
        self._pacer: FramePacer | None = None
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._reason: str | None = None
        self._abandoned = threading.Event()
        self._source_failure: SourceError | None = None
        self._sink_failures: list[BaseException] = []  # in the order the sinks failed

    # ------------------------------------------------------------------ state
    @property
    def live(self) -> bool:
        """Whether this run drops frames rather than wait (see :func:`resolve_mode`)."""
        return self.mode == "live"

    def _set_reason(self, reason: str) -> None:
        with self._lock:
            if self._reason is None:
                self._reason = reason

    def _fail(self, exc: BaseException) -> None:
        """Record the first error and stop everything without waiting for the queues."""
        with self._lock:
            if self._error is None:
                self._error = exc
        self._set_reason("error")
        self.controls.stop("error")
        self._abandon()

    def _abandon(self) -> None:
        self._abandoned.set()
        for queue in self._queues():
            queue.abandon()

    def queue_depths(self) -> dict[str, int]:
        """Frames waiting now, by queue: ``"source"`` (before processing), then each sink.

        Empty before the run is prepared.  Read without stopping anything (soak tests,
        monitoring); each number is exact at the moment its queue was looked at.
        """
        if self._input is None:
            return {}
        depths = {"source": len(self._input)}
        depths.update({runner.name: len(runner.queue) for runner in self._runners})
        return depths

    def _queues(self) -> list[FrameQueue]:
        queues = [] if self._input is None else [self._input]
        return queues + [runner.queue for runner in self._runners]

    # ------------------------------------------------------------------ setup
    def _prepare(self, with_sinks: bool) -> None:
        """Check sinks, open the source, build queues; nothing runs yet."""
        if with_sinks:
            for sink in self.sinks:
                sink.check()
        self.source.open()
        size = self.queue_size or DEFAULT_QUEUE_SIZE[self.mode]
        self.fps = float(self.requested_fps or self.source.fps or DEFAULT_FPS)
        if self.live and not self.source.live:
            self._pacer = FramePacer(self.fps)
        self.chain.bind(self.controls)
        # frames() hands each frame to its caller, side values and all.  With sinks, the
        # tuner is the only reader after the chain: _process asks it frame by frame.
        self._histograms_on_demand = with_sinks and self.tuner_settings is not None
        self.chain.leave_histograms(read_after=not with_sinks)
        if self.tuner_settings is not None:
            from pipeline.runtime.tuner import Tuner

            self.tuner = Tuner(self.tuner_settings, self.controls, on_error=self._fail)
        sinks = self.sinks if with_sinks else []
        names = sink_names(sinks)
        self.stats = RunStats(self.chain.labels, names)
        self._input = FrameQueue(size, drop_oldest=self.live)
        self._runners = [_SinkRunner(sink, name, i, FrameQueue(size, drop_oldest=self.live))
                         for i, (sink, name) in enumerate(zip(sinks, names))]

    def _start(self, outlet: FrameQueue | None = None) -> None:
        self._outlet = outlet
        workers = [_Worker("source", self._source_loop), _Worker("process", self._process_loop)]
        for runner in self._runners:
            if not runner.sink.main_thread:
                runner.worker = _Worker(f"sink:{runner.name}", self._sink_loop, runner)
                workers.append(runner.worker)
        self._workers = {worker.role: worker for worker in workers}
        for worker in workers:
            worker.thread.start()
        if self.tuner is not None:
            self.tuner.start()

    # ------------------------------------------------------------------ threads
    def _read(self, index: int) -> Frame | None:
        """The source's next frame, stamped; None at the end of its input (reason set)."""
        if self._pacer is not None:
            self._pacer.wait()
        timed = self.source.read_timed()
        if timed is None:
            failure = self.source.report.failure
            if failure is not None:
                self._source_failure = SourceError(failure)
                self._set_reason("source failed")
            else:
                self._set_reason("end of stream")
            return None
        image = frame_image(timed[0], index, self.source)
        if index == 0:
            self._warm_up(image)
        return Frame(index, time.perf_counter(), image, image, pts=timed[1])

    def _warm_up(self, image) -> None:
        """Compile the chain's kernels for this kind of frame before the first is timed."""
        self.chain.bind(None)  # the warm-up must not show in the run's controls
        try:
            self.warmup = warm_chain(self.chain, image)
        finally:
            self.chain.bind(self.controls)
        if self.tuner is not None:
            # The tuner compiles its objective on its thread (seconds on a busy machine,
            # mostly pipeline.activations' ufuncs); a batch run of a short clip would
            # otherwise be over before its first update.  Waited for once, untimed.
            self.tuner.wait_warm(TUNER_WARM_SECONDS)
        if self._pacer is not None:
            self._pacer.reset()

    def _source_loop(self) -> None:
        controls, stats, queue = self.controls, self.stats, self._input
        index = 0
        try:
            while True:
                if controls.stopped or self._abandoned.is_set():
                    self._set_reason(controls.stop_reason or "stopped")
                    break
                if self.max_frames is not None and index >= self.max_frames:
                    self._set_reason("max_frames")
                    break
                frame = self._read(index)
                if frame is None:
                    break
                stats.record_in()
                dropped = queue.put(frame)
                if dropped:
                    stats.record_drop("source", dropped)
                index += 1
        except BaseException as exc:  # noqa: BLE001  (reported by run())
            self._fail(exc)
        finally:
            queue.close()

    def _consumers(self) -> list[tuple[FrameQueue, str]]:
        consumers = [(runner.queue, runner.name) for runner in self._runners]
        if self._outlet is not None:
            consumers.append((self._outlet, "frames"))
        return consumers

    def _next_input(self) -> Frame | None:
        """The next frame to process, or None once the input ended or the run stopped."""
        controls = self.controls
        while True:
            item = self._input.get(POLL)
            if item is None:
                if controls.stopped:  # do not wait on a source stuck in a device read
                    return None
                continue
            if item is END or self._abandoned.is_set():
                return None
            while controls.paused and not controls.stopped and not self._abandoned.is_set():
                controls.wait_while_paused(POLL)
            return item

    def _process(self, item: Frame) -> Frame:
        if self._histograms_on_demand:
            # Only frames the tuner will take get a histogram (at 1080p it is a quarter
            # of the fused pass); a later stage that reads one still gets it every frame.
            self.chain.leave_histograms(read_after=self.tuner.wants(item.index))
        frame = self.chain(item, self.stats.stage_seconds)
        frame.side["latency"] = time.perf_counter() - frame.timestamp
        if self.tuner is not None:
            histogram = frame.side.get("histogram")
            if histogram is not None:
                self.tuner.offer(frame.index, histogram)  # every N-th reaches the mailbox
            records = self.controls.tuner_records()
            if records is not None:
                frame.side["tuner"] = records  # the steps in effect for this frame
        self.stats.record_processed()
        return frame

    def _process_loop(self) -> None:
        consumers = self._consumers()
        try:
            while True:
                item = self._next_input()
                if item is None:
                    break
                frame = self._process(item)
                for queue, name in consumers:
                    dropped = queue.put(frame)
                    if dropped:
                        self.stats.record_drop(name, dropped)
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)
        finally:
            for queue, _ in consumers:
                queue.close()

    def _sink_step(self, runner: _SinkRunner, timeout: float | None) -> bool:
        """Handle at most one queued item for ``runner``; False once it is finished."""
        if runner.done:
            return False
        try:
            item = runner.queue.get(timeout)
            if item is None:
                return True
            if item is END or self._abandoned.is_set():
                self._finish_sink(runner)
                return False
            if not runner.opened:
                runner.sink.set_input(self.source.media)
                runner.sink.open(item, self.fps, self.controls)
                runner.opened = True
            runner.sink.write(item)
            self.stats.record_written(runner.index, item.timestamp)
            return True
        except BaseException as exc:  # noqa: BLE001
            self._sink_failed(runner, exc)
            return False

    def _sink_failed(self, runner: _SinkRunner, exc: BaseException) -> None:
        """``runner``'s sink failed: abort it alone; stop the run once no sink is left."""
        runner.failure = exc
        with self._lock:
            self._sink_failures.append(exc)
        runner.done = True
        runner.queue.abandon()  # the processing thread no longer waits on this sink
        self.stats.record_sink_failed(runner.index, str(exc))
        if runner.opened:
            runner.opened = False
            try:
                runner.sink.abort()
            except BaseException as again:  # noqa: BLE001  (the first error is the one told)
                log.debug("abort of sink %s failed too: %s", runner.name, again)
        if not isinstance(exc, Exception) or all(r.failure is not None for r in self._runners):
            # Nothing left to write to (or a Ctrl+C met in a sink): stop everything.
            self._fail(exc if not isinstance(exc, Exception) else self._sink_failures[0])

    def _finish_sink(self, runner: _SinkRunner) -> None:
        runner.done = True
        if not runner.opened:
            return
        if self._error is not None:
            runner.opened = False
            try:
                runner.sink.abort()
            except BaseException as exc:  # noqa: BLE001
                self._fail(exc)
            return
        try:
            runner.sink.close()
            runner.opened = False
        except BaseException as exc:  # noqa: BLE001
            self._sink_failed(runner, exc)

    def _sink_loop(self, runner: _SinkRunner) -> None:
        while self._sink_step(runner, None):
            pass

    # ------------------------------------------------------------------ running
    def run(self, handle_signals: bool = False) -> Summary:
        """Run to the end; return the :class:`Summary` (also kept as ``self.summary``).

        Parameters
        ----------
        handle_signals : bool
            Install SIGINT/SIGTERM handlers for the run (CLI; main thread only): the
            first signal stops cleanly, a second stops waiting for queued frames.
            Without them a KeyboardInterrupt in the main thread does the same.

        Raises
        ------
        SinkError, SourceError, StageError
            From ``check``/``open`` before any thread starts, or from a thread.
        """
        restore = self._install_signals() if handle_signals else None
        try:
            try:
                self._prepare(with_sinks=True)
                progress = self._progress_line()
                self._start()
                self._wait([r for r in self._runners if r.sink.main_thread], progress)
            finally:
                self._shutdown()
        finally:
            if restore is not None:
                restore()
        return self._conclude()

    def frames(self) -> Iterator[Frame]:
        """Yield processed frames to the caller (sinks are not used).

        Batch mode yields every frame in order; live mode drops the oldest when the
        caller falls behind.  Closing the generator early (``break``) stops the run.
        """
        try:
            self._prepare(with_sinks=False)
        except BaseException:
            self._shutdown()
            raise
        outlet = FrameQueue(self._input.maxsize, drop_oldest=self.live)
        delivered = 0
        try:
            self._start(outlet)
            last_publish = 0.0
            while True:
                item = outlet.get(POLL)
                if item is END:
                    break
                if item is None:
                    continue
                delivered += 1
                self.stats.record_delivered(item.timestamp)
                now = time.perf_counter()
                if now - last_publish > PUBLISH_EVERY:
                    self.controls.publish_stats(**self.stats.live())
                    last_publish = now
                yield item
        finally:
            if not self._abandoned.is_set() and self._reason is None:
                self.controls.stop("stopped")
            outlet.abandon()
            self._shutdown()
            self.summary = self.stats.summary(self.mode, self._reason or "stopped", delivered,
                                              report=self.source.report)
        self._raise_failure()

    def _busy(self) -> list[_Worker]:
        """The workers still running, the source's left out (it may be stuck in a read)."""
        return [w for role, w in self._workers.items() if role != "source" and not w.finished.is_set()]

    def _wait(self, main_runners: list[_SinkRunner], progress: "ProgressLine | None") -> None:
        last_publish = 0.0
        while True:
            try:
                busy = self._busy()
                pending = [r for r in main_runners if not r.done]
                if not busy and not pending:
                    break
                if pending:
                    for runner in pending:
                        self._sink_step(runner, POLL / len(pending))
                else:
                    busy[-1].finished.wait(POLL)
                now = time.perf_counter()
                if now - last_publish >= PUBLISH_EVERY:
                    last_publish = now
                    self._publish_live(progress)
            except KeyboardInterrupt:
                self._on_interrupt("interrupted")
        if progress is not None:
            progress.finish(self.stats.frames_out)

    def _publish_live(self, progress: "ProgressLine | None") -> None:
        live = self.stats.live()
        self.controls.publish_stats(**live)
        if progress is not None:
            progress.update(live["frames_out"], live["fps"])

    def _on_interrupt(self, reason: str) -> None:
        if self.controls.stopped:
            self._abandon()  # a second signal: do not wait for queued frames
        else:
            self.controls.stop(reason)

    def _install_signals(self):
        return install_stop_signals(self._on_interrupt)

    def _progress_line(self) -> "ProgressLine | None":
        if not self.progress or self.mode != "batch":
            return None
        total = self.source.count_frames()
        if total is not None and self.max_frames is not None:
            total = min(total, self.max_frames)
        return ProgressLine(total, stream=sys.stderr)

    def _wait_finished(self, worker: _Worker) -> None:
        """Wait for ``worker`` to finish; Ctrl+C meanwhile counts as a stop request."""
        while not worker.finished.is_set():
            try:
                worker.finished.wait(POLL)
            except KeyboardInterrupt:
                self._on_interrupt("interrupted")

    def _shutdown(self) -> None:
        """Stop and join every thread, finish sinks no thread finished, close the source."""
        if not self._workers:  # never started: nothing opened but the source
            self.source.close()
            return
        for role, worker in self._workers.items():
            if role != "source":
                self._wait_finished(worker)
        if self.tuner is not None:
            self.tuner.stop()
        self._input.abandon()  # frees a source blocked on a full queue after a stop
        for runner in self._runners:
            if not runner.done:  # a main-thread sink, or one whose thread failed to finish it
                self._finish_sink(runner)
        self.controls.stop(self._reason or "stopped")
        try:
            self.source.close()
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)
        self._workers["source"].finished.wait(SOURCE_JOIN_TIMEOUT)

    def _conclude(self) -> Summary:
        summary = self.stats.summary(self.mode, self._reason or "stopped",
                                     report=self.source.report)
        sink_notes = [note for runner in self._runners for note in getattr(runner.sink, "notes", ())]
        if sink_notes:  # what sinks changed or left out: padding, a transcoded sound track
            summary = dataclasses.replace(summary, notes=[*summary.notes, *sink_notes])
        self.summary = summary
        self.controls.publish_stats(**self.stats.live())
        self._raise_failure()
        return self.summary

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error
        if self._sink_failures:
            raise self._sink_failures[0]  # the other sinks were closed: their outputs are kept
        if self._source_failure is not None:
            raise self._source_failure  # after the sinks were closed: their output is kept
