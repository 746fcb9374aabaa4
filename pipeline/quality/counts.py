"""One image's precision/recall counts at every threshold (``evaluation_bdry_image.m``)."""

from __future__ import annotations

import numpy as np

from pipeline.quality.thinning import TABLES

#: The benchmark's tolerance, a fraction of the image diagonal (``maxDist``).
MAX_DIST = 0.0075
#: The benchmark's number of thresholds.
THRESHOLDS = 99


def thresholds(count: int = THRESHOLDS) -> np.ndarray:
    """``linspace(1/(n+1), 1-1/(n+1), n)``: the benchmark's thresholds on a [0, 1] map."""
    if count < 1:
        raise ValueError(f"the number of thresholds must be >= 1; got {count}")
    return np.linspace(1.0 / (count + 1), 1.0 - 1.0 / (count + 1), count)


def truth_ids(boundaries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, H, W) int32 pixel ids of each annotator's boundary (-1 elsewhere), and counts."""
    ids = np.full(boundaries.shape, -1, np.int32)
    counts = np.zeros(boundaries.shape[0], np.int64)
    for k, b in enumerate(boundaries):
        on = b != 0
        counts[k] = int(on.sum())
        ids[k][on] = np.arange(counts[k], dtype=np.int32)
    return ids, counts


def image_counts(soft, boundaries, levels=None, max_dist: float = MAX_DIST) -> np.ndarray:
    """(T, 4) int64 counts ``cntR, sumR, cntP, sumP`` of one soft map at each threshold.

    Parameters
    ----------
    soft : (H, W) uint8 map (0-255, read as ``double(imread(f))/255``) or float map in [0, 1]
    boundaries : (K, H, W) annotators' 0/1 boundary maps (:func:`read_boundaries`)
    levels : (T,) thresholds in [0, 1]; default :func:`thresholds` (99)
    max_dist : tolerance as a fraction of the diagonal, ``0.0075`` as the benchmark

    Notes
    -----
    As the benchmark: the map at threshold t is ``soft >= t``, thinned
    (``bwmorph thin Inf``); each annotator is matched one-to-one to the thinned pixels
    within ``max_dist * hypot(H, W)`` pixels; recall sums matched and total human
    pixels over annotators; precision counts the detector pixels matched to any one.
    """
    from pipeline.quality.kernels.boundaries import image_counts as kernel, offsets  # lazy: loads numba

    soft = np.asarray(soft)
    boundaries = np.asarray(boundaries)
    if boundaries.ndim == 2:
        boundaries = boundaries[None]
    if soft.ndim != 2 or boundaries.ndim != 3 or boundaries.shape[1:] != soft.shape:
        raise ValueError(f"the soft map {soft.shape} and the ground truth "
                         f"{boundaries.shape[1:]} must be maps of the same size")
    pb = soft / 255.0 if soft.dtype == np.uint8 else soft.astype(np.float64)
    levels = thresholds() if levels is None else np.asarray(levels, dtype=np.float64)
    ids, counts = truth_ids(boundaries)
    radius = max_dist * float(np.hypot(*soft.shape))
    return kernel(np.ascontiguousarray(pb), levels, ids, counts, TABLES, offsets(radius))
