"""Decoding one video stream with FFmpeg's libraries through PyAV.

:class:`MediaReader` demuxes a file or stream with :func:`av.open`, decodes its first
video stream with FFmpeg's own threads (``thread_type``: ``AUTO`` = frame and slice
threads for files, ``SLICE`` for live streams, where each frame thread would add a
frame of latency), and hands out ``(bgr, pts)``: a new uint8 (H, W, 3) array and the
frame's presentation time in seconds (``pts * time_base``, not rounded to a frame grid).

The BGR bytes are OpenCV's
---------------------------
The chain's ``grayscale`` must stay bit-exact with ``cv2.cvtColor`` of what OpenCV's
``VideoCapture`` decoded, so the BGR here must be OpenCV's, byte for byte.  What each
side does (opencv-python 5.0.0 on FFmpeg 8, libswscale 9.5, and 5.1.0 on FFmpeg 9,
libswscale 10.1; PyAV 18.1.0 on FFmpeg 8, libswscale 9.5; the same bytes from each):

* OpenCV (``modules/videoio/src/cap_ffmpeg_impl.hpp``, ``retrieveFrame``) converts the
  decoded frame to ``AV_PIX_FMT_BGR24`` at the same size with swscale, flags
  ``SWS_BICUBIC``; its wheel links ``sws_scale_frame``, which takes the colour matrix
  and range from the frame's own tags.  It then rotates by the stream's display matrix
  (``CAP_PROP_ORIENTATION_AUTO`` is on by default) with ``cv::rotate``.
* PyAV's ``VideoFrame.to_ndarray(format="bgr24")`` calls ``VideoReformatter.reformat``,
  which also uses ``sws_scale_frame`` with the frame's colour tags, but with
  ``SWS_BILINEAR`` unless told otherwise, and never rotates.

Measured (``scripts``-free: ``tests/io/media/test_reader.py`` makes the clips): for
8-bit yuv420p/yuv422p/yuv444p H.264 (untagged, BT.709-tagged, full range, odd size),
MPEG-4, VP9, MJPEG (yuvj420p), FFV1 (bgr0, gray) and the Cinepak ``samples/tree.avi``
the bytes are identical with either flag: swscale's unscaled converters ignore the
filter.  For 10-bit yuv420p10le H.264 they differ by up to 126 with PyAV's default
(the scaled path filters chroma), and are identical with ``BICUBIC``.  A clip with a
90 degree display matrix comes out transposed from PyAV and upright from OpenCV.  So
this reader converts with ``interpolation=BICUBIC`` and rotates as OpenCV does, and
the tests hold the bytes equal to ``cv2.VideoCapture``'s.
"""

from __future__ import annotations

import fractions
import math
import os

import av
import av.error
import cv2
import numpy as np
from av.video.reformatter import Interpolation

from pipeline.errors import EdgepipeError
from pipeline.io.media.best_effort import BestEffortClock
from pipeline.io.media.logs import MessageTally
from pipeline.io.media.timing import ClockJoin

#: swscale flags OpenCV's FFmpeg backend converts with (see the module notes).
OPENCV_INTERPOLATION = Interpolation.BICUBIC

#: Environment variable that caps decoder threads (batch workers set it; 0 = FFmpeg picks).
THREADS_ENV = "EDGEPIPE_DECODE_THREADS"

#: A frame rate outside this range is treated as unknown (streams often report 90000).
PLAUSIBLE_FPS = (0.1, 1000.0)

#: ``cv::rotate`` codes OpenCV applies for a clockwise display angle.
_ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


class MediaOpenError(EdgepipeError):
    """``av.open`` failed, or the input has no video stream.

    Attributes
    ----------
    cause : BaseException or None
        PyAV's exception (``ConnectionRefusedError``, ``av.error.ExitError`` for a
        timeout, ``av.error.InvalidDataError``...), for the caller's wording.
    """

    def __init__(self, message: str, cause: BaseException | None = None, kinds: str = ""):
        super().__init__(message)
        self.cause = cause
        self.kinds = kinds  # the stream kinds there are, when none is video

    @property
    def no_video(self) -> bool:
        """The input opened but holds no video stream."""
        return bool(self.kinds)


class DamagedPacket(Exception):
    """A packet that did not decode; reading may go on after it."""


class DemuxError(Exception):
    """Reading the container failed (not its normal end); reading may go on after it."""


def plausible_fps(value) -> float | None:
    """``value`` as a float if it is a believable frame rate, else None (unknown)."""
    try:
        value = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not math.isfinite(value):
        return None
    return value if PLAUSIBLE_FPS[0] <= value <= PLAUSIBLE_FPS[1] else None


def default_threads() -> int:
    """Decoder threads to ask FFmpeg for: :data:`THREADS_ENV`, else 0 (one per core)."""
    try:
        return max(0, int(os.environ.get(THREADS_ENV, "0")))
    except ValueError:
        return 0


