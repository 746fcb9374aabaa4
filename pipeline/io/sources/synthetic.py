"""A deterministic moving test pattern: the source that needs no camera and no file.

Like GStreamer's ``videotestsrc``: smooth gradients (few edges), colour bars and a
chessboard strip (perfect step edges), circles and a rectangle moving on fixed paths,
and the frame number as text.  Frame ``i`` depends on ``i`` and the size only, so
``render(i)`` is the same picture on every run and every machine with this OpenCV.

Cost per frame: one copy of the precomputed background (the fresh array handed
downstream) plus a handful of small ``cv2`` drawing calls, about 1 ms at 1080p, so the
pattern is never the bottleneck of a 30 fps run.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.io.base import Source
from pipeline.io.sources.pacing import FramePacer
from pipeline.config.registry import Param, register

#: BGR colours of the bars, SMPTE order (white, yellow, cyan, green, magenta, red, blue).
BAR_COLOURS = (
    (235, 235, 235), (16, 235, 235), (235, 235, 16), (16, 235, 16),
    (235, 16, 235), (16, 16, 235), (235, 16, 16),
)

#: (BGR colour, radius as a fraction of the short side, x and y periods in frames, phase)
CIRCLES = (
    ((40, 220, 255), 0.10, 97, 61, 0.0),
    ((255, 80, 40), 0.07, 53, 89, 1.3),
    ((30, 30, 30), 0.05, 71, 43, 2.1),
)


def make_background(width: int, height: int) -> np.ndarray:
    """The still part of the pattern: gradient top, colour bars, chessboard bottom strip.

    Parameters
    ----------
    width, height : int
        Frame size in pixels.

    Returns
    -------
    ndarray
        (height, width, 3) uint8 BGR.
    """
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    background = np.empty((height, width, 3), np.uint8)
    # Smooth diagonal gradients: weak, spread-out derivatives.
    background[..., 0] = (255 * (0.5 * x + 0.5 * y)).astype(np.uint8)
    background[..., 1] = (255 * (1.0 - y) * 0.8).astype(np.uint8)
    background[..., 2] = (255 * x * 0.9).astype(np.uint8)
    # Colour bars in the band from 55% to 75% of the height: vertical step edges.
    top, bottom = int(0.55 * height), int(0.75 * height)
    edges = np.linspace(0, width, len(BAR_COLOURS) + 1).astype(int)
    for colour, left, right in zip(BAR_COLOURS, edges[:-1], edges[1:]):
        background[top:bottom, left:right] = colour
    # Chessboard strip at the bottom: perfect step edges in both directions.
    cell = max(4, min(width, height) // 24)
    rows = np.arange(height - bottom)[:, None] // cell
    cols = np.arange(width)[None, :] // cell
    board = np.where((rows + cols) % 2 == 0, 230, 25).astype(np.uint8)
    background[bottom:] = board[..., None]
    return background


@register("source", "synthetic")
class SyntheticSource(Source):
    """A moving test pattern of any size, rate and length; frame ``i`` is always the same.

    With ``live: true`` frames are paced at ``fps`` like a camera (and the engine treats
    the source as live); otherwise they come as fast as they are asked for.
    """

    params = (
        Param("width", int, 640, min=16, max=7680, help="frame width in pixels"),
        Param("height", int, 480, min=16, max=4320, help="frame height in pixels"),
        Param("fps", float, 30.0, min=0.1, max=1000, help="frame rate (pacing with live, and for writers)"),
        Param("length", (int, type(None)), 300, min=0, help="frames to deliver; 0 or null: endless"),
        Param("live", bool, False, help="pace frames at fps, like a camera"),
    )

    def __init__(self, *values, **settings):
        super().__init__(*values, **settings)
        self.rate = self.settings["fps"]
        self._background: np.ndarray | None = None
        self._pacer: FramePacer | None = None
        self._next = 0

    @property
    def endless(self) -> bool:
        """True when ``length`` is 0 or None."""
        return not self.length

    @property
    def fps(self) -> float:
        """The declared rate."""
        return self.rate

    def open(self) -> None:
        """Precompute the background; start at frame 0."""
        if self._background is None:
            self._background = make_background(self.width, self.height)
        self._pacer = FramePacer(self.rate) if self.live else None
        self._next = 0

    def render(self, index: int) -> np.ndarray:
        """Frame ``index`` of the pattern, as a new (height, width, 3) uint8 array.

        Parameters
        ----------
        index : int
            Any frame number >= 0 (also beyond ``length``).

        Returns
        -------
        ndarray
            A fresh array the caller may keep or modify.
        """
        background = self._background  # one read: close() may run on another thread
        if background is None:
            background = self._background = make_background(self.width, self.height)
        frame = background.copy()
        w, h = self.width, self.height
        short = min(w, h)
        band = int(0.55 * h)  # shapes move over the gradient, above the bars
        for colour, radius, period_x, period_y, phase in CIRCLES:
            r = max(2, int(radius * short))
            cx = int(w / 2 + (w / 2 - r) * math.sin(2 * math.pi * index / period_x + phase))
            cy = int(band / 2 + max(0, band / 2 - r) * math.sin(2 * math.pi * index / period_y + phase))
            cv2.circle(frame, (cx, cy), r, colour, thickness=-1, lineType=cv2.LINE_8)
        # A rectangle sliding left to right and wrapping: a hard-edged box of known size.
        side = max(4, short // 8)
        x0 = (index * max(1, w // 120)) % (w + side) - side
        y0 = max(0, band - side - short // 40)
        cv2.rectangle(frame, (x0, y0), (x0 + side, y0 + side), (250, 250, 250), -1, cv2.LINE_8)
        cv2.rectangle(frame, (x0 + side // 4, y0 + side // 4), (x0 + 3 * side // 4, y0 + 3 * side // 4), (0, 0, 0), -1, cv2.LINE_8)
        scale = max(0.4, short / 400)
        thickness = max(1, int(round(scale * 2)))
        cv2.putText(
            frame, f"edgepipe {index:06d}", (short // 40 + 2, int(28 * scale) + 4),
            cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_8,
        )
        return frame

    def read(self) -> np.ndarray | None:
        """The next frame, or None after ``length`` frames (never, when endless)."""
        if not self.endless and self._next >= self.length:
            return None
        if self.live:
            if self._pacer is None:
                self._pacer = FramePacer(self.rate)
            self._pacer.wait()
        frame = self.render(self._next)
        self._next += 1
        return frame

    def count_frames(self) -> int | None:
        """``length``, or None when endless."""
        return None if self.endless else int(self.length)

    def close(self) -> None:
        """Drop the background buffer."""
        self._background = None
        self._pacer = None
