"""The precision-recall plot as the benchmark draws it (``create_isoF_figure.m``,
``plot_eval.m``): iso-F contours in green on the unit square, each method's curve over
its thresholds (points with recall >= 0.01), its ODS point, and the human agreement point
on the BSDS500 test set that ``create_isoF_figure.m`` draws."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from pipeline.experiments.output import write_output
from pipeline.experiments.plots import _pyplot

#: ``create_isoF_figure.m``: the human annotators' agreement (recall, precision).
HUMAN = (0.700762, 0.897659)


#: Method colours: matplotlib's default cycle without its green, which the iso-F curves
#: and the human point use.
COLOURS = ("#1f77b4", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")

#: Up to this many tuned methods get a legend line each; more are grouped by method.
OWN_LEGEND = 6


def _tuned_points(axes, tuned: dict, colours: dict) -> None:
    """Each tuned method's (R, P) as an open marker in its method's colour."""
    markers = "sD^v<>ph*"
    by_method = {}
    for name, entry in tuned.items():
        by_method.setdefault(entry["method"], []).append((name, entry))
    for index, (name, entry) in enumerate(tuned.items()):
        own = len(tuned) <= OWN_LEGEND
        axes.plot(entry["recall"], entry["precision"], markers[index % len(markers)] if own else "s",
                  ms=6 if own else 4, mfc="none", color=colours[entry["method"]],
                  label=f"{name}  F {entry['f_tuned']:.3f}" if own else None)
    if len(tuned) > OWN_LEGEND:
        for method, entries in by_method.items():
            best_name, best = max(entries, key=lambda item: item[1]["f_tuned"])
            axes.plot([], [], "s", ms=4, mfc="none", color=colours[method],
                      label=f"{method} tuned x{len(entries)}, best F {best['f_tuned']:.3f} "
                            f"({best_name.split('/', 1)[-1]})")


def write_pr_plot(path: Path, scores: dict, tuned: dict, title: str) -> None:
    """Write ``path``: every method's PR curve and every tuned method's point."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(6.2, 6.2))
    p, r = np.meshgrid(np.arange(0.01, 1.001, 0.01), np.arange(0.01, 1.001, 0.01))
    f = 2 * p * r / (p + r)
    contours = axes.contour(r, p, f, levels=np.arange(0.1, 1.0, 0.1), colors="#3a3",
                            linewidths=0.6, alpha=0.7)
    axes.clabel(contours, fmt="%.1f", fontsize=7)
    axes.plot(*HUMAN, "o", color="#3a3", ms=8, label="human (BSDS500 test) F=0.80")
    colours = {}
    for index, (name, s) in enumerate(scores.items()):
        keep = s.recall >= 0.01
        line, = axes.plot(s.recall[keep], s.precision[keep], lw=2, color=COLOURS[index % len(COLOURS)],
                          label=f"{name}  ODS {s.ods:.3f}  OIS {s.ois:.3f}  AP {s.ap:.3f}")
        colours[name] = line.get_color()
        axes.plot(s.ods_recall, s.ods_precision, "o", color=colours[name], ms=5)
    _tuned_points(axes, tuned, colours)
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="Recall", ylabel="Precision",
             xticks=np.arange(0, 1.01, 0.1), yticks=np.arange(0, 1.01, 0.1), title=title)
    axes.set_aspect("equal")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=6.5, loc="lower left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    pyplot.close(figure)
    write_output(path, buffer.getvalue())
