"""One update of a tuner: from a histogram and a start to the :class:`TunerStep` it publishes."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from pipeline.runtime.tuner.targets import TunerTarget

__all__ = ["TunerStep", "optimize"]


@dataclasses.dataclass(frozen=True)
class TunerStep:
    """One update of a tuner, published once through the run's tuned values.

    A step tunes one ``target``, a small set of named values: the ``threshold`` stage's
    target is ``"threshold"`` with values ``{"threshold": t}``; Canny's pair is
    ``{"low": l, "high": h}`` under target ``"canny"``.

    Attributes
    ----------
    update : int
        1 for the first update of the run, then 2, 3, ...
    frame : int or None
        Index of the frame whose histogram was used (None when called directly).
    target : str
        What was tuned (a :class:`pipeline.tuned.Target`'s name).
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


def optimize(target: TunerTarget, histogram: np.ndarray, values, smoothing: float, *,
             update: int, frame: int | None, clock=time.perf_counter) -> TunerStep:
    """Optimize ``target`` from ``values`` (the ones in use) on ``histogram``; the step to publish.

    The optimum is the best point of the path, not the last: an optimizer restarted
    each update (Adam's first steps are about ``lr`` long) circles the minimum, and the
    last point of a circle is no better than any other.  The published values are
    ``smoothing * start + (1 - smoothing) * optimum``, in the box (a mix of two ordered
    pairs is ordered too).
    """
    began = clock()
    start = target.start(values)
    path = target.run(histogram, start)
    best = int(np.argmin(path.values))
    optimum = path.points[best]
    low, high = target.bounds
    published = np.clip(smoothing * start + (1.0 - smoothing) * optimum, low, high)
    value = float(path.values[best])
    names = target.key.values

    def named(point) -> dict:
        return {name: float(v) for name, v in zip(names, point)}

    return TunerStep(update=update, frame=frame, target=target.key.name, start=named(start),
                     optimum=named(optimum), values=named(published),
                     objective=value if math.isfinite(value) else None,
                     iterations=path.iterations, seconds=clock() - began)
