"""Edge quality you can measure: the BSDS500 boundary benchmark.

A faithful port of the benchmark's boundary evaluation (``boundaryBench.m``,
``evaluation_bdry_image.m``, ``collect_eval_bdry.m`` and the C++ of
``correspondPixels``), with numba kernels:

* :func:`read_boundaries`: every annotator's ``Boundaries`` from a BSDS ``.mat``.
* :func:`thin_map`: MATLAB's ``bwmorph(bmap, 'thin', Inf)``.
* :func:`image_counts`: one soft map's ``cntR, sumR, cntP, sumP`` at each threshold.
* :func:`score`: ODS, OIS, AP and R50 over a set of images.

It reproduces the benchmark's own sample results (``bench/data/test_2``) to within
0.0012 on every figure (``scripts/bench_quality.py --check BENCH_DIR``).
"""

from pipeline.quality.counts import MAX_DIST, THRESHOLDS, image_counts, thresholds
from pipeline.quality.groundtruth import GroundTruthError, read_boundaries, write_boundaries
from pipeline.quality.scores import Scores, average_precision, best_f, fmeasure, score
from pipeline.quality.thinning import thin_map

__all__ = ["MAX_DIST", "THRESHOLDS", "GroundTruthError", "Scores", "average_precision",
           "best_f", "fmeasure", "image_counts", "read_boundaries", "score", "thin_map",
           "thresholds", "write_boundaries"]
