"""The ``stdout`` sink: the edge video on standard output (``edgepipe run IN - | ffplay -``).

Written by FFmpeg's libraries (PyAV) straight onto descriptor 1 (FFmpeg's ``pipe:1``),
in one of the containers a pipe can carry, each with a codec that fits it:

=========  ===============  ===========================================================
format     container        video
=========  ===============  ===========================================================
y4m        yuv4mpegpipe     raw: grey as ``mono``, colour as 4:4:4 (what ffplay, x264 read)
nut        nut              raw: grey, or BGR as is (exact pixels)
mpegts     mpegts           H.264 (or ``codec``), 4:2:0
matroska   matroska         H.264 (or ``codec``), 4:2:0
=========  ===============  ===========================================================

Frames keep their times (from the input's start) in nut, mpegts and matroska; y4m has
one constant rate.  The encoded formats (mpegts, matroska) are written by the video
sink's writer (:class:`~pipeline.io.media.writer.MediaWriter`): the same grey-in-luma
encoding, studio range and frame placement (times that repeat or jump back) as a file.  Nothing else may write to standard output meanwhile: the summary,
progress and messages all go to standard error.  A reader that goes away (``| head -c
100``) ends the run with :class:`ReaderGone`, which the command turns into exit 141.
"""

from __future__ import annotations

import errno
import fractions
import math
import sys

import av
import cv2
import numpy as np

from pipeline.cli.guard import is_terminal
from pipeline.io.base import Sink, SinkError, check_uint8
from pipeline.io.media.plan import MediaError, plan_video
from pipeline.io.media.timing import output_seconds
from pipeline.io.media.writer import ENCODERS, PRESETS, MediaWriter, nominal_rate
from pipeline.io.sinks.video import parse_bitrate
from pipeline.config.registry import Param, ParamError, register

#: What FFmpeg calls standard output.
STDOUT_URL = "pipe:1"

#: format: (FFmpeg muxer, default codec; None = raw video).
FORMATS = {"y4m": ("yuv4mpegpipe", None), "nut": ("nut", None),
           "mpegts": ("mpegts", "h264"), "matroska": ("matroska", "h264")}

#: Raw pixel formats: (grey, colour) per format.
RAW_FORMATS = {"y4m": ("gray", "yuv444p"), "nut": ("gray", "bgr24")}

#: Time base of the timed containers (90 kHz, MPEG-TS's own clock).
TIME_BASE = fractions.Fraction(1, 90000)


class ReaderGone(SinkError):
    """The program reading standard output closed it."""


