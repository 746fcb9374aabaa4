"""ODS, OIS, AP and R50 from per-image counts, as ``collect_eval_bdry.m`` computes them.

* Recall ``R = cntR / sumR`` and precision ``P = cntP / sumP`` (0 where the sum is 0),
  ``F = 2 P R / (P + R)`` (0 where both are 0).
* The best F on a curve (``maxF``): F at the first threshold, then along every segment
  between consecutive thresholds at ``d = linspace(0, 1)`` (100 points), thresholds, R
  and P interpolated linearly; a later point wins only if strictly better.
* **ODS**: the best F of the curve of counts summed over all images.
* **OIS**: per image, the threshold of the first maximum of F *at the sampled
  thresholds* (``find(F == max(F))``, no interpolation); those counts are summed over
  images and give one R, P and F.
* **AP**: ``[Ru, indR] = unique(R)`` (each value's last occurrence, MATLAB's rule when
  the benchmark was written), P linearly interpolated at ``R = 0:0.01:1`` (0 outside
  the range of R), summed and times 0.01; 0 if R takes a single value.
* **R50**: the highest recall at which precision is at least 0.5, following the curve
  in threshold order, linearly between thresholds (0 if precision never reaches 0.5).
  Dollar's ``edgesEvalDir.m`` interpolates R over the *sorted unique* precisions
  instead, which mixes the curve's rising and falling branches when P is not monotone
  (as at the highest thresholds, where a map empties and P drops to 0).
"""

from __future__ import annotations

import dataclasses

import numpy as np


def _ratio(count, total):
    count = np.asarray(count, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    return count / (total + (total == 0))


def fmeasure(r, p):
    """``2 p r / (p + r)``, 0 where ``p + r == 0``."""
    r = np.asarray(r, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    return 2 * p * r / (p + r + ((p + r) == 0))


def recall_precision(counts) -> tuple[np.ndarray, np.ndarray]:
    """R and P of (T, 4) counts ``cntR, sumR, cntP, sumP``."""
    counts = np.asarray(counts)
    return _ratio(counts[..., 0], counts[..., 1]), _ratio(counts[..., 2], counts[..., 3])


def best_f(levels, r, p) -> tuple[float, float, float, float]:
    """``maxF``: (threshold, R, P, F) of the best F along the interpolated curve."""
    best = (float(levels[0]), float(r[0]), float(p[0]), float(fmeasure(r[0], p[0])))
    d = np.linspace(0.0, 1.0, 100)
    for i in range(1, len(levels)):
        t = levels[i] * d + levels[i - 1] * (1 - d)
        rr = r[i] * d + r[i - 1] * (1 - d)
        pp = p[i] * d + p[i - 1] * (1 - d)
        f = fmeasure(rr, pp)
        k = int(np.argmax(f))
        if f[k] > best[3]:
            best = (float(t[k]), float(rr[k]), float(pp[k]), float(f[k]))
    return best


def average_precision(r, p) -> float:
    """Area under P(R) sampled at ``R = 0:0.01:1`` (see the module docstring)."""
    r = np.asarray(r, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    values, reversed_first = np.unique(r[::-1], return_index=True)
    last = len(r) - 1 - reversed_first
    if len(values) <= 1:
        return 0.0
    grid = np.round(np.arange(101) * 0.01, 12)
    sampled = np.interp(grid, values, p[last], left=np.nan, right=np.nan)
    return float(np.nansum(sampled) * 0.01)


def recall_at_half_precision(r, p) -> float:
    """R50: the highest recall at which the curve's precision is at least 0.5.

    The curve is followed in threshold order, linearly between thresholds; 0 if the
    precision never reaches 0.5.
    """
    r = np.asarray(r, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    best = 0.0
    for i in range(len(r)):
        if p[i] >= 0.5:
            best = max(best, float(r[i]))
        if i > 0 and (p[i - 1] - 0.5) * (p[i] - 0.5) < 0:  # crosses 0.5 in between
            d = (0.5 - p[i - 1]) / (p[i] - p[i - 1])
            best = max(best, float(r[i - 1] + d * (r[i] - r[i - 1])))
    return best


@dataclasses.dataclass
class Scores:
    """The benchmark's figures for one method over a set of images."""

    ods: float
    ods_threshold: float
    ods_recall: float
    ods_precision: float
    ois: float
    ois_recall: float
    ois_precision: float
    ap: float
    r50: float
    recall: np.ndarray      # the summed curve, one value per threshold
    precision: np.ndarray
    f: np.ndarray

    def summary(self) -> dict:
        """The scalar figures as plain floats (for JSON)."""
        return {k: float(v) for k, v in dataclasses.asdict(self).items()
                if not isinstance(v, np.ndarray)}


def per_image_best(levels, counts) -> tuple[float, float, float, float]:
    """One image's ``maxF``: (threshold, R, P, F), as ``eval_bdry_img.txt`` lists it."""
    r, p = recall_precision(counts)
    return best_f(levels, r, p)


def score(levels, image_counts) -> Scores:
    """The figures of a method from its per-image (T, 4) counts (``collect_eval_bdry``)."""
    stack = np.asarray(image_counts, dtype=np.int64)
    if stack.ndim != 3 or stack.shape[0] == 0:
        raise ValueError("score needs the counts of at least one image, shape (N, T, 4)")
    total = stack.sum(axis=0)
    r, p = recall_precision(total)
    f = fmeasure(r, p)
    threshold, ods_r, ods_p, ods = best_f(levels, r, p)
    chosen = np.zeros(4, np.int64)
    for counts in stack:
        image_f = fmeasure(*recall_precision(counts))
        chosen += counts[int(np.argmax(image_f))]
    ois_r, ois_p = (float(v) for v in recall_precision(chosen))
    return Scores(ods=ods, ods_threshold=threshold, ods_recall=ods_r, ods_precision=ods_p,
                  ois=float(fmeasure(ois_r, ois_p)), ois_recall=ois_r, ois_precision=ois_p,
                  ap=average_precision(r, p), r50=recall_at_half_precision(r, p),
                  recall=r, precision=p, f=f)
