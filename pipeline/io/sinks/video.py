"""The ``video`` sink: a video file written through FFmpeg's libraries (PyAV), with its sound.

What it writes (the reasons are in :mod:`pipeline.io.media.plan`,
:mod:`pipeline.io.media.writer` and :mod:`pipeline.io.media.sound`):

* the codec by extension: h264 for .mp4/.m4v/.mov/.mkv, vp9 for .webm, mjpeg for
  .avi; ffv1 (lossless: exact edge maps, gray or bgr0) only when asked;
* an .mp4 that browsers and QuickTime play: H.264 High, 4:2:0, moov atom first;
* studio-range Y for lossy codecs, as ``ffmpeg -pix_fmt yuv420p`` writes it (full range
  for ffv1, mjpeg and lossless h264, whose edge values come back exact);
* every frame at its source time (FFmpeg's best-effort timestamp), so variable frame
  rates and gaps survive; repeated or backward times are spread between their neighbours
  and a restarted clock goes on from the last frame, never shifting the rest
  (:mod:`pipeline.io.media.timing`); AVI: on the nearest free tick of the nominal rate;
* the input's sound (``audio: copy``), remuxed, transcoded where the container or a
  browser needs it, cut at the last frame of a run stopped early;
* odd sizes in 4:2:0 padded by repeating the last row or column (said in the summary);
* a frame of another size or kind than the first is scaled to the video's size (as
  ``ffmpeg`` does when a stream changes size mid-way) and counted in the summary, so one
  odd frame never costs the good ones.

The file is written under a temporary name, locked, synced and renamed only when whole
(:mod:`pipeline.io.outputs`).  OpenCV's writer is gone: its wheels have no H.264 encoder,
no sound and no timestamps, and PyAV reports failed writes where OpenCV stayed silent.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.io import formats
from pipeline.io.base import Sink, SinkError, check_uint8
from pipeline.io.media import logs
from pipeline.io.media.sound import SoundTrack
from pipeline.io.media.timing import output_origin, output_seconds
from pipeline.io.media.plan import MediaError, codec_for, plan_video
from pipeline.io.media.writer import ENCODERS, PRESETS, MediaWriter
from pipeline.io.outputs.commit import StagedOutput
from pipeline.io.outputs.folders import check_writable_folder
from pipeline.config.registry import Param, ParamError, register

log = logging.getLogger(__name__)

#: Extensions of pictures: a video sink given one is pointed at the ``images`` sink.
PICTURE_EXTENSIONS = formats.PICTURE_NAMES

AUDIO_MODES = ("copy", "encode", "none")


#: Bits per second a video may ask for: 1 kbit/s to 10 Gbit/s (x264 takes kbit/s as int32).
MIN_BITRATE, MAX_BITRATE = 1_000, 10_000_000_000


def parse_bitrate(value) -> int | None:
    """Bits per second from ``4000000``, ``"4M"`` or ``"800k"``; ParamError otherwise."""
    if value is None:
        return value
    if isinstance(value, int):
        if not MIN_BITRATE <= value <= MAX_BITRATE:
            raise ParamError("bitrate", f"bitrate must be {MIN_BITRATE}..{MAX_BITRATE} bits per "
                                        f"second (e.g. 4000000, '4M' or '800k'); got {value!r}")
        return value
    text = str(value).strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    try:
        number = float(text[:-1] if scale != 1 else text) * scale
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not MIN_BITRATE <= number <= MAX_BITRATE:
        raise ParamError("bitrate", f"bitrate must be bits per second such as 4000000, '4M' or '800k'; got {value!r}")
    return int(number)


@register("sink", "video")
class VideoSink(Sink):
    """A video file (PyAV): codec by extension, frames at their pts, the input's sound."""

    params = (
        Param("path", str, help="output file, e.g. out/edges.mp4 (the extension picks the container)"),
        Param("codec", (str, type(None)), None, choices=(*ENCODERS, None),
              help="h264, hevc, vp9, av1, ffv1 (lossless), mpeg4 or mjpeg (null: by extension)"),
        Param("crf", (int, type(None)), None, min=0, max=63,
              help="constant quality for h264/hevc (0-51) and vp9/av1 (0-63); lower is better"),
        Param("bitrate", (int, str, type(None)), None, min=MIN_BITRATE, max=MAX_BITRATE,
              help="bits per second instead of crf, e.g. 4M or 800k"),
        Param("preset", (str, type(None)), None, choices=(*PRESETS, None),
              help="encoder speed, x264 names (vp9 and av1 map them onto their speeds)"),
        Param("pix_fmt", (str, type(None)), None,
              help="pixel format (null: yuv420p; ffv1: gray or bgr0, lossless)"),
        Param("audio", str, "copy", choices=AUDIO_MODES,
              help="the input's sound: copy (transcoded only where needed), encode, or none"),
        Param("fourcc", (str, type(None)), None, help="old name of codec: mp4v, MJPG, FFV1, avc1, ..."),
        Param("fps", (float, type(None)), None, min=0.1, max=1000,
              help="nominal frame rate (null: the source's); frames keep their own times"),
    )

    def __init__(self, *args, **settings):
        super().__init__(*args, **settings)
        self._writer: MediaWriter | None = None
        self._output: StagedOutput | None = None
        self._media = None
        self._shape: tuple | None = None
        self._origin = 0.0
        self._fill_start = False  # the first frame is shown from 0 (the input's sound starts earlier)
        self._first_index = 0
        self._converted = 0
        self._first_converted: str | None = None
        self.codec_used: str | None = None
        self._tally = logs.MessageTally(writing=True)  # the muxer's messages, about this file
        self.frames_written = 0
        self.frames_dropped = 0

    @property
    def extension(self) -> str:
        """The output's extension, lower case."""
        return Path(self.path).suffix.lower()

    def validate(self) -> None:
        """Settings that do not fit together, each a ParamError naming its key."""
        if self.fourcc is not None and (len(self.fourcc) != 4 or not self.fourcc.isascii()):
            raise ParamError("fourcc", f"fourcc must be 4 ASCII characters such as mp4v, MJPG or FFV1 "
                                       f"(it is the old name of codec); got {self.fourcc!r}")
        self.bitrate = parse_bitrate(self.bitrate)
        if self.extension not in formats.VIDEO_CONTAINERS:
            return  # check() explains the extension
        try:
            self.codec_used = codec_for(self.extension, self.codec, self.fourcc)
            plan_video(self.extension, self.codec_used, grey=True, width=2, height=2, crf=self.crf,
                       bitrate=self.bitrate, preset=self.preset, pix_fmt=self.pix_fmt)
        except MediaError as error:
            raise ParamError(error.key, str(error)) from None

    def check(self) -> None:
        """The extension names a container, the folder is writable, nobody else writes there."""
        suffix = self.extension
        if not suffix:
            raise SinkError(f"video sink: {self.path!r} has no extension, so no container can be chosen; "
                            "use e.g. .mp4, .webm, .mkv or .avi")
        if suffix in PICTURE_EXTENSIONS:
            stem = Path(self.path).with_suffix("")
            raise SinkError(f"video sink: {self.path!r} is a picture name; for one picture per frame use the "
                            f"images sink, e.g. images: {{path: '{stem}_{{index:06d}}{suffix}'}}")
        if suffix not in formats.VIDEO_CONTAINERS:
            raise SinkError(f"video sink: {self.path!r}: {suffix} is not a container this sink writes; "
                            f"use {', '.join(formats.VIDEO_CONTAINERS)} (.mp4 plays in browsers)")
        if os.path.isdir(self.path):
            raise SinkError(f"video sink: {self.path!r} is a folder; give a file name such as "
                            f"{os.path.join(self.path, 'edges.mp4')!r}")
        output = StagedOutput(self.path, "video sink")
        if not output.direct:  # a pipe or device is written in place
            check_writable_folder(self.path, "video sink")
            output.lock.check_free()

    def set_input(self, media) -> None:
        """The media the run reads: its sound is copied, its start is the video's 0."""
        self._media = media

    def failure(self, problem: str) -> SinkError:
        """The error for a video that cannot be completed, naming the output and ``problem``."""
        return SinkError(f"video sink: cannot write {self.path!r}: {problem}; nothing was saved under that name")

    def open(self, first, fps, controls=None) -> None:
        """Plan the encoding for frames like ``first``, take the lock, open the temporary file."""
        self.check()
        image = check_uint8(first, "video sink")
        rate = self.fps if self.fps is not None else fps
        if rate is None or not rate > 0 or not math.isfinite(rate):
            raise SinkError(f"video sink {self.path!r}: the source has no frame rate; set fps in the sink")
        height, width = image.shape[:2]
        grey = image.ndim == 2 or image.shape[2] == 1
        try:
            self.codec_used = codec_for(self.extension, self.codec, self.fourcc)
            plan = plan_video(self.extension, self.codec_used, grey=grey, width=width, height=height,
                              crf=self.crf, bitrate=self.bitrate, preset=self.preset, pix_fmt=self.pix_fmt)
        except MediaError as error:
            raise SinkError(f"video sink {self.path!r}: {error}") from None
        self._output = StagedOutput(self.path, "video sink")
        temp = self._output.begin()
        self._tally.start()
        self.notes = []
        if self.fourcc is not None:
            self.notes.append(f"video sink {self.path}: fourcc {self.fourcc!r} is the old name of "
                              f"codec: {self.codec_used}; give codec instead")
        sound = None
        try:
            media = self._media
            self._origin, self._fill_start = output_origin(media, self.extension, first.pts, 1 / float(rate))
            sound, notes = SoundTrack.for_media(media, self.audio, self.extension, "video sink",
                                                start=self._origin)
            self.notes += notes
            self._first_index = first.index
            self._rate = float(rate)
            self._writer = MediaWriter(temp, self.extension, plan, rate, sound)
        except (OSError, av.FFmpegError) as error:
            if sound is not None and self._writer is None:
                sound.close()
            self.abort()
            raise self.failure(getattr(error, "strerror", None) or str(error)) from error
        except BaseException:
            if sound is not None and self._writer is None:
                sound.close()
            self.abort()
            raise
        if plan.padded != (width, height):
            self.notes.append(f"video sink {self.path}: {width}x{height} padded to {plan.padded[0]}x"
                              f"{plan.padded[1]} (last column/row repeated): {plan.pix_fmt} needs even sizes")
        self._shape = image.shape
        self._converted = 0
        self._first_converted = None
        self.frames_written = 0
        self.frames_dropped = 0

    def _fit(self, frame, image: np.ndarray) -> np.ndarray:
        """``image`` scaled and converted to the first frame's size and kind, counted."""
        height, width = self._shape[:2]
        if self._first_converted is None:
            self._first_converted = f"frame {frame.index}, {image.shape[1]}x{image.shape[0]}"
        self._converted += 1
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        if len(self._shape) == 2 and image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        elif len(self._shape) == 3 and image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return image

    def write(self, frame) -> None:
        """Encode ``frame.image`` at ``frame.pts`` (from the input's start)."""
        if self._writer is None:
            raise SinkError(f"video sink {self.path!r} is not open")
        image = check_uint8(frame, "video sink")
        if image.shape != self._shape:
            image = self._fit(frame, image)
        elif image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        seconds = output_seconds(frame, self._origin, self._first_index, self._rate)
        if self._fill_start and self.frames_written == 0:
            seconds = 0.0
        try:
            self._writer.write(image, seconds)
        except (OSError, av.FFmpegError) as error:
            raise self.failure(self._cause(error)) from error
        self.frames_written += 1
        if self._output.due():
            problem = self._output.problem()
            if problem is not None:
                raise self.failure(problem)

    @staticmethod
    def _cause(error: Exception) -> str:
        """FFmpeg's error in a few words (``No space left on device``)."""
        return getattr(error, "strerror", None) or str(error)

    def incomplete(self) -> str | None:
        """Why the finished temporary file is not the whole video, or None when it is."""
        problem = self._output.problem()
        if problem is not None or self._output.direct:  # a device or pipe cannot be read back
            return problem
        try:
            with av.open(str(self._output.temp)) as back:
                stream = back.streams.video[0]
                # MP4/MOV headers count the samples (free to read); AVI's also counts the
                # empty frames that fill gaps, and Matroska keeps no count: read the packets
                # back (the file is still in the page cache).
                counted = stream.frames if formats.VIDEO_CONTAINERS[self.extension] in ("mp4", "mov") else 0
                counted = counted or sum(1 for packet in back.demux(stream) if packet.size)
        except (OSError, av.FFmpegError, IndexError):
            counted = None
        expected = self.frames_written - self.frames_dropped
        if counted == expected:
            return None
        held = "cannot be read back" if counted is None else f"holds {counted} of {expected} frames"
        return f"the finished file {held}, so a write failed (a full disk, a file size limit or an I/O error)"

    def close(self) -> None:
        """Flush, check the video is whole, and move it onto its final name.

        Raises
        ------
        SinkError
            When the file vanished, the disk filled up, or the file does not hold every
            frame written; the temporary file is removed and the final name untouched.
        """
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            if self.frames_written == 0:
                writer.abort()
                log.warning("video sink %s: no frame was written, so no file was made", self.path)
                return
            try:
                self.notes += writer.finish()
            except (OSError, av.FFmpegError) as error:
                writer.abort()
                raise self.failure(self._cause(error)) from error
            self.frames_dropped = writer.dropped
            problem = self.incomplete()
            if problem is not None:
                raise self.failure(problem)
            self._output.commit()
            if self._converted:
                self.notes.append(f"video sink {self.path}: {self._converted} frame(s) of another size or kind "
                                  f"(first: {self._first_converted}) scaled to {self._shape[1]}x{self._shape[0]}")
            what = self._media.path if self._media is not None else "the input"
            if writer.moved:
                self.notes.append(f"video sink {self.path}: {writer.moved} frame time(s) of {what} repeated "
                                  "or stepped back; those frames were spread between their neighbours, as "
                                  "ffmpeg spreads them, and no later frame moved")
            if writer.rewinds:
                self.notes.append(f"video sink {self.path}: the times of {what} jumped back {writer.rewinds} "
                                  "time(s) (joined or looping input); the video goes on from the last frame")
            if writer.dropped:
                self.notes.append(f"video sink {self.path}: {writer.dropped} frame(s) of {what} dropped, as ffmpeg "
                                  f"drops them: {self.extension} with {self.codec_used} holds one frame per "
                                  f"{float(1 / writer.rate):.3f} s tick and theirs was taken (.mkv or .mp4 keep them)")
            self.notes += self._tally.lines(f"video sink {self.path}")
            for note in self.notes:
                log.info("%s", note)
        finally:
            self._tally.stop()
            self._output.discard()  # after commit() too: a no-op then

    def abort(self) -> None:
        """Close the writer and remove the temporary file; the final name is untouched."""
        self._tally.stop()
        if self._writer is not None:
            if self._writer.sound is not None:
                self._writer.sound.close()
            self._writer.abort()
            self._writer = None
        if self._output is not None:
            self._output.discard()
