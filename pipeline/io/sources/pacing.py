"""Holding a producer to a frame rate, as a camera delivers frames."""

from __future__ import annotations

import time


class FramePacer:
    """Hold a producer to ``fps`` frames per second, like a camera would deliver them.

    Parameters
    ----------
    fps : float
        Target rate, > 0.

    Notes
    -----
    A producer that falls more than one period behind is not allowed to burst to catch
    up: the schedule restarts from now, as a camera simply delivers its next frame late.
    """

    def __init__(self, fps: float):
        if not fps > 0:
            raise ValueError(f"fps must be > 0; got {fps!r}")
        self.period = 1.0 / float(fps)
        self._due: float | None = None

    def wait(self) -> None:
        """Sleep until the next frame is due."""
        now = time.perf_counter()
        if self._due is None or now - self._due > self.period:
            self._due = now
        elif now < self._due:
            time.sleep(self._due - now)
        self._due += self.period

    def reset(self) -> None:
        """Forget the schedule (after a pause): the next frame is due at once."""
        self._due = None
