"""The experiment config (``edgepipe experiment``): inputs crossed with optimizer grids.

Checked on the shared :class:`~pipeline.config.document.Document` with the shared
:mod:`pipeline.config.checks`; a config with a ``dataset:`` key is a quality experiment
(:mod:`pipeline.config.quality`).  :mod:`pipeline.experiments` runs what is checked here.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
from pathlib import Path

import numpy as np

from pipeline import ops
from pipeline.config.checks import (EXPERIMENT_HEAD, ExperimentHead, check_bounds, check_experiment_head,
                                    check_section, expect_kind, is_number)
from pipeline.config.document import Document, load_document
from pipeline.config.overrides import apply_overrides
from pipeline.config.quality import check_quality
from pipeline.config.registry import REQUIRED, Param, ParamError, build
from pipeline.config.run import load_plugins
from pipeline.experiments.functions import FUNCTIONS
from pipeline.optim import OBJECTIVES, PAIR_OBJECTIVES, make_optimizer
from pipeline.runtime.tuner import DEFAULT_TARGET, DEFAULT_TAU

#: Optimizer steps an experiment may take in all (iterations x starts x optimizers, and
#: x frames for video inputs): each is a row of iterations.csv (about 80 bytes).
MAX_WORK = 10_000_000
#: Optimizer specs one grid entry may expand to.
MAX_GRID = 10_000


class _Section:
    registry_name = "experiment"
    params = (
        *EXPERIMENT_HEAD,
        Param("seed", int, 0, min=0, help="seed for random starting points"),
        Param("iterations", int, 100, min=0, max=1_000_000,
              help="optimizer steps per run (per frame for video inputs)"),
        Param("inputs", list, REQUIRED, help="functions and videos to run every optimizer on"),
        Param("optimizers", list, REQUIRED,
              help="optimizer specs; a list value is a grid axis: {name: sgd, lr: [0.01, 0.1]}"),
    )


_COMMON_INPUT = (
    Param("label", (str, type(None)), None, help="name in plots and files; null: from the input"),
)


class _FunctionInput:
    registry_name = "function input"
    params = (
        Param("function", str, REQUIRED, choices=tuple(FUNCTIONS), help="what to minimize"),
        *_COMMON_INPUT,
        Param("starts", (list, dict), REQUIRED,
              help="starting points (numbers, or [x, y] pairs), or {random: N, low: L, high: H}"),
        Param("bounds", (list, type(None)), None, help="[lo, hi] box for every coordinate"),
        Param("gradient", str, "numerical", choices=("numerical", "analytic"),
              help="numerical: the seed's central difference; analytic: the exact derivative"),
    )


_FRAME_INPUT = (
    *_COMMON_INPUT,
    Param("objective", str, "otsu", choices=(*OBJECTIVES, *PAIR_OBJECTIVES),
          help="edge-quality objective; multiotsu tunes Canny's pair (low, high)"),
    Param("tau", float, DEFAULT_TAU, min=0, max=255, help="softness of the class boundary in levels"),
    Param("target", float, DEFAULT_TARGET, min=0, max=1, help="density only: wanted edge fraction"),
    Param("canny", list, [100, 200], min=0, max=1000,
          help="agreement only: cv2.Canny thresholds of the reference edges"),
    Param("kind", str, "sobel", choices=ops.KINDS, help="derivative stencil of the edge map"),
    Param("start", (float, list, str), 128.0, min=0, max=255,
          help="threshold on the first frame; multiotsu: [low, high], or auto (the canny "
               "stage's rule of thumb on the first frame, its default)"),
    Param("bounds", list, [0, 255], min=0, max=255, help="[lo, hi] box for the threshold"),
    Param("max_frames", (int, type(None)), None, min=1, help="use at most this many frames"),
)


class _VideoInput:
    registry_name = "video input"
    params = (Param("video", str, REQUIRED, help="video file, picture, or a glob of them"),
              *_FRAME_INPUT)


class _SyntheticInput:
    registry_name = "synthetic input"
    params = (Param("synthetic", (dict, type(None)), REQUIRED,
                    help="settings of the synthetic source ({} for its defaults)"), *_FRAME_INPUT)


_INPUT_KINDS = {"function": _FunctionInput, "video": _VideoInput, "synthetic": _SyntheticInput}


@dataclasses.dataclass
class Input:
    """One checked input: ``kind`` is function, video or synthetic."""

    kind: str
    label: str
    settings: dict
    starts: list  # points, for functions


@dataclasses.dataclass
class Experiment(ExperimentHead):
    """A checked experiment config (see the module docstring)."""

    seed: int
    iterations: int
    inputs: list
    optimizers: list  # checked specs, the grid expanded


def _start_count(spec) -> int:
    """How many starting points ``spec`` asks for (checked later by :func:`_starts`)."""
    if isinstance(spec, dict):
        count = spec.get("random")
        return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1
    return max(len(spec), 1) if isinstance(spec, list) else 1


def _check_work(doc, path, steps: int, done: int) -> int:
    """``done + steps``, or a ConfigError at ``path`` when that passes :data:`MAX_WORK`."""
    if done + steps > MAX_WORK:
        raise doc.error(path, f"this asks for {done + steps:,} optimizer steps in all "
                              f"(iterations x starts x optimizers, x frames for videos); at "
                              f"most {MAX_WORK:,}: fewer iterations, starts, optimizer values "
                              "or frames (max_frames)")
    return done + steps


def _starts(doc, path, spec, dimensions, rng) -> list:
    if isinstance(spec, dict):
        allowed = {"random", "low", "high"}
        unknown = set(spec) - allowed
        if unknown or not allowed <= set(spec):
            raise doc.error(path, f"random starts are {{random: N, low: L, high: H}}; got {spec!r}")
        count, low, high = spec["random"], spec["low"], spec["high"]
        if not (isinstance(count, int) and not isinstance(count, bool) and count >= 1
                and is_number(low) and is_number(high) and low < high
                and math.isfinite(high - low)):
            raise doc.error(path, f"random starts need an integer random >= 1 and numbers "
                                  f"low < high (high - low a finite number); got {spec!r}")
        return [tuple(float(v) for v in rng.uniform(low, high, dimensions)) for _ in range(count)]
    if not spec:
        raise doc.error(path, "starts must list at least one starting point")
    points = []
    for index, point in enumerate(spec):
        coordinates = point if isinstance(point, list) else [point]
        if len(coordinates) != dimensions or not all(is_number(c) for c in coordinates):
            raise doc.error(path + (index,), f"a starting point here is {dimensions} number(s); "
                                             f"got {point!r}")
        points.append(tuple(float(c) for c in coordinates))
    return points


def _expand_optimizers(doc, entries) -> list:
    if not entries:
        raise doc.error(("optimizers",), "optimizers must list at least one optimizer spec")
    specs = []
    for index, entry in enumerate(entries):
        path = ("optimizers", index)
        if not isinstance(entry, dict):
            raise doc.error(path, f"an optimizer is a mapping such as {{name: sgd, lr: 0.1}}; got {entry!r}")
        axes = [[(key, v) for v in value] if isinstance(value, list) else [(key, value)]
                for key, value in entry.items()]
        for empty in (key for key, value in entry.items() if value == []):
            raise doc.error(path + (empty,), f"{empty} lists no values")
        size = math.prod(len(axis) for axis in axes)
        if size + len(specs) > MAX_GRID:
            raise doc.error(path, f"this grid expands to {size + len(specs):,} optimizer specs; "
                                  f"at most {MAX_GRID:,}: list fewer values")
        for combination in itertools.product(*axes):
            spec = dict(combination)
            try:
                specs.append(make_optimizer(spec).spec())
            except ParamError as exc:  # its key is the setting at fault
                raise doc.error(path + (exc.key,), exc.message) from None
    return specs


def _check_inside(doc, where, what: str, values, bounds: list) -> None:
    """Refuse ``values`` (a start, a starting point) not all inside ``bounds``."""
    if not all(bounds[0] <= value <= bounds[1] for value in values):
        raise doc.error(where, f"{what} lies outside bounds {bounds}")


def _check_start(doc, path, entry, settings) -> None:
    """``start``: a number for one threshold; ``[low, high]`` or ``auto`` for a pair."""
    start = settings["start"]
    where = path + ("start",)
    if settings["objective"] in PAIR_OBJECTIVES:
        if "start" not in entry:
            start = settings["start"] = "auto"
        if settings["kind"] != "sobel":
            raise doc.error(path + ("kind",), f"objective {settings['objective']} reads the "
                                              f"Sobel magnitude cv2.Canny thresholds; leave kind "
                                              f"out (sobel); got {settings['kind']!r}")
        if start == "auto":
            return
        if not (isinstance(start, list) and len(start) == 2 and all(is_number(c) for c in start)
                and start[0] <= start[1]):
            raise doc.error(where, f"objective {settings['objective']} tunes a pair: start is "
                                   f"[low, high] with low <= high, or auto; got {start!r}")
        _check_inside(doc, where, f"start {start}", start, settings["bounds"])
        settings["start"] = [float(c) for c in start]
        return
    if not is_number(start):
        raise doc.error(where, f"objective {settings['objective']} tunes one threshold: start "
                               f"is a number in [0, 255]; got {start!r}")
    _check_inside(doc, where, f"start {start}", [start], settings["bounds"])


def _check_function_input(doc, path: tuple, settings: dict, rng) -> tuple[list, str]:
    """A function input's box and starting points checked (in place); its starts and label."""
    function = FUNCTIONS[settings["function"]]
    settings["bounds"] = check_bounds(doc, path + ("bounds",), settings["bounds"])
    starts = _starts(doc, path + ("starts",), settings["starts"], function.dimensions, rng)
    if settings["bounds"] is not None:
        for point in starts:
            _check_inside(doc, path + ("starts",), f"starting point {list(point)}", point,
                          settings["bounds"])
    return starts, settings["label"] or function.name


