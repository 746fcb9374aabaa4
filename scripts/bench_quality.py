"""The boundary benchmark, checked against the MATLAB original and timed.

    python scripts/bench_quality.py check BENCH_DIR
        Reproduce the benchmark's sample run ``test_2`` (``boundaryBench`` on
        ``BENCH_DIR/data/png`` against ``data/groundTruth``, 5 thresholds) and compare
        every figure of ``data/test_2/eval_bdry.txt``, ``eval_bdry_thr.txt`` and
        ``eval_bdry_img.txt``; exit 1 if any differs by more than 0.005.

    python scripts/bench_quality.py speed IMAGES GROUND_TRUTH [--limit N]
        Time the evaluation of a Sobel soft map (grey, Gaussian sigma 2, Sobel, map) at
        99 thresholds per image, split into thinning and matching, beside scikit-image's
        ``thin`` on the same thresholded maps (the ratio is the median per image), and
        extrapolate to the 200 test images.

The data set is read only from the paths given; nothing here needs it otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.quality import image_counts, read_boundaries, score, thresholds
from pipeline.quality.counts import MAX_DIST, truth_ids
from pipeline.quality.kernels.boundaries import match_near, near_truth, offsets
from pipeline.quality.scores import per_image_best
from pipeline.quality.thinning import TABLES, thin_map

TOLERANCE = 0.005


def _compare(label: str, mine, theirs) -> float:
    mine, theirs = np.asarray(mine, float), np.asarray(theirs, float)
    worst = float(np.max(np.abs(mine - theirs)))
    print(f"  {label:<22} max |edgepipe - MATLAB| = {worst:.6f}")
    return worst


def check(bench: Path) -> int:
    """Reproduce ``test_2``; 0 if every figure is within TOLERANCE."""
    data = bench / "data"
    names = sorted(p.stem for p in (data / "images").glob("*.jpg"))
    levels = thresholds(5)
    counts = []
    for name in names:
        soft = cv2.imread(str(data / "png" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        counts.append(image_counts(soft, read_boundaries(data / "groundTruth" / f"{name}.mat"), levels))
    s = score(levels, counts)
    reference = np.loadtxt(data / "test_2" / "eval_bdry.txt")
    mine = [s.ods_threshold, s.ods_recall, s.ods_precision, s.ods, s.ois_recall, s.ois_precision,
            s.ois, s.ap]
    print(f"test_2 ({len(names)} images, 5 thresholds)")
    print("  eval_bdry.txt (ODS t R P F, OIS R P F, AP)")
    print("    MATLAB   " + " ".join(f"{v:.6f}" for v in reference))
    print("    edgepipe " + " ".join(f"{v:.6f}" for v in mine))
    worst = _compare("eval_bdry.txt", mine, reference)
    curve = np.loadtxt(data / "test_2" / "eval_bdry_thr.txt")
    worst = max(worst, _compare("eval_bdry_thr.txt", np.c_[levels, s.recall, s.precision, s.f], curve))
    per_image = np.loadtxt(data / "test_2" / "eval_bdry_img.txt")[:, 1:]
    mine_images = [per_image_best(levels, c) for c in counts]
    worst = max(worst, _compare("eval_bdry_img.txt", mine_images, per_image))
    verdict = "ok" if worst <= TOLERANCE else "FAILED"
    print(f"worst difference {worst:.6f} (tolerance {TOLERANCE}): {verdict}")
    return 0 if worst <= TOLERANCE else 1


def sobel_map(path: Path) -> np.ndarray:
    """The val experiment's Sobel soft map: grey, Gaussian sigma 2, Sobel L2, clipped."""
    grey = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
    grey = cv2.GaussianBlur(grey, (13, 13), 2)
    dx, dy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    return np.clip(np.rint(np.hypot(dx, dy)), 0, 255).astype(np.uint8)


def _split(soft, truth, levels) -> tuple[float, float, float]:
    """Seconds in thinning, in matching and in scikit-image's thin, one thread."""
    from skimage.morphology import thin

    ids, counts = truth_ids(truth)
    table = offsets(MAX_DIST * float(np.hypot(*soft.shape)))
    near = [near_truth(ids[k], table) for k in range(len(truth))]
    thinning = matching = theirs = 0.0
    for level in levels:
        binary = soft / 255.0 >= level
        began = time.perf_counter()
        thinned = thin_map(binary)
        thinning += time.perf_counter() - began
        began = time.perf_counter()
        thin(binary)
        theirs += time.perf_counter() - began
        ys, xs = (a.astype(np.int32) for a in np.nonzero(thinned))
        began = time.perf_counter()
        for k in range(len(truth)):
            match_near(ys, xs, ids[k], counts[k], table, near[k])
        matching += time.perf_counter() - began
    return thinning, matching, theirs


def speed(images: Path, truth_folder: Path, limit: int | None) -> int:
    names = sorted(p.stem for p in images.glob("*.jpg"))[:limit]
    levels = thresholds(99)
    warm = sobel_map(images / f"{names[0]}.jpg")
    truth0 = read_boundaries(truth_folder / f"{names[0]}.mat")
    image_counts(warm, truth0, levels[:2])  # compile
    _split(warm, truth0, levels[:2])
    whole, split, counts = [], [], []
    for name in names:
        soft = sobel_map(images / f"{name}.jpg")
        truth = read_boundaries(truth_folder / f"{name}.mat")
        began = time.perf_counter()
        counts.append(image_counts(soft, truth, levels))
        whole.append(time.perf_counter() - began)
        split.append(_split(soft, truth, levels[::7]))
    s = score(levels, counts)
    total = sum(whole)
    thin_s, match_s, skimage_s = (sum(x[i] for x in split) for i in range(3))
    ratios = [x[2] / x[0] for x in split if x[0] > 0]
    print(f"{len(names)} images x 99 thresholds, Sobel sigma 2: ODS {s.ods:.3f} OIS {s.ois:.3f} "
          f"AP {s.ap:.3f}")
    print(f"  evaluation (thresholds in parallel): {total:.1f} s, median "
          f"{statistics.median(whole):.3f} s/image, mean {total / len(names):.3f} s/image")
    print(f"  one thread, every 7th threshold: thinning {thin_s:.1f} s, matching {match_s:.1f} s "
          f"({100 * match_s / (thin_s + match_s):.0f}% of the two)")
    print(f"  thinning: scikit-image thin / edgepipe thin_map = "
          f"{statistics.median(ratios):.2f}x (median per image)")
    print(f"  200 test images (same sizes) at this mean: {200 * total / len(names) / 60:.1f} min "
          f"per method")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="reproduce bench/data/test_2")
    check_parser.add_argument("bench", type=Path, help="the benchmark's folder (holding data/)")
    speed_parser = commands.add_parser("speed", help="time the evaluation on a split")
    speed_parser.add_argument("images", type=Path)
    speed_parser.add_argument("ground_truth", type=Path)
    speed_parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(args.bench)
    return speed(args.images, args.ground_truth, args.limit)


if __name__ == "__main__":
    sys.exit(main())