@register("sink", "stdout")
class StdoutSink(Sink):
    """The video on standard output: y4m (default), nut, mpegts or matroska, for a pipe."""

    params = (
        Param("format", str, "y4m", choices=tuple(FORMATS),
              help="container: y4m and nut carry raw frames, mpegts and matroska H.264"),
        Param("codec", (str, type(None)), None, choices=(*ENCODERS, None),
              help="encoder for mpegts and matroska (null: h264); y4m and nut are raw"),
        Param("crf", (int, type(None)), None, min=0, max=63, help="constant quality (encoded formats)"),
        Param("bitrate", (int, str, type(None)), None, help="bits per second instead of crf, e.g. 4M"),
        Param("preset", (str, type(None)), None, choices=(*PRESETS, None), help="encoder speed, x264 names"),
        Param("fps", (float, type(None)), None, min=0.1, max=1000,
              help="nominal frame rate (null: the source's)"),
    )

    def __init__(self, *args, **settings):
        super().__init__(*args, **settings)
        self._container = None
        self._stream = None
        self._writer: MediaWriter | None = None  # mpegts, matroska
        self._plan = None
        self._origin: float | None = None
        self._last_pts: int | None = None
        self._size: tuple[int, int] | None = None
        self.codec_used: str | None = None
        self.frames_written = 0

    @property
    def raw(self) -> bool:
        """Whether frames go out unencoded (y4m, nut)."""
        return self.format in RAW_FORMATS

    def validate(self) -> None:
        """Encoder settings only where there is an encoder."""
        self.bitrate = parse_bitrate(self.bitrate)
        if self.raw:
            for key in ("codec", "crf", "bitrate", "preset"):
                if getattr(self, key) is not None:
                    raise ParamError(key, f"{key} applies to an encoded format (format: mpegts or "
                                          f"matroska); {self.format} carries raw frames")
            return
        try:
            plan_video(".mkv", self.codec or FORMATS[self.format][1], grey=True, width=2, height=2,
                       crf=self.crf, bitrate=self.bitrate, preset=self.preset)
        except MediaError as error:
            raise ParamError(error.key, str(error)) from None

    def check(self) -> None:
        """Standard output must lead somewhere other than a terminal (binary video there
        would only garble the screen)."""
        if is_terminal(sys.stdout):
            raise SinkError("stdout sink: standard output is a terminal; pipe it into a program "
                            "(edgepipe run IN - | ffplay -) or redirect it (> edges.y4m), or name "
                            "an output file instead of -")

    def open(self, first, fps, controls=None) -> None:
        """Open standard output as the container and add the video stream for frames like ``first``."""
        image = check_uint8(first, "stdout sink")
        rate = self.fps if self.fps is not None else fps
        if rate is None or not rate > 0 or not math.isfinite(rate):
            rate = 25.0
        height, width = image.shape[:2]
        grey = image.ndim == 2 or image.shape[2] == 1
        muxer, default_codec = FORMATS[self.format]
        self._shape = image.shape[:2]
        self._rate = float(rate)
        try:
            if self.raw:
                self._container = av.open(STDOUT_URL, "w", format=muxer)
                pix_fmt = RAW_FORMATS[self.format][0 if grey else 1]
                stream = self._container.add_stream("rawvideo", rate=nominal_rate(rate))
                stream.pix_fmt = pix_fmt
                stream.width, stream.height = width, height
                self._size = (width, height)
                self.codec_used = "rawvideo"
                if self.format != "y4m":
                    stream.codec_context.time_base = TIME_BASE
                    stream.time_base = TIME_BASE
            else:
                codec = self.codec or default_codec
                plan = plan_video(".mkv", codec, grey=grey, width=width, height=height, crf=self.crf,
                                  bitrate=self.bitrate, preset=self.preset)
                self._writer = MediaWriter(STDOUT_URL, ".mkv", plan, rate, container_format=muxer)
                self._container = self._writer.container
                stream = self._writer.stream
                self._size = plan.padded
                self.codec_used = codec
            self._stream = stream
        except (OSError, av.FFmpegError, MediaError) as error:
            self.abort()
            raise self._failure(error) from error
        self._origin = first.pts
        self._first_index = first.index
        self._last_pts = None
        self.frames_written = 0

    def _failure(self, error: BaseException) -> SinkError:
        if getattr(error, "errno", None) == errno.EPIPE or isinstance(error, BrokenPipeError):
            return ReaderGone("stdout sink: the program reading standard output went away")
        cause = getattr(error, "strerror", None) or str(error)
        return SinkError(f"stdout sink ({self.format}): cannot write standard output: {cause}")

    def _video_frame(self, image: np.ndarray) -> av.VideoFrame:
        width, height = self._size
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if image.shape[1::-1] != (width, height):  # odd sizes for 4:2:0, or a frame of another size
            if image.shape[1] <= width and image.shape[0] <= height:
                image = cv2.copyMakeBorder(image, 0, height - image.shape[0], 0, width - image.shape[1],
                                           cv2.BORDER_REPLICATE)
            else:
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        kind = "gray" if image.ndim == 2 else "bgr24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), kind)
        if self._stream.pix_fmt != kind:
            frame = frame.reformat(format=self._stream.pix_fmt)
        return frame

    def write(self, frame) -> None:
        """Encode (or pass raw) ``frame.image`` and write it to standard output."""
        if self._container is None:
            raise SinkError("stdout sink is not open")
        image = check_uint8(frame, "stdout sink")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if image.ndim != len(self._stream_shape()):
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_BGR2GRAY)
        if self._writer is not None:
            if image.shape[:2] != self._shape:  # a frame of another size: the first one's
                image = cv2.resize(image, self._shape[::-1], interpolation=cv2.INTER_AREA)
            origin = self._origin if self._origin is not None else 0.0
            try:
                self._writer.write(image, output_seconds(frame, origin, self._first_index, self._rate))
            except (OSError, av.FFmpegError) as error:
                raise self._failure(error) from error
            self.frames_written += 1
            return
        video = self._video_frame(image)
        if self.format == "y4m":
            video.pts = self.frames_written
        else:
            seconds = (frame.pts - self._origin) if frame.pts is not None and self._origin is not None \
                else self.frames_written / float(self._stream.average_rate or 25)
            tick = round(seconds / TIME_BASE)
            if self._last_pts is not None and tick <= self._last_pts:
                tick = self._last_pts + 1
            video.pts = self._last_pts = tick
            video.time_base = TIME_BASE
        try:
            for packet in self._stream.encode(video):
                self._container.mux(packet)
        except (OSError, av.FFmpegError) as error:
            raise self._failure(error) from error
        self.frames_written += 1

    def _stream_shape(self) -> tuple:
        if self._writer is not None:
            return (1, 1) if self._writer.plan.grey else (1, 1, 1)
        return (1, 1) if self._stream.pix_fmt == "gray" else (1, 1, 1)

    def close(self) -> None:
        """Flush the encoder and write the container's trailer."""
        container, self._container = self._container, None
        if container is None:
            return
        try:
            if self._writer is not None:
                writer, self._writer = self._writer, None
                writer.finish()
                return
            for packet in self._stream.encode(None):
                container.mux(packet)
            container.close()
        except (OSError, av.FFmpegError) as error:
            raise self._failure(error) from error

    def abort(self) -> None:
        """Close without the trailer's care (what was piped out is out)."""
        container, self._container = self._container, None
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()
        elif container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001  (giving up anyway)
                pass
