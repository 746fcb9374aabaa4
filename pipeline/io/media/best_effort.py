"""The time of a decoded frame when its pts may be missing or out of order: FFmpeg's rule."""

from __future__ import annotations


class BestEffortClock:
    """FFmpeg's best-effort timestamp of decoded frames (``guess_correct_pts`` in libavcodec).

    A decoder hands each frame the pts of the packet it came from (``frame.pts``) and
    that packet's dts (``frame.dts``).  Either may be missing or wrong: an AVI holds no
    pts, and a DivX/Xvid "packed" MPEG-4 file attaches each B-frame's pts to the frame
    before it (pts 1, 3, 2, 5, 4, ...).  FFmpeg counts the times each sequence failed
    to grow and trusts the one that failed less; ``ffprobe`` shows the result as
    ``best_effort_timestamp`` and ``ffmpeg`` times its frames with it.  This is the
    same rule, on PyAV's frames (PyAV does not expose FFmpeg's own field).
    """

    def __init__(self):
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts = self.last_dts = None

    def guess(self, pts: int | None, dts: int | None) -> int | None:
        """The frame's time in its time base, or None when it has neither pts nor dts."""
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        elif pts is not None:
            self.last_dts = pts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        elif dts is not None:
            self.last_pts = dts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts
