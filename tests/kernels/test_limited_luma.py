"""A limited-range luma plane expanded inside the fused edge pass (``grayscale: {from: luma}``).

The oracle is the table swscale applies (:data:`pipeline.io.media.luma.LIMITED_TO_FULL`,
itself held equal to ffmpeg's ``-pix_fmt gray`` in tests/io/media/test_luma.py): the
expansion kernel must give it for every value, and the fused pass on the plane as decoded
must give what it gives on the expanded plane, on the kernels and on the OpenCV tier.
"""

import numpy as np
import pytest

from pipeline import ops
from pipeline.config.registry import build
from pipeline.frame import Frame, LimitedLuma
from pipeline.io.media.luma import LIMITED_TO_FULL
from pipeline.kernels import gray
from pipeline.stages import Chain
from pipeline.stages.chain import defers_luma
from tests.kernels.test_tiers import tier as opencv
from tests.test_ops import photo_like


def plane(shape, seed=0) -> np.ndarray:
    """A photo-like luma plane squeezed into 16-235, with a few values outside it (0-15,
    236-255: the decoder's output may overshoot, and the expansion clips them)."""
    grey = photo_like(shape, seed=seed)
    limited = (16 + grey.astype(np.int32) * 219 // 255).astype(np.uint8)
    rng = np.random.default_rng(seed)
    spots = rng.random(shape) < 0.02
    limited[spots] = rng.integers(0, 256, int(spots.sum()), dtype=np.uint8)
    return limited


def test_the_integer_form_is_the_table_for_every_value():
    y = np.arange(256, dtype=np.int64)
    form = np.clip((y * gray.EXPAND_MUL + gray.EXPAND_ADD) >> gray.EXPAND_SHIFT, 0, 255)
    assert np.array_equal(form, LIMITED_TO_FULL)


@pytest.mark.parametrize("width", [1, 7, 16, 33, 256])
def test_expand_luma_is_the_table_for_every_value_at_every_position(width):
    # Every value at every position of a row, on both tiers: a vector body and its tail.
    values = np.arange(256, dtype=np.uint8)
    for shift in range(0, 256, 37):
        luma = np.resize(np.roll(values, shift), (max(1, 256 // width + 1), width)).astype(np.uint8)
        want = LIMITED_TO_FULL[luma]
        assert np.array_equal(ops.expand_luma(luma), want)
        with opencv():
            assert np.array_equal(ops.expand_luma(luma), want)


def test_expand_luma_takes_strided_rows_and_the_marker():
    luma = plane((12, 40), seed=3)
    wide = np.zeros((12, 47), np.uint8)
    wide[:, :40] = luma
    strided = wide[:, :40]
    assert not strided.flags.c_contiguous
    want = LIMITED_TO_FULL[luma]
    assert np.array_equal(ops.expand_luma(strided), want)
    marked = ops.expand_luma(luma.view(LimitedLuma))
    assert type(marked) is np.ndarray and np.array_equal(marked, want)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (9, 17), (48, 64), (97, 130)])
def test_the_fused_pass_on_the_plane_equals_it_on_the_expanded_plane(shape):
    luma = plane(shape, seed=shape[1])
    expanded = LIMITED_TO_FULL[luma]
    for kind in ops.KINDS:
        for norm in ops.NORMS:
            for border in ops.BORDERS:
                for mapping, scale in (("abs", 1.0), ("abs", 3.7), ("shift", 0.25)):
                    options = dict(kind=kind, norm=norm, border=border, mapping=mapping,
                                   scale=scale, hist=True)
                    want, want_hist = ops.edges(expanded, **options)
                    got, hist = ops.edges(luma, limited=True, **options)
                    assert np.array_equal(got, want), (kind, norm, border, mapping, scale)
                    assert np.array_equal(hist, want_hist)
                    with opencv():
                        got, hist = ops.edges(luma, limited=True, **options)
                    assert np.array_equal(got, want) and np.array_equal(hist, want_hist)


def test_a_frame_large_enough_for_several_bands():
    luma = plane((720, 1280), seed=7)
    want = ops.edges(LIMITED_TO_FULL[luma])
    assert np.array_equal(ops.edges(luma, limited=True), want)
    assert np.array_equal(ops.edges(luma.view(LimitedLuma), limited=True), want)


def test_limited_takes_only_a_grey_plane():
    with pytest.raises(ValueError, match="frame"):
        ops.edges(np.zeros((4, 4, 3), np.uint8), limited=True)


def chain_of(*names):
    stages = [build("stage", "grayscale", {"from": "luma"})]
    stages += [build("stage", name, settings) for name, settings in names]
    return stages


def test_the_source_defers_only_when_grayscale_folds_into_the_fused_pass():
    fused = chain_of(("gradient", {}), ("map", {"mode": "abs"}), ("threshold", {"value": 40}))
    assert defers_luma(fused)
    assert not defers_luma(chain_of(("blur", {}), ("gradient", {}), ("map", {"mode": "abs"})))
    assert not defers_luma(chain_of(("gradient", {})))
    exact = [build("stage", "grayscale", {})] + fused[1:]
    assert not defers_luma(exact)


@pytest.mark.parametrize("fuse", [True, False])
def test_a_chain_gives_the_same_frame_from_the_plane_and_from_the_grey(fuse):
    # Fused: the pass expands the plane; unfused: the grayscale stage does, first.
    luma = plane((40, 56), seed=11)
    stages = chain_of(("gradient", {}), ("map", {"mode": "abs"}), ("threshold", {"value": 40}))
    want = Chain(stages, fuse=fuse)(Frame(0, 0.0, LIMITED_TO_FULL[luma], LIMITED_TO_FULL[luma]))
    marked = luma.view(LimitedLuma)
    got = Chain(stages, fuse=fuse)(Frame(0, 0.0, marked, marked))
    assert np.array_equal(got.image, want.image) and type(got.image) is np.ndarray
    assert np.array_equal(got.side["histogram"], want.side["histogram"])
    alone = Chain(stages[:1])(Frame(0, 0.0, marked, marked))
    assert type(alone.image) is np.ndarray and np.array_equal(alone.image, LIMITED_TO_FULL[luma])
