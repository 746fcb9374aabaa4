"""The ``file`` source: a video file, decoded by FFmpeg's libraries through PyAV."""

from __future__ import annotations

import logging
import threading

import numpy as np

from pipeline.io.base import MediaInput, Source, SourceError
from pipeline.io.media import logs
from pipeline.io.media.counting import count_decodable_frames
from pipeline.io.media.luma import FramePictures
from pipeline.io.media.reader import DamagedPacket, DemuxError, MediaOpenError, MediaReader
from pipeline.io.sources.pacing import FramePacer
from pipeline.io.sources.video_path import check_video_path
from pipeline.io.sources.trim import PastTheEnd, Trim
from pipeline.config.registry import Param, ParamError, register

log = logging.getLogger(__name__)

#: Frame rate of a video file whose container states none believable (0, NaN, 90000).
DEFAULT_FILE_FPS = 30.0

#: What a file source does with a frame that does not decode.
FILE_ON_ERROR = ("skip", "stop")

#: Failed packets in a row that mean the end of a file (damaged stretches seen in
#: practice are a few frames long; failures at a truncated end come in microseconds).
DEFAULT_MAX_CONSECUTIVE_ERRORS = 30

#: Largest decoded frame (width x height) read by default: 100 megapixels, 300 MB a
#: BGR frame; a damaged or hostile header stating 16000x16000 is refused before decoding.
DEFAULT_MAX_PIXELS = 100_000_000

REENCODE_HINT = "try `ffprobe` on it, or re-encode it with `ffmpeg -i IN -c:v libx264 OUT.mp4`"


