"""One pass of a video file trimmed to ``start`` and ``duration``, as ``ffmpeg -ss S -t D -i IN``.

Like FFmpeg, ``start`` counts from the container's start time: the reader seeks to the
keyframe at or before that point and the frames decoded before it are dropped.  With
``duration``, frames from ``first pts + duration`` on are not read (FFmpeg's trim filter
measures ``-t`` from the first frame it keeps).  Used by the ``file`` and ``stdin``
sources (:mod:`pipeline.io.sources.file`).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

#: Seconds within which a frame's pts counts as on a trim boundary (FFmpeg compares whole
#: ticks; pts converted to float seconds may be off by far less than this).
TRIM_TOLERANCE = 1e-6

Item = tuple[np.ndarray, float]


class PastTheEnd(Exception):
    """``start`` lies after the last frame; the message says where the video ends."""


class Trim:
    """``start`` seconds skipped and ``duration`` seconds kept (None: to the end).

    :attr:`end` is the pts at and after which frames are not read, known once
    :meth:`first` has found the first frame kept.
    """

    def __init__(self, start: float = 0.0, duration: float | None = None):
        self.start = start
        self.duration = duration
        self.end: float | None = None

    def first(self, first: Item | None, reader, next_item: Callable[[], Item | None],
              seekable: bool) -> Item | None:
        """The first frame at or after ``start``, from ``first`` (the file's first frame) on.

        ``reader`` (a :class:`~pipeline.io.media.reader.MediaReader`) is sought to the
        keyframe before ``start`` when ``seekable``; ``next_item()`` decodes the next
        ``(bgr, pts)``.  Sets :attr:`end`.  Raises :class:`PastTheEnd` when no frame
        lies at or after ``start``.
        """
        self.end = None
        if first is not None and self.start:
            origin = reader.container.start_time
            target = (origin / 1_000_000 if origin is not None else first[1]) + self.start
            if first[1] < target - TRIM_TOLERANCE and seekable:
                reader.seek(math.floor(target / reader.time_base))
                first = next_item()
            last = first
            while first is not None and first[1] < target - TRIM_TOLERANCE:
                first = next_item()
                last = first or last
            if first is None:
                ends = (f"its last frame is at {last[1] - (origin or 0) / 1e6:.3f} s" if last
                        else "no frame decodes there")
                raise PastTheEnd(f"start {self.start:g} s is past the end of the video ({ends}); "
                                 "give an earlier --start / start")
        if first is not None and self.duration is not None:
            self.end = first[1] + self.duration
        return first

    def keeps(self, item: Item | None) -> Item | None:
        """``item``, or None when it lies at or after :attr:`end`."""
        if item is not None and self.end is not None and item[1] >= self.end - TRIM_TOLERANCE:
            return None
        return item
