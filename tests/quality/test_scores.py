"""ODS, OIS, AP and R50 with the benchmark's interpolation, on hand-made curves."""

import numpy as np
import pytest

from pipeline.quality.scores import (
    average_precision,
    best_f,
    fmeasure,
    recall_at_half_precision,
    score,
)


def test_fmeasure_is_zero_where_both_are():
    assert fmeasure(0.0, 0.0) == 0.0
    assert fmeasure(0.5, 1.0) == pytest.approx(2 / 3)


def test_ap_of_a_straight_curve():
    # P = 0.9 - 0.5 R for R in [0.2, 0.8]; sampled at R = 0.20, 0.21 ... 0.80:
    # sum_{k=20}^{80} (0.9 - 0.005 k) = 61 * 0.9 - 0.005 * 3050 = 39.65, times 0.01
    r = np.array([0.8, 0.6, 0.4, 0.2])
    p = 0.9 - 0.5 * r
    assert average_precision(r, p) == pytest.approx(0.3965)


def test_ap_takes_the_last_of_repeated_recalls():
    # R = 0 twice (the two highest thresholds); the last one's P = 0 is what counts
    r = np.array([1.0, 0.5, 0.0, 0.0])
    p = np.array([0.5, 1.0, 1.0, 0.0])
    # P(R): 0 at R=0, 1 at R=0.5, 0.5 at R=1; sampled every 0.01
    grid = np.arange(101) * 0.01
    expected = np.interp(grid, [0.0, 0.5, 1.0], [0.0, 1.0, 0.5]).sum() * 0.01
    assert average_precision(r, p) == pytest.approx(expected)
    assert average_precision(np.array([0.3, 0.3]), np.array([0.2, 0.9])) == 0.0


def test_best_f_interpolates_between_thresholds():
    # R falls 1 -> 0 and P rises 0 -> 1 between two thresholds: F peaks halfway, where
    # linspace(0, 1) (100 points) has no point; its nearest are d = 49/99 and 50/99
    t, r, p, f = best_f(np.array([0.25, 0.75]), np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert f == pytest.approx(2 * 49 * 50 / 99 ** 2)
    assert (t, r) in ((pytest.approx(0.25 + 0.5 * d), pytest.approx(1 - d)) for d in (49 / 99, 50 / 99))
    assert r + p == pytest.approx(1.0)


def test_ods_ois_from_two_images():
    levels = np.array([0.25, 0.75])
    # image a is best at the first threshold, image b at the second
    a = np.array([[8, 10, 8, 10], [2, 10, 2, 2]])
    b = np.array([[2, 10, 2, 20], [8, 10, 8, 8]])
    s = score(levels, [a, b])
    assert s.recall.tolist() == [0.5, 0.5] and s.precision.tolist() == [10 / 30, 1.0]
    # OIS: a's first row plus b's second row: R = 16/20, P = 16/18
    assert s.ois_recall == pytest.approx(0.8) and s.ois_precision == pytest.approx(16 / 18)
    assert s.ois == pytest.approx(fmeasure(0.8, 16 / 18))
    assert s.ods == pytest.approx(fmeasure(0.5, 1.0)) and s.ods_threshold == 0.75


def test_r50_follows_the_curve():
    r = np.array([0.9, 0.7, 0.5, 0.1, 0.0])
    p = np.array([0.3, 0.4, 0.6, 0.9, 0.0])  # crosses 0.5 between 0.4 and 0.6: R = 0.6
    assert recall_at_half_precision(r, p) == pytest.approx(0.6)
    assert recall_at_half_precision(np.array([0.5, 0.2]), np.array([0.1, 0.3])) == 0.0


def test_score_refuses_no_images():
    with pytest.raises(ValueError, match="at least one image"):
        score(np.array([0.5]), [])
