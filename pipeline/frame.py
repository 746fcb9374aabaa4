"""The record that travels the chain of stages."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass
class Frame:
    """One video frame on its way from a source to the sinks.

    Attributes
    ----------
    index : int
        0-based position in the source's stream.
    timestamp : float
        Capture time, ``time.perf_counter()`` when the source delivered the frame;
        latency is measured from here.
    original : ndarray
        The image as captured (BGR uint8, or grey); stages never modify it.
    image : ndarray
        The current image; each stage replaces it with the next one.
    side : dict
        Named side values left by stages (``"histogram"``, ``"threshold"``, ...).
    pts : float or None
        Presentation time in seconds: the stream's pts for files and streams, the
        source's own clock for cameras, pictures and the synthetic pattern.  Sinks that
        write video place the frame at this time, so gaps and variable rates survive.
        None only for frames made by hand; writers then use ``index / fps``.
    """

    index: int
    timestamp: float
    original: np.ndarray
    image: np.ndarray
    side: dict[str, Any] = dataclasses.field(default_factory=dict)
    pts: float | None = None