def opencv_rotation(frame: av.VideoFrame) -> int:
    """Clockwise degrees (0, 90, 180, 270) OpenCV turns ``frame`` by, from its display matrix."""
    angle = -round(frame.rotation)  # av_display_rotation_get: counter-clockwise degrees
    return angle % 360


def turn_as_opencv(image: np.ndarray, frame: av.VideoFrame) -> np.ndarray:
    """``image`` (a picture of ``frame``) turned by ``frame``'s display matrix as OpenCV
    turns it (a new array), or ``image`` itself when there is nothing to turn."""
    turn = _ROTATIONS.get(opencv_rotation(frame))
    return image if turn is None else cv2.rotate(image, turn)


def to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """``frame`` as the uint8 (H, W, 3) BGR array OpenCV's ``VideoCapture`` would give."""
    return turn_as_opencv(frame.to_ndarray(format="bgr24", interpolation=OPENCV_INTERPOLATION), frame)


def file_start(container) -> float | None:
    """``container``'s start time in seconds (its earliest stream), when it holds more than
    one stream; None for a lone video stream, which ffmpeg starts at its first frame."""
    start = container.start_time
    if start is None or len(container.streams) < 2:
        return None
    return start / 1_000_000


class MediaReader:
    """The first video stream of a file or URL, decoded frame by frame.

    Parameters
    ----------
    path : str
        File path or URL, as :func:`av.open` takes it.
    options : dict, optional
        FFmpeg options for the demuxer and protocol (``{"rtsp_transport": "tcp"}``).
    timeout : float or (float, float), optional
        Seconds :func:`av.open` may take, and each later read (PyAV's interrupt callback).
    live : bool
        A stream: slice threads only (no frame-thread latency).
    threads : int, optional
        Decoder threads (default :func:`default_threads`).
    tally : MessageTally, optional
        Where FFmpeg's messages are counted while the reader is open.

    Notes
    -----
    Not thread-safe: one thread reads, and :meth:`close` must not run during a read
    (the sources hold a lock for that).
    """

    def __init__(self, path: str, *, options: dict | None = None, timeout=None,
                 live: bool = False, threads: int | None = None, tally: MessageTally | None = None):
        self.path = path
        self.options = dict(options or {})
        self.timeout = timeout
        self.live = live
        self.threads = default_threads() if threads is None else threads
        self.tally = tally
        self.container: av.container.InputContainer | None = None
        self.stream: av.video.stream.VideoStream | None = None
        self.time_base: fractions.Fraction | None = None
        self._packets = None
        self._pending: list = []
        self._flushed = False
        self._last_pts: float | None = None
        self._clock: BestEffortClock | None = None
        self._join: ClockJoin | None = None  # MPEG-TS/PS: one offset across clock restarts
        self._fps: float | None = None

    # ------------------------------------------------------------------ open / close
    def open(self) -> "MediaReader":
        """Open the input and its first video stream; MediaOpenError if that fails."""
        if self.tally is not None:
            self.tally.start()
        try:
            self.container = av.open(self.path, mode="r", options=self.options or None,
                                     timeout=self.timeout)
        except (av.error.FFmpegError, OSError, ValueError) as error:
            self.close()
            raise MediaOpenError(str(error), error) from error
        if not self.container.streams.video:
            kinds = sorted({s.type for s in self.container.streams}) or ["no streams"]
            self.close()
            raise MediaOpenError(f"it holds no video stream (only {', '.join(kinds)})", kinds=", ".join(kinds))
        stream = self.stream = self.container.streams.video[0]
        stream.thread_type = "SLICE" if self.live else "AUTO"
        stream.codec_context.thread_count = self.threads
        self.time_base = stream.time_base
        self._fps = self._stream_fps(stream)
        self._join = ClockJoin() if ClockJoin.applies(self.container) and not self.live else None
        if self.tally is not None:
            self.tally.restrict(self._log_contexts())
        self._restart()
        return self

    def _log_contexts(self) -> set[str]:
        """The names FFmpeg logs this reader's messages under (see MessageTally.restrict).

        A demuxer logs under its whole name (``mov,mp4,m4a,3gp,3g2,mj2``), a muxer under
        its own (``mp4``), so the two never mix.
        """
        names = {"", "swscaler", "AVIOContext", "file", self.container.format.name,
                 self.stream.codec_context.name}
        if self.live:  # the protocols a stream may go through
            names.update({"tcp", "udp", "tls", "http", "https", "rtp", "rtsp", "rtmp", "srt",
                          self.path.split(":", 1)[0].lower()})
        return names

    def close(self) -> None:
        """Close the container; safe to call twice."""
        container, self.container = self.container, None
        stream, self.stream = self.stream, None
        if stream is not None:
            # Park FFmpeg's frame threads first, with the GIL released (PyAV's
            # flush_buffers runs nogil): a frame thread that logs takes the GIL, and
            # freeing the codec context joins the threads while holding it, which
            # deadlocks when a damaged packet is still being decoded.
            try:
                stream.codec_context.flush_buffers()
            except av.error.FFmpegError:
                pass
        self._packets = None
        self._pending = []
        if container is not None:
            try:
                container.close()
            except av.error.FFmpegError:
                pass
        if self.tally is not None:
            self.tally.stop()

    def _restart(self) -> None:
        """Demux from where the container stands (after open, a seek or a demux error)."""
        # A clock that may restart is followed on every stream's packets, as ffmpeg does.
        self._packets = self.container.demux() if self._join is not None else self.container.demux(self.stream)
        self._pending = []
        self._flushed = False

    # ------------------------------------------------------------------ properties
    @staticmethod
    def _stream_fps(stream) -> float | None:
        for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
            fps = plausible_fps(rate) if rate else None
            if fps is not None:
                return fps
        return None

    @property
    def fps(self) -> float | None:
        """The stream's average frame rate (else FFmpeg's guess), None if none believable."""
        return self._fps

    @property
    def file_start(self) -> float | None:
        """See :func:`file_start`."""
        return file_start(self.container)

    @property
    def stream_start(self) -> float:
        """The video stream's start time in seconds (0 when the container gives none)."""
        start = self.stream.start_time
        return float(start * self.time_base) if start is not None else 0.0

    @property
    def clock_jumps(self) -> int:
        """Times the input's clock restarted (joined MPEG-TS), each joined on as ffmpeg does."""
        return self._join.jumps if self._join is not None else 0

    @property
    def size(self) -> tuple[int, int]:
        """The stream's width and height as its header states them (before decoding)."""
        context = self.stream.codec_context
        return int(context.width or 0), int(context.height or 0)

    @property
    def stated_frames(self) -> int | None:
        """The frame count the container states (often wrong), None if it states none."""
        frames = self.stream.frames if self.stream is not None else 0
        return int(frames) if 0 < frames < 2**31 else None

    @property
    def stated_fps_text(self) -> str:
        """The container's own rate, for messages (``0``, ``1e+06``, ``none``)."""
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        return f"{float(rate):g}" if rate else "none"

    # ------------------------------------------------------------------ reading
    def next_frame(self) -> av.VideoFrame | None:
        """The next decoded frame (no conversion), or None at the end of the stream.

        Raises
        ------
        DamagedPacket
            A packet did not decode (call again to go on).
        DemuxError
            The container could not be read at this point (call again to go on;
            the caller bounds how many in a row it accepts).
        """
        if self.tally is not None:
            self.tally.claim()  # this thread's FFmpeg messages are this input's
        while not self._pending:
            if self._flushed:
                return None
            try:
                packet = next(self._packets)
            except StopIteration:
                self._flushed = True
                continue
            except EOFError:
                self._flushed = True
                continue
            except av.error.ExitError:
                raise  # a read timeout: the caller's to handle
            except av.error.FFmpegError as error:
                self._restart()
                raise DemuxError(str(error)) from error
            # demux() ends with one empty packet per stream, which flushes the decoder
            flush = packet.size == 0 and packet.pts is None and packet.dts is None
            if self._join is not None:
                if not flush:
                    self._join.shift(packet)
                if packet.stream.index != self.stream.index:
                    continue
            try:
                self._pending.extend(packet.decode())
            except av.error.ExitError:
                raise
            except av.error.FFmpegError as error:
                self._flushed = self._flushed or flush  # nothing more will come
                raise DamagedPacket(str(error)) from error
            if flush and not self._pending:
                self._flushed = True
        return self._pending.pop(0)

    def seconds(self, frame: av.VideoFrame) -> float:
        """``frame``'s time in seconds: FFmpeg's best-effort timestamp (:class:`BestEffortClock`).

        A frame with neither pts nor dts gets the last time + 1/fps (0 for the first),
        as ffmpeg predicts the next pts.
        """
        if self._clock is None:
            self._clock = BestEffortClock()
        tick = self._clock.guess(frame.pts, frame.dts)
        base = frame.time_base or self.time_base
        if tick is not None:
            value = float(tick * base)
        elif self._last_pts is None:
            value = 0.0
        else:
            value = self._last_pts + 1.0 / (self._fps or 30.0)
        self._last_pts = value
        return value

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame as ``(bgr, pts_seconds)``, or None at the end (see :meth:`next_frame`)."""
        frame = self.next_frame()
        if frame is None:
            return None
        return to_bgr(frame), self.seconds(frame)

    def seek(self, pts: int) -> None:
        """Go to the keyframe at or before ``pts`` (stream time base); decode on from there."""
        self.container.seek(int(pts), stream=self.stream, backward=True)
        # FFmpeg's rule after a seek: flush the decoder, or frames its threads still hold
        # from before the seek come out after it (seen under load, with frame threads).
        self.stream.codec_context.flush_buffers()
        self._clock = None  # avcodec_flush_buffers resets guess_correct_pts' counts too
        self._restart()
