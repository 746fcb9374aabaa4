"""The progress line of a batch run on a terminal (shown unless ``--quiet``).

The engine moves it a few times a second from the run's live stats; tqdm draws it.
"""

from __future__ import annotations

import sys


class ProgressLine:
    """The run's progress bar on a terminal, drawn by tqdm (width, rate smoothing, ETA).

    Parameters
    ----------
    total : int or None
        Frames expected (from :meth:`Source.count_frames`); None shows a count only.
    stream : file
        Where to write, normally ``sys.stderr`` (None: tqdm's default, stderr).
    label : str
        What the line starts with (the run of several streams says how many).
    """

    def __init__(self, total: int | None, stream=None, label: str = "edgepipe"):
        from tqdm import tqdm  # lazy: tqdm costs 20-70 ms; only a run shown on a terminal draws a bar

        self.total = total
        self._bar = tqdm(total=total, file=stream, desc=label, unit=" frames",
                         dynamic_ncols=True, mininterval=0.25, smoothing=0.3, leave=True)

    @classmethod
    def for_source(cls, source, max_frames: int | None, stream=None) -> "ProgressLine":
        """The bar for a run of ``source``: its frame count (if it can count), at most
        ``max_frames``; on ``stream``, else stderr."""
        total = source.count_frames()
        if total is not None and max_frames is not None:
            total = min(total, max_frames)
        return cls(total, stream=sys.stderr if stream is None else stream)

    def update(self, done: int, fps: float = 0.0) -> None:
        """Move the bar to ``done`` frames (tqdm measures and smooths the rate itself)."""
        self._bar.update(done - self._bar.n)

    def finish(self, done: int) -> None:
        """Draw the last state and end the line."""
        self.update(done)
        self._bar.close()
