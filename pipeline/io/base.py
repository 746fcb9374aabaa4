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

A source that meets bad input mid-stream (a frame that does not decode, a stream that goes
silent) records it in its :class:`ReadReport` (``source.report``) instead of raising: the
engine copies the counts into the run's summary.  When the input ends *because of* an
error (``on_error: stop``, a lost stream), the source returns None from ``read()`` and
sets ``report.failure``; the engine then finishes the sinks normally (their output is
kept) and raises :class:`SourceError` with that message, so the CLI exits 1.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import EdgepipeError
from pipeline.frame import describe_image, stage_image
from pipeline.config.registry import check_settings

if TYPE_CHECKING:  # only for annotations
    from pipeline.controls import Controls
    from pipeline.frame import Frame


@dataclasses.dataclass(frozen=True)
class MediaInput:
    """A media file (or stream) that a source decodes, as sinks need to know it.

    Attributes
    ----------
    path : str
        The file path or URL, as the source opened it.
    start : float
        Presentation time, in seconds, of the first video frame the source delivers
        (frames' ``pts`` count from the stream's own origin, not from 0).
    seekable : bool
        True for files: a sink may open the path again to read its other streams
        (the sound) without disturbing the source.
    names : list of str, optional
        Pictures: the file each frame came from, by frame index (filled as frames are
        read; the images sink's ``{stem}``).  None for video, which has no sound here.
    file_start : float, optional
        The container's start time, in seconds (the earliest of its streams), when the
        file has more streams than its video and was not trimmed: a constant-rate output
        (.mp4, .mov) starts there, as ffmpeg's does, showing the first frame until the
        second when the sound starts before the picture.  None: start at ``start``.
    """

    path: str
    start: float = 0.0
    seekable: bool = True
    names: list | None = None
    file_start: float | None = None


class SourceError(EdgepipeError):
    """A source cannot be opened or read: one line naming the device/path and a fix."""


class SinkError(EdgepipeError):
    """A sink cannot be checked, opened or written: one line naming the target and a fix."""


@dataclasses.dataclass
class ReadReport:
    """What went wrong while a source was read (filled in by the source's thread).

    Attributes
    ----------
    skipped : int
        Frames that did not decode and were skipped (more frames came after them).
    read_errors : int
        Failed reads that were not the normal end of the input: skipped frames, reads
        that timed out, lost connections, and a file that ends before the frame count
        its container states (one each).
    reconnects : int
        Successful reconnections of a camera or stream (``on_error: retry``).
    notes : list of str
        One line per event a user should hear of (a damaged stretch, an fps of 0 in the
        container, a reconnection), for the summary.
    failure : str or None
        Set when the input ended because of an error; the engine raises
        :class:`SourceError` with it once the sinks are finished.
    """

    skipped: int = 0
    read_errors: int = 0
    reconnects: int = 0
    notes: list = dataclasses.field(default_factory=list)
    failure: str | None = None

    #: Notes kept at most, so a long run over a flaky input holds bounded memory.
    MAX_NOTES = 20

    def note(self, text: str) -> None:
        """Keep ``text`` for the summary (the first :attr:`MAX_NOTES` only, then a count)."""
        if len(self.notes) < self.MAX_NOTES:
            self.notes.append(text)
        elif len(self.notes) == self.MAX_NOTES:
            self.notes.append("(more notes left out)")


def _checked_settings(cls: type, values: tuple, settings: dict) -> dict:
    """``cls``'s settings from positional ``values`` (in ``params`` order) and ``settings``.

    Sources and sinks take their settings the same way, so one function binds the
    positional ones and checks the lot as a config would (defaults filled in).
    """
    names = [p.name for p in cls.params]
    if len(values) > len(names):
        raise TypeError(f"{cls.__name__} takes at most {len(names)} settings by "
                        f"position ({', '.join(names) or 'none'}); got {len(values)}")
    for name, value in zip(names, values):
        if name in settings:
            raise TypeError(f"{cls.__name__} got {name!r} both by position and by name")
        settings[name] = value
    return check_settings(cls, settings)


