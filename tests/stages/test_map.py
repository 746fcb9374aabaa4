"""The map stage: the histogram it leaves, and its activation mode."""

import numpy as np
import pytest

import pipeline.stages  # noqa: F401  (registers the stages)
from pipeline import ops
from pipeline.activations import ACTIVATIONS
from pipeline.frame import Frame
from pipeline.config.registry import build
from pipeline.stages.map import map_activation
from tests.harness import INPUTS, magnitude, reference, run


def test_the_histogram_is_made_once_by_map_not_by_gradient():
    frame = run(build("stage", "gradient"), INPUTS["gradient"]((30, 40)))
    assert "histogram" not in frame.side  # map or threshold makes it, once
    rendered = ops.map_abs(frame.image)
    out = run(build("stage", "map"), frame)
    np.testing.assert_array_equal(out.side["histogram"], np.bincount(rendered.ravel(), minlength=256))


def test_map_leaves_the_histogram_of_the_picture_it_makes():
    frame = INPUTS["map"]((30, 40))
    frame.side["histogram"] = np.zeros(256, np.int64)
    out = run(build("stage", "map", {"mode": "activation", "center": 50.0, "width": 20.0}), frame)
    np.testing.assert_array_equal(out.side["histogram"], np.bincount(out.image.ravel(), minlength=256))
    plain = run(build("stage", "map"), INPUTS["map"]((30, 40)))
    np.testing.assert_array_equal(plain.side["histogram"], np.bincount(plain.image.ravel(), minlength=256))


# ---------------------------------------------------------------- map activation

def test_map_stage_offers_exactly_the_activation_functions():
    from pipeline.stages.map import ACTIVATION_NAMES

    assert ACTIVATION_NAMES == tuple(ACTIVATIONS)


@pytest.mark.parametrize("fn", sorted(ACTIVATIONS))
def test_map_activation_every_function(fn):
    d = magnitude((13, 17), 4)
    out = map_activation(d, fn, 80.0, 25.0)
    expected = reference("map", {"mode": "activation", "fn": fn, "center": 80.0, "width": 25.0},
                         Frame(0, 0.0, d, d))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_map_activation_sigmoid_is_half_bright_at_center():
    d = np.array([[0.0, 100.0, 1000.0]], np.float32)
    np.testing.assert_array_equal(map_activation(d, "sigmoid", 100.0, 10.0), [[0, 128, 255]])
    with pytest.raises(ValueError, match="fn must be one of"):
        map_activation(d, "softmax", 0.0, 1.0)
