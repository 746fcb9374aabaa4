"""The ``threshold`` after the fused edge pass, made inside that pass when its level is known.

The oracle is the unfused chain (``gradient``, ``map``, ``threshold`` one after the other)
and ``ops.threshold`` of ``ops.edges``: the binary image, the histogram left for the tuner
and the level recorded must be the same, for a number, a hand-set value and a tuner's
answer, and the Otsu case (level not known before the frame) must keep its own pass.
"""

import numpy as np
import pytest

from pipeline import ops
from pipeline.config.registry import build
from pipeline.controls import Controls
from pipeline.frame import Frame
from pipeline.stages import Chain
from pipeline.stages.gradient import BINARIZED_AT, FusedEdges
from pipeline.tuned import THRESHOLD_TARGET
from tests.kernels.test_tiers import tier as opencv
from tests.test_ops import photo_like


@pytest.mark.parametrize("level", [0, 17, 40.5, 127.49, 254, 255, -3, 1e6])
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 96)])
def test_binarize_is_threshold_of_the_edges(level, shape):
    frame = photo_like(shape + (3,), seed=shape[0])
    for norm in ops.NORMS:
        for mapping in ("abs", "shift"):
            want, want_hist = ops.edges(frame, norm=norm, mapping=mapping, hist=True)
            got, hist = ops.edges(frame, norm=norm, mapping=mapping, hist=True, binarize=level)
            assert np.array_equal(got, ops.threshold(want, level)), (norm, mapping)
            assert np.array_equal(hist, want_hist)  # the histogram of the edge values
            with opencv():
                got, hist = ops.edges(frame, norm=norm, mapping=mapping, hist=True, binarize=level)
            assert np.array_equal(got, ops.threshold(want, level)) and np.array_equal(hist, want_hist)


def test_binarize_takes_a_finite_number():
    with pytest.raises(ValueError, match="binarize"):
        ops.edges(np.zeros((4, 4), np.uint8), binarize=float("nan"))


def stages(value):
    return [build("stage", "grayscale", {}), build("stage", "gradient", {}),
            build("stage", "map", {"mode": "abs"}), build("stage", "threshold", {"value": value})]


def both(value, controls=None, image=None):
    """(fused, unfused) frames of one image through the same config."""
    image = photo_like((48, 64, 3), seed=5) if image is None else image
    out = []
    for fuse in (True, False):
        chain = Chain(stages(value), fuse=fuse)
        if controls is not None:
            chain.bind(controls)
        out.append(chain(Frame(0, 0.0, image, image)))
    return out


def same(fused, unfused):
    assert np.array_equal(fused.image, unfused.image)
    assert fused.side["threshold"] == unfused.side["threshold"]
    assert BINARIZED_AT not in fused.side  # taken out by the threshold stage
    if "histogram" in unfused.side:
        assert np.array_equal(fused.side["histogram"], unfused.side["histogram"])


def test_the_chain_folds_the_following_threshold_into_the_pass():
    chain = Chain(stages(40))
    fused = chain.steps[0]
    assert isinstance(fused, FusedEdges) and fused.threshold is chain.steps[1]
    assert [step.label for step in chain.steps] == ["grayscale+gradient+map", "threshold"]
    lone = Chain(stages(40)[:3])
    assert lone.steps[0].threshold is None


@pytest.mark.parametrize("value", [40, 0, 200.5])
def test_a_configured_number_gives_the_unfused_frame(value):
    same(*both(value))
    same(*both(value, Controls()))


def test_a_hand_set_and_a_tuned_value_give_the_unfused_frame():
    controls = Controls()
    controls.tuned.set_manual(THRESHOLD_TARGET, threshold=33.0)
    fused, unfused = both("auto", controls)
    assert fused.side["threshold"] == 33.0
    same(fused, unfused)


def test_otsu_of_the_frame_keeps_its_own_pass(monkeypatch):
    # auto with nothing chosen: the level comes from this frame's histogram, so the pass
    # cannot know it; the threshold stage thresholds as before.
    calls = []
    real = ops.threshold
    monkeypatch.setattr(ops, "threshold", lambda m, t: calls.append(t) or real(m, t))
    fused, unfused = both("auto", Controls())
    same(fused, unfused)
    assert len(calls) == 2  # both chains ran ops.threshold
    calls.clear()
    both(40)
    assert len(calls) == 1  # only the unfused chain did


def test_a_histogram_made_from_the_edges_when_the_pass_leaves_none():
    # The threshold stage makes the histogram from its input when no step left one: the
    # pass must then leave the edge image, not the binary one.
    image = photo_like((48, 64, 3), seed=9)
    chain = Chain(stages("auto"))
    chain.bind(Controls())
    chain.steps[0].leaves_histogram = False
    controls = chain.steps[1].controls
    controls.tuned.set_manual(THRESHOLD_TARGET, threshold=50.0)
    frame = chain(Frame(0, 0.0, image, image))
    edges = ops.edges(image)
    assert np.array_equal(frame.image, ops.threshold(edges, 50.0))
    assert np.array_equal(frame.side["histogram"], np.bincount(edges.ravel(), minlength=256))