class Source:
    """Where frames come from.

    Subclasses declare ``params`` (see :mod:`pipeline.config.registry`) and register with
    ``@register("source", name)``.  Defaults live in the ``Param`` declarations only:
    constructing a source checks its settings exactly as a config does, so
    ``FileSource(path="a.mp4", on_error="skp")`` raises the same
    :class:`~pipeline.config.registry.ParamError` as the YAML would.  The first declared
    settings may be given by position (``FileSource("a.mp4")``).  Each checked setting
    becomes an attribute of the same name (unless the class defines a property of that
    name, such as ``fps``: the value is then in :attr:`settings` only), then
    :meth:`check` runs for rules across settings.  Subclasses that add state declare it
    in their own ``__init__`` after calling this one.

    Attributes
    ----------
    settings : dict
        The checked settings, defaults filled in.
    live : bool
        True when frames arrive at their own pace (camera, url, a file read with
        ``realtime: true``); the engine then never waits on the source.
    report : ReadReport
        Counts and notes about bad input met so far (empty for a clean read).
    """

    params: tuple = ()
    registry_name = "source"
    live: bool = False
    #: Whether the source can hand out the decoder's luma plane as its grey frames
    #: (:meth:`take_luma`, for ``grayscale: {from: luma}``): those decoding through PyAV.
    gives_luma: bool = False

    def __init__(self, *values, **settings):
        self.settings = _checked_settings(type(self), values, settings)
        for name, value in self.settings.items():
            if not isinstance(getattr(type(self), name, None), property):
                setattr(self, name, value)
        self.report = ReadReport()
        self._timed_count = 0  # frames handed out by the default read_timed()
        self.check()

    def check(self) -> None:
        """Checks across settings (raise ParamError naming the key); none by default."""

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self._shown_settings().items())
        return f"{type(self).__name__}({shown})"

    def _shown_settings(self) -> dict:
        """Settings as :meth:`__repr__` shows them (url sources hide passwords)."""
        return dict(self.settings)

    def take_luma(self, deferred: bool = False) -> None:
        """Hand out grey frames from the decoder's luma plane instead of BGR, where the
        input has one (:mod:`pipeline.io.media.luma`); only when :attr:`gives_luma`.

        ``deferred``: a limited-range plane comes out as decoded, marked
        :class:`~pipeline.frame.LimitedLuma`, for a chain whose fused edge pass expands
        it as it reads it (:func:`pipeline.stages.chain.ask_for_luma`)."""
        raise TypeError(f"source {self.registry_name} cannot hand out the decoder's luma plane")

    def open(self) -> None:
        """Acquire the device or file; raise :class:`SourceError` if it cannot be used."""

    def read(self) -> np.ndarray | None:
        """The next frame as a uint8 BGR (H, W, 3) or grey (H, W) array; None at the end."""
        raise NotImplementedError

    def read_timed(self) -> tuple[np.ndarray, float] | None:
        """The next frame and its presentation time in seconds; None at the end.

        The engine reads through this.  The default stamps each frame with the source's
        own clock, ``index / fps`` counted from 0 (cameras, pictures, the synthetic
        pattern); file and stream sources override it with the stream's pts.
        """
        image = self.read()
        if image is None:
            return None
        count = self._timed_count = self._timed_count + 1
        return image, (count - 1) / float(self.fps or 30.0)

    @property
    def media(self) -> "MediaInput | None":
        """The media file behind this source, for sinks that copy its sound; else None."""
        return None

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

    Subclasses declare ``params`` (see :mod:`pipeline.config.registry`); constructing a sink
    checks its settings exactly as a config does, defaults included, so
    ``ImagesSink(path=..., jpeg_quality=-5)`` raises the same
    :class:`~pipeline.config.registry.ParamError` as the config would.  Positional arguments
    are taken in the order of ``params`` (``VideoSink("out.mp4")``).  Checks across
    settings go in :meth:`validate`; a subclass that needs state of its own extends
    ``__init__`` and calls this one first.

    Attributes
    ----------
    main_thread : bool
        True for sinks that must be called from the main thread (an OpenCV HighGUI
        window under Qt); the engine then runs them in its main loop instead of a
        thread of their own.  Every other sink gets its own thread.
    notes : list of str
        Lines for the run's summary (what the sink changed or left out: padding, a
        transcoded sound track, frames of another size), filled by ``close()``.
    """

    main_thread: bool = False
    params: tuple = ()

    def __init__(self, *args, **settings):
        for name, value in _checked_settings(type(self), args, settings).items():
            setattr(self, name, value)
        self.notes: list[str] = []
        self.validate()

    def validate(self) -> None:
        """Checks across settings (raise ParamError naming the key); none by default."""

    def __repr__(self) -> str:
        settings = ", ".join(f"{p.name}={getattr(self, p.name)!r}" for p in self.params)
        return f"{type(self).__name__}({settings})"

    def check(self) -> None:
        """Check, before any source or sink opens, that this sink can work.

        Output folder writable, a display present, ...; raise :class:`SinkError`.
        """

    def open(self, first: "Frame", fps: float, controls: "Controls") -> None:
        """Prepare to write frames shaped like ``first`` at ``fps`` frames per second.

        ``controls`` lets interactive sinks stop, pause or nudge the run, and gives
        read-only live stats (``controls.snapshot()``).
        """

    def set_input(self, media: "MediaInput | None") -> None:
        """Told, before :meth:`open`, what the run reads (the video sink copies its sound)."""

    def write(self, frame: "Frame") -> None:
        """Write ``frame.image`` (uint8, grey or BGR)."""
        raise NotImplementedError

    def close(self) -> None:
        """Finalize: release the writer, rename the temporary file to its final name."""

    def abort(self) -> None:
        """Give up: release the writer and remove temporary files (default: :meth:`close`)."""
        self.close()


def check_uint8(frame, what: str) -> np.ndarray:
    """``frame.image`` if it is a uint8 grey or BGR picture, else SinkError naming the frame."""
    image = frame.image
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3))
    ):
        desc = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise SinkError(
            f"{what}: frame {frame.index} is a {desc}; sinks write uint8 grey (H, W) or BGR (H, W, 3) "
            "images (end the chain with a stage that maps to uint8)"
        )
    return image



def frame_image(image, index: int, source: Source) -> np.ndarray:
    """``image`` as the stages expect it: uint8 grey (H, W) or BGR (H, W, 3).

    The source's frame contract, enforced where frames enter the run: (H, W, 1) becomes
    (H, W) (a view), BGRA becomes BGR (a copy); anything else is a :class:`SourceError`
    naming the source and the frame, raised before any stage runs.
    """
    checked = stage_image(image)
    if checked is not None:
        return checked
    name = getattr(source, "registry_name", type(source).__name__)
    raise SourceError(f"source {name} delivered {describe_image(image)} as frame {index}; a frame "
                      "is a non-empty uint8 grey (H, W) or BGR (H, W, 3) array")
