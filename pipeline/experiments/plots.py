"""One PNG per input: loss or error per iteration and the path; thresholds over frames."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from pipeline.experiments.functions import FUNCTIONS
from pipeline.experiments.output import optimizer_label, write_output
from pipeline.io.base import SourceError
from pipeline.optim.pair_objectives import MultiOtsu


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


def surface_grid(histogram, tau: float, step: float = 1.0):
    """``(levels, values)``: the multi-Otsu surface on a grid, NaN where ``low > high``.

    ``values[i, j]`` is the objective at ``low = levels[j]``, ``high = levels[i]``.
    """
    surface = MultiOtsu(histogram, tau)
    levels = np.arange(0.0, 255.0 + step / 2, step)
    values = np.full((levels.size, levels.size), np.nan)
    for i, high in enumerate(levels):
        for j, low in enumerate(levels[: i + 1]):
            values[i, j] = surface.evaluate(low, high)[0]
    return levels, values


def _plot_pair(pyplot, runs: list, path: Path) -> None:
    settings = runs[0].input.settings
    figure, (where, over) = pyplot.subplots(1, 2, figsize=(11.5, 4.8))
    levels, values = surface_grid(runs[0].series["first_histogram"], settings["tau"], 2.0)
    filled = where.contourf(levels, levels, values, levels=24, cmap="viridis_r")
    where.contour(levels, levels, values, levels=24, colors="k", linewidths=0.25, alpha=0.4)
    figure.colorbar(filled, ax=where, label=f"{settings['objective']} objective (lower: better)")
    best = np.unravel_index(np.nanargmin(values), values.shape)
    where.plot(levels[best[1]], levels[best[0]], "*", ms=14, color="white", mec="k",
               label=f"grid minimum ({levels[best[1]]:g}, {levels[best[0]]:g})", zorder=5)
    many = len(runs[0].series["pairs"]) > 1
    for run in runs:
        label = optimizer_label(run.optimizer)
        points = run.series["first_path"]
        line, = where.plot(points[:, 0], points[:, 1], ".-", ms=3, lw=1.2, label=label)
        if many:
            pairs = run.series["pairs"]
            frames = np.arange(len(pairs))
            over.plot(frames, pairs[:, 1], color=line.get_color(), label=f"{label}: high")
            over.plot(frames, pairs[:, 0], color=line.get_color(), ls="--")
        else:
            over.plot(np.arange(len(points)), run.series["first_values"], color=line.get_color(),
                      label=label)
    start = runs[0].start
    where.plot(*start, "o", ms=7, color="white", mec="k", label=f"start ({start[0]:g}, {start[1]:g})",
               zorder=5)
    where.set_xlabel("low")
    where.set_ylabel("high")
    where.set_xlim(0, 255)
    where.set_ylim(0, 255)
    where.set_aspect("equal")
    where.set_title(f"{runs[0].input.label}, frame 0: paths on the surface (low <= high)")
    where.legend(fontsize=7, loc="lower right")
    if many:
        over.set_xlabel("frame")
        over.set_ylabel("high (solid), low (dashed)")
        over.set_title(f"the pair over {len(runs[0].series['pairs'])} frames, warm-started")
    else:
        over.set_xlabel("iteration")
        over.set_ylabel(f"{settings['objective']} objective")
        over.set_title("objective per iteration")
    over.grid(alpha=0.3)
    over.legend(fontsize=7)
    figure.tight_layout()
    _save(figure, path)
    pyplot.close(figure)


def _pyplot():
    try:
        import matplotlib  # lazy: an optional dependency (edgepipe[plots]), 0.3 s to import
    except ModuleNotFoundError:
        raise SourceError("plots need matplotlib: pip install 'edgepipe[plots]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot  # lazy: after matplotlib.use, as matplotlib asks

    return pyplot




def write_plots(experiment, runs: list) -> list[str]:
    """One PNG per input of ``experiment`` in its output folder; the paths written."""
    pyplot = _pyplot()
    written = []
    for item in experiment.inputs:
        mine = [run for run in runs if run.input is item]
        target = experiment.output / f"{item.label}.png"
        if item.kind == "function":
            _plot_function(pyplot, mine, target)
        elif "pairs" in mine[0].series:
            _plot_pair(pyplot, mine, target)
        else:
            _plot_frames(pyplot, mine, target)
        written.append(str(target))
    return written


def _save(figure, path: Path) -> None:
    # Rendered in memory first, so a failed render leaves no half-written PNG.
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    write_output(path, buffer.getvalue())
