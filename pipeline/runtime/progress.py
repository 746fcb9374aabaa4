"""The progress line of a batch run on a terminal (shown unless ``--quiet``).

The engine moves it a few times a second from the run's live stats; tqdm draws it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

log = logging.getLogger(__name__)

#: At the end, how long the line waits for a count still going on (a run cut short by
#: ``--max-frames`` or Ctrl+C long before a large file's count is done ends without it).
COUNT_WAIT_AT_END = 1.0


def frames_to_come(source, max_frames: int | None) -> int | None:
    """The frames a run of ``source`` will deliver: its count (None if it cannot tell),
    at most ``max_frames``."""
    total = source.count_frames()
    return total if total is None or max_frames is None else min(total, max_frames)


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
    count : callable, optional
        Returns the total (or None), on a thread of its own: then the line is drawn from
        the first frame out (the first :meth:`update` with frames done), the count starts
        then, and the line takes the total when it is known.  Without it the line is drawn
        at once.
    """

    def __init__(self, total: int | None, stream=None, label: str = "edgepipe", count=None):
        self.total = total
        self._stream, self._label = stream, label
        self._began = time.time()  # tqdm's clock: the elapsed time shown counts from here
        self._bar = None
        self._count = count
        self._counter: threading.Thread | None = None
        self._counted: list = []  # the count's result, once it is done
        if count is None:
            self._draw()

    @classmethod
    def for_source(cls, source, max_frames: int | None, stream=None) -> "ProgressLine":
        """The bar for a run of ``source``: its frame count (if it can count), at most
        ``max_frames``; on ``stream``, else stderr.

        A file counts the frames that decode by decoding it whole.  Counted here, before
        the run, that pass kept the first frame back by as long (about 0.3 s for two
        seconds of 1080p, minutes for a film); so the count runs beside the run, from its
        first frame on, and the bar shows a plain count until the total is known.
        """
        return cls(None, stream=sys.stderr if stream is None else stream,
                   count=lambda: frames_to_come(source, max_frames))

    def _draw(self) -> None:
        from tqdm import tqdm  # lazy: tqdm costs 20-70 ms; only a run shown on a terminal draws a bar

        self._bar = tqdm(total=self.total, file=self._stream, desc=self._label, unit=" frames",
                         dynamic_ncols=True, mininterval=0.25, smoothing=0.3, leave=True)
        self._bar.start_t = self._began  # drawn at the first frame, timed from the start

    def _start_count(self) -> None:
        if self._count is None or self._counter is not None:
            return

        def counting() -> None:
            try:
                self._counted.append(self._count())
            except Exception as exc:  # noqa: BLE001  (the run's own read reports the input)
                log.debug("frames not counted for the progress line: %s", exc)
                self._counted.append(None)

        self._counter = threading.Thread(target=counting, name="edgepipe-count", daemon=True)
        self._counter.start()

    def _take_total(self) -> None:
        if self._counted and self.total is None and self._counted[0] is not None:
            self.total = self._bar.total = self._counted[0]
            self._bar.refresh()

    def update(self, done: int, fps: float = 0.0) -> None:
        """Move the bar to ``done`` frames (tqdm measures and smooths the rate itself)."""
        if self._bar is None:
            if done <= 0:
                return  # nothing out yet: nothing drawn, nothing counted, the frames first
            self._draw()
            self._start_count()
        self._take_total()
        self._bar.update(done - self._bar.n)

    def finish(self, done: int) -> None:
        """Draw the last state and end the line."""
        if self._bar is None:
            self._draw()
            self._start_count()
        if self._counter is not None:
            self._counter.join(COUNT_WAIT_AT_END)
        self.update(done)
        self._bar.close()
