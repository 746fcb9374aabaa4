"""Frames of a video or picture input, read through the project's sources.

A ``video:`` input is one file or a glob: pictures are read by the ``images`` source
(its natural order, ``img2`` before ``img10``), videos by the ``file`` source, one
after another in the same natural order; a ``synthetic:`` input is the synthetic
source.  Each frame gives the histogram the tuner would optimize over.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator

import cv2
import numpy as np

from pipeline import ops
from pipeline.io.base import SourceError
from pipeline.io.formats import PICTURE_EXTENSIONS, natural_sort_key
from pipeline.optim import PAIR_OBJECTIVES, joint_histogram
from pipeline.config.registry import build
from pipeline.histograms import magnitude_histogram

def is_picture(path: str) -> bool:
    """Whether ``path`` names a still picture by its extension (else it is read as video)."""
    return os.path.splitext(path)[1].lower() in PICTURE_EXTENSIONS


def input_sources(settings: dict) -> list:
    """The unopened sources of a checked ``video:`` or ``synthetic:`` input, in reading order.

    Raises
    ------
    SourceError
        The glob matches no file, or mixes pictures and videos.
    """
    if "synthetic" in settings:
        return [settings["synthetic"]]
    pattern = settings["video"]
    # A file that exists under the exact name is that file, even with [ or * in it.
    if not glob.has_magic(pattern) or os.path.isfile(os.path.expanduser(pattern)):
        if is_picture(pattern):
            return [build("source", "images", {"glob": glob.escape(pattern)})]
        return [build("source", "file", {"path": pattern})]
    matches = [p for p in glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(p)]
    if not matches:
        folder = os.path.dirname(os.path.abspath(os.path.expanduser(pattern)))
        raise SourceError(f"no file matches video {pattern!r} (looked in {folder})")
    pictures = [p for p in matches if is_picture(p)]
    if len(pictures) == len(matches):
        return [build("source", "images", {"glob": pattern})]
    if pictures:
        video = next(p for p in matches if not is_picture(p))
        raise SourceError(f"video {pattern!r} matches pictures and videos ({pictures[0]!r}, "
                          f"{video!r}); give them as two inputs")
    return [build("source", "file", {"path": path}) for path in sorted(matches, key=natural_sort_key)]


def read_frames(settings: dict, max_frames: int | None) -> Iterator[np.ndarray]:
    """BGR frames of an input, at most ``max_frames``; each source is closed after use."""
    count = 0
    for source in input_sources(settings):
        if max_frames is not None and count >= max_frames:
            return
        source.open()
        try:
            while max_frames is None or count < max_frames:
                image = source.read()
                if image is None:
                    break
                count += 1
                yield image
        finally:
            source.close()


def frame_histograms(settings: dict) -> list:
    """Each frame's objective histogram: (256,) magnitudes, or (256, 2) against Canny.

    For a pair objective (``multiotsu``) the magnitudes are the ones ``cv2.Canny``
    thresholds (:func:`pipeline.histograms.magnitude_histogram`).
    """
    histograms = []
    for image in read_frames(settings, settings["max_frames"]):
        if settings["objective"] in PAIR_OBJECTIVES:
            # The magnitude cv2.Canny thresholds, as the canny stage gives it to the tuner.
            histograms.append(magnitude_histogram(image))
            continue
        edges, histogram = ops.edges(image, kind=settings["kind"], hist=True)
        if settings["objective"] == "agreement":
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
            low, high = settings["canny"]
            histogram = joint_histogram(edges, cv2.Canny(grey, low, high))
        histograms.append(histogram)
    if not histograms:
        raise SourceError(f"{settings.get('video', 'the synthetic source')!r} gave no frames")
    return histograms
