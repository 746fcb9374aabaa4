"""``edgepipe experiment CONFIG``: grids of optimizer runs, every iteration to CSV, plots.

An experiment config crosses inputs with optimizers (a list value in an optimizer spec
is a grid axis) and, for functions, with starting points::

    version: 1
    name: local-minimum
    seed: 0                      # for random starting points
    iterations: 150              # per run (per frame for video inputs)
    inputs:
      - function: double_well    # x^4 - 3x^2 + x: local min near 1.13, global near -1.30
        starts: [2.0]            # or {random: 5, low: -2, high: 2}
      - video: clips/*.mp4       # or synthetic: {width: 320, height: 240, length: 60}
        objective: otsu          # otsu | density | agreement (against cv2.Canny)
        start: 128               # threshold on the first frame; later frames warm-start
    optimizers:
      - {name: sgd, lr: 0.01}
      - {name: momentum, lr: 0.01, gamma: [0.5, 0.9]}

Outputs, in ``output`` (default ``out/experiments/NAME``): ``iterations.csv`` (one row
per iteration of every run, numbers written exactly), ``summary.json`` (per run: where it
ended, the error, which known minimum it is nearest), and one PNG per input (loss or
error against iteration per optimizer, and the path; for videos the threshold over
frames).  Paths in the config are relative to the current directory, like a pipeline
config's.

Function inputs use :func:`~pipeline.optim.minimize` with the seed's central-difference
gradient unless ``gradient: analytic``; video inputs compute each frame's magnitude
histogram with :func:`pipeline.ops.edges` and run
:func:`~pipeline.optim.tune_threshold` per frame, warm-started from the previous frame.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import io
import itertools
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from pipeline import ops
from pipeline.config import ConfigError, Document, apply_override, load_plugins, read_config
from pipeline.io.base import SourceError
from pipeline.io.outputs import write_atomically
from pipeline.optim import OBJECTIVES, joint_histogram, make_optimizer, minimize, tune_threshold
from pipeline.registry import REQUIRED, Param, ParamError, build, check_settings
from pipeline.runtime.tuner import DEFAULT_TAU, DEFAULT_TARGET, optimizer_error_key

__all__ = ["FUNCTIONS", "Experiment", "TestFunction", "add_parser", "load_experiment",
           "run", "run_experiment"]

VERSION = 1
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


# ---------------------------------------------------------------- test functions


@dataclasses.dataclass(frozen=True)
class TestFunction:
    """A function to minimize, with its gradient and what is known about its minima.

    Attributes
    ----------
    name, formula : str
    dimensions : int
    f, grad : callable
        ``f(x[, y])`` and its analytic gradient (a tuple).
    minimum : float or None
        The global minimum value (None: unbounded below); ``error = f - minimum``.
    landmarks : dict
        Named points (``"global minimum"``, ``"local minimum"``, ``"saddle"``): the
        summary says which one a run ends nearest to.
    """

    __test__ = False  # not a pytest class, despite the name

    name: str
    formula: str
    dimensions: int
    f: Callable
    grad: Callable
    minimum: float | None
    landmarks: dict


def _double_well_points():
    roots = np.sort(np.roots([4.0, 0.0, -6.0, 1.0]).real)  # f'(x) = 4x^3 - 6x + 1
    return float(roots[0]), float(roots[1]), float(roots[2])


_GLOBAL, _HUMP, _LOCAL = _double_well_points()

#: The functions an experiment can name: the seed's spheres and its "challenges".
FUNCTIONS = {
    "square": TestFunction("square", "x^2", 1, lambda x: x**2, lambda x: (2 * x,), 0.0,
                           {"global minimum": (0.0,)}),
    "bowl": TestFunction("bowl", "x^2 + y^2", 2, lambda x, y: x**2 + y**2,
                         lambda x, y: (2 * x, 2 * y), 0.0, {"global minimum": (0.0, 0.0)}),
    "double_well": TestFunction(
        "double_well", "x^4 - 3x^2 + x", 1, lambda x: x**4 - 3 * x**2 + x,
        lambda x: (4 * x**3 - 6 * x + 1,), _GLOBAL**4 - 3 * _GLOBAL**2 + _GLOBAL,
        {"global minimum": (_GLOBAL,), "local minimum": (_LOCAL,), "local maximum": (_HUMP,)}),
    "cubic": TestFunction("cubic", "x^3", 1, lambda x: x**3, lambda x: (3 * x**2,), None,
                          {"inflection": (0.0,)}),
    "saddle": TestFunction("saddle", "x^2 - y^2", 2, lambda x, y: x**2 - y**2,
                           lambda x, y: (2 * x, -2 * y), None, {"saddle": (0.0, 0.0)}),
}

NEAR = 0.05  # a run "ends at" a landmark when its final point is this close


# ---------------------------------------------------------------- the schema


class _Section:
    registry_name = "experiment"
    params = (
        Param("version", int, REQUIRED, choices=(VERSION,), help="always 1"),
        Param("name", (str, type(None)), None, help="names the output folder; null: the file's stem"),
        Param("description", str, "", help="one line for the summary"),
        Param("output", (str, type(None)), None,
              help="output folder; null: out/experiments/NAME"),
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
    Param("objective", str, "otsu", choices=tuple(OBJECTIVES), help="edge-quality objective"),
    Param("tau", float, DEFAULT_TAU, min=0, max=255, help="softness of the class boundary in levels"),
    Param("target", float, DEFAULT_TARGET, min=0, max=1, help="density only: wanted edge fraction"),
    Param("canny", list, [100, 200], min=0, max=1000,
          help="agreement only: cv2.Canny thresholds of the reference edges"),
    Param("kind", str, "sobel", choices=ops.KINDS, help="derivative stencil of the edge map"),
    Param("start", float, 128.0, min=0, max=255, help="threshold on the first frame"),
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
class Experiment:
    """A checked experiment config (see the module docstring)."""

    name: str
    description: str
    file: str
    output: Path
    seed: int
    iterations: int
    inputs: list
    optimizers: list  # checked specs, the grid expanded


def _check_section(doc, path, cls, settings) -> dict:
    if not isinstance(settings, dict):
        raise doc.error(path, f"{cls.registry_name} must be a mapping of settings; got {settings!r}")
    try:
        return check_settings(cls, settings)
    except ParamError as exc:
        where = path + (exc.key,) if exc.key in settings else path
        raise doc.error(where, exc.message) from None


def _check_box(doc, path, bounds):
    if bounds is None:
        return None
    if len(bounds) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                   for b in bounds) or not bounds[0] < bounds[1]:
        raise doc.error(path, f"bounds must be two numbers [lo, hi] with lo < hi; got {bounds!r}")
    return [float(bounds[0]), float(bounds[1])]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _starts(doc, path, spec, dimensions, rng) -> list:
    if isinstance(spec, dict):
        allowed = {"random", "low", "high"}
        unknown = set(spec) - allowed
        if unknown or not allowed <= set(spec):
            raise doc.error(path, f"random starts are {{random: N, low: L, high: H}}; got {spec!r}")
        count, low, high = spec["random"], spec["low"], spec["high"]
        if not (isinstance(count, int) and not isinstance(count, bool) and count >= 1
                and _is_number(low) and _is_number(high) and low < high):
            raise doc.error(path, f"random starts need an integer random >= 1 and numbers "
                                  f"low < high; got {spec!r}")
        return [tuple(float(v) for v in rng.uniform(low, high, dimensions)) for _ in range(count)]
    if not spec:
        raise doc.error(path, "starts must list at least one starting point")
    points = []
    for index, point in enumerate(spec):
        coordinates = point if isinstance(point, list) else [point]
        if len(coordinates) != dimensions or not all(_is_number(c) for c in coordinates):
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
        for combination in itertools.product(*axes):
            spec = dict(combination)
            try:
                specs.append(make_optimizer(spec).spec())
            except ValueError as exc:
                key = optimizer_error_key(spec, str(exc))
                raise doc.error(path + (key,), str(exc)) from None
    return specs


def _check(doc, output: str | None) -> Experiment:
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError("an experiment config is a mapping starting with 'version: 1'", doc.file, 1)
    if "version" not in data:
        raise ConfigError(f"'version: {VERSION}' is required at the top of every config",
                          doc.file, 1, "version")
    top = _check_section(doc, (), _Section, data)
    name = top["name"] or Path(doc.file).stem
    if not re.fullmatch(r"[\w.-]+", name):
        raise doc.error(("name",), f"name must be letters, digits, '.', '_' or '-'; got {name!r}")
    rng = np.random.default_rng(top["seed"])
    inputs, labels = [], set()
    if not top["inputs"]:
        raise doc.error(("inputs",), "inputs must list at least one function or video")
    for index, entry in enumerate(top["inputs"]):
        path = ("inputs", index)
        kinds = [k for k in _INPUT_KINDS if isinstance(entry, dict) and k in entry]
        if len(kinds) != 1:
            raise doc.error(path, f"each input has exactly one of function, video, synthetic; "
                                  f"got {entry!r}")
        kind = kinds[0]
        settings = _check_section(doc, path, _INPUT_KINDS[kind], entry)
        starts = []
        if kind == "function":
            function = FUNCTIONS[settings["function"]]
            settings["bounds"] = _check_box(doc, path + ("bounds",), settings["bounds"])
            starts = _starts(doc, path + ("starts",), settings["starts"], function.dimensions, rng)
            if settings["bounds"] is not None:
                low, high = settings["bounds"]
                for point in starts:
                    if not all(low <= c <= high for c in point):
                        raise doc.error(path + ("starts",), f"starting point {list(point)} lies "
                                                            f"outside bounds {settings['bounds']}")
            label = settings["label"] or function.name
        else:
            settings["bounds"] = _check_box(doc, path + ("bounds",), settings["bounds"])
            if not settings["bounds"][0] <= settings["start"] <= settings["bounds"][1]:
                raise doc.error(path + ("start",), f"start {settings['start']} lies outside "
                                                   f"bounds {settings['bounds']}")
            canny = settings["canny"]
            if len(canny) != 2 or not all(_is_number(c) for c in canny):
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
                label = settings["label"] or "synthetic"
            else:
                label = settings["label"] or Path(settings["video"]).stem.replace("*", "all")
        label = re.sub(r"[^\w.-]+", "_", label)
        if label in labels:
            raise doc.error(path, f"two inputs are labelled {label!r}; give one a label:")
        labels.add(label)
        inputs.append(Input(kind, label, settings, starts))
    optimizers = _expand_optimizers(doc, top["optimizers"])
    folder = Path(output or top["output"] or os.path.join("out", "experiments", name))
    return Experiment(name, top["description"], doc.file, folder, top["seed"],
                      top["iterations"], inputs, optimizers)


def load_experiment(path: str | os.PathLike, overrides=(), output: str | None = None) -> Experiment:
    """Read and check an experiment config; raise :class:`~pipeline.config.ConfigError`.

    ``overrides`` are ``--set KEY=VALUE`` strings (``iterations=10``,
    ``optimizers.0.lr=0.1``); ``output`` replaces the config's output folder.
    """
    file, text = read_config(path, "experiment config", "configs/experiments/local-minimum.yaml")
    doc = Document.parse(text, file)
    if doc.data is None:
        raise ConfigError("the config is empty; start with 'version: 1'", file, 1)
    for override in overrides:
        apply_override(doc, override)
    load_plugins()
    return _check(doc, output)


# ---------------------------------------------------------------- running


@dataclasses.dataclass
class Run:
    """One optimizer on one input from one start; its rows and its summary."""

    number: int
    input: Input
    optimizer: dict
    start: tuple
    rows: list = dataclasses.field(default_factory=list)  # [frame, iteration, point, value]
    summary: dict = dataclasses.field(default_factory=dict)
    series: dict = dataclasses.field(default_factory=dict)  # for plots


def _optimizer_label(spec: dict) -> str:
    return repr(make_optimizer(spec))


def _nearest_landmark(function: TestFunction, point) -> str | None:
    best, name = None, None
    for label, landmark in function.landmarks.items():
        distance = math.dist(point, landmark)
        if distance <= NEAR and (best is None or distance < best):
            best, name = distance, label
    return name


def _run_function(run: Run, iterations: int) -> None:
    function = FUNCTIONS[run.input.settings["function"]]
    grad = function.grad if run.input.settings["gradient"] == "analytic" else None
    began = time.perf_counter()
    path = minimize(function.f, run.start, make_optimizer(run.optimizer), iterations,
                    grad=grad, bounds=run.input.settings["bounds"])
    seconds = time.perf_counter() - began
    for iteration, (point, value) in enumerate(zip(path.points.tolist(), path.values.tolist())):
        run.rows.append((None, iteration, point, value))
    final = path.final.tolist()
    error = None if function.minimum is None else path.final_value - function.minimum
    run.summary = {
        "final": final, "final_value": path.final_value, "error": error,
        "best_value": float(np.min(path.values)), "ends_near": _nearest_landmark(function, final),
        "diverged": not bool(np.isfinite(path.values).all()), "seconds": seconds,
    }
    run.series = {"values": path.values, "points": path.points}


def _read_frames(settings: dict, max_frames: int | None):
    """Yield BGR frames of a video input (files by the glob, in name order) or the synthetic source."""
    if "synthetic" in settings:
        sources = [settings["synthetic"]]
    else:
        pattern = settings["video"]
        files = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        if not files:
            raise SourceError(f"no file matches {pattern!r}")
        sources = files
    count = 0
    for source in sources:
        if isinstance(source, str) and Path(source).suffix.lower() in IMAGE_SUFFIXES:
            image = cv2.imread(source, cv2.IMREAD_COLOR)
            if image is None:
                raise SourceError(f"cannot read the picture {source!r}")
            if max_frames is not None and count >= max_frames:
                return
            count += 1
            yield image
            continue
        if isinstance(source, str):
            source = build("source", "file", {"path": source})
        source.open()
        try:
            while max_frames is None or count < max_frames:
                image = source.read()
                if image is None:
                    break
                count += 1
                yield image
        finally:
            source.close()


def _frame_histograms(settings: dict) -> list:
    """Each frame's objective histogram: (256,) magnitudes, or (256, 2) against Canny."""
    histograms = []
    for image in _read_frames(settings, settings["max_frames"]):
        edges, histogram = ops.edges(image, kind=settings["kind"], hist=True)
        if settings["objective"] == "agreement":
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
            low, high = settings["canny"]
            histogram = joint_histogram(edges, cv2.Canny(grey, low, high))
        histograms.append(histogram)
    if not histograms:
        raise SourceError(f"{settings.get('video', 'the synthetic source')!r} gave no frames")
    return histograms


