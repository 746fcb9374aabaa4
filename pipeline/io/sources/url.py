"""The ``url`` source: a network stream (rtsp, http, udp, tcp, ...), decoded through PyAV."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import av.error
import numpy as np

from pipeline.io.base import MediaInput, SourceError
from pipeline.io.media import logs
from pipeline.io.media.luma import FramePictures
from pipeline.io.media.reader import DamagedPacket, DemuxError, MediaOpenError, MediaReader
from pipeline.io.sources.live import WATCHDOG_SLACK, LiveSource, recovery_params
from pipeline.redact import redact_text, redact_url
from pipeline.config.registry import Param, ParamError, register

log = logging.getLogger(__name__)

#: Stream schemes the ``url`` source accepts; all go through FFmpeg's protocols.
URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt", "rtp")

#: FFmpeg protocol option that bounds each socket read, in microseconds, per scheme.
#: (rtmp's ``timeout`` means "wait for a client to connect", so rtmp and rtp rely on
#: PyAV's interrupt callback alone.)
TIMEOUT_OPTIONS = {"rtsp": "timeout", "rtsps": "timeout", "http": "timeout", "https": "timeout",
                   "tcp": "timeout", "udp": "timeout", "srt": "timeout"}

#: Damaged packets in a row after which a stream counts as lost.
MAX_DAMAGED_IN_A_ROW = 30


class StreamCapture:
    """A :class:`MediaReader` behind the watchdog's handle interface.

    ``read()`` gives ``(True, (picture, pts))`` (``pictures`` makes the picture: BGR,
    or grey from the luma plane), or ``(False, None)`` when the stream ended, went
    silent past its read timeout, or sent :data:`MAX_DAMAGED_IN_A_ROW` damaged packets
    in a row.  Damaged packets before a good one are counted in ``report``.
    """

    def __init__(self, reader: MediaReader, report, pictures: FramePictures):
        self.reader = reader
        self.report = report
        self.pictures = pictures

    def read(self):
        damaged = 0
        while True:
            try:
                frame = self.reader.next_frame()
            except (DamagedPacket, DemuxError):
                damaged += 1
                if damaged >= MAX_DAMAGED_IN_A_ROW:
                    return False, None
                continue
            except (av.error.FFmpegError, OSError):  # the read timeout (ExitError), a reset
                return False, None
            if frame is None:
                return False, None
            if damaged:
                self.report.skipped += damaged
                self.report.read_errors += damaged
            return True, (self.pictures(frame), self.reader.seconds(frame))

    def release(self) -> None:
        self.reader.close()


@register("source", "url")
class UrlSource(LiveSource):
    """A network stream (rtsp, http, udp, tcp, rtmp, srt) through FFmpeg's protocols (PyAV).

    ``open_timeout`` bounds connecting and reading the stream's header, ``read_timeout``
    each later read: both through PyAV's interrupt callback
    (``av.open(timeout=(open, read))``) and, for the protocols that take one, FFmpeg's
    own socket ``timeout`` option (microseconds; the larger of the two, so a server that
    accepts and says nothing gets ``open_timeout``), with the watchdog as a backstop, so
    a stream can never hang the run.  rtsp goes over TCP unless ``rtsp_transport: udp``.
    With ``on_error: stop`` (default) a sender that closes the stream ends the run
    normally, and one that goes silent for ``read_timeout`` ends it with an error (exit
    1); ``on_error: retry`` reconnects.  Frames carry the stream's pts in seconds; after
    a reconnection they go on one frame period after the last one, so time never runs
    backwards.  Decoding uses FFmpeg's slice threads only (frame threads add latency).
    When the chain starts with ``grayscale: {from: luma}`` the frames are the decoder's
    grey luma plane instead (:meth:`take_luma`, :mod:`pipeline.io.media.luma`).
    """

    gives_luma = True

    params = (
        Param("url", str, help="stream address, e.g. rtsp://camera.local/stream or udp://127.0.0.1:5000"),
        Param("rtsp_transport", str, "tcp", choices=("tcp", "udp"),
              help="rtsp only: carry the media over tcp (reliable) or udp (lower latency, may lose packets)"),
    ) + recovery_params(open_timeout=10.0, read_timeout=5.0)
    watchdog_slack = WATCHDOG_SLACK

    def __init__(self, *values, **settings):
        super().__init__(*values, **settings)
        self._tally = logs.MessageTally()
        self._start_pts: float | None = None
        self._last_pts: float | None = None
        self._pts_offset = 0.0
        self._rebase = False  # the next frame comes from a new connection
        self._messages_noted = False
        self._pictures = FramePictures(self.report.note, self._describe())

    def take_luma(self, deferred: bool = False) -> None:
        """Hand out the luma plane as grey frames (see :mod:`pipeline.io.media.luma`);
        ``deferred``: see :meth:`pipeline.io.base.Source.take_luma`."""
        self._pictures.luma = True
        self._pictures.deferred = deferred

    def check(self) -> None:
        """A stream scheme, rtsp_transport only for rtsp, and the reconnection rules."""
        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        except ValueError as error:
            raise ParamError("url", f"url {redact_url(self.url)!r} is not a valid address ({error}); "
                                    "e.g. rtsp://camera.local:554/stream or http://[::1]:8080/live") from None
        scheme = parts.scheme.lower()
        if scheme not in URL_SCHEMES:
            hint = " (for a local file use a `file` source)" if scheme in ("", "file") else ""
            raise ParamError("url", f"url must start with one of {', '.join(s + '://' for s in URL_SCHEMES)}; "
                                    f"got {redact_url(self.url)!r}{hint}")
        if not scheme.startswith("rtsp") and self.rtsp_transport != "tcp":
            raise ParamError("rtsp_transport", f"rtsp_transport applies only to rtsp:// urls; got "
                                               f"{redact_url(self.url)!r} (leave rtsp_transport out)")
        super().check()

    def _shown_settings(self) -> dict:
        return {**self.settings, "url": redact_url(self.url)}

    def _describe(self) -> str:
        return f"stream {redact_url(self.url)!r}"

    def _open_deadline(self) -> float:
        # PyAV gives av.open's two steps (avformat_open_input, then find_stream_info)
        # open_timeout each, and the first frame read_timeout: its own timeouts end the
        # call first, so the message names the right one and no thread is left in FFmpeg.
        return 2 * self.open_timeout + self.read_timeout + self.watchdog_slack

    def _no_frame_hint(self) -> str:
        return f"the stream sent nothing decodable within {self.read_timeout:g} s"

    def _silence(self) -> str:
        return f"sent nothing for read_timeout {self.read_timeout:g} s"

    def _lost(self) -> str:
        return "was closed by the sender"

    def _end_without_retry(self, what: str, timed_out: bool) -> None:
        if timed_out:
            super()._end_without_retry(what, timed_out)
        else:  # the sender closed the stream: its end, as far as anyone can tell
            log.info("%s %s: end of stream", self._describe(), what)
            self.report.read_errors -= 1

    def protocol_options(self) -> dict:
        """FFmpeg options for this url: the socket timeout and, for rtsp, the transport."""
        scheme = urlsplit(self.url).scheme.lower()
        options = {}
        if scheme.startswith("rtsp"):
            options["rtsp_transport"] = self.rtsp_transport
        if scheme in TIMEOUT_OPTIONS:
            # The socket's timeout holds for the open too: a server that accepts and says
            # nothing is given open_timeout (PyAV's interrupt callback bounds later reads
            # by read_timeout on its own).
            seconds = max(self.open_timeout, self.read_timeout)
            options[TIMEOUT_OPTIONS[scheme]] = str(int(seconds * 1_000_000))
        return options

    def _open_capture(self) -> StreamCapture:
        reader = MediaReader(self.url, options=self.protocol_options(),
                             timeout=(self.open_timeout, self.read_timeout), live=True,
                             tally=self._tally)
        try:
            reader.open()
        except MediaOpenError as error:
            raise SourceError(self._open_failure(error)) from None
        return StreamCapture(reader, self.report, self._pictures)

    def _open_failure(self, error: MediaOpenError) -> str:
        """Why the stream did not open, in words, without the password."""
        cause = error.cause
        parts = urlsplit(self.url)
        where = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        check = "check the address and that the sender is running (try `ffprobe URL`)"
        if isinstance(cause, ConnectionRefusedError):
            return (f"cannot open {self._describe()}: the connection was refused (nothing "
                    f"listens at {where}); {check}")
        if isinstance(cause, (av.error.ExitError, TimeoutError)):
            return (f"cannot open {self._describe()} within open_timeout {self.open_timeout:g} s "
                    f"(no answer from {where}); {check}, or raise open_timeout")
        text = getattr(cause, "strerror", None) or str(error)
        text = redact_text(str(text).replace(self.url, redact_url(self.url)))
        return f"cannot open {self._describe()}: {text}; {check}"

    def _capture_fps(self, capture: StreamCapture) -> float | None:
        return capture.reader.fps

    def _on_reconnected(self) -> None:
        self._rebase = True

    def read_timed(self) -> tuple[np.ndarray, float] | None:
        """The next frame and its pts in seconds (monotonic across reconnections), or None."""
        item = self._read_item()
        if item is None:
            return None
        image, pts = item
        if self._rebase and self._last_pts is not None:
            period = 1.0 / (self._reported_fps or 30.0)
            self._pts_offset = self._last_pts + period - pts
            self._rebase = False
        pts += self._pts_offset
        if self._start_pts is None:
            self._start_pts = pts
        self._last_pts = pts
        return image, pts

    def read(self) -> np.ndarray | None:
        """The next frame (BGR uint8, or grey from the luma plane), or None at the end of the stream."""
        item = self.read_timed()
        return None if item is None else item[0]

    @property
    def media(self) -> MediaInput | None:
        """The stream (not seekable: sinks cannot read its sound a second time)."""
        if self._start_pts is None and self._first is not None:
            self._start_pts = self._first[1]
        if self._start_pts is None:
            return None
        return MediaInput(self.url, start=self._start_pts, seekable=False)

    def close(self) -> None:
        """Close the stream; FFmpeg's messages go into the report as one line per kind."""
        super().close()
        if not self._messages_noted and self._tally.heard:
            self._messages_noted = True
            for line in self._tally.lines(self._describe()):
                self.report.note(redact_text(line))  # FFmpeg's own words may quote the URL
