"""Unsupervised per-image Canny pairs, judged by the boundary benchmark.

    python scripts/bench_canny_rules.py IMAGES GROUND_TRUTH [--sigma 2] [--limit N]

Each rule reads only the image's histograms (no ground truth) and picks ``(low, high)``
for ``cv2.Canny`` on the Gaussian-blurred grey image; each image's Canny map is then
matched to the annotators and the counts summed over the images give the rule's F
(the ``f_tuned`` of ``edgepipe experiment``).  Printed beside them: the F of the best
single ratio-0.4 pair for the whole set (ODS-like, chosen with ground truth) and of the
best pair per image (OIS-like), from the same sweep, and each rule's time per image
(the median, histograms given).

Histograms: ``all``, the 256-bin Sobel magnitude histogram that ``cv2.Canny``
thresholds (:func:`pipeline.histograms.magnitude_histogram`, the one the tuner reads);
``nms``, the same over the non-maximum-suppression survivors only
(:func:`pipeline.histograms.nms_histogram`).  ``log-otsu`` splits ``log(1 + v)``
instead of ``v``; ``top q`` puts ``high`` where a share ``q`` of the survivors lies above
it (the ``density`` objective's optimum on that histogram).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline import ops
from pipeline.optim import make_optimizer, tune_pair
from pipeline.histograms import nms_histogram
from pipeline.quality import image_counts, read_boundaries, thresholds
from pipeline.quality.scores import fmeasure, recall_precision
from pipeline.histograms import canny_rule_of_thumb, magnitude_histogram


def _multiotsu_pair(hist):
    start = canny_rule_of_thumb(hist)
    path = tune_pair(hist, start, make_optimizer({"name": "sign", "step": 1}), 200)
    low, high = path.points[int(np.argmin(path.values))]
    return float(low), float(high)


def _quantile_high(hist, share):
    """The level above which ``share`` of the histogram's pixels lie."""
    above = np.cumsum(hist[::-1])[::-1] / max(hist.sum(), 1)
    return float(np.argmax(above <= share))


def _log_otsu(hist):
    """Otsu's split of the levels' ``log(1 + v)`` weighted by ``hist`` (level 0 left out)."""
    counts = np.asarray(hist, np.float64).copy()
    counts[0] = 0.0
    u = np.log1p(np.arange(256.0))
    w0, s0 = np.cumsum(counts)[:-1], np.cumsum(counts * u)[:-1]
    w1 = counts.sum() - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w0 * w1 * (s0 / w0 - ((counts * u).sum() - s0) / w1) ** 2
    return float(np.argmax(np.where((w0 > 0) & (w1 > 0), between, -1.0)))


RULES = {
    "all log-otsu, low 0.4": lambda a, n: (0.4 * _log_otsu(a), _log_otsu(a)),
    "nms log-otsu, low 0.4": lambda a, n: (0.4 * _log_otsu(n), _log_otsu(n)),
    "otsu/2 (rule of thumb)": lambda a, n: canny_rule_of_thumb(a),
    "multiotsu (tuner)": lambda a, n: _multiotsu_pair(a),
    "nms otsu, low 0.4": lambda a, n: (0.4 * ops.otsu_threshold(n), ops.otsu_threshold(n)),
    "nms multiotsu": lambda a, n: _multiotsu_pair(n),
    **{f"nms top {q:.0%}, low 0.4": (lambda q: lambda a, n: (0.4 * _quantile_high(n, q),
                                                               _quantile_high(n, q)))(q)
       for q in (0.1, 0.15, 0.2)},
}


def _counts_of(grey, truth, low, high):
    edges = ops.canny(grey, low, high)
    return image_counts(edges, truth, np.array([0.5]))[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path)
    parser.add_argument("ground_truth", type=Path)
    parser.add_argument("--sigma", type=float, default=2.0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--every", type=int, default=3, help="sweep every N-th threshold")
    parser.add_argument("--high-max", type=float, default=400.0)
    args = parser.parse_args(argv)
    names = sorted(p.stem for p in args.images.glob("*.jpg"))[:args.limit]
    levels = thresholds(99)
    sweep = []
    totals = {rule: np.zeros(4, np.int64) for rule in RULES}
    seconds = {rule: [] for rule in RULES}
    for name in names:
        grey = cv2.GaussianBlur(ops.grayscale(cv2.imread(str(args.images / f"{name}.jpg"))),
                                (0, 0), args.sigma)
        truth = read_boundaries(args.ground_truth / f"{name}.mat")
        everything, survivors = magnitude_histogram(grey), nms_histogram(grey)
        per_level = [_counts_of(grey, truth, 0.4 * t * args.high_max, t * args.high_max)
                     for t in levels[::args.every]]
        sweep.append(np.array(per_level))
        for rule, choose in RULES.items():
            began = time.perf_counter()
            low, high = choose(everything, survivors)
            seconds[rule].append(time.perf_counter() - began)
            totals[rule] += _counts_of(grey, truth, low, high)
        print(f"\r{len(sweep)}/{len(names)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    sweep = np.array(sweep)  # image, level, counts
    f_levels = fmeasure(*recall_precision(sweep.sum(axis=0)))
    best_each = sweep[np.arange(len(names)), np.argmax(fmeasure(*recall_precision(sweep)), axis=1)]
    print(f"{len(names)} images, Canny on Gaussian sigma {args.sigma}, benchmark F (summed counts)")
    print(f"  {'best single ratio-0.4 pair (ground truth)':<44} F {f_levels.max():.3f} "
          f"(high {levels[::args.every][np.argmax(f_levels)] * args.high_max:.0f})")
    print(f"  {'best ratio-0.4 pair per image (ground truth)':<44} F "
          f"{fmeasure(*recall_precision(best_each.sum(axis=0))):.3f}")
    for rule in RULES:
        r, p = recall_precision(totals[rule])
        print(f"  {rule:<44} F {fmeasure(r, p):.3f}  R {r:.3f} P {p:.3f}  "
              f"{1e3 * statistics.median(seconds[rule]):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
