"""Video files written with FFmpeg's libraries (PyAV): encode, place at pts, mux, add the sound.

:class:`~pipeline.io.media.plan.VideoPlan` (:mod:`pipeline.io.media.plan`) turns a
``video`` sink's settings into what FFmpeg needs (encoder, pixel format, options, time
base); :class:`MediaWriter` writes one file with it.  The codec and preset names a sink
takes (:data:`ENCODERS`, :data:`PRESETS`) are here, beside the writer that drives the
encoders.

Decisions
---------
Documented in the ``video`` sink too; codec, profile, range and padding are chosen in
:mod:`pipeline.io.media.plan`.

* Grey edge maps go straight into the Y plane of a new 4:2:0 frame whose chroma planes
  hold a constant 128.
* Threads: FFmpeg's own defaults (``thread_count`` 0, ``thread_type`` slice+frame), so
  libx264 gets frame threads as under the ``ffmpeg`` program; PyAV's default (slice only)
  made x264 cut every picture into two slices with sliced threads.  ``EDGEPIPE_ENCODE_THREADS``
  caps them (batch workers set it).
* Timing: the codec time base is about 1/90000 s, a whole number of ticks per nominal
  frame; each frame gets ``round(pts / time_base)`` and the duration up to the next frame
  (the last frame: one nominal frame), so variable rates and gaps survive.  AVI holds a
  constant rate only, and the MPEG-4 Part 2 and MJPEG encoders budget bits per tick of
  the time base: for those, frames land on the nearest tick of the nominal rate (gaps
  survive, to a frame).
"""

from __future__ import annotations

import fractions
import os
from pathlib import Path

import av
import cv2
from av.video.frame import PictureType
import numpy as np

from pipeline.io import formats
from pipeline.io.media.timing import FramePlacer

#: Codec names the sink accepts, and the FFmpeg encoder behind each.
ENCODERS = {
    "h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1",
    "ffv1": "ffv1", "mpeg4": "mpeg4", "mjpeg": "mjpeg",
}

#: x264-style preset names; vp9 and av1 map them onto their own speed numbers.
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
           "slower", "veryslow")

#: 8-bit YUV formats whose Y plane takes a grey image as it is (chroma set to 128 once).
GREY_IN_LUMA = ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "nv12", "nv21")

#: Studio range: 0..255 mapped onto 16..235 (swscale's full-to-limited luma, rounded).
STUDIO_RANGE = np.round(16 + np.arange(256) * (219 / 255)).astype(np.uint8)

#: Environment variable that caps encoder threads (batch workers set it; 0 = FFmpeg picks).
THREADS_ENV = "EDGEPIPE_ENCODE_THREADS"


def encoder_threads() -> int:
    """Encoder threads to ask FFmpeg for: :data:`THREADS_ENV`, else 0 (FFmpeg picks)."""
    try:
        return max(0, int(os.environ.get(THREADS_ENV, "0")))
    except ValueError:
        return 0


def to_studio_range(image: np.ndarray, out: np.ndarray) -> None:
    """``image`` (uint8, 0..255) mapped onto 16..235 into ``out``: equal to :data:`STUDIO_RANGE`.

    ``convertScaleAbs`` rounds ``16 + v * 219/255`` as the table does (no value of ``v``
    falls on a half), and runs a few times faster than ``cv2.LUT`` at 1080p.
    """
    cv2.convertScaleAbs(image, dst=out, alpha=219 / 255, beta=16)


def nominal_rate(rate: float) -> fractions.Fraction:
    """``rate`` frames per second as a fraction (29.97 becomes 30000/1001)."""
    return fractions.Fraction(rate).limit_denominator(1001)


