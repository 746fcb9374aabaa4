"""Runs: every optimizer on every input (and start), rows and summaries, then the files."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time

import numpy as np

from pipeline.experiments.frames import frame_histograms
from pipeline.experiments.functions import FUNCTIONS, nearest_landmark
from pipeline.config.document import ConfigError
from pipeline.experiments.output import (
    CsvStream,
    optimizer_label,
    summary_text,
    write_output,
)
from pipeline.experiments.plots import write_plots
from pipeline.config.experiment import MAX_WORK, Experiment, Input
from pipeline.optim import PAIR_OBJECTIVES, make_optimizer, minimize, tune_pair, tune_threshold
from pipeline.histograms import canny_rule_of_thumb


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


def _overflow_as(value, function):
    """``function`` with Python's OverflowError (``1e308 ** 4``) turned into ``value``:
    a run that overflows has diverged, which its summary says, rather than a traceback."""
    def guarded(*point):
        try:
            return function(*point)
        except OverflowError:
            return value(len(point))
    return guarded


def run_function(run: Run, iterations: int) -> None:
    """Minimize the run's function from its start; fill its rows, summary and series."""
    function = FUNCTIONS[run.input.settings["function"]]
    grad = None
    if run.input.settings["gradient"] == "analytic":
        grad = _overflow_as(lambda n: (math.nan,) * n if n > 1 else math.nan, function.grad)
    f = _overflow_as(lambda n: math.inf, function.f)
    began = time.perf_counter()
    path = minimize(f, run.start, make_optimizer(run.optimizer), iterations,
                    grad=grad, bounds=run.input.settings["bounds"])
    seconds = time.perf_counter() - began
    for iteration, (point, value) in enumerate(zip(path.points.tolist(), path.values.tolist())):
        run.rows.append((None, iteration, point, value))
    final = path.final.tolist()
    error = None if function.minimum is None else path.final_value - function.minimum
    run.summary = {
        "final": final, "final_value": path.final_value, "error": error,
        "best_value": float(np.min(path.values)), "ends_near": nearest_landmark(function, final),
        "diverged": not bool(np.isfinite(path.values).all()), "seconds": seconds,
    }
    run.series = {"values": path.values, "points": path.points}



def run_frames(run: Run, histograms: list, iterations: int) -> None:
    """Tune the threshold on each frame's histogram, warm-started from the previous frame."""
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



def pair_start(settings: dict, histograms: list) -> tuple:
    """The pair a pair run starts from: the config's ``[low, high]``, or ``auto``'s rule of thumb."""
    if settings["start"] == "auto":
        low, high = settings["bounds"]
        return tuple(min(max(v, low), high) for v in canny_rule_of_thumb(histograms[0]))
    return tuple(settings["start"])


def run_pair_frames(run: Run, histograms: list, iterations: int) -> None:
    """Tune Canny's pair on each frame's histogram, warm-started from the previous frame.

    As the runtime tuner with ``targets: canny``: :func:`pipeline.optim.tune_pair`, each
    step projected onto ``low <= high``.  The series keep frame 0's whole path (drawn on
    its surface) and the pair after every frame.
    """
    settings = run.input.settings
    optimizer = make_optimizer(run.optimizer)
    pair = run.start
    pairs, values = [], []
    began = time.perf_counter()
    for frame, histogram in enumerate(histograms):
        path = tune_pair(histogram, pair, optimizer, iterations, objective=settings["objective"],
                         bounds=settings["bounds"], tau=settings["tau"])
        for iteration, (point, value) in enumerate(zip(path.points.tolist(), path.values.tolist())):
            run.rows.append((frame, iteration, point, value))
        if frame == 0:
            run.series["first_path"], run.series["first_values"] = path.points, path.values
        pair = tuple(float(v) for v in path.final)
        pairs.append(pair)
        values.append(path.final_value)
    run.summary = {
        "frames": len(histograms), "pairs": [list(p) for p in pairs], "final_values": values,
        "mean_final_value": float(np.mean(values)), "seconds": time.perf_counter() - began,
    }
    run.series.update({"pairs": np.array(pairs), "values": np.array(values),
                       "first_histogram": histograms[0]})


def _check_frames(experiment: Experiment, index: int, item: Input, frames: int, work: int) -> int:
    """The work so far with this video input's ``frames``; ConfigError past :data:`MAX_WORK`."""
    work += (experiment.iterations + 1) * len(experiment.optimizers) * frames
    if work > MAX_WORK:
        raise ConfigError(f"input {item.label!r} has {frames} frames: the experiment would take "
                          f"{work:,} optimizer steps in all; at most {MAX_WORK:,}: set max_frames, "
                          "or fewer iterations or optimizer values",
                          experiment.file, None, f"inputs.{index}.max_frames")
    return work


def _run_input(experiment: Experiment, index: int, item: Input, runs: list, stream: CsvStream,
               work: int) -> int:
    """Every optimizer (and start) on input ``item``: each run's rows to ``stream`` as it
    ends, the run to ``runs``; return the work done so far."""
    steps = (experiment.iterations + 1) * len(experiment.optimizers)
    if item.kind == "function":
        for spec, start in itertools.product(experiment.optimizers, item.starts):
            run = Run(len(runs), item, spec, start)
            run_function(run, experiment.iterations)
            stream.add(run)
            runs.append(run)
        return work + steps * len(item.starts)
    histograms = frame_histograms(item.settings)
    work = _check_frames(experiment, index, item, len(histograms), work)
    pair = item.settings["objective"] in PAIR_OBJECTIVES
    for spec in experiment.optimizers:
        if pair:
            run = Run(len(runs), item, spec, pair_start(item.settings, histograms))
            run_pair_frames(run, histograms, experiment.iterations)
        else:
            run = Run(len(runs), item, spec, (float(item.settings["start"]),))
            run_frames(run, histograms, experiment.iterations)
        stream.add(run)
        runs.append(run)
    return work


def run_experiment(experiment: Experiment, plots: bool = True, log=None) -> dict:
    """Run every input x optimizer x start; write CSV, JSON and PNGs; return the summary.

    Each run's rows go to ``iterations.csv`` (a temporary file until the end) as the
    run ends, so memory holds one run's rows at a time.

    Raises
    ------
    SourceError
        A video input cannot be read (or matplotlib is missing for the plots).
    ConfigError
        A video input has more frames than the experiment's work bound allows.
    """
    runs: list[Run] = []
    experiment.output.mkdir(parents=True, exist_ok=True)
    stream = CsvStream(experiment.output / "iterations.csv")
    try:
        work = 0
        for index, item in enumerate(experiment.inputs):
            work = _run_input(experiment, index, item, runs, stream, work)
            if log is not None:
                print(f"{experiment.name}: {item.label} done", file=log)
        stream.commit()
    except BaseException:
        stream.discard()
        raise
    files = {"csv": str(experiment.output / "iterations.csv"),
             "summary": str(experiment.output / "summary.json"), "plots": []}
    if plots:
        files["plots"] = write_plots(experiment, runs)
    summary = {
        "name": experiment.name, "description": experiment.description,
        "config": experiment.file, "seed": experiment.seed, "iterations": experiment.iterations,
        "files": files,
        "runs": [{
            "run": run.number, "input": run.input.label, "kind": run.input.kind,
            "optimizer": run.optimizer, "label": optimizer_label(run.optimizer),
            "start": list(run.start), **run.summary,
        } for run in runs],
    }
    write_output(experiment.output / "summary.json", summary_text(summary).encode())
    return summary
