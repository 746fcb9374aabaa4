"""Several streams in one process: one :class:`~pipeline.runtime.engine.Engine` per stream,
one processing pool for all of them.

::

    stream "door": Engine (source thread, sink threads) ─┐      ┌─ StreamSet.run (main thread:
    stream "yard": Engine (source thread, sink threads) ─┼──────┤  signals, wait)
    ...                                                  ─┘      │
                 every engine's frames ──► ProcessingPool (K worker threads, oldest frame first)

Each stream runs its own engine on a thread of its own: its own reader, queues, watchdog
and reconnection, chain of stages (own histograms, own tuned values in its own
:class:`~pipeline.controls.Controls`) and sinks.  Their processing is shared: the set's
:class:`~pipeline.runtime.pool.ProcessingPool` (:attr:`StreamSet.pool`) runs the chain for
whichever stream has the oldest frame waiting, on K threads (default: the CPUs the process
may use), so the cores are kept busy without one processing thread per stream; a stream's
own frames stay one at a time and in order.  The set starts the pool before the streams
and stops it after every stream ended; a set made without a pool runs each engine with its
own processing thread, as one engine alone does.

A stream can join a running set (:meth:`StreamSet.add`, started at once) or leave it
(:meth:`StreamSet.remove`: its engine stops with reason ``removed``, and it stays in the
summary); the browser view's ``POST /control`` does both.  The run ends when every
stream has ended, so removing the last stream ends the run, as when the last one ends by
itself; after that, nothing can be added.

A batch run on a terminal shows one progress line for the whole set (every stream's frames
out of their sum, and the rate); a stream that cannot count its frames makes it a count.

A stream that fails, stalls or ends stops nothing else; the run is over when every stream
is, and :class:`StreamsSummary` holds one :class:`~pipeline.runtime.stats.Summary` (or the
error) per stream.  Ctrl+C and SIGTERM stop every stream (a second one stops waiting for
queued frames, as in one engine).

A stream added while the set runs is built with ``pool=streams.pool``: the running pool
takes engines registered late.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from typing import Callable

from pipeline.cli.guard import install_stop_signals
from pipeline.errors import EdgepipeError
from pipeline.runtime.engine import PUBLISH_EVERY, Engine
from pipeline.runtime.pool import ProcessingPool
from pipeline.runtime.progress import ProgressLine, frames_to_come
from pipeline.runtime.queues import POLL
from pipeline.runtime.scheduling import batch_threads, wants_batch
from pipeline.runtime.stats import BEHIND_HELP, Summary, behind_places, places_text

#: Stop reasons a signal gives; the whole run keeps them (exit 130 / 143).
SIGNALLED = ("interrupted", "terminated")


@dataclasses.dataclass
class StreamRun:
    """One stream of a :class:`StreamSet`: its name, engine, and what to do when it ends.

    Attributes
    ----------
    name : str
    engine : Engine
    on_end : list of callable
        Called (no arguments) after the engine's run, whatever its end: a shared
        sink's handle letting go (:meth:`~pipeline.io.sinks.stats_shared.StatsHandle.release`).
    summary : Summary or None
        The engine's summary; None when it failed before its first frame was read.
    error : str or None
        Why the stream failed (a source, stage or sink error), else None.
    """

    name: str
    engine: Engine
    on_end: list = dataclasses.field(default_factory=list)
    summary: Summary | None = None
    error: str | None = None

    def run(self) -> None:
        """Run the engine to its end; record its summary or its error (never raise)."""
        try:
            self.engine.run()
        except EdgepipeError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001  (a bug in one stream stops no other)
            self.error = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            self.summary = self.engine.summary
            for end in self.on_end:
                end()

    def to_dict(self) -> dict:
        """The stream's health: name, ok, error, last error, and its summary's numbers."""
        data = {"name": self.name, "ok": self.error is None, "error": self.error,
                "last_error": self.last_error}
        data.update(self.summary.to_dict() if self.summary is not None else
                    {"stop_reason": "error", "frames_in": 0, "frames_out": 0})
        return data

    @property
    def last_error(self) -> str | None:
        """The failure, else the source's last note about bad input (a reconnection)."""
        if self.error is not None:
            return self.error
        summary = self.summary
        if summary is not None and (summary.read_errors or summary.reconnects) and summary.notes:
            return summary.notes[-1]
        return None

    def line(self) -> str:
        """The stream's line in the terminal summary."""
        s = self.summary
        if s is None:
            return f"  {self.name}: FAILED before its first frame"
        lat = s.latency_ms
        line = (f"  {self.name}: {s.stop_reason}  in {s.frames_in}  out {s.frames_out}  "
                f"{s.fps:.1f} fps  latency p50 {lat['p50']:.1f} p95 {lat['p95']:.1f} ms  "
                f"dropped {s.dropped}  reconnects {s.reconnects}")
        if self.error is None and self.last_error is not None:  # a failure has its own line
            line += f"  last error: {self.last_error}"
        return line


