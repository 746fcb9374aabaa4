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
    for name, s in scores.items():
        keep = s.recall >= 0.01
        line, = axes.plot(s.recall[keep], s.precision[keep], lw=2,
                          label=f"{name}  ODS {s.ods:.3f}  OIS {s.ois:.3f}  AP {s.ap:.3f}")
        axes.plot(s.ods_recall, s.ods_precision, "o", color=line.get_color(), ms=5)
    markers = "sD^v<>ph*"
    for index, (name, entry) in enumerate(tuned.items()):
        axes.plot(entry["recall"], entry["precision"], markers[index % len(markers)], ms=6,
                  mfc="none", label=f"{name}  F {entry['f_tuned']:.3f}")
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
