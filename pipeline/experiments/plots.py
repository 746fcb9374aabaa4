"""One PNG per input: loss or error per iteration and the path; thresholds over frames."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from pipeline.experiments.functions import FUNCTIONS
from pipeline.experiments.output import optimizer_label, write_output
from pipeline.io.base import SourceError


def _plot_function(pyplot, runs: list, path: Path) -> None:
    function = FUNCTIONS[runs[0].input.settings["function"]]
    figure, (loss, where) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    use_error = function.minimum is not None
    for run in runs:
        values = run.series["values"]
        ys = values - function.minimum if use_error else values
        label = optimizer_label(run.optimizer)
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
    _save(figure, path)
    pyplot.close(figure)


def _plot_frames(pyplot, runs: list, path: Path) -> None:
    settings = runs[0].input.settings
    figure, (thresholds, values) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for run in runs:
        label = optimizer_label(run.optimizer)
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
    _save(figure, path)
    pyplot.close(figure)


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise SourceError("plots need matplotlib: pip install 'edgepipe[plots]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot




def write_plots(experiment, runs: list) -> list[str]:
    """One PNG per input of ``experiment`` in its output folder; the paths written."""
    pyplot = _pyplot()
    written = []
    for item in experiment.inputs:
        mine = [run for run in runs if run.input is item]
        target = experiment.output / f"{item.label}.png"
        (_plot_function if item.kind == "function" else _plot_frames)(pyplot, mine, target)
        written.append(str(target))
    return written


def _save(figure, path: Path) -> None:
    # Rendered in memory first, so a failed render leaves no half-written PNG.
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    write_output(path, buffer.getvalue())
