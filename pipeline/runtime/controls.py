"""Thread-safe run controls shared by the engine, the sinks and the tuner.

One :class:`Controls` object lives for one run.  Interactive sinks (the window's keys,
an HTTP endpoint) change it, the engine and the ``threshold`` stage read it, and the
engine publishes live statistics into it for the hud and for sinks to show::

    controls.stop()                  # end the run cleanly (q / Esc / window closed)
    controls.toggle_pause()          # space
    controls.nudge_threshold(+5)     # + / -
    controls.threshold = None        # back to the tuner / config value
    controls.toggle_tuner()          # t
    controls.request_snapshot()      # s; a sink calls take_snapshot_request()
    controls.nudge_canny("low", +5)  # { } and < > move the canny stage's low and high
    controls.set_canny(None, None)   # c: both back to auto (POST /control {"canny": null})
    controls.snapshot().fps          # read-only live stats

The tuner side: a tuner publishes each update here, once, with
:meth:`Controls.publish_tuner_step` (a :class:`~pipeline.runtime.tuner.TunerStep`, kept
by its ``target``).  This is the one place its answers live; everyone reads them from
here:

* the ``threshold`` stage with ``value: auto``: :meth:`Controls.threshold_for_auto`;
* the ``canny`` stage's ``auto`` values: :meth:`Controls.canny_for_auto` (target
  :data:`CANNY_TARGET`, values ``{"low": l, "high": h}``);
* the hud, the window and the http view: ``snapshot().tuner``, a mapping of target to
  the step's record (:meth:`TunerStep.as_dict`);
* the stats sink: ``frame.side["tuner"]``, the same mapping, stamped on each frame by
  the engine as it leaves the chain (the steps in effect for that frame);
* code: :meth:`Controls.tuner_step` (the step object of one target).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any

THRESHOLD_MIN = 0.0
THRESHOLD_MAX = 255.0


@dataclasses.dataclass(frozen=True)
class LiveStats:
    """A read-only snapshot of the run, for the hud and for sinks.

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


#: The target of the ``threshold`` stage's tuner; its step's values are ``{"threshold": t}``.
THRESHOLD_TARGET = "threshold"

#: The target of the ``canny`` stage's tuner; its step's values are ``{"low": l, "high": h}``.
CANNY_TARGET = "canny"
#: The two values of :data:`CANNY_TARGET`, in order.
CANNY_VALUES = ("low", "high")


def _clamp_threshold(value: float) -> float:
    return float(min(max(value, THRESHOLD_MIN), THRESHOLD_MAX))


