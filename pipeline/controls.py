"""Thread-safe run controls shared by the engine, the stages, the sinks and the tuner.

A leaf module beside :mod:`pipeline.frame` (it imports only :mod:`pipeline.tuned`, a
leaf too), so a stage, a sink and the runtime can all read it without depending on each
other.  One :class:`Controls` object lives for one run.  Interactive sinks (the window's
keys, an HTTP endpoint) change it, the engine and the stages read it, and the engine
publishes live statistics into it::

    controls.stop()                          # end the run cleanly (q / Esc)
    controls.toggle_pause()                  # space
    controls.toggle_tuner()                  # t
    controls.request_snapshot()              # s; a sink calls take_snapshot_request()
    controls.snapshot().fps                  # read-only live stats
    controls.tuned.nudge("threshold", "threshold", +5)   # + / -: every tuned value,
    controls.tuned.set_manual("canny", low=None, high=None)  # by target (pipeline.tuned)
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping

from pipeline.tuned import CANNY_TARGET, THRESHOLD_TARGET, TunedValues, single

@dataclasses.dataclass(frozen=True)
class LiveStats:
    """A read-only snapshot of the run, for the hud and for sinks.

    The threshold and canny fields are the values *used* on the last frame (hand-set
    values are ``canny_manual``, or :meth:`TunedValues.manual`).

    Attributes
    ----------
    frames_in, frames_out, dropped : int
        Frames read from the source, written by every sink, and dropped (live mode).
    fps : float
        Output frames per second over the last second or so.
    latency_p95_ms : float
        95th percentile capture-to-sink latency of recent frames, in milliseconds.
    threshold : float or None
        The threshold the ``threshold`` stage used last (None before it ran or when the
        chain has no threshold stage).
    paused, tuner_enabled : bool
        The toggles at the time of the snapshot.
    tuner_available : bool
        Whether the run has a tuner at all (a browser's tuner switch is off and
        disabled without one).
    canny : mapping or None
        ``{"low": l, "high": h}``, the pair the ``canny`` stage used last (None before it
        ran or without one).
    canny_manual : mapping or None
        ``{"low": l or None, "high": h or None}``: the values set by hand (window keys,
        HTTP), None for one that follows ``auto``/the config; None when neither is set.
    tuner : mapping or None
        The tuners' last updates by target (``{"threshold": {update, frame, target,
        start, optimum, values, objective, iterations, seconds}}``; see
        :meth:`pipeline.runtime.tuner.TunerStep.as_dict`), or None before the first
        update or without a tuner.
    tuned : mapping
        Every target's ``{"manual", "used", "auto"}`` (:meth:`TunedValues.view`), the
        same for a target added later.
    """

    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    fps: float = 0.0
    latency_p95_ms: float = 0.0
    threshold: float | None = None
    paused: bool = False
    tuner_enabled: bool = True
    tuner_available: bool = True
    tuner: Mapping[str, dict] | None = None
    canny: Mapping[str, float] | None = None
    canny_manual: Mapping[str, float | None] | None = None
    tuned: Mapping[str, dict] | None = None


class Controls:
    """Stop, pause, snapshot requests and live stats of one run, and its :class:`TunedValues`.

    Parameters
    ----------
    tuner_enabled : bool
        Whether ``auto`` values follow the tuner at the start.
    tuner_available : bool
        Whether a tuner runs at all (shown by the browser view's switch).

    Attributes
    ----------
    tuned : TunedValues
        The manual, used and tuned values of every target.
    """

    def __init__(self, tuner_enabled: bool = True, tuner_available: bool = True):
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._stop_reason = ""
        self.tuned = TunedValues(enabled=tuner_enabled)
        self._snapshot_requested = False
        self._stats = LiveStats(tuner_enabled=bool(tuner_enabled),
                                tuner_available=bool(tuner_available))
        self._watchers: list = []

    def watch(self, watcher) -> None:
        """Call ``watcher()`` (no arguments) after every stop and pause change, so a
        thread that waits on something else (the processing pool) need not poll."""
        self._watchers.append(watcher)

    def unwatch(self, watcher) -> None:
        """Stop telling ``watcher`` (unknown watchers are ignored)."""
        if watcher in self._watchers:
            self._watchers.remove(watcher)

    def _changed(self) -> None:
        for watcher in list(self._watchers):
            watcher()

    def __repr__(self) -> str:
        s = self.snapshot()
        return (f"Controls(stopped={self.stopped}, paused={s.paused}, "
                f"tuner_enabled={s.tuner_enabled}, tuned={s.tuned!r})")

    # stop -------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Ask every thread to finish; the first reason given is kept."""
        with self._lock:
            if not self._stop.is_set():
                self._stop_reason = reason
            self._stop.set()
        self._resume.set()  # a paused engine must see the stop
        self._changed()

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    @property
    def stop_reason(self) -> str:
        """Why the run was stopped ("" while running)."""
        with self._lock:
            return self._stop_reason

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Block until stopped or ``timeout`` seconds pass; return :attr:`stopped`."""
        return self._stop.wait(timeout)

    # pause ------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """While paused the engine holds frames back (live sources keep dropping)."""
        return not self._resume.is_set()

    @paused.setter
    def paused(self, value: bool) -> None:
        if value and not self.stopped:
            self._resume.clear()
        else:
            self._resume.set()
        self._changed()

    def toggle_pause(self) -> bool:
        """Flip :attr:`paused`; return the new value."""
        with self._lock:
            self.paused = not self.paused
            return self.paused

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused (up to ``timeout``); return True when free to go on."""
        return self._resume.wait(timeout)

    # the tuner switch (kept by the tuned values) ----------------------------------
    @property
    def tuner_enabled(self) -> bool:
        """Whether ``auto`` values follow the tuner's answers (:attr:`TunedValues.enabled`)."""
        return self.tuned.enabled

    @tuner_enabled.setter
    def tuner_enabled(self, value: bool) -> None:
        self.tuned.enabled = value

    def toggle_tuner(self) -> bool:
        """Flip :attr:`tuner_enabled`; return the new value."""
        return self.tuned.toggle()

    # snapshots (the picture, not the stats) ---------------------------------------
    def request_snapshot(self) -> None:
        """Ask sinks that can save a still picture to save the next frame."""
        with self._lock:
            self._snapshot_requested = True

    @property
    def snapshot_requested(self) -> bool:
        """Whether a still picture was asked for and not yet taken."""
        with self._lock:
            return self._snapshot_requested

    def take_snapshot_request(self) -> bool:
        """Return True once per request (and clear it), so only one sink saves it."""
        with self._lock:
            requested, self._snapshot_requested = self._snapshot_requested, False
            return requested

    # live stats -------------------------------------------------------------------
    def publish_stats(self, **values) -> None:
        """The engine updates the live stats (fields of :class:`LiveStats`)."""
        with self._lock:
            self._stats = dataclasses.replace(self._stats, **values)

    def snapshot(self) -> LiveStats:
        """A consistent, read-only copy of the live stats and toggles."""
        view, records, enabled = self.tuned.state()
        with self._lock:
            stats = self._stats
        canny = view.get(CANNY_TARGET, {})
        return dataclasses.replace(
            stats,
            threshold=single(view.get(THRESHOLD_TARGET, {}).get("used")),
            tuner=records,
            canny=canny.get("used"),
            canny_manual=canny.get("manual"),
            tuned=view,
            paused=not self._resume.is_set(),
            tuner_enabled=enabled,
        )