#: Up to this many streams that fell behind are named in the summary's note; more are
#: counted by place.
NAMED_BEHIND = 4


@dataclasses.dataclass(frozen=True)
class StreamsSummary:
    """What a several-stream run did: one entry per stream (see :class:`StreamRun`)."""

    stop_reason: str
    streams: list  # of dicts, StreamRun.to_dict()
    lines: list  # the terminal lines
    errors: list = dataclasses.field(default_factory=list)  # run-wide (a shared file)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[dict]:
        """Each failure as ``{"input": WHAT, "error": MESSAGE}`` (printed even when quiet)."""
        found = [{"input": f"stream {s['name']}", "error": s["error"]}
                 for s in self.streams if s["error"] is not None]
        return found + [{"input": "run", "error": message} for message in self.errors]

    @property
    def interrupted(self) -> bool:
        return self.stop_reason in SIGNALLED

    def to_dict(self) -> dict:
        return {"stop_reason": self.stop_reason, "streams": list(self.streams),
                "errors": list(self.errors)}

    def format(self) -> str:
        failed = len(self.failed)
        head = (f"edgepipe: {self.stop_reason} ({len(self.streams)} streams"
                + (f"; {failed} failed)" if failed else ")"))
        errors = [f"  failed   {record['input']}: {record['error']}" for record in self.failed]
        notes = [f"  note     {line}" for line in self.behind()]
        return "\n".join([head, *self.lines, *notes, *errors])

    def behind(self) -> list[str]:
        """The note on the streams that dropped over 1% of their frames (a line, or none):
        each stream by name when a few did, else how many at each place and their range."""
        places = {s["name"]: behind_places(s.get("mode", ""), s.get("frames_in", 0), s.get("drops", {}))
                  for s in self.streams}
        places = {name: found for name, found in places.items() if found}
        if not places:
            return []
        if len(places) <= NAMED_BEHIND:
            where = "; ".join(f"{name} ({places_text(found)})" for name, found in places.items())
        else:
            shares: dict[str, list[float]] = {}
            for found in places.values():
                for percent, place in found:
                    shares.setdefault(place, []).append(percent)
            where = "; ".join(f"{len(got)} at {place} ("
                              + (f"{got[0]:.1f}%)" if len(got) == 1 else f"{min(got):.1f}-{max(got):.1f}%)")
                              for place, got in shares.items())
        return [f"live mode dropped frames to keep up in {len(places)} of {len(self.streams)} "
                f"streams: {where}; {BEHIND_HELP}"]


