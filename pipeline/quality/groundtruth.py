"""Reading BSDS500 ground truth: every annotator's ``Boundaries`` from ``NAME.mat``.

A BSDS ``.mat`` file holds a 1 x K MATLAB cell array ``groundTruth``, one struct per
annotator with ``Segmentation`` (labels) and ``Boundaries`` (a 0/1 uint8 map the size
of the image).  scipy reads it as a (1, K) object array of structured arrays.
"""

from __future__ import annotations

import os

import numpy as np

from pipeline.errors import EdgepipeError


class GroundTruthError(EdgepipeError, ValueError):
    """A ground-truth file is missing, unreadable or not in the BSDS layout."""


def _loadmat():
    try:
        from scipy.io import loadmat  # lazy: scipy is in the quality extra only
    except ImportError:  # pragma: no cover - scipy is a dependency of the quality extra
        raise GroundTruthError("reading BSDS ground truth needs scipy: "
                               "pip install 'edgepipe[quality]' (or pip install scipy)") from None
    return loadmat


def read_boundaries(path: str | os.PathLike) -> np.ndarray:
    """Every annotator's boundary map of one image: (K, H, W) uint8 of 0 and 1.

    Raises
    ------
    GroundTruthError
        The file cannot be read, has no ``groundTruth`` cell, or an annotator has no
        ``Boundaries`` of the common shape; the message names the file.
    """
    loadmat = _loadmat()
    from scipy.io.matlab import MatReadError  # lazy: scipy is in the quality extra only

    try:
        data = loadmat(os.fspath(path))
    except (OSError, ValueError, NotImplementedError, MatReadError) as exc:
        raise GroundTruthError(f"{path}: cannot read ground truth: {exc}") from None
    if "groundTruth" not in data:
        raise GroundTruthError(f"{path}: no 'groundTruth' cell array (keys: "
                               f"{', '.join(k for k in data if not k.startswith('__'))})")
    cells = np.asarray(data["groundTruth"]).ravel()
    maps = []
    for k, cell in enumerate(cells):
        names = cell.dtype.names or ()
        if "Boundaries" not in names:
            raise GroundTruthError(f"{path}: annotator {k + 1} has no 'Boundaries'")
        boundaries = np.asarray(cell["Boundaries"].ravel()[0])
        if boundaries.ndim != 2 or (maps and boundaries.shape != maps[0].shape):
            raise GroundTruthError(f"{path}: annotator {k + 1}'s Boundaries has shape "
                                   f"{boundaries.shape}, not a 2-D map like the others")
        maps.append((boundaries != 0).astype(np.uint8))
    if not maps:
        raise GroundTruthError(f"{path}: the groundTruth cell array is empty")
    return np.stack(maps)


def write_boundaries(path: str | os.PathLike, boundaries) -> None:
    """Write annotators' boundary maps as a BSDS ``.mat`` (``Segmentation`` from labels).

    Used for synthetic ground truth in tests and examples.  The boundary benchmark reads
    only ``Boundaries``; ``Segmentation`` is written as one region (all ones).
    """
    from scipy.io import savemat  # lazy: scipy is in the quality extra only

    boundaries = [np.asarray(b, dtype=np.uint8) for b in boundaries]
    cell = np.empty((1, len(boundaries)), dtype=object)
    for k, b in enumerate(boundaries):
        record = np.empty((1, 1), dtype=[("Segmentation", object), ("Boundaries", object)])
        record[0, 0]["Segmentation"] = np.ones(b.shape, np.uint16)
        record[0, 0]["Boundaries"] = b
        cell[0, k] = record
    savemat(os.fspath(path), {"groundTruth": cell})
