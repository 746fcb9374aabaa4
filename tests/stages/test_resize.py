"""The resize stage's sizes, and resize and blur keeping the dtype of derivatives."""

import numpy as np
import pytest

import pipeline.stages  # noqa: F401  (registers the stages)
from pipeline import ops
from pipeline.config.registry import build
from tests.harness import grey


@pytest.mark.parametrize("settings, size", [({"width": 20}, (20, 15)), ({"height": 15}, (20, 15)),
                                            ({"width": 7, "height": 9}, (7, 9)),
                                            ({"scale": 0.01}, (1, 1))])
def test_resize_sizes(settings, size):
    image = np.zeros((30, 40), np.uint8)
    out = build("stage", "resize", settings).apply(image)
    assert out.shape[::-1] == size


def test_resize_and_blur_keep_dtype_of_derivatives():
    d = ops.derivative(grey(), "sobel", "x")
    assert build("stage", "resize", {"scale": 0.5}).apply(d).dtype == np.int16
    assert build("stage", "blur").apply(d.astype(np.float32)).dtype == np.float32