@register("source", "file")
class FileSource(Source):
    """A video file: anything FFmpeg decodes (mp4, mkv, webm, avi, mov, ...).

    Decoded by FFmpeg's libraries through PyAV with FFmpeg's frame and slice threads
    (:mod:`pipeline.io.media.reader`); each frame carries its pts in seconds, and the
    BGR bytes are those OpenCV's ``VideoCapture`` gives.  With ``realtime: true`` frames
    are paced at the file's frame rate and the source is live (the engine drops rather
    than waits), as if a camera were filming the file.  With ``loop: true`` the file
    restarts at its end, forever; pts keep growing across restarts.

    Damaged files
    -------------
    A packet that does not decode is skipped and counted (``report.skipped``, with a
    note naming the frame numbers) with ``on_error: skip`` (the default); with
    ``on_error: stop`` the first one ends the input with an error (what was read is
    still processed and written; the run exits 1).  ``max_consecutive_errors`` failures
    in a row are the end of the file.  A file that ends before the frame count its
    container states is reported as a note, not an error (containers often state a
    wrong count).  A container whose frame rate is 0, missing or absurd is read at
    :data:`DEFAULT_FILE_FPS` with a warning.  FFmpeg's own messages are counted by kind
    and summarized in one note per kind (:mod:`pipeline.io.media.logs`).

    Frame times are FFmpeg's best-effort timestamps (``MediaReader.seconds``); a stream
    whose frames exceed ``max_pixels`` is refused before decoding; a file with no video
    stream is said in one line.

    When the chain starts with ``grayscale: {from: luma}`` the frames are the decoder's
    grey luma plane instead (:meth:`take_luma`, :mod:`pipeline.io.media.luma`).
    """

    gives_luma = True

    params = (
        Param("path", str, help="video file to read"),
        Param("realtime", bool, False, help="pace frames at the file's fps, like a camera"),
        Param("loop", bool, False, help="start again at the end of the file, endlessly"),
        Param("on_error", str, "skip", choices=FILE_ON_ERROR,
              help="a frame that does not decode: skip it (counted in the summary), or "
                   "stop reading there (the run exits 1)"),
        Param("max_consecutive_errors", int, DEFAULT_MAX_CONSECUTIVE_ERRORS, min=1, max=100_000,
              help="this many failed reads in a row are the end of the file"),
        Param("max_pixels", int, DEFAULT_MAX_PIXELS, min=1,
              help="refuse a video whose frames (width x height) exceed this, before decoding"),
        Param("start", float, 0.0, min=0, max=1e9,
              help="seconds to skip, from the file's start time (seek, then drop the frames "
                   "before it), as ffmpeg -ss S -i IN"),
        Param("duration", (float, type(None)), None, min=0, max=1e9,
              help="seconds to read from the first frame kept, as ffmpeg -t D -i IN "
                   "(null: to the end)"),
    )

    def __init__(self, *values, **settings):
        super().__init__(*values, **settings)
        self.live = bool(self.realtime)
        self._reader: MediaReader | None = None
        self._tally = logs.MessageTally()
        self._lock = threading.Lock()  # close() waits for a read in progress
        self._closing = threading.Event()
        self._pacer: FramePacer | None = None
        self._first: tuple[np.ndarray, float] | None = None
        self._rate: float | None = None
        self._stated_frames: int | None = None
        self._position = 0  # frames consumed from the file: delivered and skipped
        self._start_pts: float | None = None
        self._file_start: float | None = None
        self._last_pts: float | None = None
        self._loop_offset = 0.0  # seconds added to pts after each restart (loop)
        self._restarted = False  # loop: the next frame starts a new pass
        self._last_raw_pts: int | None = None  # in the stream's time base
        self._counted: int | None = None
        self._messages_noted = False
        self._trim = Trim()  # start and duration (pipeline.io.sources.trim), set at open
        self._pictures = FramePictures(self.report.note, self._describe())

    def take_luma(self, deferred: bool = False) -> None:
        """Hand out the luma plane as grey frames (see :mod:`pipeline.io.media.luma`);
        ``deferred``: see :meth:`pipeline.io.base.Source.take_luma`."""
        self._pictures.luma = True
        self._pictures.deferred = deferred

    def check(self) -> None:
        """``start`` and ``duration`` do not combine with ``loop``."""
        if self.loop and (self._trim_start or self._trim_duration is not None):
            raise ParamError("start" if self._trim_start else "duration",
                             "start and duration trim one pass of the file; they do not combine "
                             "with loop: true")

    def _describe(self) -> str:
        return f"video file {self.path!r}"

    # ------------------------------------------------------------------ open
    def _open_reader(self) -> MediaReader:
        try:
            reader = MediaReader(self.path, tally=self._tally).open()
        except MediaOpenError as error:
            if error.no_video:
                raise SourceError(f"{self._describe()} holds no video stream ({error.kinds} only); "
                                  "give a file with a picture track") from None
            raise SourceError(f"cannot decode {self._describe()}: not a video FFmpeg can read "
                              f"({error}); {REENCODE_HINT}") from None
        self._check_size(reader)
        return reader

    def _check_size(self, reader: MediaReader) -> None:
        """SourceError before any decoding when the stream's frames exceed ``max_pixels``."""
        width, height = reader.size
        if width * height > self.max_pixels:
            reader.close()
            raise SourceError(f"{self._describe()}: its frames are {width}x{height} = {width * height:,} pixels, "
                              f"above max_pixels {self.max_pixels:,} (each decoded frame would take "
                              f"{width * height * 3 / 1e6:,.0f} MB); set source.max_pixels higher to read it")

    def open(self) -> None:
        """Open the file and decode its first frame; SourceError naming the path if not."""
        self._check_input()
        self._closing.clear()
        self._reader = self._open_reader()
        self._position = 0
        first = self._trimmed_first(self._next_item(at_open=True))
        if first is None:
            self.close()
            raise SourceError(f"{self._describe()} opened but no frame decodes; the file may be "
                              f"truncated or use a codec this FFmpeg lacks ({REENCODE_HINT})")
        self._first = first
        self._start_pts = first[1]
        self._file_start = None if self._trim_start else self._reader.file_start
        self._stated_frames = self._reader.stated_frames if not self._trim_start else None
        self._rate = self._reader.fps
        if self._rate is None:
            self._rate = DEFAULT_FILE_FPS
            message = (f"{self._describe()} states a frame rate of {self._reader.stated_fps_text}, "
                       f"which cannot be right; reading it at {DEFAULT_FILE_FPS:g} fps "
                       "(set runtime.fps to choose)")
            log.warning("%s", message)
            self.report.note(message)
        if self.realtime:
            self._pacer = FramePacer(self._rate)

    @property
    def fps(self) -> float | None:
        """The file's frame rate once open (:data:`DEFAULT_FILE_FPS` if it states none
        believable), else None."""
        return self._rate if self._reader is not None else None

    @property
    def media(self) -> MediaInput | None:
        """The file and the pts of its first frame, once open (sinks copy its sound)."""
        if self._start_pts is None:
            return None
        return MediaInput(self.path, start=self._start_pts, seekable=True,
                          file_start=self._file_start)

    # ------------------------------------------------------------------ reading
    def read(self) -> np.ndarray | None:
        """The next frame (BGR uint8, or grey from the luma plane), or None at the end of the file."""
        item = self.read_timed()
        return None if item is None else item[0]

    def read_timed(self) -> tuple[np.ndarray, float] | None:
        """The next frame and its pts in seconds, or None at the end of the file.

        When the input ended because of an error, ``report.failure`` says why.
        """
        if self._reader is None:
            raise SourceError(f"{self._describe()} is not open; call open() first")
        if self._pacer is not None:
            self._pacer.wait()
        with self._lock:
            if self._first is not None:
                item, self._first = self._first, None
                return item
            if self._reader is None or self._closing.is_set():  # closed while pacing
                return None
            return self._trim.keeps(self._next_item())

    def _check_input(self) -> None:
        """SourceError unless the input can be opened (a regular, non-empty file)."""
        check_video_path(self.path)

    # ------------------------------------------------------------------ trimming
    def _trimmed_first(self, first):
        """The first frame at or after ``start``, as ``ffmpeg -ss`` (see
        :mod:`pipeline.io.sources.trim`); SourceError when ``start`` is past the end."""
        self._trim = Trim(self._trim_start, self._trim_duration)
        try:
            return self._trim.first(first, self._reader, lambda: self._next_item(at_open=True),
                                    self._seekable())
        except PastTheEnd as error:
            self.close()
            raise SourceError(f"{self._describe()}: {error}") from None

    def _seekable(self) -> bool:
        return True

    # (read from the settings: a subclass may use ``self.start`` for something else, as the
    # batch split's frame ranges do)
    @property
    def _trim_start(self) -> float:
        return self.settings.get("start") or 0.0

    @property
    def _trim_duration(self) -> float | None:
        return self.settings.get("duration")

    def _next_item(self, at_open: bool = False) -> tuple[np.ndarray, float] | None:
        """The next frame that decodes as ``(picture, pts)``, applying ``on_error``; None at the end."""
        frame = self._next_frame(at_open)
        if frame is None:
            return None
        pts = self._reader.seconds(frame)
        if self._restarted:  # loop: go on one frame period after the last pts
            self._restarted = False
            self._loop_offset = self._last_pts + 1.0 / (self._rate or DEFAULT_FILE_FPS) - pts
        pts += self._loop_offset
        self._last_pts = pts
        self._last_raw_pts = frame.pts
        return self._pictures(frame), pts

    def _next_frame(self, at_open: bool = False):
        """The next decoded ``av.VideoFrame`` (no conversion), applying ``on_error``; None at the end."""
        failures = 0
        while True:
            try:
                frame = self._reader.next_frame()
            except (DamagedPacket, DemuxError):
                failures += 1
                if self.on_error == "stop" and not at_open:
                    self._skipped(failures)
                    self._fail(f"{self._describe()}: frame {self._position - 1} does not decode; "
                               "stopped there (on_error: stop); set on_error: skip to read past "
                               "damaged frames")
                    return None
                if failures >= self.max_consecutive_errors:
                    return None if at_open else self._at_end()
                continue
            if frame is None:
                if failures:
                    self._skipped(failures)
                return None if at_open else self._at_end()
            break
        if failures:
            self._skipped(failures)
        self._position += 1
        return frame

    def _skipped(self, failures: int) -> None:
        """Count ``failures`` frames that did not decode, starting at the current position."""
        first = self._position
        self._position += failures
        self.report.skipped += failures
        self.report.read_errors += failures
        if self.on_error == "stop":
            return
        which = f"frame {first}" if failures == 1 else f"frames {first}-{first + failures - 1}"
        message = f"{self._describe()}: {which} do{'es' if failures == 1 else ''} not decode; skipped"
        log.warning("%s", message)
        self.report.note(message)

    def _fail(self, message: str) -> None:
        if self._closing.is_set():
            return
        log.warning("%s", message)
        self.report.failure = message

    def _covers(self, stated: int) -> bool:
        """Whether the frames read reach the time ``stated`` frames at the file's rate
        would (an AVI's index counts the empty chunks that stand for repeated frames,
        which decode to nothing: fewer frames, nothing missing)."""
        if self._last_pts is None or not self._rate:
            return False
        step = 1.0 / self._rate
        covered = self._last_pts - self._loop_offset + step - self._reader.stream_start
        return covered >= stated * step - 1.5 * step

    def _at_end(self):
        """The file ended: report a shortfall against the stated count, restart with ``loop``.

        Returns the first frame of the next pass (``loop``), else None.
        """
        if self._reader.clock_jumps and not self._restarted:
            message = (f"{self._describe()}: its timestamps jumped {self._reader.clock_jumps} time(s) "
                       "(recordings joined with cat, or a stream with a gap of over 10 s); the "
                       "packets after each jump were shifted to follow on, as ffmpeg shifts them")
            log.info("%s", message)
            self.report.note(message)
        stated = self._stated_frames
        if stated is not None and self._position < stated and not self._covers(stated):
            message = (f"{self._describe()} ends after {self._position} frames, but its container "
                       f"states {stated}; the rest is missing or does not decode (truncated or damaged?)")
            log.warning("%s", message)
            self.report.read_errors += 1
            self.report.note(message)
            self._stated_frames = None  # said once, even with loop
        if not self.loop or self._position == 0:
            return None
        # Reopen rather than seek: a fresh decoder state, as at the first pass.
        self._reader.close()
        self._reader = self._open_reader()
        self._position = 0
        self._restarted = True
        return self._next_frame(at_open=True)

    def count_frames(self) -> int | None:
        """Frames that decode (counted once, by a separate decode pass); None with ``loop``
        or trimming."""
        if self.loop or self._trim_start or self._trim_duration is not None:
            return None
        if self._counted is None:
            check_video_path(self.path)
            # The run's own read reports the same messages.  One decoder thread: muted()
            # holds for this thread only (the count may run beside the run).
            with logs.muted():
                try:
                    self._counted = count_decodable_frames(self.path, self.max_consecutive_errors,
                                                           threads=1)
                except MediaOpenError as error:
                    raise SourceError(f"cannot decode {self._describe()} to count its frames "
                                      f"({error}); {REENCODE_HINT}") from None
        return self._counted

    def close(self) -> None:
        """Close the file (after a read in progress returns); safe to call twice."""
        self._closing.set()
        with self._lock:
            if self._reader is not None:
                self._reader.close()
            self._reader = None
            self._first = None
            self._pacer = None
        if not self._messages_noted and self._tally.heard:
            self._messages_noted = True
            for line in self._tally.lines(self._describe()):
                log.info("%s", line)
                self.report.note(line)
