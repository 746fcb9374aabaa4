"""The ``url`` source: a network stream (rtsp, http, udp, tcp, ...)."""


from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import cv2

from pipeline.io.base import SourceError
from pipeline.io.sources.capture import WATCHDOG_SLACK
from pipeline.registry import Param, ParamError, register

log = logging.getLogger(__name__)
from pipeline.io.sources.capture import _LiveCaptureSource, _recovery_params

#: Stream schemes the ``url`` source accepts; all go through OpenCV's FFmpeg backend.
URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt", "rtp")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))



@register("source", "url")
class UrlSource(_LiveCaptureSource):
    """A network stream (rtsp, http, udp, tcp, rtmp, srt) through OpenCV's FFmpeg backend.

    ``open_timeout`` bounds connecting and reading the first frame, ``read_timeout``
    each later read (FFmpeg's own ``CAP_PROP_READ_TIMEOUT_MSEC``, with the watchdog as a
    backstop), so a stream can never hang the run.  With ``on_error: stop`` (default) a
    sender that closes the stream ends the run normally, and one that goes silent for
    ``read_timeout`` ends it with an error (exit 1); ``on_error: retry`` reconnects.
    """

    params = (
        Param("url", str, help="stream address, e.g. rtsp://camera.local/stream or udp://127.0.0.1:5000"),
    ) + _recovery_params(open_timeout=10.0, read_timeout=5.0)
    watchdog_slack = WATCHDOG_SLACK

    def __init__(self, url, open_timeout=10.0, read_timeout=5.0, on_error="stop",
                 reconnect_attempts=5, reconnect_backoff=1.0, reconnect_max_backoff=30.0):
        scheme = urlsplit(url).scheme.lower()
        if scheme not in URL_SCHEMES:
            hint = " (for a local file use a `file` source)" if scheme in ("", "file") else ""
            raise ParamError(
                "url", f"url must start with one of {', '.join(s + '://' for s in URL_SCHEMES)}; got {redact_url(url)!r}{hint}"
            )
        self.url = url
        self._init_recovery(open_timeout, read_timeout, on_error, reconnect_attempts,
                            reconnect_backoff, reconnect_max_backoff)

    def __repr__(self) -> str:
        return f"UrlSource(url={redact_url(self.url)!r}, {self._recovery_repr()})"

    def _describe(self) -> str:
        return f"stream {redact_url(self.url)!r}"

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

    def open(self) -> None:
        """Connect within ``open_timeout`` and read the first frame."""
        if getattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC", None) is None or getattr(
                cv2, "CAP_PROP_READ_TIMEOUT_MSEC", None) is None:
            raise SourceError(
                f"OpenCV {cv2.__version__} cannot bound stream timeouts "
                "(no CAP_PROP_OPEN_TIMEOUT_MSEC); install opencv-python >= 4.6 to read streams"
            )
        super().open()

    def _open_capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(
            self.url,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout * 1000),
             cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout * 1000)],
        )
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"cannot open {self._describe()} within {self.open_timeout:g} s; check the address "
                "and that the stream is running (try `ffprobe URL`), or raise open_timeout"
            )
        return capture