class Controls:
    """State that several threads read and change during a run; every method locks.

    Parameters
    ----------
    tuner_enabled : bool
        Whether ``threshold: auto`` follows the tuner at the start.
    tuner_available : bool
        Whether a tuner runs at all (shown by the browser view's switch).
    """

    def __init__(self, tuner_enabled: bool = True, tuner_available: bool = True):
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._stop_reason = ""
        self._threshold: float | None = None
        self._steps: dict[str, Any] = {}  # target -> TunerStep, the one store of answers
        self._records: Mapping[str, dict] | None = None  # the same, as records (read-only)
        self._used: float | None = None
        self._canny_manual = {"low": None, "high": None}
        self._canny_used: dict | None = None
        self._tuner_targets: set[str] = set()
        self._tuner_enabled = bool(tuner_enabled)
        self._snapshot_requested = False
        self._stats = LiveStats(tuner_enabled=self._tuner_enabled, tuner_available=bool(tuner_available))

    def __repr__(self) -> str:
        s = self.snapshot()
        return (
            f"Controls(stopped={self.stopped}, paused={s.paused}, threshold={self.threshold}, "
            f"tuner_enabled={s.tuner_enabled})"
        )

    # stop -------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Ask every thread to finish; the first reason given is kept."""
        with self._lock:
            if not self._stop.is_set():
                self._stop_reason = reason
            self._stop.set()
        self._resume.set()  # a paused engine must see the stop

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

    def toggle_pause(self) -> bool:
        """Flip :attr:`paused`; return the new value."""
        with self._lock:
            self.paused = not self.paused
            return self.paused

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused (up to ``timeout``); return True when free to go on."""
        return self._resume.wait(timeout)

    # threshold --------------------------------------------------------------------
    @property
    def threshold(self) -> float | None:
        """The manual threshold, or None to use the tuner / config value."""
        with self._lock:
            return self._threshold

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        with self._lock:
            self._threshold = None if value is None else _clamp_threshold(value)

    def nudge_threshold(self, delta: float) -> float:
        """Move the manual threshold by ``delta`` (from the value in use); return it.

        The result is clamped to [0, 255]; starting from nothing known, it starts at 0.
        """
        with self._lock:
            base = self._threshold
            if base is None:
                base = self._used if self._used is not None else (self._tuned() or 0.0)
            self._threshold = _clamp_threshold(base + delta)
            return self._threshold

    def record_threshold_used(self, value: float) -> None:
        """The threshold stage reports the value it applied (shown by the hud)."""
        with self._lock:
            self._used = float(value)

    @property
    def threshold_used(self) -> float | None:
        """The last value the threshold stage applied."""
        with self._lock:
            return self._used

    # tuner ------------------------------------------------------------------------
    @property
    def tuner_enabled(self) -> bool:
        """Whether ``threshold: auto`` follows the tuner's answers."""
        with self._lock:
            return self._tuner_enabled

    @tuner_enabled.setter
    def tuner_enabled(self, value: bool) -> None:
        with self._lock:
            self._tuner_enabled = bool(value)

    def toggle_tuner(self) -> bool:
        """Flip :attr:`tuner_enabled`; return the new value."""
        with self._lock:
            self._tuner_enabled = not self._tuner_enabled
            return self._tuner_enabled

    def publish_tuner_step(self, step) -> None:
        """A tuner's update (a :class:`~pipeline.runtime.tuner.TunerStep`): its one publication.

        Replaces the step of the same ``step.target``; the record mapping that
        :meth:`snapshot` and :meth:`tuner_records` hand out is rebuilt once here, so
        readers get it without copying.
        """
        with self._lock:
            self._steps[step.target] = step
            # A new dict each time, never changed after: readers share it without a copy.
            self._records = {target: kept.as_dict() for target, kept in self._steps.items()}

    def tuner_step(self, target: str = THRESHOLD_TARGET):
        """The last :class:`~pipeline.runtime.tuner.TunerStep` for ``target``, or None."""
        with self._lock:
            return self._steps.get(target)

    def tuner_records(self) -> Mapping[str, dict] | None:
        """Every target's last step as a record (``{target: record}``, read-only), or None."""
        with self._lock:
            return self._records

    def _tuned(self) -> float | None:
        # Caller holds the lock.
        step = self._steps.get(THRESHOLD_TARGET)
        return None if step is None else step.values[THRESHOLD_TARGET]

    @property
    def tuned_threshold(self) -> float | None:
        """The threshold tuner's latest answer, or None before its first."""
        with self._lock:
            return self._tuned()

    def threshold_for_auto(self) -> float | None:
        """What ``threshold: auto`` should use: manual, else tuner (if enabled), else None."""
        with self._lock:
            if self._threshold is not None:
                return self._threshold
            if self._tuner_enabled:
                tuned = self._tuned()
                return None if tuned is None else _clamp_threshold(tuned)
            return None

    # canny pair ---------------------------------------------------------------------
    def _canny_manual_view(self) -> dict | None:
        # Caller holds the lock.
        manual = self._canny_manual
        return None if manual["low"] is None and manual["high"] is None else dict(manual)

    @property
    def canny_manual(self) -> dict | None:
        """``{"low": l or None, "high": h or None}`` set by hand, or None if neither is."""
        with self._lock:
            return self._canny_manual_view()

    def set_canny(self, low: float | None = None, high: float | None = None) -> None:
        """Set both hand values of the ``canny`` stage (None: that one back to automatic).

        Each is clamped to [0, 255]; a pair set with ``low > high`` is kept as given
        (``cv2.Canny`` swaps it, and so does the stage).
        """
        with self._lock:
            self._canny_manual = {
                "low": None if low is None else _clamp_threshold(low),
                "high": None if high is None else _clamp_threshold(high)}

    def update_canny(self, **values: float | None) -> None:
        """Set the hand values named (``low=``, ``high=``; None: automatic), keep the other."""
        unknown = set(values) - set(CANNY_VALUES)
        if unknown:
            raise ValueError(f"canny values are {', '.join(CANNY_VALUES)}; got {sorted(unknown)}")
        with self._lock:
            self._canny_manual = {**self._canny_manual, **{
                name: None if value is None else _clamp_threshold(value)
                for name, value in values.items()}}

    def nudge_canny(self, which: str, delta: float) -> float:
        """Move the hand value ``which`` (``"low"`` or ``"high"``) by ``delta``; return it.

        Starts from the value the stage used last (0 before it ran), clamped to [0, 255].
        """
        if which not in CANNY_VALUES:
            raise ValueError(f"which must be one of {', '.join(CANNY_VALUES)}; got {which!r}")
        with self._lock:
            base = self._canny_manual[which]
            if base is None:
                base = self._canny_used[which] if self._canny_used is not None else 0.0
            self._canny_manual = {**self._canny_manual, which: _clamp_threshold(base + delta)}
            return self._canny_manual[which]

    def record_canny_used(self, low: float, high: float) -> None:
        """The canny stage reports the pair it applied (hud, http, the tuner's start)."""
        with self._lock:
            self._canny_used = {"low": float(low), "high": float(high)}

    @property
    def canny_used(self) -> dict | None:
        """``{"low": l, "high": h}``, the pair the canny stage applied last, or None."""
        with self._lock:
            return None if self._canny_used is None else dict(self._canny_used)

    def canny_for_auto(self) -> dict | None:
        """The canny tuner's pair while the tuner is enabled and has answered, else None."""
        with self._lock:
            step = self._steps.get(CANNY_TARGET)
            if not self._tuner_enabled or step is None:
                return None
            return {name: _clamp_threshold(step.values[name]) for name in CANNY_VALUES}

    def add_tuner_target(self, target: str) -> None:
        """A tuner of ``target`` runs this run (stages make its histogram only then)."""
        with self._lock:
            self._tuner_targets.add(target)

    def tuner_runs(self, target: str) -> bool:
        """Whether a tuner of ``target`` was registered with :meth:`add_tuner_target`."""
        with self._lock:
            return target in self._tuner_targets

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
        with self._lock:
            return dataclasses.replace(
                self._stats,
                threshold=self._used,
                tuner=self._records,
                canny=None if self._canny_used is None else dict(self._canny_used),
                canny_manual=self._canny_manual_view(),
                paused=not self._resume.is_set(),
                tuner_enabled=self._tuner_enabled,
            )
