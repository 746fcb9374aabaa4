"""The overlay stage: soft edges blended in proportion, on grey and resized originals."""

import cv2
import numpy as np

import pipeline.stages  # noqa: F401  (registers the stages)
from pipeline import ops
from pipeline.frame import Frame
from pipeline.config.registry import build
from pipeline.stages.overlay import paint_edges
from tests.harness import grey, magnitude, run

# ---------------------------------------------------------------- overlay

def test_paint_edges_blends_soft_edges_in_proportion():
    original = np.full((2, 3, 3), 100, np.uint8)
    strength = np.array([[0, 255, 51], [102, 0, 255]], np.uint8)
    out = paint_edges(original, strength, [200, 0, 100], 0.5)
    # o + (c - o) * 0.5 * s/255: s=255 -> halfway, s=51 -> a tenth of the way
    np.testing.assert_array_equal(out[0, 1], [150, 50, 100])
    np.testing.assert_array_equal(out[0, 2], [110, 90, 100])
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])


def test_overlay_on_a_grey_original_and_after_a_resize():
    g = grey((40, 60))
    small = ops.threshold(ops.map_abs(magnitude((20, 30))), 50)
    out = run(build("stage", "overlay"), Frame(0, 0.0, g, small)).image
    assert out.shape == (20, 30, 3)
    base = cv2.cvtColor(cv2.resize(g, (30, 20), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
    np.testing.assert_array_equal(out[small == 0], base[small == 0])
    assert (out[small > 0] == [0, 255, 0]).all()