def _run_frames(run: Run, histograms: list, iterations: int) -> None:
    settings = run.input.settings
    objective_settings = {"tau": settings["tau"]}
    if settings["objective"] == "density":
        objective_settings["target"] = settings["target"]
    optimizer = make_optimizer(run.optimizer)
    threshold = float(settings["start"])
    thresholds, values = [], []
    began = time.perf_counter()
    for frame, histogram in enumerate(histograms):
        path = tune_threshold(histogram, threshold, optimizer, iterations,
                              objective=settings["objective"], bounds=settings["bounds"],
                              **objective_settings)
        for iteration, (point, value) in enumerate(zip(path.points.tolist(), path.values.tolist())):
            run.rows.append((frame, iteration, point, value))
        threshold = float(path.final[0])
        thresholds.append(threshold)
        values.append(path.final_value)
    run.summary = {
        "frames": len(histograms), "thresholds": thresholds, "final_values": values,
        "mean_final_value": float(np.mean(values)), "seconds": time.perf_counter() - began,
    }
    run.series = {"thresholds": np.array(thresholds), "values": np.array(values)}


def _format(number) -> str:
    """Shortest text that reads back as the same float ("" for None)."""
    if number is None:
        return ""
    return repr(float(number))


CSV_COLUMNS = ("run", "input", "optimizer", "start", "frame", "iteration", "x", "y", "value", "error")