class StreamSet:
    """Runs several streams side by side, each on its own engine and thread.

    Parameters
    ----------
    streams : list of StreamRun
    shared_errors : callable, optional
        Returns the errors of what the streams shared (a shared stats file that could
        not be finished), asked once every stream has ended.
    pool : ProcessingPool, optional
        The pool the streams' engines were built with (``Engine(..., pool=pool)``); the
        set starts it before the streams and stops it once every stream ended.  None: each
        engine has its own processing thread.
    scheduling : {"auto", "batch", "normal"}
        ``batch``: the set's threads (its pool's, each stream's and every thread those
        start) under Linux's ``SCHED_BATCH`` (:mod:`pipeline.runtime.scheduling`);
        ``auto``: batch when the streams share a pool in live mode.
    """

    def __init__(self, streams: list[StreamRun], shared_errors: Callable[[], list] = list,
                 pool: ProcessingPool | None = None, scheduling: str = "auto"):
        self.streams = list(streams)
        self.shared_errors = shared_errors
        self.pool = pool
        self.batch_threads = wants_batch(scheduling, any(s.engine.live for s in self.streams),
                                         pooled=pool is not None)
        self.summary: StreamsSummary | None = None
        # Streams and threads, as add/remove come from other threads.  Reentrant: the
        # signal handler (interrupt) runs in the main thread, which may hold it in _wait.
        self._lock = threading.RLock()
        self._threads: dict[str, threading.Thread] = {}
        self._state = "ready"  # then "running", then "ended" (nothing can join any more)
        self._interrupted = False  # a signal stopped the run: nothing can join any more

    def interrupt(self, reason: str) -> None:
        """Stop every stream (a second call: stop waiting for their queued frames); no
        stream can join after it (:meth:`add` refuses)."""
        with self._lock:  # an add either went in before (and is stopped) or is refused
            self._interrupted = True
            for stream in self.streams:
                stream.engine.interrupt(reason)

    def run(self, handle_signals: bool = False, progress: bool = False) -> StreamsSummary:
        """Run every stream to its end; return the :class:`StreamsSummary` (never raises
        for a stream's failure: it is in the summary).

        ``progress``: one progress line on stderr for the whole set, when every stream
        runs in batch mode.
        """
        restore = install_stop_signals(self.interrupt) if handle_signals else None
        try:
            line = None
            if progress and all(s.engine.mode == "batch" for s in self.streams):
                line = self._progress_line()  # it counts beside the run: see its notes
            if self.pool is not None:
                with batch_threads(self.batch_threads):
                    self.pool.start()
            with self._lock:
                self._state = "running"
                for stream in self.streams:
                    self._start(stream)
            self._wait(line)
        finally:
            if self.pool is not None:
                self.pool.stop()  # every stream ended: nothing is left for its workers
            if restore is not None:
                restore()
        self.summary = self._conclude()
        return self.summary

    def _start(self, stream: StreamRun) -> None:
        """Run ``stream`` on a thread of its own (the caller holds the lock)."""
        thread = threading.Thread(target=stream.run, name=f"stream:{stream.name}", daemon=True)
        self._threads[stream.name] = thread
        with batch_threads(self.batch_threads):  # from the main thread, or /control's
            thread.start()

    def _wait(self, line: ProgressLine | None) -> None:
        """Until every stream's thread has ended, those added meanwhile included; the
        progress line (or None) is updated as they go."""
        last_update = 0.0
        while True:
            with self._lock:
                alive = [thread for thread in self._threads.values() if thread.is_alive()]
                if not alive:
                    self._state = "ended"
                    break
            try:
                alive[0].join(POLL)
                now = time.perf_counter()
                if line is not None and now - last_update >= PUBLISH_EVERY:
                    last_update = now
                    line.update(self.frames_out())
            except KeyboardInterrupt:
                self.interrupt("interrupted")
        if line is not None:
            line.finish(self.frames_out())

    def add(self, stream: StreamRun) -> None:
        """Add ``stream``; it starts at once when the set is running.

        Raises
        ------
        ValueError
            A stream of that name is in the set already (running, ended or removed: names
            stay taken, as the summary lists each once), or the run has ended.
        """
        with self._lock:
            names = [s.name for s in self.streams]
            if stream.name in names:
                raise ValueError(f"a stream named {stream.name!r} is in this run already "
                                 f"(names taken: {', '.join(names)}); give the new one another name")
            if self._state == "ended" or self._interrupted or any(
                    s.engine.controls.stop_reason in SIGNALLED for s in self.streams):
                raise ValueError(f"the run is over (every stream has ended or it was stopped); "
                                 f"stream {stream.name!r} cannot join it")
            self.streams.append(stream)
            if self._state == "running":
                self._start(stream)

    def remove(self, name: str) -> StreamRun:
        """Stop stream ``name`` (stop reason ``removed``); it stays in the summary.

        Raises
        ------
        ValueError
            No stream of that name is in the set (the message names those that are).
        """
        with self._lock:
            stream = next((s for s in self.streams if s.name == name), None)
            if stream is None:
                known = ", ".join(s.name for s in self.streams) or "none"
                raise ValueError(f"no stream {name!r} in this run; its streams: {known}")
        stream.engine.controls.stop("removed")
        return stream

    def frames_out(self) -> int:
        """Frames every stream's sinks have written so far, all streams together."""
        return sum(s.engine.stats.frames_out for s in self.streams if s.engine.stats is not None)

    def _progress_line(self) -> ProgressLine:
        """The set's line: the sum of what each stream will deliver, if each can tell.

        Files count their frames by a decode pass of their own; as for one stream
        (:meth:`ProgressLine.for_source`), the count runs beside the run from its first
        frame on, and the line shows a plain count until every stream's total is known.
        """
        engines = [stream.engine for stream in self.streams]

        def count() -> int | None:
            totals = []
            for engine in engines:
                try:
                    total = frames_to_come(engine.source, engine.max_frames)
                except Exception:  # noqa: BLE001  (the stream's own run reports a bad source)
                    total = None
                if total is None:
                    return None
                totals.append(total)
            return sum(totals)

        return ProgressLine(None, stream=sys.stderr, label=f"edgepipe ({len(self.streams)} streams)",
                            count=count)


    def _conclude(self) -> StreamsSummary:
        reasons = [s.summary.stop_reason for s in self.streams if s.summary is not None]
        signalled = [reason for reason in reasons if reason in SIGNALLED]
        if signalled:
            reason = signalled[0]
        elif len(set(reasons)) == 1 and len(reasons) == len(self.streams):
            reason = reasons[0]
        else:
            reason = "finished"
        errors = [str(exc) for exc in self.shared_errors()]
        return StreamsSummary(reason, [s.to_dict() for s in self.streams],
                              [s.line() for s in self.streams], errors)
