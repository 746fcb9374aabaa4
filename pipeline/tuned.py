"""The tuned values of a run: one mechanism for every value a hand, a config and a tuner set.

A leaf module (it imports nothing from the package), read by the stages, the sinks and
the runtime alike; the run's :class:`~pipeline.controls.Controls` holds one
:class:`TunedValues` as ``controls.tuned``.

Every such value (the ``threshold`` stage's level, the ``canny`` stage's pair, and
whatever comes next) is keyed by its target (a :class:`Target`: a name and the names of
its values).  For each target :class:`TunedValues` keeps

* **manual**: the values set by hand (window keys, ``POST /control``), None for one
  that follows its stage's config;
* **used**: the values the stage applied to the last frame (the hud, the http view and
  the tuner's next start read these);
* **auto**: the tuner's latest answer, while the tuner is enabled;
* **step**: the tuner's latest step (a :class:`~pipeline.runtime.tuner.TunerStep`), the
  one place its answers are published (:meth:`TunedValues.publish`).

A stage asks :meth:`TunedValues.choose` which value to use for each of its values::

    tuned.choose("canny", {"low": "auto", "high": 90})   # {"low": 31.0, "high": 90.0}
    tuned.record_used("canny", low=31.0, high=90.0)
    tuned.nudge("threshold", "threshold", +5)             # the + key
    tuned.set_manual("canny", low=None, high=None)        # the c key: back to automatic

A new target needs a :class:`Target` (:meth:`TunedValues.add`) and no new method.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any

THRESHOLD_MIN = 0.0
THRESHOLD_MAX = 255.0

#: What a stage's setting says when it follows the tuner (else a number).
AUTO = "auto"


@dataclasses.dataclass(frozen=True)
class Target:
    """A tuned value's key: its name and the names of its values, with their range.

    Attributes
    ----------
    name : str
        The key (``"threshold"``, ``"canny"``); a tuner step's ``target``.
    values : tuple of str
        The names of its values, in order (``("threshold",)``, ``("low", "high")``).
    low, high : float
        Every value set by hand or taken from the tuner is clamped to ``[low, high]``.
    """

    name: str
    values: tuple[str, ...]
    low: float = THRESHOLD_MIN
    high: float = THRESHOLD_MAX

    def clamp(self, value: float) -> float:
        return float(min(max(value, self.low), self.high))


#: The ``threshold`` stage's level; a step's values are ``{"threshold": t}``.
THRESHOLD = Target("threshold", ("threshold",))
#: The ``canny`` stage's pair; a step's values are ``{"low": l, "high": h}``.
CANNY = Target("canny", ("low", "high"))

#: The targets' names, as a tuner step's ``target`` spells them.
THRESHOLD_TARGET = THRESHOLD.name
CANNY_TARGET = CANNY.name
#: The two values of :data:`CANNY_TARGET`, in order.
CANNY_VALUES = CANNY.values


def single(values: Mapping[str, Any] | None) -> Any:
    """The one value of a one-value mapping (``{"threshold": 80.0}`` -> 80.0); None for None."""
    if values is None:
        return None
    (value,) = values.values()
    return value


@dataclasses.dataclass
class _Slot:
    """What :class:`TunedValues` keeps for one target (under its lock)."""

    target: Target
    manual: dict
    used: dict | None = None
    step: Any = None  # the tuner's last TunerStep
    tuner_runs: bool = False


class TunedValues:
    """Manual, used and tuned values of every target, and the tuner switch; every method locks.

    Parameters
    ----------
    targets : iterable of Target
        The targets known from the start (default: :data:`THRESHOLD` and :data:`CANNY`);
        :meth:`add` declares more.
    enabled : bool
        Whether ``auto`` values follow the tuner at the start.
    """

    def __init__(self, targets=(THRESHOLD, CANNY), enabled: bool = True):
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}
        self._enabled = bool(enabled)
        self._records: Mapping[str, dict] | None = None  # every step as a record (read-only)
        for target in targets:
            self.add(target)

    def add(self, target: Target) -> Target:
        """Declare ``target`` (a second declaration of the same one is a no-op); returns it."""
        with self._lock:
            slot = self._slots.get(target.name)
            if slot is not None and slot.target != target:
                raise ValueError(f"target {target.name!r} is declared already with values "
                                 f"{slot.target.values}; got {target.values}")
            if slot is None:
                self._slots[target.name] = _Slot(target, dict.fromkeys(target.values))
        return target

    def targets(self) -> tuple[Target, ...]:
        """The declared targets, in order of declaration."""
        with self._lock:
            return tuple(slot.target for slot in self._slots.values())

    def target(self, name: str) -> Target:
        """The declared target called ``name`` (ValueError naming the known ones)."""
        with self._lock:
            return self._slot(name).target

    def _slot(self, name: str) -> _Slot:
        # Caller holds the lock.
        slot = self._slots.get(name)
        if slot is None:
            raise ValueError(f"unknown tuned target {name!r}; known: {', '.join(self._slots)}")
        return slot

    def _checked(self, slot: _Slot, values: Mapping[str, Any]) -> None:
        unknown = sorted(set(values) - set(slot.target.values))
        if unknown:
            raise ValueError(f"{slot.target.name} values are {', '.join(slot.target.values)}; "
                             f"got {unknown}")

    # the tuner switch ----------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """Whether ``auto`` values follow the tuner's answers."""
        with self._lock:
            return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        with self._lock:
            self._enabled = bool(value)

    def toggle(self) -> bool:
        """Flip :attr:`enabled`; return the new value."""
        with self._lock:
            self._enabled = not self._enabled
            return self._enabled

    # manual ------------------------------------------------------------------------
    def manual(self, target: str) -> dict | None:
        """``{value: v or None}`` set by hand for ``target``, or None when none is set."""
        with self._lock:
            return self._manual_view(self._slot(target))

    @staticmethod
    def _manual_view(slot: _Slot) -> dict | None:
        manual = slot.manual
        return None if all(v is None for v in manual.values()) else dict(manual)

    def all_manual(self, target: str) -> bool:
        """Whether every value of ``target`` is set by hand (its tuner then has nothing to do)."""
        with self._lock:
            return all(v is not None for v in self._slot(target).manual.values())

    def set_manual(self, target: str, **values: float | None) -> None:
        """Set the hand values named (None: back to automatic), keeping the others.

        Each is clamped to the target's range; a pair set out of order is kept as given
        (``cv2.Canny`` swaps it, and so does the stage).
        """
        with self._lock:
            slot = self._slot(target)
            self._checked(slot, values)
            slot.manual = {**slot.manual, **{
                name: None if value is None else slot.target.clamp(value)
                for name, value in values.items()}}

    def nudge(self, target: str, name: str, delta: float) -> float:
        """Move the hand value ``name`` of ``target`` by ``delta``; return it.

        Starts from the hand value, else the value used last, else the tuner's, else 0;
        clamped to the target's range.
        """
        with self._lock:
            slot = self._slot(target)
            self._checked(slot, {name: delta})
            base = slot.manual[name]
            if base is None and slot.used is not None:
                base = slot.used[name]
            if base is None and slot.step is not None:
                base = slot.step.values[name]
            slot.manual = {**slot.manual, name: slot.target.clamp((base or 0.0) + delta)}
            return slot.manual[name]

    # used --------------------------------------------------------------------------
    def record_used(self, target: str, **values: float) -> None:
        """The stage reports the values it applied to a frame (every value of ``target``)."""
        with self._lock:
            slot = self._slot(target)
            self._checked(slot, values)
            if set(values) != set(slot.target.values):
                raise ValueError(f"record_used({target!r}) needs every value: "
                                 f"{', '.join(slot.target.values)}; got {sorted(values)}")
            slot.used = {name: float(values[name]) for name in slot.target.values}

    def used(self, target: str) -> dict | None:
        """``{value: v}`` the stage applied last, or None before it ran."""
        with self._lock:
            used = self._slot(target).used
            return None if used is None else dict(used)

    # tuned -------------------------------------------------------------------------
    def publish(self, step) -> None:
        """A tuner's update (a :class:`~pipeline.runtime.tuner.TunerStep`): its one publication.

        Replaces the step of the same ``step.target``; the record mapping handed out by
        :meth:`records` is rebuilt once here, so readers share it without copying.
        """
        with self._lock:
            slot = self._slot(step.target)
            slot.step = step
            # A new dict each time, never changed after: readers share it without a copy.
            self._records = {name: kept.step.as_dict() for name, kept in self._slots.items()
                             if kept.step is not None}

    def step(self, target: str):
        """The last :class:`~pipeline.runtime.tuner.TunerStep` for ``target``, or None."""
        with self._lock:
            return self._slot(target).step

    def records(self) -> Mapping[str, dict] | None:
        """Every target's last step as a record (``{target: record}``, read-only), or None."""
        with self._lock:
            return self._records

    def tuned(self, target: str) -> dict | None:
        """The tuner's latest values for ``target`` (whether or not enabled), or None."""
        with self._lock:
            step = self._slot(target).step
            return None if step is None else dict(step.values)

    def auto(self, target: str) -> dict | None:
        """What ``auto`` follows: the tuner's values, clamped, while enabled; else None."""
        with self._lock:
            return self._auto(self._slot(target))

    def _auto(self, slot: _Slot) -> dict | None:
        # Caller holds the lock.
        if not self._enabled or slot.step is None:
            return None
        return {name: slot.target.clamp(slot.step.values[name]) for name in slot.target.values}

    def choose(self, target: str, configured: Mapping[str, Any]) -> dict:
        """The value to use for each of ``target``'s values, by precedence.

        Parameters
        ----------
        configured : mapping
            The stage's setting for each value: a number or :data:`AUTO`.

        Returns
        -------
        dict
            For each value: the hand value; else the number configured; else (``auto``)
            the tuner's while enabled; else None (the stage's own fallback, e.g. Otsu).
        """
        with self._lock:
            slot = self._slot(target)
            auto = self._auto(slot) if AUTO in configured.values() else None
            chosen = {}
            for name in slot.target.values:
                setting = configured[name]
                if slot.manual[name] is not None:
                    chosen[name] = slot.manual[name]
                elif setting != AUTO:
                    chosen[name] = float(setting)
                else:
                    chosen[name] = None if auto is None else auto[name]
            return chosen

    # which tuners run ------------------------------------------------------------------
    def expect_tuner(self, target: str) -> None:
        """A tuner of ``target`` runs this run (stages then leave it a histogram)."""
        with self._lock:
            self._slot(target).tuner_runs = True

    def tuner_runs(self, target: str) -> bool:
        """Whether a tuner of ``target`` was announced with :meth:`expect_tuner`."""
        with self._lock:
            return self._slot(target).tuner_runs

    # all at once ---------------------------------------------------------------------
    def view(self) -> dict:
        """``{target: {"manual", "used", "auto"}}`` for every target, as plain values."""
        return self.state()[0]

    def state(self) -> tuple[dict, Mapping[str, dict] | None, bool]:
        """``(view(), records(), enabled)`` read at one instant."""
        with self._lock:
            view = {name: {"manual": self._manual_view(slot),
                           "used": None if slot.used is None else dict(slot.used),
                           "auto": self._auto(slot)}
                    for name, slot in self._slots.items()}
            return view, self._records, self._enabled

    def __repr__(self) -> str:
        return f"TunedValues(enabled={self.enabled}, {self.view()!r})"
