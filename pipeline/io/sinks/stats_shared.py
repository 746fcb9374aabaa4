"""One ``stats`` file for several streams: each stream's engine writes through a handle.

A several-stream config (``sources:``) whose ``stats`` sink has no ``{source}`` in its
path gets one :class:`~pipeline.io.sinks.stats.StatsSink` for all streams, wrapped in a
:class:`SharedStats`; each stream's engine is given a :class:`StatsHandle`, a sink like
any other.  Every line carries the stream's name in a ``source`` field, and lines are
written whole under one lock (the streams' sink threads write at once).

The file opens with the first stream's first frame and is finished when every stream
has let go of it (:meth:`StatsHandle.release`, called by
:mod:`pipeline.runtime.streams` when a stream's run is over, whether it opened the sink
or failed before): it is kept when at least one stream closed its handle normally, and
removed only when every stream that wrote to it failed, as a lone stats sink would be.
"""

from __future__ import annotations

from pipeline.io.base import Sink
from pipeline.io.sinks.shared import SharedSink
from pipeline.io.sinks.stats import StatsSink


class SharedStats(SharedSink):
    """A :class:`StatsSink` shared by several streams: one :meth:`handle` per stream.

    A stream added while the run goes on takes a handle too, until every handle made
    so far has let go (the file is finished then, and :meth:`handle` refuses).
    """

    def __init__(self, sink: StatsSink):
        super().__init__(sink)
        self._opened = False
        self._kept = False  # a stream closed its handle normally

    @property
    def path(self) -> str:
        return self.sink.path

    def handle(self, name: str) -> "StatsHandle":
        """The sink one stream's engine writes to."""
        with self._lock:
            self._join(name)
        return StatsHandle(self, name)

    def finished_message(self, name: str) -> str:
        return (f"stats sink: {self.sink.path} is finished (every stream ended); "
                f"stream {name!r} cannot write to it")

    def open(self, first, fps, controls) -> None:
        with self._lock:
            if not self._opened:
                self.sink.open(first, fps, controls)
                self._opened = True

    def write(self, frame, name: str, controls) -> None:
        row = {"source": name, **self.sink.record(frame, controls)}
        with self._lock:
            self.sink.write_row(row)

    def release(self, kept: bool) -> None:
        """One stream is done with the file (``kept``: it closed normally)."""
        with self._lock:
            self._kept = self._kept or kept
            if not self._let_go() or not self._opened:
                return
            try:
                if self._kept:
                    self.sink.close()
                else:
                    self.sink.abort()
            except BaseException as exc:  # noqa: BLE001  (reported by the streams' run)
                self.error = exc


class StatsHandle(Sink):
    """One stream's side of a :class:`SharedStats`: a sink for that stream's engine."""

    registry_name = "stats"

    def __init__(self, shared: SharedStats, name: str):
        super().__init__()
        self.shared = shared
        self.name = name
        self.frames_written = 0
        self._controls = None
        self._done = False

    @property
    def path(self) -> str:
        return self.shared.path

    def check(self) -> None:
        self.shared.check()

    def open(self, first, fps, controls=None) -> None:
        self._controls = controls
        self.shared.open(first, fps, controls)

    def write(self, frame) -> None:
        self.shared.write(frame, self.name, self._controls)
        self.frames_written += 1

    def close(self) -> None:
        self._release(kept=True)

    def abort(self) -> None:
        self._release(kept=False)

    def release(self) -> None:
        """The stream's run is over: let go of the file if close/abort did not."""
        self._release(kept=False)

    def withdraw(self) -> None:
        """The stream never ran (its building failed, or the run refused it): let go."""
        self._release(kept=False)

    def _release(self, kept: bool) -> None:
        if not self._done:
            self._done = True
            self.shared.release(kept)
