"""The PR plot: curves, ODS points, tuned points (own legend lines, or grouped)."""

import numpy as np
import pytest

from pipeline.experiments import quality_plot
from pipeline.quality import score


def scores():
    levels = np.array([0.25, 0.5, 0.75])
    counts = np.array([[[9, 10, 3, 10], [6, 10, 4, 5], [2, 10, 2, 2]]])
    return {"sobel": score(levels, counts)}


@pytest.mark.parametrize("count", [2, quality_plot.OWN_LEGEND + 3])
def test_the_plot_is_written_with_every_tuned_point(tmp_path, monkeypatch, count):
    drawn = []
    original = quality_plot._tuned_points

    def spy(axes, tuned, colours):
        original(axes, tuned, colours)
        drawn.append([line.get_label() for line in axes.get_lines()])

    monkeypatch.setattr(quality_plot, "_tuned_points", spy)
    tuned = {f"sobel/otsu/{k}": {"method": "sobel", "recall": 0.5, "precision": 0.4 + k / 100,
                                 "f_tuned": 0.45 + k / 100} for k in range(count)}
    quality_plot.write_pr_plot(tmp_path / "pr.png", scores(), tuned, "t")
    assert (tmp_path / "pr.png").read_bytes()[:4] == b"\x89PNG"
    labels = drawn[0]
    if count <= quality_plot.OWN_LEGEND:
        assert sum(label.startswith("sobel/otsu/") for label in labels) == count
    else:
        best = f"sobel tuned x{count}, best F {0.45 + (count - 1) / 100:.3f} (otsu/{count - 1})"
        assert best in labels
