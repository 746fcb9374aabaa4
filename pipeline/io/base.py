"""The two interfaces every input and output follows: :class:`Source` and :class:`Sink`.

A source delivers uint8 frames (BGR or grey) one at a time; a sink writes the current
image of each :class:`~pipeline.frame.Frame`.  Concrete classes register themselves::

    @register("source", "file")
    class FileSource(Source):
        params = (Param("path", str, help="video file to read"),)

    @register("sink", "video")
    class VideoSink(Sink):
        params = (Param("path", str, help="output file, e.g. out/edges.mp4"),)

The engine's order of calls:

* sinks: ``check()`` for every sink before anything opens (the exit-2-or-1-before-work
  guarantee), then ``open(first, fps, controls)`` with the first processed frame,
  ``write(frame)`` per frame, and ``close()`` at a clean end; ``abort()`` instead of
  ``close()`` when the output must not look finished.
* sources: ``open()``, ``count_frames()`` (batch progress bar, optional), ``read()``
  until ``None``, ``close()``.

Errors a user can fix raise :class:`SourceError` or :class:`SinkError` with one line
naming the device or path and what would work; the CLI prints it and exits 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # only for annotations; runtime imports io, not the other way round
    from pipeline.frame import Frame
    from pipeline.runtime.controls import Controls


class SourceError(Exception):
    """A source cannot be opened or read: one line naming the device/path and a fix."""


class SinkError(Exception):
    """A sink cannot be checked, opened or written: one line naming the target and a fix."""


class Source:
    """Where frames come from.

    Attributes
    ----------
    live : bool
        True when frames arrive at their own pace (camera, url, a file read with
        ``realtime: true``); the engine then never waits on the source.
    """

    live: bool = False

    def open(self) -> None:
        """Acquire the device or file; raise :class:`SourceError` if it cannot be used."""

    def read(self) -> np.ndarray | None:
        """The next frame as a uint8 BGR (H, W, 3) or grey (H, W) array; None at the end."""
        raise NotImplementedError

    @property
    def fps(self) -> float | None:
        """Nominal frames per second if known (used for writers and pacing), else None."""
        return None

    def count_frames(self) -> int | None:
        """How many frames will decode (files: counted, not read from metadata), else None."""
        return None

    def close(self) -> None:
        """Release the device or file; safe to call twice and after a failed open."""

    def __enter__(self) -> "Source":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Sink:
    """Where processed frames go.

    Attributes
    ----------
    main_thread : bool
        True for sinks that must be called from the main thread (an OpenCV HighGUI
        window under Qt); the engine then runs them in its main loop instead of a
        thread of their own.  Every other sink gets its own thread.
    """

    main_thread: bool = False

    def check(self) -> None:
        """Check, before any source or sink opens, that this sink can work.

        Output folder writable, a display present, ...; raise :class:`SinkError`.
        """

    def open(self, first: "Frame", fps: float, controls: "Controls") -> None:
        """Prepare to write frames shaped like ``first`` at ``fps`` frames per second.

        ``controls`` lets interactive sinks stop, pause or nudge the run, and gives
        read-only live stats (``controls.snapshot()``).
        """

    def write(self, frame: "Frame") -> None:
        """Write ``frame.image`` (uint8, grey or BGR)."""
        raise NotImplementedError

    def close(self) -> None:
        """Finalize: release the writer, rename the temporary file to its final name."""

    def abort(self) -> None:
        """Give up: release the writer and remove temporary files (default: :meth:`close`)."""
        self.close()
