"""The ``tuner:`` section: its declared settings and their check."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from pipeline.optim import OPTIMIZERS, make_optimizer
from pipeline.config.registry import REGISTRIES, Param, ParamError, check_settings
from pipeline.runtime.tuner.targets import TARGETS, THRESHOLD_TARGET

__all__ = ["DEFAULT_OPTIMIZER", "DEFAULT_TARGET", "DEFAULT_TAU", "TARGET_OBJECTIVES",
           "TUNER_OBJECTIVES", "TUNER_PARAMS", "TunerSettings", "check_tuner_settings"]

#: What each target's tuner can optimize: one threshold, or Canny's pair.
TARGET_OBJECTIVES = {name: target.objectives() for name, target in TARGETS.items()}

#: Objectives the runtime tuner can run: those that read the magnitude histogram the
#: chain makes anyway (``agreement`` needs a reference edge mask per frame: several
#: milliseconds per 1080p frame; it is offered by ``edgepipe experiment`` instead).
TUNER_OBJECTIVES = tuple(name for names in TARGET_OBJECTIVES.values() for name in names)

#: The optimizer used when the section names none.  Adam's step is about ``lr`` levels
#: whatever the size of the gradient; the objectives' slopes are small numbers (about
#: 1e-3 per level for otsu, 1e-5 for density), so ``sgd``/``momentum`` need an ``lr``
#: in the thousands (otsu) or more (density) to move the threshold at all.
DEFAULT_OPTIMIZER = {"name": "adam", "lr": 2.0}


def _declared_default(objective: str, key: str):
    """The default the registered ``objective`` declares for its setting ``key``."""
    return next(param.default for param in REGISTRIES["objective"][objective].params
                if param.name == key)


#: The objectives' own defaults, as they declare them (the one place they live).
DEFAULT_TAU = _declared_default("otsu", "tau")
DEFAULT_TARGET = _declared_default("density", "target")

#: The ``tuner:`` section's settings, with types, defaults and ranges.
TUNER_PARAMS = (
    Param("objective", str, "otsu", choices=TUNER_OBJECTIVES,
          help="edge-quality objective: otsu (class separation), density (edge fraction); "
               "multiotsu (three classes) for targets canny"),
    Param("targets", str, THRESHOLD_TARGET, choices=tuple(TARGET_OBJECTIVES),
          help="what is tuned: threshold (the threshold stage's value) or canny "
               "(the canny stage's low and high)"),
    Param("optimizer", dict, DEFAULT_OPTIMIZER,
          help=f"optimizer spec: name ({', '.join(OPTIMIZERS)}) and its settings "
               f"(edgepipe stages optimizer), e.g. {{name: momentum, lr: 2000, gamma: 0.9}}"),
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


def _declared(objective: str) -> set[str]:
    return {param.name for param in REGISTRIES["objective"][objective].params}


def objective_settings(settings: Mapping) -> dict:
    """The checked section's values of the settings its objective declares (``tau``, ...)."""
    declared = REGISTRIES["objective"][settings["objective"]].params
    return {param.name: settings[param.name] for param in declared}


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
        ``target`` for the density objective; ``bounds`` as two floats, ``optimizer`` the
        spec with the optimizer's own defaults spelled out (a fresh copy).

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
    declared = _declared(objective)
    for key in ("tau", "target"):  # the objectives' settings the section holds
        if key in declared:
            continue
        if key in raw:
            owners = [name for name in TUNER_OBJECTIVES if key in _declared(name)]
            raise ParamError(key, f"{key} applies to objective {' or '.join(owners)} only; "
                                  f"the objective is {objective!r} (leave {key} out)")
        del checked[key]  # so that the checked section loads back as it is
    try:
        optimizer = make_optimizer(checked["optimizer"])
    except ParamError as exc:  # the key is the optimizer's setting at fault
        raise ParamError(f"optimizer.{exc.key}", f"optimizer.{exc.key}: {exc.message}") from None
    checked["optimizer"] = optimizer.spec()
    return checked
