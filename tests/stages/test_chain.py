"""The chain of stages: fusion of grayscale, gradient and map into one kernel call only
where it computes what the stages do one by one."""

import numpy as np
import pytest

import pipeline.stages  # noqa: F401  (registers the stages)
from pipeline import ops
from pipeline.frame import Frame
from pipeline.config.registry import build
from pipeline.stages import Chain, StageError
from pipeline.stages.chain import plan
from pipeline.stages.gradient import FusedEdges
from tests.harness import grey, photo

# ---------------------------------------------------------------- fusion

@pytest.mark.parametrize("kind", ["forward", "central", "sobel", "scharr", "prewitt"])
@pytest.mark.parametrize("norm, mode, border", [("l2", "abs", "reflect101"),
                                                 ("l1", "shift", "zero"),
                                                 ("l2", "shift", "replicate")])
@pytest.mark.parametrize("with_gray", [True, False])
def test_fused_chain_equals_stage_by_stage(kind, norm, mode, border, with_gray):
    stages = ([build("stage", "grayscale")] if with_gray else []) + [
        build("stage", "gradient", {"kind": kind, "norm": norm, "border": border}),
        build("stage", "map", {"mode": mode, "scale": 0.7}),
        build("stage", "threshold", {"value": 90}),
    ]
    fused, plain = Chain(stages), Chain(stages, fuse=False)
    assert isinstance(fused.steps[0], FusedEdges) and len(fused) == 2
    assert len(plain) == len(stages)
    image = photo((29, 41), 2) if with_gray else grey((29, 41), 2)
    a = fused(Frame(0, 0.0, image, image))
    b = plain(Frame(0, 0.0, image, image))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.side["histogram"], b.side["histogram"])
    assert a.side["threshold"] == b.side["threshold"] == 90


def test_fusion_only_where_the_fused_kernel_computes_the_same():
    g, m = build("stage", "gradient"), build("stage", "map", {"mode": "shift", "offset": 100.0})
    assert [type(s).__name__ for s in plan([g, m])] == ["Gradient", "Map"]
    act = build("stage", "map", {"mode": "activation"})
    assert [type(s).__name__ for s in plan([g, act])] == ["Gradient", "Map"]
    gray = build("stage", "grayscale")
    blur = build("stage", "blur")
    steps = plan([gray, blur, g, build("stage", "map")])
    assert [s.label for s in steps] == ["grayscale", "blur", "gradient+map"]
    assert Chain([gray, g, build("stage", "map")]).labels == ["grayscale+gradient+map"]


def test_fused_without_grayscale_refuses_colour_like_gradient():
    chain = Chain([build("stage", "gradient"), build("stage", "map")])
    bgr = photo()
    with pytest.raises(StageError, match="grayscale"):
        chain(Frame(0, 0.0, bgr, bgr))


# ---------------------------------------------------------------- histograms

@pytest.mark.parametrize("fuse", [True, False])
def test_histograms_are_made_only_where_a_later_stage_or_the_tuner_reads_them(fuse):
    def chain(*later):
        return Chain([build("stage", "grayscale"), build("stage", "gradient"),
                      build("stage", "map"), *later], fuse=fuse)

    image = photo((29, 41), 3)
    full = chain()(Frame(0, 0.0, image, image))  # on its own a chain leaves every side value
    expected = ops.histogram(full.image)
    np.testing.assert_array_equal(full.side["histogram"], expected)

    unread = chain()
    unread.leave_histograms(read_after=False)
    frame = unread(Frame(0, 0.0, image, image))
    assert "histogram" not in frame.side
    np.testing.assert_array_equal(frame.image, full.image)

    fixed = chain(build("stage", "threshold", {"value": 90}))  # a fixed level reads none
    fixed.leave_histograms(read_after=False)
    assert "histogram" not in fixed(Frame(0, 0.0, image, image)).side

    auto = chain(build("stage", "threshold"))  # threshold: auto reads the map's histogram
    auto.leave_histograms(read_after=False)
    assert auto.steps[-2].leaves_histogram
    np.testing.assert_array_equal(auto(Frame(0, 0.0, image, image)).side["histogram"], expected)

    tuned = chain()
    tuned.leave_histograms(read_after=True)
    np.testing.assert_array_equal(tuned(Frame(0, 0.0, image, image)).side["histogram"], expected)