def _check_video_input(doc, path: tuple, kind: str, entry: dict, settings: dict) -> str:
    """A video or synthetic input's settings checked (in place); its label."""
    settings["bounds"] = check_bounds(doc, path + ("bounds",), settings["bounds"])
    _check_start(doc, path, entry, settings)
    canny = settings["canny"]
    if len(canny) != 2 or not all(is_number(c) for c in canny):
        raise doc.error(path + ("canny",), f"canny must be two numbers [low, high]; got {canny!r}")
    for key, objective in (("target", "density"), ("canny", "agreement")):
        if key in entry and settings["objective"] != objective:
            raise doc.error(path + (key,), f"{key} applies to objective {objective} only; "
                                           f"the objective is {settings['objective']!r}")
    if kind == "synthetic":
        try:
            settings["synthetic"] = build("source", "synthetic", settings["synthetic"] or {})
        except ParamError as exc:
            raise doc.error(path + ("synthetic", exc.key), exc.message) from None
        return settings["label"] or "synthetic"
    return settings["label"] or Path(settings["video"]).stem.replace("*", "all")


def _check(doc, output: str | None) -> Experiment:
    top, name, folder = check_experiment_head(doc, _Section, output)
    rng = np.random.default_rng(top["seed"])
    inputs, labels = [], set()
    if not top["inputs"]:
        raise doc.error(("inputs",), "inputs must list at least one function or video")
    optimizers = _expand_optimizers(doc, top["optimizers"])
    steps = (top["iterations"] + 1) * len(optimizers)  # the start is a row too
    work = 0
    for index, entry in enumerate(top["inputs"]):
        path = ("inputs", index)
        kinds = [k for k in _INPUT_KINDS if isinstance(entry, dict) and k in entry]
        if len(kinds) != 1:
            raise doc.error(path, f"each input has exactly one of function, video, synthetic; "
                                  f"got {entry!r}")
        kind = kinds[0]
        settings = check_section(doc, path, _INPUT_KINDS[kind], entry, optional=False)
        if kind == "function":  # bounded before the random starts are drawn
            work = _check_work(doc, path + ("starts",), steps * _start_count(settings["starts"]), work)
            starts, label = _check_function_input(doc, path, settings, rng)
        else:  # at least one frame; the frames counted are checked again when read
            frames = settings["max_frames"] or 1
            work = _check_work(doc, path + ("max_frames",) if settings["max_frames"] else path,
                               steps * frames, work)
            starts, label = [], _check_video_input(doc, path, kind, entry, settings)
        label = re.sub(r"[^\w.-]+", "_", label)
        if label in labels:
            raise doc.error(path, f"two inputs are labelled {label!r}; give one a label:")
        labels.add(label)
        inputs.append(Input(kind, label, settings, starts))
    return Experiment(name, top["description"], doc.file, folder, top["seed"],
                      top["iterations"], inputs, optimizers)


def experiment_from_document(doc: Document, overrides=(), output: str | None = None) -> Experiment:
    """Check a parsed experiment config (:func:`~pipeline.config.document.load_document`).

    ``overrides`` are ``--set KEY=VALUE`` strings (``iterations=10``,
    ``optimizers.0.lr=0.1``); ``output`` replaces the config's output folder.
    """
    expect_kind(doc, "experiment")
    apply_overrides(doc, overrides)
    load_plugins()
    if isinstance(doc.data, dict) and "dataset" in doc.data:  # the quality kind
        return check_quality(doc, output)
    return _check(doc, output)


def load_experiment(path: str | os.PathLike, overrides=(), output: str | None = None) -> Experiment:
    """Read and check an experiment config; raise :class:`~pipeline.config.document.ConfigError`.

    ``overrides`` are ``--set KEY=VALUE`` strings (``iterations=10``,
    ``optimizers.0.lr=0.1``); ``output`` replaces the config's output folder.
    """
    doc = load_document(path, "experiment config", "configs/experiments/local-minimum.yaml")
    return experiment_from_document(doc, overrides, output)
