"""The benchmark's counts on synthetic ground truths with known answers."""

import numpy as np
import pytest

from pipeline.quality import image_counts, thresholds
from pipeline.quality.kernels.boundaries import match_pixels, offsets
from tests.quality.synthetic import outline

# 100 x 100: the tolerance is 0.0075 * hypot(100, 100) = 1.06 pixels.
ONE = np.array([0.5])


def counts_of(prediction, *truths, max_dist=0.0075):
    """cntR, sumR, cntP, sumP of a binary prediction at one threshold."""
    return image_counts(prediction.astype(np.uint8) * 255, np.stack(truths), ONE, max_dist)[0].tolist()


def test_a_square_against_itself_matches_every_pixel():
    square = outline()
    n = int(square.sum())
    assert counts_of(square, square) == [n, n, n, n]


@pytest.mark.parametrize("shift", [(1, 0), (0, 1), (0, -1)])
def test_one_pixel_off_is_within_the_tolerance(shift):
    square, moved = outline(), outline(shift=shift)
    n = int(square.sum())
    assert counts_of(moved, square) == [n, n, n, n]


def test_two_pixels_off_is_beyond_the_tolerance():
    square, inset = outline(), outline(top=22, left=22, size=36)  # 2 px inside, all round
    n, m = int(square.sum()), int(inset.sum())
    assert counts_of(inset, square) == [0, n, 0, m]


def test_the_diagonal_shift_is_beyond_one_pixel_tolerance_but_within_two():
    square, moved = outline(), outline(shift=(1, 1))
    n = int(square.sum())
    # sqrt(2) > 1.06: only the pixels of the two sides that still overlap after the move
    c_r, s_r, c_p, s_p = counts_of(moved, square)
    assert 0 < c_r < n and s_r == n and c_p == c_r and s_p == n
    assert counts_of(moved, square, max_dist=0.011) == [n, n, n, n]  # 1.56 px


def test_two_annotators_disagreeing():
    outer, inner = outline(), outline(top=30, left=30, size=20)  # 10 px apart
    n, m = int(outer.sum()), int(inner.sum())
    # recall sums over annotators; a detector pixel is right if either annotator has it
    assert counts_of(outer, outer, inner) == [n, n + m, n, n]
    assert counts_of(inner, outer, inner) == [m, n + m, m, m]
    assert counts_of(outer | inner, outer, inner) == [n + m, n + m, n + m, n + m]


def test_empty_prediction_and_empty_truth():
    square, empty = outline(), np.zeros((100, 100), np.uint8)
    n = int(square.sum())
    assert counts_of(empty, square) == [0, n, 0, 0]
    assert counts_of(square, empty) == [0, 0, 0, n]


def test_two_predicted_pixels_near_one_true_pixel_count_once():
    truth = np.zeros((50, 50), np.uint8)
    truth[10, 10] = 1
    prediction = np.zeros_like(truth)
    prediction[10, 9] = prediction[10, 11] = 1  # both within 2.1 px, isolated (not thinned)
    assert counts_of(prediction, truth, max_dist=0.03) == [1, 1, 1, 2]


def test_the_closer_pixel_takes_the_match():
    table = offsets(2.5)
    truth_ids = np.full((20, 20), -1, np.int32)
    truth_ids[5, 5] = 0
    ys, xs = np.array([5, 5], np.int32), np.array([7, 6], np.int32)  # 2 px, then 1 px away
    match1, match2 = match_pixels(ys, xs, truth_ids, 1, table)
    assert match1.tolist() == [-1, 0] and match2.tolist() == [1]


def test_matching_is_maximum_on_random_clouds():
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    rng = np.random.default_rng(3)
    table = offsets(2.2)
    for trial in range(40):
        shape = (30, 30)
        truth = rng.random(shape) < 0.15
        prediction = rng.random(shape) < 0.15
        truth_ids = np.full(shape, -1, np.int32)
        truth_ids[truth] = np.arange(truth.sum())
        ys, xs = (a.astype(np.int32) for a in np.nonzero(prediction))
        match1, match2 = match_pixels(ys, xs, truth_ids, int(truth.sum()), table)
        # one-to-one, within the tolerance
        used = match1[match1 >= 0]
        assert len(set(used.tolist())) == len(used)
        ty, tx = np.nonzero(truth)
        for i in np.nonzero(match1 >= 0)[0]:
            j = match1[i]
            assert match2[j] == i
            assert (ys[i] - ty[j]) ** 2 + (xs[i] - tx[j]) ** 2 <= 2.2 ** 2
        # as large as the largest matching scipy finds
        d2 = (ys[:, None] - ty[None]) ** 2 + (xs[:, None] - tx[None]) ** 2
        graph = csr_matrix((d2 <= 2.2 ** 2).astype(np.int8))
        best = int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())
        assert len(used) == best, trial


def test_thresholds_are_the_benchmarks():
    assert thresholds(5).tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])
    assert len(thresholds()) == 99 and thresholds()[0] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="thresholds"):
        thresholds(0)


def test_a_soft_map_is_thresholded_as_value_over_255():
    truth = outline()
    soft = truth.astype(np.uint8) * 51  # 0.2 exactly
    counts = image_counts(soft, truth[None], np.array([0.19, 0.2, 0.21]))
    n = int(truth.sum())
    assert counts[:, 3].tolist() == [n, n, 0]


def test_mismatched_sizes_are_refused():
    with pytest.raises(ValueError, match="same size"):
        image_counts(np.zeros((10, 10), np.uint8), np.zeros((1, 10, 11), np.uint8))


def test_skipping_pixels_far_from_the_truth_changes_nothing():
    from pipeline.quality.kernels.boundaries import match_near, near_truth

    rng = np.random.default_rng(5)
    table = offsets(2.2)
    truth = rng.random((40, 40)) < 0.05
    truth_ids = np.full(truth.shape, -1, np.int32)
    truth_ids[truth] = np.arange(truth.sum())
    ys, xs = (a.astype(np.int32) for a in np.nonzero(rng.random((40, 40)) < 0.3))
    everywhere = np.ones(truth.shape, np.bool_)
    near = near_truth(truth_ids, table)
    assert 0 < near.sum() < near.size
    for a, b in zip(match_near(ys, xs, truth_ids, int(truth.sum()), table, everywhere),
                    match_near(ys, xs, truth_ids, int(truth.sum()), table, near)):
        assert np.array_equal(a, b)
