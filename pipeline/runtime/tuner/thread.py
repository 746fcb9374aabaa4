"""The tuner thread: a side thread that keeps an ``auto`` value at an edge-quality optimum.

::

    processing thread                               tuner thread
    ─────────────────                               ────────────
    chain(frame) leaves side["histogram"]
    tuner.offer(index, histogram) ── every N-th ──► the tuner's mailbox: one slot of
      (O(1), never waits)                           (index, histogram), newer overwrites
                                                          │
                                                          ▼
                                                optimize(target, hist, start=in use)
    stage: controls.tuned.choose(target, ...)   ◄──  controls.tuned.publish(step)
    hud, window, http: controls.snapshot().tuner ◄──  (the one publication)
    stats sink: frame.side["tuner"] (the engine stamps it from the controls)

Each update warm-starts from the values in use, runs ``iterations`` steps of the
optimizer on the newest histogram, takes the best point of the path as the optimum, and
publishes ``smoothing * old + (1 - smoothing) * optimum``.  While the tuner is switched
off (``t`` key, HTTP) or every value of its target is set by hand, histograms are taken
and dropped without work; when control comes back, the tuner starts from the values the
chain was using, so the picture does not jump.  What is tuned is the section's
``targets`` (:mod:`~pipeline.runtime.tuner.targets`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from pipeline.optim import make_optimizer
from pipeline.runtime.tuner.settings import check_tuner_settings, objective_settings
from pipeline.runtime.tuner.step import TunerStep, optimize
from pipeline.runtime.tuner.targets import TARGETS

__all__ = ["POLL", "Tuner"]

POLL = 0.05  # seconds between looks while waiting for the thread to warm up
#: Seconds the idle thread sleeps at most: a histogram, stop() and the run's stop wake it
#: at once (the controls are watched); this bounds a wake-up that would be missed.
IDLE_WAIT = 1.0


class Tuner:
    """The tuner thread of one run.

    Parameters
    ----------
    settings : mapping or None
        The ``tuner:`` section (checked again here; see :func:`check_tuner_settings`).
    controls : Controls
        The run's controls: its tuned values are where each step is published, the
        ``tuner_enabled`` switch and the values set by hand.
    on_error : callable, optional
        Called with the exception if an update fails (the engine passes its
        ``_fail``); the thread ends either way and the exception is kept in
        :attr:`error`.
    clock : callable, optional
        Seconds as a float, read before and after each update for
        :attr:`TunerStep.seconds` (``time.perf_counter``; tests pass their own).

    Examples
    --------
    What the engine does::

        tuner = Tuner(config.tuner, controls, on_error=engine._fail)
        tuner.start()
        ...                      # processing thread, per frame, after the chain:
        tuner.offer(frame.index, frame.side["histogram"])
        ...
        tuner.stop()
    """

    def __init__(self, settings: Mapping | None, controls, *,
                 on_error: Callable[[BaseException], Any] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.settings = check_tuner_settings(settings)
        self.clock = clock  # times each update (TunerStep.seconds)
        self.controls = controls
        self.on_error = on_error
        self.objective = self.settings["objective"]
        self.target = TARGETS[self.settings["targets"]](
            make_optimizer(self.settings["optimizer"]), self.settings["iterations"],
            self.objective, self.settings["bounds"], objective_settings(self.settings))
        controls.tuned.expect_tuner(self.target.key.name)
        self.every = self.settings["every"]
        self.smoothing = self.settings["smoothing"]
        self.error: BaseException | None = None
        self.handled = 0  # histograms taken from the mailbox
        self.updates = 0  # of which optimized and published
        self._mail: tuple[int | None, np.ndarray] | None = None  # one slot: newer overwrites
        self._mail_ready = threading.Condition()
        self._last_offered: int | None = None  # processing thread only
        self._latest: TunerStep | None = None
        self._in_control = False  # the chain uses our last published value
        self._progress = threading.Condition()
        self._stop = threading.Event()
        self.warmed = threading.Event()  # set once the thread compiled its objective
        self._finished = threading.Event()  # waited on instead of join (see the engine's _Worker)
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        s = self.settings
        return (f"Tuner(objective={s['objective']!r}, targets={s['targets']!r}, optimizer={s['optimizer']!r}, "
                f"every={s['every']}, iterations={s['iterations']}, "
                f"smoothing={s['smoothing']}, bounds={s['bounds']})")

    # ---------------------------------------------------------------- engine side
    def offer(self, index: int, histogram: np.ndarray) -> bool:
        """Processing thread, after the chain: hand over frame ``index``'s histogram.

        Puts ``(index, histogram)`` in the tuner's one-slot mailbox (an unread one is
        replaced) if ``every`` frames have passed since the last one posted.  Constant
        time; never waits for the tuner.

        Returns
        -------
        bool
            Whether the histogram was posted.
        """
        if not self.wants(index):
            return False
        self._last_offered = index
        with self._mail_ready:
            self._mail = (index, histogram)
            self._mail_ready.notify_all()
        return True

    def wants(self, index: int) -> bool:
        """Processing thread: whether :meth:`offer` would post frame ``index``'s histogram.

        The engine asks before the chain runs, so the histogram is made only on the frames
        that can reach the tuner (one in ``every``), not on every frame.
        """
        last = self._last_offered
        return last is None or not 0 <= index - last < self.every

    def _take(self, timeout: float) -> tuple[int | None, np.ndarray] | None:
        """The newest ``(index, histogram)``, waiting up to ``timeout``; None if none came
        or the tuner or the run was stopped meanwhile."""
        with self._mail_ready:
            if self._mail is None and not self._stopping():
                self._mail_ready.wait(timeout)
            mail, self._mail = self._mail, None
            return mail

    def _stopping(self) -> bool:
        return self._stop.is_set() or self.controls.stopped

    def _wake(self) -> None:
        """A control changed (the run may have stopped): the idle thread looks again."""
        with self._mail_ready:
            self._mail_ready.notify_all()

    # ---------------------------------------------------------------- the thread
    def start(self) -> "Tuner":
        """Start the thread (once); returns self."""
        if self._thread is not None:
            raise RuntimeError("the tuner was started already; make a new Tuner per run")
        self._thread = threading.Thread(target=self._loop, name="edgepipe-tuner", daemon=True)
        self.controls.watch(self._wake)  # a stop wakes the idle thread: no polling
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 2.0) -> None:
        """Ask the thread to end and wait for it (an update in progress finishes first)."""
        self._stop.set()
        with self._mail_ready:
            self._mail_ready.notify_all()
        if self._thread is not None:
            self._finished.wait(timeout)

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and not self._finished.is_set()

    def _loop(self) -> None:
        controls = self.controls
        try:
            self.warm()
            self.warmed.set()
            while not self._stopping():
                mail = self._take(IDLE_WAIT)
                if mail is not None:
                    self.handle(mail[1], mail[0])
        except BaseException as exc:  # noqa: BLE001  (reported through on_error)
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            controls.unwatch(self._wake)
            self._finished.set()
            with self._progress:
                self._progress.notify_all()

    def warm(self) -> None:
        """Run the objective once on a made-up histogram, so numba compiles it now.

        The first update would otherwise pay the compile (a second or more on a machine
        whose cache is empty) and publish late; nothing is published here.
        """
        self.target.warm()

    def wait_warm(self, timeout: float) -> bool:
        """Block until the thread has compiled its objective, ended, or ``timeout`` passed.

        Callable before :meth:`start` (the engine's source thread may get there first).
        Returns whether the objective is warm.
        """
        deadline = time.monotonic() + timeout
        while not (self.warmed.is_set() or self._finished.is_set()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.warmed.wait(min(POLL, remaining))
        return self.warmed.is_set()

    def wait_handled(self, count: int, timeout: float) -> bool:
        """Block until :attr:`handled` reaches ``count`` (or ``timeout``); return whether it did."""
        with self._progress:
            return self._progress.wait_for(
                lambda: self.handled >= count or self.error is not None or (
                    self._thread is not None and self._finished.is_set()), timeout) \
                and self.handled >= count

    # ---------------------------------------------------------------- one update
    def handle(self, histogram: np.ndarray, index: int | None = None) -> TunerStep | None:
        """Act on one histogram: update, or drop it while switched off or overridden.

        Runs on the tuner thread; callable directly (tests, benchmarks).
        """
        controls = self.controls
        step = None
        if controls.tuner_enabled and not controls.tuned.all_manual(self.target.key.name):
            step = self.update(histogram, index)
        else:
            self._in_control = False  # someone else sets the values now
        with self._progress:
            self.handled += 1
            self._progress.notify_all()
        return step

    def start_values(self, histogram: np.ndarray) -> tuple[float, ...]:
        """Where the next update starts: the values the chain is using, in the key's order.

        Our last published values while the chain follows them; after a hand-set value
        or a switch-off, the values the stage applied last; before anything is known,
        the target's fallback on ``histogram`` (Otsu's threshold; Canny's rule of
        thumb), what the stage shows then.
        """
        names = self.target.key.values
        if self._in_control and self._latest is not None:
            return tuple(self._latest.values[name] for name in names)
        used = self.controls.tuned.used(self.target.key.name)
        if used is not None:
            return tuple(used[name] for name in names)
        return tuple(self.target.fallback(histogram))

    def update(self, histogram: np.ndarray, index: int | None = None) -> TunerStep:
        """Optimize from the values in use, publish the smoothed optimum, record it."""
        step = optimize(self.target, histogram, self.start_values(histogram), self.smoothing,
                        update=self.updates + 1, frame=index, clock=self.clock)
        self._latest = step
        self.updates = step.update
        self._in_control = True
        self.controls.tuned.publish(step)  # the one publication
        return step

    @property
    def latest(self) -> TunerStep | None:
        """The last update, or None before the first."""
        return self._latest
