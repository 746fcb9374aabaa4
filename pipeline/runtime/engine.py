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

With a shared :class:`~pipeline.runtime.pool.ProcessingPool` (several streams in one
process), the engine starts no processing thread: the pool's workers run the same
processing steps for every engine registered with it, oldest frame first; everything else
here holds per engine.

This module builds, starts, waits for and joins the threads; their queues are in
:mod:`pipeline.runtime.queues`, what each thread does in :mod:`pipeline.runtime.workers`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import TYPE_CHECKING, Iterator, Sequence

from pipeline.cli.guard import install_stop_signals
from pipeline.frame import Frame
from pipeline.io.base import Sink, Source
from pipeline.io.sources.pacing import FramePacer
from pipeline.controls import Controls
from pipeline.runtime.queues import END, POLL, FrameQueue
from pipeline.runtime.progress import ProgressLine
from pipeline.runtime.scheduling import batch_threads, wants_batch
from pipeline.runtime.stats import RunStats, Summary
from pipeline.runtime.tuner import Tuner
from pipeline.runtime.warmup import WarmUp, warm_chain
from pipeline.runtime.workers import Processor, RunState, SinkRunner, SourceReader, Worker, sink_names
from pipeline.stages.chain import Chain

if TYPE_CHECKING:
    from pipeline.runtime.pool import ProcessingPool

#: How long the first frame waits for the tuner's warm-up at most.
TUNER_WARM_SECONDS = 60.0

