"""What a sink shared by every stream of a run keeps: its handles, its one check, its end.

A several-stream run (``sources:``) gives each stream's engine a handle on one configured
sink: one stats file (:mod:`pipeline.io.sinks.stats_shared`), one http server
(:mod:`pipeline.io.sinks.http.streams`).  :class:`SharedSink` counts the handles not yet let
go, makes the sink's check once for all of them, and says when the last one let go (the
sink is finished then, and no new stream may join it).
"""

from __future__ import annotations

import threading

from pipeline.io.base import SinkError


class SharedSink:
    """The handles' count, the check made once, and the end of one shared ``sink``.

    Subclasses say why a late stream cannot join (:meth:`finished_message`) and what the
    last handle's release does.  Every ``_`` method is called with :attr:`_lock` held.
    """

    def __init__(self, sink):
        self.sink = sink
        self._lock = threading.Lock()
        self._waiting = 0  # handles not yet released
        self._finished = False
        self._checked: BaseException | None = None
        self._check_done = False
        self.error: BaseException | None = None  # from the sink's final close, if it failed

    def finished_message(self, name: str) -> str:
        raise NotImplementedError

    def _join(self, name: str) -> None:
        """Count a new handle for stream ``name`` (SinkError once the sink is finished)."""
        if self._finished:
            raise SinkError(self.finished_message(name))
        self._waiting += 1

    def _let_go(self) -> bool:
        """One handle let go; True when it was the last (the sink is finished now)."""
        self._waiting -= 1
        if self._waiting:
            return False
        self._finished = True
        return True

    def check(self) -> None:
        """The sink's check, made once (before any stream opens it) for every stream."""
        with self._lock:
            if not self._check_done:
                self._check_done = True
                try:
                    self.sink.check()
                except BaseException as exc:
                    self._checked = exc
            if self._checked is not None:
                raise self._checked