class MediaWriter:
    """One video file (and its sound) written with PyAV: frames placed at their pts.

    Parameters
    ----------
    path : Path
        Where to write (the sink's temporary name; it ends in the real extension).
    extension : str
        The final name's extension, which picks the container.
    plan : VideoPlan
        How to encode (:func:`~pipeline.io.media.plan.plan_video`).
    rate : float
        Nominal frames per second: the last frame's duration, AVI's tick, x264's rate
        control.
    sound : object, optional
        A :class:`~pipeline.io.media.sound.SoundTrack` (or None): its stream is added
        before the header is written, and its packets are interleaved with the video.
    """

    def __init__(self, path: Path, extension: str, plan, rate: float, sound=None, *,
                 container_format: str | None = None, options: dict | None = None,
                 deliver=None, codec_flags: int = 0):
        # container_format/options: a network output's muxer (flv, mpegts, hls) and its
        # options, where ``path`` is a URL or a file object (pipeline.io.sinks.network).
        # deliver: a callable that takes each packet instead of the container (the shared
        # encoder of pipeline.io.media.shared); codec_flags: added to the encoder's flags.
        self.plan = plan
        self._deliver = deliver
        self._codec_flags = codec_flags
        self.rate = nominal_rate(rate)
        self.format = container_format or formats.VIDEO_CONTAINERS[extension]
        muxer = {"movflags": "+faststart"} if self.format in ("mp4", "mov") else {}
        muxer.update(options or {})
        target = path if hasattr(path, "write") else str(path)
        self.container = av.open(target, "w", format=self.format, options=muxer)
        try:
            self.stream = self._add_video(extension)
            self.sound = sound
            if sound is not None:
                sound.add_to(self.container)
        except BaseException:
            self.abort()
            raise
        self._grey_in_luma = plan.grey and plan.pix_fmt in GREY_IN_LUMA
        self._next = 0
        self._held: av.VideoFrame | None = None
        self._last_tick: int | None = None
        self._placer = FramePlacer(float(1 / self.rate))
        self._durations: dict[int, int] = {}
        self.dropped = 0  # frames dropped on a taken tick (one frame per tick only)
        self.frames = 0
        self.packets = 0
        self.end_seconds = 0.0

    def _add_video(self, extension: str):
        plan = self.plan
        stream = self.container.add_stream(plan.encoder, rate=self.rate, options=dict(plan.options))
        stream.width, stream.height = plan.padded
        stream.pix_fmt = plan.pix_fmt
        context = stream.codec_context
        # AVI stores one frame per tick of its time base; FFmpeg's MPEG-4 Part 2 and MJPEG
        # rate control (mpegvideo) budgets bits per tick, so a finer time base multiplies
        # the bitrate (8x at 1/990 s for 15 fps).  Both get the nominal rate.
        coarse = self.format == "avi" or plan.codec in ("mpeg4", "mjpeg")
        self.time_base = (1 / self.rate) if coarse else self._fine_time_base()
        context.time_base = self.time_base
        stream.time_base = self.time_base
        context.flags |= self._codec_flags
        context.thread_count = encoder_threads()  # 0: x264, vpx, ffv1 pick (every core)
        if plan.codec in ("ffv1", "mpeg4", "mjpeg"):
            context.thread_type = "SLICE"  # frame threads would hold frames and add latency
        else:
            # FFmpeg's default (slice+frame), not PyAV's (slice): libx264 takes slice-only
            # as sliced threads, 2 slices a picture, a little bigger and slower under load.
            context.thread_type = "AUTO"
        if not av.VideoFormat(plan.pix_fmt).is_rgb and plan.pix_fmt != "gray":
            context.color_range = 2 if plan.full_range else 1  # JPEG (full) or MPEG (studio)
            context.colorspace = 6  # SMPTE 170M (BT.601): what swscale converts BGR with
            context.color_primaries = 6
            context.color_trc = 6
        return stream

    def _fine_time_base(self) -> fractions.Fraction:
        """About ``plan.time_base``, made a whole number of ticks per nominal frame.

        1/89999 s at 7 fps (12857 ticks a frame): the nominal rate stays exact, while
        any other pts still lands within a tick.
        """
        finest = self.plan.time_base.denominator
        ticks = self.rate.numerator
        if ticks > finest:
            return self.plan.time_base
        multiple = max(1, round(finest / ticks))
        return fractions.Fraction(1, ticks * multiple)

    @staticmethod
    def _blank_frame(width: int, height: int, pix_fmt: str) -> av.VideoFrame:
        frame = av.VideoFrame(width, height, pix_fmt)
        for plane in frame.planes[1:]:
            np.frombuffer(plane, np.uint8)[:] = 128  # neutral chroma
        return frame

    def _grey_frame(self, image: np.ndarray) -> av.VideoFrame:
        """``image`` written straight into the Y plane of a new frame (padded if odd)."""
        # A new frame each time, never a reused buffer: FFmpeg may still hold a reference to
        # an earlier frame's data, and writing into it made outputs differ between runs under
        # load.  At 1080p the allocation costs microseconds (the pages are touched when
        # filled) and the chroma fill about 0.1 ms, a fifth of copying the Y plane.
        frame = self._blank_frame(*self.plan.padded, self.plan.pix_fmt)
        plane = frame.planes[0]
        padded_width, padded_height = self.plan.padded
        luma = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:padded_height, :padded_width]
        height, width = image.shape
        if self.plan.studio_lut:
            to_studio_range(image, luma[:height, :width])
        else:
            luma[:height, :width] = image
        self._pad(luma, height, width)
        return frame

    @staticmethod
    def _pad(array: np.ndarray, height: int, width: int) -> None:
        """Repeat the last column and row of ``array[:height, :width]`` into the padding."""
        if array.shape[1] > width:
            array[:height, width:] = array[:height, width - 1: width]
        if array.shape[0] > height:
            array[height:] = array[height - 1: height]

    def _colour_frame(self, image: np.ndarray) -> av.VideoFrame:
        """``image`` (BGR, or grey for formats without a plain Y plane) converted by swscale."""
        width, height = self.plan.padded
        if image.shape[1::-1] != (width, height):
            image = cv2.copyMakeBorder(image, 0, height - image.shape[0], 0, width - image.shape[1],
                                       cv2.BORDER_REPLICATE)
        kind = "gray" if image.ndim == 2 else "bgr24"
        if self.plan.pix_fmt == kind:
            # Copied: the frame is encoded only when the next one arrives, and the
            # caller's array is theirs again once write() returns.
            return av.VideoFrame.from_ndarray(image, kind)
        source = av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(image), kind)
        return source.reformat(format=self.plan.pix_fmt, src_colorspace="ITU601", dst_colorspace="ITU601",
                               src_color_range=2, dst_color_range=2 if self.plan.full_range else 1)

    def write(self, image: np.ndarray, seconds: float, keyframe: bool = False) -> None:
        """Encode ``image`` to be shown at ``seconds`` (from the video's start); ``keyframe``
        asks the encoder to make it one.

        Times that repeat, step back or jump back are placed by :class:`FramePlacer`;
        a frame may wait there for the next one before it is encoded.
        """
        if image.ndim == 2 and self._grey_in_luma:
            frame = self._grey_frame(image)
        else:
            frame = self._colour_frame(image)
        if keyframe:
            frame.pict_type = PictureType.I
        for each, placed in self._placer.add(frame, seconds):
            self._emit(each, placed)

    def _emit(self, frame: av.VideoFrame, seconds: float) -> None:
        """Encode the frame before ``frame`` (its duration is now known) and hold ``frame``.

        Where a tick is a whole frame (AVI, and the MPEG-4 Part 2 and MJPEG encoders), a
        frame whose tick is taken goes on the next free one, unless it falls 0.6 frame
        or more before the frame before: then it is dropped (counted), as ffmpeg's
        variable-rate mode (``do_video_out``, the mode ffmpeg uses for AVI) does.
        """
        exact = seconds / self.time_base
        tick = round(exact)
        if self._last_tick is not None and tick <= self._last_tick:
            if exact <= self._last_tick - 0.6 and self._frame_ticks() == 1:
                self.dropped += 1
                return
            tick = self._last_tick + 1
        frame.pts = tick
        frame.time_base = self.time_base
        if self._held is not None:
            self._encode(self._held, tick - self._held.pts)
        self._held = frame
        self._last_tick = tick
        self.frames += 1

    @property
    def moved(self) -> int:
        """Frames whose input time repeated or went back."""
        return self._placer.moved

    @property
    def rewinds(self) -> int:
        """Jumps back by more than two frames (joined or looping input)."""
        return self._placer.jumps

    def _frame_ticks(self) -> int:
        """One nominal frame in ticks of the time base (at least one)."""
        return max(1, round(1 / (self.rate * self.time_base)))

    def _encode(self, frame: av.VideoFrame | None, duration: int = 0) -> None:
        if frame is not None:
            frame.duration = duration
            self._durations[frame.pts] = duration
            self.end_seconds = float((frame.pts + duration) * self.time_base)
        for packet in self.stream.encode(frame):
            if not packet.duration:
                packet.duration = self._durations.pop(packet.pts, 0)
            else:
                self._durations.pop(packet.pts, None)
            if self._deliver is not None:
                self._deliver(packet)
                self.packets += 1
                continue
            self.container.mux(packet)
            self.packets += 1
            if self.sound is not None and packet.dts is not None:
                self.sound.feed(float(packet.dts * self.time_base))

    def finish(self) -> list[str]:
        """Flush the encoder and the sound, write the trailer; the notes for the summary.

        Raises
        ------
        OSError
            From FFmpeg (``av.error.*`` are OSErrors): a full disk, a size limit.
        """
        self.flush()
        notes = []
        if self.sound is not None:
            notes += self.sound.finish(self.end_seconds, self.last_input, float(1 / self.rate))
        self.container.close()
        return notes

    def flush(self) -> None:
        """Encode the frames still waiting and drain the encoder (the end of the video)."""
        for each, placed in self._placer.finish():
            self._emit(each, placed)
        if self._held is not None:
            self._encode(self._held, self._frame_ticks())
            self._held = None
        self._encode(None)

    @property
    def last_input(self) -> float:
        """The last frame's input time, as placed (seconds; 0 before any)."""
        return self._placer.last_input if self._placer.last_input is not None else 0.0

    def abort(self) -> None:
        """Close the file without caring whether it is whole (it is removed after)."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001  (the file is thrown away)
            pass