def _csv_text(runs: list) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        minimum = None
        if run.input.kind == "function":
            minimum = FUNCTIONS[run.input.settings["function"]].minimum
        label = _optimizer_label(run.optimizer)
        start = " ".join(_format(c) for c in run.start)
        for frame, iteration, point, value in run.rows:
            y = _format(point[1]) if len(point) > 1 else ""
            error = None if minimum is None else value - minimum
            writer.writerow((run.number, run.input.label, label, start,
                             "" if frame is None else frame, iteration, _format(point[0]), y,
                             _format(value), _format(error)))
    return out.getvalue()


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _write_atomically(path: Path, data: bytes) -> None:
    # a temporary name of this call's own: two processes writing one output never collide
    write_atomically(path, data, sync=True)


# ---------------------------------------------------------------- plots


def _plot_function(pyplot, runs: list, path: Path) -> None:
    function = FUNCTIONS[runs[0].input.settings["function"]]
    figure, (loss, where) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    use_error = function.minimum is not None
    for run in runs:
        values = run.series["values"]
        ys = values - function.minimum if use_error else values
        label = _optimizer_label(run.optimizer)
        if len(runs) > len({id(r.optimizer) for r in runs}) or len({r.start for r in runs}) > 1:
            label += f" from {', '.join(f'{c:g}' for c in run.start)}"
        line, = loss.plot(np.arange(len(ys)), ys, label=label)
        points = run.series["points"]
        if function.dimensions == 1:
            where.plot(points[:, 0], values, "o-", ms=3, lw=0.8, color=line.get_color(), alpha=0.8)
        else:
            where.plot(points[:, 0], points[:, 1], "o-", ms=3, lw=0.8, color=line.get_color())
    if use_error and all((r.series["values"] - function.minimum > 0).any() for r in runs):
        loss.set_yscale("symlog", linthresh=1e-6)
    loss.set_xlabel("iteration")
    loss.set_ylabel("error  f(x) - f(x*)" if use_error else "f(x)")
    loss.set_title(f"{function.formula}: {'error' if use_error else 'loss'} per iteration")
    loss.legend(fontsize=8)
    loss.grid(alpha=0.3)
    every = np.concatenate([r.series["points"] for r in runs])
    every = every[np.isfinite(every).all(axis=1)]
    low, high = every.min(axis=0), every.max(axis=0)
    pad = np.maximum(0.15 * (high - low), 0.5)
    if function.dimensions == 1:
        xs = np.linspace(low[0] - pad[0], high[0] + pad[0], 400)
        where.plot(xs, [function.f(x) for x in xs], color="0.6", lw=1, zorder=0)
        where.set_xlabel("x")
        where.set_ylabel("f(x)")
    else:
        xs = np.linspace(low[0] - pad[0], high[0] + pad[0], 200)
        ys = np.linspace(low[1] - pad[1], high[1] + pad[1], 200)
        grid_x, grid_y = np.meshgrid(xs, ys)
        where.contour(grid_x, grid_y, function.f(grid_x, grid_y), levels=15, colors="0.7",
                      linewidths=0.7)
        where.set_xlabel("x")
        where.set_ylabel("y")
        where.set_aspect("equal", adjustable="datalim")
    where.set_title("path")
    where.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def _plot_frames(pyplot, runs: list, path: Path) -> None:
    settings = runs[0].input.settings
    figure, (thresholds, values) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for run in runs:
        label = _optimizer_label(run.optimizer)
        frames = np.arange(len(run.series["thresholds"]))
        thresholds.plot(frames, run.series["thresholds"], label=label)
        values.plot(frames, run.series["values"], label=label)
    thresholds.set_xlabel("frame")
    thresholds.set_ylabel("threshold after the frame's run")
    thresholds.set_title(f"{runs[0].input.label}: threshold over frames ({settings['objective']})")
    values.set_xlabel("frame")
    values.set_ylabel(f"{settings['objective']} objective")
    values.set_title("objective at the frame's threshold")
    for axes in (thresholds, values):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise SourceError("plots need matplotlib: pip install 'edgepipe[plots]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def run_experiment(experiment: Experiment, plots: bool = True, log=None) -> dict:
    """Run every input x optimizer x start; write CSV, JSON and PNGs; return the summary.

    Raises
    ------
    SourceError
        A video input cannot be read (or matplotlib is missing for the plots).
    """
    runs: list[Run] = []
    for item in experiment.inputs:
        if item.kind == "function":
            for spec, start in itertools.product(experiment.optimizers, item.starts):
                run = Run(len(runs), item, spec, start)
                _run_function(run, experiment.iterations)
                runs.append(run)
        else:
            histograms = _frame_histograms(item.settings)
            for spec in experiment.optimizers:
                run = Run(len(runs), item, spec, (float(item.settings["start"]),))
                _run_frames(run, histograms, experiment.iterations)
                runs.append(run)
        if log is not None:
            print(f"{experiment.name}: {item.label} done", file=log)
    folder = experiment.output
    folder.mkdir(parents=True, exist_ok=True)
    files = {"csv": str(folder / "iterations.csv"), "summary": str(folder / "summary.json"),
             "plots": []}
    _write_atomically(folder / "iterations.csv", _csv_text(runs).encode())
    if plots:
        pyplot = _pyplot()
        for item in experiment.inputs:
            mine = [run for run in runs if run.input is item]
            target = folder / f"{item.label}.png"
            (_plot_function if item.kind == "function" else _plot_frames)(pyplot, mine, target)
            files["plots"].append(str(target))
    summary = {
        "name": experiment.name, "description": experiment.description,
        "config": experiment.file, "seed": experiment.seed, "iterations": experiment.iterations,
        "files": files,
        "runs": [{
            "run": run.number, "input": run.input.label, "kind": run.input.kind,
            "optimizer": run.optimizer, "label": _optimizer_label(run.optimizer),
            "start": list(run.start), **run.summary,
        } for run in runs],
    }
    text = json.dumps(_jsonable(summary), indent=2)
    _write_atomically(folder / "summary.json", (text + "\n").encode())
    return summary


# ---------------------------------------------------------------- command line


def add_parser(subparsers) -> Any:
    """Add the ``experiment`` sub-command to an argparse ``add_subparsers()`` object."""
    parser = subparsers.add_parser(
        "experiment", help="run a grid of optimizers over functions or videos; CSV, JSON, plots",
        description="Run every optimizer of an experiment config on every input and write "
                    "iterations.csv, summary.json and one PNG per input.")
    parser.add_argument("config", metavar="CONFIG",
                        help="experiment YAML, e.g. configs/experiments/local-minimum.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a value: iterations=10, optimizers.0.lr=0.1 (repeatable)")
    parser.add_argument("-o", "--output", metavar="DIR", help="output folder (overrides output:)")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNGs")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return parser


def run(args) -> int:
    """Run the sub-command: 0 done, 1 an input or output failed, 2 a bad config."""
    try:
        experiment = load_experiment(args.config, args.overrides, args.output)
    except ConfigError as exc:
        print(f"edgepipe: error: {exc}", file=sys.stderr)
        return 2
    try:
        summary = run_experiment(experiment, plots=args.plots,
                                 log=None if args.quiet else sys.stderr)
    except (SourceError, OSError) as exc:
        print(f"edgepipe: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        for entry in summary["runs"]:
            where = entry.get("ends_near") or ""
            if entry["kind"] == "function":
                final = ", ".join(f"{c:.6g}" for c in entry["final"])
                text = f"ends at ({final}) f={entry['final_value']:.6g} {where}".rstrip()
            else:
                text = (f"{entry['frames']} frames, last threshold "
                        f"{entry['thresholds'][-1]:.2f}, mean objective "
                        f"{entry['mean_final_value']:.4g}")
            print(f"  {entry['input']:<14} {entry['label']:<40} {text}", file=sys.stderr)
        print(f"{experiment.name}: wrote {summary['files']['csv']}, {summary['files']['summary']}"
              + (f" and {len(summary['files']['plots'])} plot(s)" if args.plots else ""),
              file=sys.stderr)
    return 0


def main(argv=None) -> int:
    """``python -m pipeline.experiments CONFIG`` until the ``edgepipe`` CLI has the sub-command."""
    import argparse

    parser = argparse.ArgumentParser(prog="edgepipe")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["experiment", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