MODES = ("auto", "live", "batch")
DEFAULT_QUEUE_SIZE = {"live": 2, "batch": 8}
#: A live stream's queues in a shared pool (several streams), its input's and its
#: sinks': its frame may wait its turn behind the other streams' frames, so two frames
#: (66 ms at 30 fps) dropped 6-14% of twelve 720p30 streams' frames that eight (0-1.3%)
#: let through, with the frame age p95 still under 100 ms; its sink threads are woken
#: later under ``SCHED_BATCH``, and two frames there dropped 2-6% (docs/streams.md,
#: "Threads and queues", "Scheduling").
POOL_LIVE_QUEUE_SIZE = 8
DEFAULT_FPS = 30.0
PUBLISH_EVERY = 0.25  # seconds between live-stats updates (hud, progress line)
SOURCE_JOIN_TIMEOUT = 2.0  # a source stuck in a device read is left behind after this


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
        Capacity of every queue; default 2 in live mode, 8 in batch mode, and 8 for a
        live stream's queues in a shared ``pool`` (:data:`POOL_LIVE_QUEUE_SIZE`).
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
    pool : ProcessingPool, optional
        A running :class:`~pipeline.runtime.pool.ProcessingPool` shared with other
        engines: it processes this engine's frames instead of a processing thread of its
        own (the streams of a :class:`~pipeline.runtime.streams.StreamSet`).
    scheduling : {"auto", "batch", "normal"}
        ``batch``: the run's threads under Linux's ``SCHED_BATCH``
        (:mod:`pipeline.runtime.scheduling`); ``auto`` is normal for one engine alone (a
        :class:`~pipeline.runtime.streams.StreamSet` decides for its streams).

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
                 progress: bool = False, tuner_settings: dict | None = None,
                 pool: "ProcessingPool | None" = None, scheduling: str = "auto"):
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
        self.pool = pool
        self.batch_threads = wants_batch(scheduling, self.live, pooled=False)
        self.tuner = None
        self._histograms_on_demand = False  # set by _prepare
        self.summary: Summary | None = None
        self.fps: float | None = None  # resolved when the source is open
        self.stats: RunStats | None = None
        self.warmup: WarmUp | None = None
        self._input: FrameQueue | None = None
        self._runners: list[SinkRunner] = []
        self._workers: dict[str, Worker] = {}
        self._pacer: FramePacer | None = None
        self._state = RunState(self.controls)  # what the threads share: reason, errors, stop

    # ------------------------------------------------------------------ state
    @property
    def live(self) -> bool:
        """Whether this run drops frames rather than wait (see :func:`resolve_mode`)."""
        return self.mode == "live"

    def _fail(self, exc: BaseException) -> None:
        """Record the first error and stop everything without waiting for the queues."""
        self._state.fail(exc)

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
            self.tuner = Tuner(self.tuner_settings, self.controls, on_error=self._fail)
        sinks = self.sinks if with_sinks else []
        names = sink_names(sinks)
        self.stats = RunStats(self.chain.labels, names)
        if self.pool is not None and self.live and self.queue_size is None:
            size = POOL_LIVE_QUEUE_SIZE
        self._input = FrameQueue(size, drop_oldest=self.live)
        self._runners = [SinkRunner(sink, name, i, FrameQueue(size, drop_oldest=self.live),
                                    source=self.source, fps=self.fps, state=self._state, stats=self.stats)
                         for i, (sink, name) in enumerate(zip(sinks, names))]
        self._state.sink_count = len(self._runners)
        self._state.queues = [self._input] + [runner.queue for runner in self._runners]

    def _start(self, outlet: FrameQueue | None = None) -> None:
        """Start the threads; ``outlet``: frames()'s queue for its caller, else None."""
        reader = SourceReader(self.source, self._input, self._state, self.stats, pacer=self._pacer,
                              max_frames=self.max_frames, on_first=self._warm_up)
        consumers = [(runner.queue, runner.name) for runner in self._runners]
        if outlet is not None:
            consumers.append((outlet, "frames"))
        processor = Processor(self.chain, self._input, consumers, self._state, self.stats,
                              tuner=self.tuner, histograms_on_demand=self._histograms_on_demand)
        # With a pool, its entry stands for the processing thread (the engine waits on
        # its ``finished`` alike); registered first, so nothing started if it refuses.
        entry = self.pool.register(processor) if self.pool is not None else None
        workers = [Worker("source", reader.loop)]
        if entry is None:
            workers.append(Worker("process", processor.loop))
        for runner in self._runners:
            if not runner.sink.main_thread:
                runner.worker = Worker(f"sink:{runner.name}", runner.loop)
                workers.append(runner.worker)
        self._workers = {worker.role: worker for worker in workers}
        if entry is not None:
            self._workers["process"] = entry
        for worker in workers:
            worker.thread.start()
        if self.tuner is not None:
            self.tuner.start()

    # ------------------------------------------------------------------ threads
    def _warm_up(self, image) -> None:
        """Compile the chain's kernels for this kind of frame before the first is timed."""
        self.chain.bind(None)  # the warm-up must not show in the run's controls
        try:
            self.warmup = warm_chain(self.chain, image)
        finally:
            self.chain.bind(self.controls)
        if self.tuner is not None and not self.live:
            # The tuner compiles its objective on its thread (seconds on a busy machine,
            # mostly pipeline.activations' ufuncs); a batch run of a short clip would
            # otherwise be over before its first update.  Waited for once, untimed.  A
            # live run does not wait: its first frames show at once, and the tuner
            # joins in when it is ready.
            self.tuner.wait_warm(TUNER_WARM_SECONDS)
        if self._pacer is not None:
            self._pacer.reset()

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
        restore = install_stop_signals(self.interrupt) if handle_signals else None
        try:
            try:
                with batch_threads(self.batch_threads):  # the capture thread starts in open
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
            with batch_threads(self.batch_threads):
                self._prepare(with_sinks=False)
        except BaseException:
            self._shutdown()
            raise
        outlet = FrameQueue(self._input.maxsize, drop_oldest=self.live)
        delivered = 0
        try:
            with batch_threads(self.batch_threads):
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
            if not self._state.abandoned.is_set() and self._state.reason is None:
                self.controls.stop("stopped")
            outlet.abandon()
            self._shutdown()
            self.summary = self.stats.summary(self.mode, self._state.reason or "stopped", delivered,
                                              report=self.source.report)
        self._raise_failure()

    def _busy(self) -> list[Worker]:
        """The workers still running, the source's left out (it may be stuck in a read)."""
        return [w for role, w in self._workers.items() if role != "source" and not w.finished.is_set()]

    def _wait(self, main_runners: list[SinkRunner], progress: "ProgressLine | None") -> None:
        last_publish = 0.0
        while True:
            try:
                busy = self._busy()
                pending = [r for r in main_runners if not r.done]
                if not busy and not pending:
                    break
                if pending:
                    for runner in pending:
                        runner.step(POLL / len(pending))
                else:  # until the next live-stats update: a thread ending wakes it sooner
                    busy[-1].finished.wait(max(POLL, last_publish + PUBLISH_EVERY - time.perf_counter()))
                now = time.perf_counter()
                if now - last_publish >= PUBLISH_EVERY:
                    last_publish = now
                    self._publish_live(progress)
            except KeyboardInterrupt:
                self.interrupt("interrupted")
        if progress is not None:
            progress.finish(self.stats.frames_out)

    def _publish_live(self, progress: "ProgressLine | None") -> None:
        live = self.stats.live()
        self.controls.publish_stats(**live)
        if progress is not None:
            progress.update(live["frames_out"], live["fps"])

    def interrupt(self, reason: str) -> None:
        """Stop the run (Ctrl+C, SIGTERM); a second call stops waiting for queued frames."""
        if self.controls.stopped:
            self._state.abandon()  # a second signal: do not wait for queued frames
        else:
            self.controls.stop(reason)

    def _progress_line(self) -> "ProgressLine | None":
        if not self.progress or self.mode != "batch":
            return None
        return ProgressLine.for_source(self.source, self.max_frames, stream=sys.stderr)

    def _wait_finished(self, worker: Worker) -> None:
        """Wait for ``worker`` to finish; Ctrl+C meanwhile counts as a stop request."""
        while not worker.finished.is_set():
            try:
                worker.finished.wait(POLL)
            except KeyboardInterrupt:
                self.interrupt("interrupted")

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
                runner.finish()
        self.controls.stop(self._state.reason or "stopped")
        try:
            self.source.close()
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)
        self._workers["source"].finished.wait(SOURCE_JOIN_TIMEOUT)

    def _conclude(self) -> Summary:
        summary = self.stats.summary(self.mode, self._state.reason or "stopped",
                                     report=self.source.report)
        sink_notes = [note for runner in self._runners for note in getattr(runner.sink, "notes", ())]
        if sink_notes:  # what sinks changed or left out: padding, a transcoded sound track
            summary = dataclasses.replace(summary, notes=[*summary.notes, *sink_notes])
        self.summary = summary
        self.controls.publish_stats(**self.stats.live())
        self._raise_failure()
        return self.summary

    def _raise_failure(self) -> None:
        state = self._state
        if state.error is not None:
            raise state.error
        if state.sink_failures:
            raise state.sink_failures[0]  # the other sinks were closed: their outputs are kept
        if state.source_failure is not None:
            raise state.source_failure  # after the sinks were closed: their output is kept
