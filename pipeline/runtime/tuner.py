"""The tuner: a side thread that keeps ``threshold: auto`` at an edge-quality optimum.

::

    processing thread                               tuner thread
    ─────────────────                               ────────────
    chain(frame) leaves side["histogram"]
    tuner.offer(index, histogram) ── every N-th ──► the tuner's mailbox: one slot of
      (O(1), never waits)                           (index, histogram), newer overwrites
                                                          │
                                                          ▼
                                                tune_threshold(hist, t0=current, ...)
    threshold stage: controls.threshold_for_auto()  ◄──  controls.publish_tuner_step(step)
    hud, window, http: controls.snapshot().tuner    ◄──  (the one publication)
    stats sink: frame.side["tuner"] (the engine stamps it from the controls)

A config turns it on with a top-level section, checked against :data:`TUNER_PARAMS`::

    tuner: {objective: otsu, optimizer: {name: adam, lr: 2.0}, every: 5, iterations: 20,
            smoothing: 0.5, bounds: [0, 255]}

Each update warm-starts from the threshold in use, runs ``iterations`` steps of the
optimizer on the newest histogram, takes the best point of the path as the optimum, and
publishes ``smoothing * old + (1 - smoothing) * optimum``.  While the tuner is switched off (``t`` key, HTTP) or a manual threshold is
set, histograms are taken and dropped without work; when control comes back, the tuner
starts from the value the chain was using, so the picture does not jump.

Two targets: ``targets: threshold`` (the default) moves the ``threshold`` stage's one
value with ``otsu`` or ``density``; ``targets: canny`` moves the ``canny`` stage's pair
``(low, high)`` with ``multiotsu``, every optimizer stepping on the 2-vector, and each
step projected back onto ``low <= high`` (:func:`pipeline.optim.tune_pair`)::

    tuner: {objective: multiotsu, optimizer: {name: sign, step: 1}, targets: canny}

The runtime tuner's objectives (``otsu``, ``density``, ``multiotsu``) read only the
256-bin magnitude histogram the chain already makes, so an update costs the same at any
resolution.  ``agreement`` needs a reference edge mask per frame (``cv2.Canny`` of the
grey frame plus a joint histogram of the magnitude image): several milliseconds per
1080p frame on the processing thread, against a budget of a few percent.  It is offered
by ``edgepipe experiment`` instead, where time is not short.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from pipeline.ops import otsu_threshold
from pipeline.optim import density, make_optimizer, otsu, tune_pair
# Drop-ins for optim.tune_threshold: the same path bit for bit, the loop compiled where it can be.
from pipeline.optim.fast import ThresholdRun
from pipeline.optim.fast import tune_threshold_fast as tune_threshold
from pipeline.config.registry import Param, ParamError, check_settings
from pipeline.runtime.controls import CANNY_TARGET, CANNY_VALUES, THRESHOLD_TARGET

__all__ = ["TUNER_OBJECTIVES", "TUNER_PARAMS", "TunerSettings", "TunerStep", "Tuner",
           "check_tuner_settings", "optimizer_error_key"]

#: Objectives the runtime tuner can run (see the module docstring for ``agreement``).
TUNER_OBJECTIVES = ("otsu", "density", "multiotsu")

#: What each target's tuner can optimize: one threshold, or Canny's pair.
TARGET_OBJECTIVES = {THRESHOLD_TARGET: ("otsu", "density"), CANNY_TARGET: ("multiotsu",)}

#: The optimizer used when the section names none.  Adam's step is about ``lr`` levels
#: whatever the size of the gradient; the objectives' slopes are small numbers (about
#: 1e-3 per level for otsu, 1e-5 for density), so ``sgd``/``momentum`` need an ``lr``
#: in the thousands (otsu) or more (density) to move the threshold at all.
DEFAULT_OPTIMIZER = {"name": "adam", "lr": 2.0}

#: The objectives' own defaults, read from their signatures (the one place they live).
DEFAULT_TAU = inspect.signature(otsu).parameters["tau"].default
DEFAULT_TARGET = inspect.signature(density).parameters["target"].default

#: The ``tuner:`` section's settings, with types, defaults and ranges.
TUNER_PARAMS = (
    Param("objective", str, "otsu", choices=TUNER_OBJECTIVES,
          help="edge-quality objective: otsu (class separation), density (edge fraction); "
               "multiotsu (three classes) for targets canny"),
    Param("targets", str, THRESHOLD_TARGET, choices=tuple(TARGET_OBJECTIVES),
          help="what is tuned: threshold (the threshold stage's value) or canny "
               "(the canny stage's low and high)"),
    Param("optimizer", dict, DEFAULT_OPTIMIZER,
          help="optimizer spec: name (sign, sgd, momentum, nesterov, adam) and its "
               "settings, e.g. {name: momentum, lr: 2000, gamma: 0.9}"),
    Param("every", int, 5, min=1, max=100000,
          help="update from at most one histogram every N frames"),
    Param("iterations", int, 20, min=1, max=10000, help="optimizer steps per update"),
    Param("smoothing", float, 0.5, min=0.0, max=0.99,
          help="published = smoothing * old + (1 - smoothing) * optimum; 0: no smoothing"),
    Param("bounds", list, [0.0, 255.0], min=0, max=255,
          help="[lo, hi]: the threshold (or each of the canny pair) stays in this box"),
    Param("tau", float, DEFAULT_TAU, min=0.0, max=255.0,
          help="softness of the class boundary in levels (0: hard step, no gradient)"),
    Param("target", float, DEFAULT_TARGET, min=0.0, max=1.0,
          help="density only: the wanted fraction of edge pixels"),
)


class TunerSettings:
    """The ``tuner:`` section as a checkable class (like ``config.Runtime``)."""

    registry_name = "tuner"
    params = TUNER_PARAMS


def optimizer_error_key(spec: Mapping, message: str) -> str:
    """The key of ``spec`` a :func:`make_optimizer` error message is about (``name`` if none).

    make_optimizer's messages start with the setting's name (``lr must be ...``) or quote
    it (``unknown key 'beta'``, ``needs key 'lr'``); an unknown optimizer is the ``name``.
    """
    for key in spec:
        if message.startswith(f"{key} ") or f"key {key!r}" in message:
            return str(key)
    missing = message.partition("needs key ")[2].split(";")[0].strip("'\"")
    return missing or "name"


def check_tuner_settings(settings: Mapping | None) -> dict:
    """Validate a ``tuner:`` section; return it with every default filled in.

    Parameters
    ----------
    settings : mapping or None
        As written in the config; None or ``{}`` means all defaults.

    Returns
    -------
    dict
        ``objective, targets, optimizer, every, iterations, smoothing, bounds, tau``, and
        ``target`` for the density objective; ``bounds`` as two floats, ``optimizer`` the spec with the optimizer's own
        defaults spelled out (a fresh copy).

    Raises
    ------
    ParamError
        ``key`` is the dotted place of the bad value (``"every"``, ``"optimizer.lr"``,
        ``"bounds"``) and the message says what would work.
    """
    raw = {} if settings is None else settings
    if not isinstance(raw, Mapping):
        raise ParamError("tuner", f"the tuner section must be a mapping of settings; got {raw!r}")
    checked = copy.deepcopy(check_settings(TunerSettings, dict(raw)))
    bounds = checked["bounds"]
    if len(bounds) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                   for b in bounds):
        raise ParamError("bounds", f"bounds must be two numbers [lo, hi] in [0, 255]; got {bounds!r}")
    low, high = float(bounds[0]), float(bounds[1])
    if not low < high:
        raise ParamError("bounds", f"bounds must have lo < hi; got {bounds!r}")
    checked["bounds"] = [low, high]
    target, objective = checked["targets"], checked["objective"]
    if objective not in TARGET_OBJECTIVES[target]:
        other = next(t for t, allowed in TARGET_OBJECTIVES.items() if objective in allowed)
        raise ParamError("objective", f"objective {objective!r} tunes the {other} target, "
                                      f"but targets is {target!r}; with targets {target} use "
                                      f"objective {' or '.join(TARGET_OBJECTIVES[target])} "
                                      f"(or set targets: {other})")
    if checked["objective"] != "density":
        if "target" in raw:
            raise ParamError("target", f"target applies to objective density only; the "
                                       f"objective is {checked['objective']!r} (leave target out)")
        del checked["target"]  # so that the checked section loads back as it is
    spec = checked["optimizer"]
    try:
        optimizer = make_optimizer(spec)
    except ValueError as exc:
        key = optimizer_error_key(spec, str(exc))
        raise ParamError(f"optimizer.{key}", f"optimizer.{key}: {exc}") from None
    checked["optimizer"] = optimizer.spec()
    return checked


@dataclasses.dataclass(frozen=True)
class TunerStep:
    """One update of a tuner, published once through the run's controls.

    A step tunes one ``target``, a small set of named values: the ``threshold`` stage's
    target is ``"threshold"`` with values ``{"threshold": t}``; a pair such as Canny's
    ``{"low": l, "high": h}`` fits the same shape under its own target.

    Attributes
    ----------
    update : int
        1 for the first update of the run, then 2, 3, ...
    frame : int or None
        Index of the frame whose histogram was used (None when called directly).
    target : str
        What was tuned (:data:`~pipeline.runtime.controls.THRESHOLD_TARGET`).
    start : dict of str to float
        The values the optimizer started from (the ones in use).
    optimum : dict of str to float
        The best point of the optimizer's path (lowest objective value).
    values : dict of str to float
        The published values, after smoothing.
    objective : float or None
        The objective's value at ``optimum`` (None if it was not finite).
    iterations : int
        Optimizer steps taken.
    seconds : float
        Wall time of the update, histogram to published value.
    """

    update: int
    frame: int | None
    target: str
    start: dict
    optimum: dict
    values: dict
    objective: float | None
    iterations: int
    seconds: float

    def as_dict(self) -> dict:
        """Plain JSON-able values (what ``snapshot().tuner[target]`` holds)."""
        # Fields are numbers, None or flat dicts of numbers, so a shallow copy of each
        # dict is enough: dataclasses.asdict deep-copies every field and cost 0.14 ms,
        # a third of a whole update.
        return {name: (dict(value) if isinstance(value, dict) else value)
                for name, value in ((name, getattr(self, name)) for name in _STEP_FIELDS)}


_STEP_FIELDS = tuple(field.name for field in dataclasses.fields(TunerStep))
POLL = 0.05  # seconds the thread waits for a histogram before looking at the stop flag


class Tuner:
    """The tuner thread of one run.

    Parameters
    ----------
    settings : mapping or None
        The ``tuner:`` section (checked again here; see :func:`check_tuner_settings`).
    controls : Controls
        The run's controls: where each step is published, the ``tuner_enabled``
        switch and the manual threshold.
    on_error : callable, optional
        Called with the exception if an update fails (the engine passes its
        ``_fail``); the thread ends either way and the exception is kept in
        :attr:`error`.

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
                 on_error: Callable[[BaseException], Any] | None = None):
        self.settings = check_tuner_settings(settings)
        self.controls = controls
        self.on_error = on_error
        self.objective = self.settings["objective"]
        self.target = self.settings["targets"]
        controls.add_tuner_target(self.target)
        self.optimizer = make_optimizer(self.settings["optimizer"])
        self.every = self.settings["every"]
        self.iterations = self.settings["iterations"]
        self.smoothing = self.settings["smoothing"]
        self.bounds = tuple(self.settings["bounds"])
        self.objective_settings = {"tau": self.settings["tau"]}
        if self.objective == "density":
            self.objective_settings["target"] = self.settings["target"]
        # Checked and prepared once; each update then pays only the histogram's part.
        self._threshold_run = ThresholdRun(self.optimizer, self.iterations, self.objective,
                                           self.bounds, **self.objective_settings)
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
        """The newest ``(index, histogram)``, waiting up to ``timeout``; None if none came."""
        with self._mail_ready:
            if self._mail is None:
                self._mail_ready.wait(timeout)
            mail, self._mail = self._mail, None
            return mail

    # ---------------------------------------------------------------- the thread
    def start(self) -> "Tuner":
        """Start the thread (once); returns self."""
        if self._thread is not None:
            raise RuntimeError("the tuner was started already; make a new Tuner per run")
        self._thread = threading.Thread(target=self._loop, name="edgepipe-tuner", daemon=True)
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
            while not (self._stop.is_set() or controls.stopped):
                mail = self._take(POLL)
                if mail is not None:
                    self.handle(mail[1], mail[0])
        except BaseException as exc:  # noqa: BLE001  (reported through on_error)
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            self._finished.set()
            with self._progress:
                self._progress.notify_all()

    def warm(self) -> None:
        """Run the objective once on a made-up histogram, so numba compiles it now.

        The first update would otherwise pay the compile (a second or more on a machine
        whose cache is empty) and publish late; nothing is published here.
        """
        histogram = np.arange(256, dtype=np.int64)[::-1].copy()
        if self.target == CANNY_TARGET:
            tune_pair(histogram, (64.0, 128.0), make_optimizer(self.settings["optimizer"]), 1,
                      objective=self.objective, bounds=self.bounds, **self.objective_settings)
            return
        tune_threshold(histogram, 128.0, make_optimizer(self.settings["optimizer"]), 1,
                       objective=self.objective, bounds=self.bounds, **self.objective_settings)

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
        manual = controls.threshold if self.target == THRESHOLD_TARGET else (
            None if controls.canny_manual is None or None in controls.canny_manual.values()
            else controls.canny_manual)
        if controls.tuner_enabled and manual is None:
            step = (self.update(histogram, index) if self.target == THRESHOLD_TARGET
                    else self.update_pair(histogram, index))
        else:
            self._in_control = False  # someone else sets the threshold now
        with self._progress:
            self.handled += 1
            self._progress.notify_all()
        return step

    def current_threshold(self, histogram: np.ndarray) -> float:
        """Where the next update starts: the threshold the chain is using.

        Our last published value while the chain follows it; after a manual override or
        a switch-off, the value the threshold stage applied last; before anything is
        known, Otsu's threshold of ``histogram`` (what ``threshold: auto`` shows then).
        """
        if self._in_control and self._latest is not None:
            return self._latest.values[THRESHOLD_TARGET]
        used = self.controls.threshold_used
        if used is not None:
            return float(used)
        return otsu_threshold(histogram)

    def update(self, histogram: np.ndarray, index: int | None = None) -> TunerStep:
        """Optimize from the current threshold, publish the smoothed optimum, record it."""
        began = time.perf_counter()
        low, high = self.bounds
        start = min(max(self.current_threshold(histogram), low), high)
        path = self._threshold_run(histogram, start)
        # The best point seen, not the last: an optimizer restarted each update (Adam's
        # first steps are about lr long) circles the minimum, and the last point of a
        # circle is no better than any other.
        best = int(np.argmin(path.values))
        optimum = float(path.points[best, 0])
        published = self.smoothing * start + (1.0 - self.smoothing) * optimum
        published = min(max(published, low), high)
        value = float(path.values[best])
        step = TunerStep(update=self.updates + 1, frame=index, target=THRESHOLD_TARGET,
                         start={THRESHOLD_TARGET: start}, optimum={THRESHOLD_TARGET: optimum},
                         values={THRESHOLD_TARGET: published},
                         objective=value if math.isfinite(value) else None,
                         iterations=path.iterations, seconds=time.perf_counter() - began)
        self._latest = step
        self.updates = step.update
        self._in_control = True
        self.controls.publish_tuner_step(step)  # the one publication
        return step

    def current_pair(self, histogram: np.ndarray) -> tuple[float, float]:
        """Where the next canny update starts: the pair the chain is using.

        As :meth:`current_threshold`: our last published pair while the chain follows
        it, else the pair the canny stage applied last, else the stage's rule of thumb
        (:func:`pipeline.stages.canny.rule_of_thumb`).
        """
        if self._in_control and self._latest is not None:
            return tuple(self._latest.values[name] for name in CANNY_VALUES)
        used = self.controls.canny_used
        if used is not None:
            return used["low"], used["high"]
        from pipeline.stages.canny import rule_of_thumb  # stages import the runtime

        return rule_of_thumb(histogram)

    def update_pair(self, histogram: np.ndarray, index: int | None = None) -> TunerStep:
        """The canny target's update: as :meth:`update`, on the pair ``(low, high)``."""
        began = time.perf_counter()
        low, high = self.bounds
        start = np.clip(np.sort(np.array(self.current_pair(histogram), np.float64)), low, high)
        path = tune_pair(histogram, start, self.optimizer, self.iterations,
                         objective=self.objective, bounds=self.bounds, **self.objective_settings)
        best = int(np.argmin(path.values))  # the best point seen (see update)
        optimum = path.points[best]
        # A mix of two ordered pairs is ordered, and stays in the box.
        published = self.smoothing * start + (1.0 - self.smoothing) * optimum
        value = float(path.values[best])

        def named(pair):
            return {name: float(v) for name, v in zip(CANNY_VALUES, pair)}

        step = TunerStep(update=self.updates + 1, frame=index, target=CANNY_TARGET,
                         start=named(start), optimum=named(optimum), values=named(published),
                         objective=value if math.isfinite(value) else None,
                         iterations=path.iterations, seconds=time.perf_counter() - began)
        self._latest = step
        self.updates = step.update
        self._in_control = True
        self.controls.publish_tuner_step(step)
        return step

    @property
    def latest(self) -> TunerStep | None:
        """The last update, or None before the first."""
        return self._latest
