"""The sound of a video sink's output: the input's audio, remuxed or transcoded, in sync.

The source decodes the video; :class:`SoundTrack` opens the same file a second time with
PyAV and reads its packets (nothing decoded when it copies), so the source is never
disturbed.  Times are shifted by the first video frame's pts (``MediaInput.start``),
the shift the video gets, so sound and picture keep the offset they had in the input.

Rules (the ``video`` sink documents them for users)
---------------------------------------------------
* ``audio: copy`` (the default): packets are copied as they are, unless the container
  cannot hold the codec or a browser would refuse it there (only AAC and MP3 in
  .mp4/.m4v/.mov, only Opus and Vorbis in .webm); then it is transcoded (AAC for mp4,
  Opus for webm) and a note says so.  ``audio: encode`` always transcodes;
  ``audio: none`` writes no sound.
* A run that wrote the input to its end keeps all the sound, as ``ffmpeg -c:a copy``
  does.  A run that stopped earlier (``max_frames``, a stop key, Ctrl+C) cuts the sound
  at the end of the last written frame: the last packet kept is the one that covers that
  instant (an AAC packet is 21 ms at 48 kHz).  Whether more video followed is read from
  the input's own packets, so frames dropped in live mode do not cut the sound.
* .mp4, .mov and .avi outputs start where the input does (its earliest stream), as
  ffmpeg's do: sound before the first video frame is kept, and the first
  frame is shown from 0 (see :func:`~pipeline.io.media.timing.output_origin`).
* Elsewhere, sound before the first video frame is left out (the video starts there), said in a note
  when it is more than a codec's priming packet.  MP4 and MOV keep the packet that
  straddles the first frame, and the one before it (decoders need it to start: AAC's
  priming), at negative times; Matroska, WebM and AVI, which would shift the video
  instead, start with the first packet at or after it.
* Streams (``url``) are not opened twice: their sound is not copied, and a note says so.
"""

from __future__ import annotations

import fractions
import functools
import logging
import math

import av
import av.error

from pipeline.io import formats
from pipeline.io.media.plan import container_codecs
from pipeline.io.media.timing import ClockJoin

log = logging.getLogger(__name__)

#: Audio codecs a browser plays in each container (others are transcoded by ``copy``).
BROWSER_AUDIO = {"mp4": {"aac", "mp3"}, "mov": {"aac", "mp3"}, "webm": {"opus", "vorbis"}}

#: The encoder used when the sound must be transcoded, by container (AVI: MP3, as
#: ffmpeg picks for it).
TRANSCODE = {"webm": "libopus", "avi": "libmp3lame"}
DEFAULT_TRANSCODE = "aac"

#: What an AVI holds cleanly when copied: nothing.  PyAV's stream copy leaves the AVI
#: muxer without the audio frame size it writes into the stream header, and a file
#: written so reads back with every sound packet at time 0 (ffmpeg then warns "non
#: monotonically increasing dts" on each); so AVI sound is always encoded, to MP3.
AVI_AUDIO: set[str] = set()

#: Muxers that accept two packets with the same dts in a stream (FFmpeg's
#: AVFMT_TS_NONSTRICT); the others need each dts above the last.
NONSTRICT = ("matroska", "webm")

#: FFmpeg's default layout for a channel count (``av_channel_layout_default``).
DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0(side)", 6: "5.1(side)",
                   7: "6.1", 8: "7.1", 16: "hexadecagonal"}

#: Containers that hold sound before the video's first frame (negative times, edit lists).
NEGATIVE_TIMES = ("mp4", "mov")

#: Opus encodes at 48 kHz (and a few lower rates); AAC at the input's rate.
OPUS_RATE = 48000


class SoundTrack:
    """The input's first audio stream, written into an output container.

    Parameters
    ----------
    path : str
        The media file the source reads.
    start : float
        Input time, in seconds, that the output's 0 stands for.
    mode : {"copy", "encode"}
        Copy packets where the container and browsers allow it, or always transcode.
    extension : str
        The output's extension (picks the rules above).
    """

    def __init__(self, path: str, start: float, mode: str, extension: str):
        self.path, self.start, self.mode = path, float(start), mode
        self.format = formats.VIDEO_CONTAINERS[extension]
        self.extension = extension
        self.input = av.open(path)
        try:
            self.source = next(s for s in self.input.streams if s.type == "audio")
        except StopIteration:
            self.input.close()
            raise LookupError(f"{path} has no sound") from None
        video = [s for s in self.input.streams if s.type == "video"]
        self._packets = self.input.demux(self.source, *video[:1])
        self._pending = None
        self._video_seen = -math.inf  # the latest video packet read so far (output seconds)
        self._before = None  # the packet that ends last before the first video frame
        self.left_out = 0.0  # seconds of sound before the first video frame, left out
        self.output = None
        self.stream = None
        self.encoder = None
        self.copied = 0
        self.damaged = 0  # input packets that did not decode (transcoding), skipped
        self.moved = 0  # packets whose dts stepped back, moved up as ffmpeg's muxer does
        self._last_dts = None  # the last dts muxed (output time base)
        self._clock = ClockJoin() if ClockJoin.applies(self.input) else None
        self.resampler = None
        self.notes: list[str] = []

    @classmethod
    def for_media(cls, media, mode: str, extension: str, what: str,
                  start: float | None = None) -> tuple["SoundTrack | None", list[str]]:
        """The track for ``media`` (a :class:`~pipeline.io.base.MediaInput`), or None, and notes.

        ``start``: the input time the output's 0 stands for (default: the first frame's).
        """
        if media is None or mode == "none" or media.names is not None:  # pictures: no sound
            return None, []
        if not media.seekable:
            # No URL in the note: it may carry a password.
            return None, [f"{what}: sound from a stream is not copied (a stream cannot be opened "
                          "a second time); the video has no sound track"]
        try:
            return cls(media.path, media.start if start is None else start, mode, extension), []
        except LookupError:
            return None, []
        except (OSError, av.FFmpegError) as error:
            return None, [f"{what}: the sound of {media.path} cannot be read ({error}); "
                          "the video has no sound"]

    @property
    def codec(self) -> str:
        """The input's audio codec (FFmpeg's name)."""
        return self.source.codec_context.name

    def plays_as_is(self) -> bool:
        """True when the packets can be copied into this container (and browsers play them)."""
        allowed = AVI_AUDIO if self.format == "avi" else BROWSER_AUDIO.get(self.format)
        if allowed is not None:
            return self.codec in allowed
        return self.codec in container_codecs(self.extension)

    def add_to(self, output) -> None:
        """Add the audio stream to ``output`` (before its header is written)."""
        self.output = output
        if self.mode == "copy" and self.plays_as_is():
            self.stream = output.add_stream_from_template(self.source)
            return
        name = TRANSCODE.get(self.format, DEFAULT_TRANSCODE)
        source = self.source.codec_context
        layout, rate = encoder_target(name, source.layout.name, source.channels, source.sample_rate)
        self.stream = output.add_stream(name, rate=rate, layout=layout)
        self.stream.codec_context.time_base = fractions.Fraction(1, rate)
        self.resampler = av.AudioResampler(format=self.stream.codec_context.format.name,
                                           layout=layout, rate=rate)
        self.encoder = name
        why = ("audio: encode" if self.mode == "encode" else
               "an .avi file's sound is written as MP3" if self.format == "avi" else
               f"{self.codec} sound does not play in a browser from a {self.extension} file"
               if self.format in BROWSER_AUDIO else f"a {self.extension} file cannot hold {self.codec}")
        changed = [] if (layout, rate) == (source.layout.name, source.sample_rate) else [
            f"{source.layout.name} {source.sample_rate} Hz resampled to {layout} {rate} Hz"]
        self.notes.append(f"sound of {self.path}: {self.codec} transcoded to {name.removeprefix('lib').removesuffix('lame')} "
                          f"({'; '.join([why, *changed])})")

    def _next(self):
        """The next packet of the input (audio or video), or None at its end."""
        if self._pending is not None:
            packet, self._pending = self._pending, None
            return packet
        for packet in self._packets:
            if packet.pts is None and packet.dts is None:
                continue  # a flush packet at the end of a stream
            if self._clock is not None:
                self._clock.shift(packet)
            return packet
        return None

    def _seconds(self, packet) -> float:
        stamp = packet.pts if packet.pts is not None else packet.dts
        return float(stamp * packet.time_base) - self.start

    def feed(self, until: float) -> None:
        """Write the sound that starts before ``until`` seconds of the output."""
        while True:
            packet = self._next()
            if packet is None:
                return
            if packet.stream.type != "audio":
                self._video_seen = max(self._video_seen, self._seconds(packet))
                continue
            if self._seconds(packet) >= until:
                self._pending = packet
                return
            self._write(packet)

    def _write(self, packet) -> None:
        seconds = self._seconds(packet)
        length = float((packet.duration or 0) * packet.time_base)
        if seconds < -1e-6 and self.format not in NEGATIVE_TIMES:
            # Starts before the first video frame: Matroska, WebM and AVI would shift the
            # video by it, so it is left out (at most one packet more than the sound
            # before the video: 21 ms of AAC).
            self.left_out += min(length, -seconds)
            return
        if seconds + length <= 0:
            # Ends before the first video frame: left out, except (MP4 and MOV: their edit
            # lists hold negative times) the last such packet, which the decoder needs to
            # start the next (AAC's priming packet, at -21 ms).
            if self._before is not None:
                self.left_out += float((self._before.duration or 0) * self._before.time_base)
            self._before = packet
            return
        if self._before is not None:
            before, self._before = self._before, None
            self._put(before)
        self._put(packet)

    def _put(self, packet) -> None:
        """Copy ``packet`` into the output (shifted to the video's origin) or transcode it."""
        if self.encoder is None:
            shift = round(self.start / packet.time_base)
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts = None if packet.dts is None else packet.dts - shift
            if not self._decodes(packet):
                return
            packet.stream = self.stream
            self._mux(packet)
            return
        try:
            frames = self.source.codec_context.decode(packet)
        except av.error.FFmpegError:
            # An incomplete or corrupt packet: ffmpeg says "Error while decoding stream"
            # and goes on; so does this, and the summary counts it.
            self.damaged += 1
            return
        for frame in frames:
            self._encode(frame)

    def _decodes(self, packet) -> bool:
        """Whether a packet to be copied decodes (else it is skipped and counted, as ffmpeg
        skips it; copied, it would be an error in the output too)."""
        try:
            self.source.codec_context.decode(packet)
        except av.error.FFmpegError:
            self.damaged += 1
            return False
        return True

    def _encode(self, frame) -> None:
        """Resample ``frame`` (None: flush) to what the encoder takes, encode and mux it."""
        if frame is not None:
            rate = frame.sample_rate
            frame.pts = round((float(frame.pts * frame.time_base) - self.start) * rate)
            frame.time_base = fractions.Fraction(1, rate)
            resampled = self.resampler.resample(frame)
        else:
            resampled = [*self.resampler.resample(None), None]
        for each in resampled:
            for packet in self.stream.encode(each):
                self._mux(packet)

    def _mux(self, packet) -> None:
        """Mux ``packet``; a dts at or below the last one is moved up as ffmpeg's muxer does.

        ffmpeg (``fftools/ffmpeg_mux.c``, 5.1 and 6.x) sets such a dts to the last + 1
        (the last itself for Matroska and WebM, which allow equal dts) and the pts to at
        least that, with the warning "Non-monotonous DTS"; PyAV's mux would refuse the
        packet and lose the file.  Counted, and said in one note.
        """
        if self._last_dts is not None and packet.dts is not None:
            base = self.stream.time_base
            if packet.time_base != base:
                for field in ("pts", "dts", "duration"):
                    value = getattr(packet, field)
                    if value is not None:
                        setattr(packet, field, round(value * packet.time_base / base))
                packet.time_base = base
            least = self._last_dts + (0 if self.format in NONSTRICT else 1)
            if packet.dts < least:
                self.moved += 1
                if packet.pts is not None and packet.pts >= packet.dts:
                    packet.pts = max(packet.pts, least)
                packet.dts = least
        self.output.mux(packet)
        if packet.dts is not None:
            self._last_dts = packet.dts
        self.copied += 1

    def finish(self, video_end: float, last_frame: float, slack: float = 1e-4) -> list[str]:
        """Write the rest of the sound and close the input; the notes for the summary.

        ``video_end`` is where the last written frame ends and ``last_frame`` where it
        starts (output seconds).  The sound after ``video_end`` is kept when no video
        frame follows ``last_frame`` in the input (the run wrote it to its end), and cut
        at ``video_end`` when one does.  ``slack`` (a frame interval) absorbs the
        difference between a packet's own time and its frame's best-effort time.
        """
        held, cut = [], self._video_seen > last_frame + slack
        while (packet := self._next()) is not None:
            seconds = self._seconds(packet)
            if packet.stream.type == "video":
                cut = cut or seconds > last_frame + slack
                continue
            if seconds < video_end:
                self._write(packet)
            elif cut:
                break
            else:
                held.append(packet)
        if self.left_out >= 0.05:  # more than a codec's priming packet
            self.notes.append(f"sound of {self.path}: the first {self.left_out:.3f} s, before the first video frame, "
                              "left out")
        if cut:
            self.notes.append(f"sound of {self.path}: cut at {video_end:.3f} s, where the last frame "
                              "written ends (the run stopped before the end of the input)")
        else:
            for packet in held:
                self._write(packet)
        if self.encoder is not None:
            try:
                for frame in self.source.codec_context.decode(None):
                    self._encode(frame)
            except av.error.FFmpegError:
                self.damaged += 1
            self._encode(None)
        if self.damaged:
            self.notes.append(f"sound of {self.path}: {self.damaged} packet(s) did not decode (incomplete "
                              "or corrupt) and were skipped, as ffmpeg skips them")
        if self.moved:
            self.notes.append(f"sound of {self.path}: {self.moved} packet(s) stepped back in time (dts); "
                              "each was moved to just after the one before, as ffmpeg's muxer does")
        self.input.close()
        return self.notes

    def close(self) -> None:
        """Close the input (after an abort)."""
        self.input.close()


@functools.lru_cache(maxsize=None)
def _opens(encoder: str, layout: str, rate: int) -> bool:
    """Whether FFmpeg's ``encoder`` opens with this layout and rate (asked, not guessed)."""
    context = av.CodecContext.create(encoder, "w")
    context.layout, context.sample_rate = layout, rate
    context.format = av.Codec(encoder, "w").audio_formats[0].name
    context.time_base = fractions.Fraction(1, rate)
    try:
        context.open()
    except (av.error.FFmpegError, ValueError):
        return False
    return True


def encoder_target(encoder: str, layout: str, channels: int, rate: int) -> tuple[str, int]:
    """The layout and rate to resample to so that ``encoder`` takes the sound.

    The input's own layout if it is named and the encoder takes it; else FFmpeg's
    default layout for the channel count ("1 channels", usual in AVI and MKV, is
    mono); else stereo (mono for one channel).  The input's rate if the encoder takes
    it, else the nearest rate it takes (48 kHz for 192 kHz).
    """
    rates = av.Codec(encoder, "w").audio_rates
    if rates and rate not in rates:
        rate = min(rates, key=lambda r: (abs(r - rate), -r))
    named = [] if layout.endswith("channels") else [layout]
    candidates = [*named, DEFAULT_LAYOUTS.get(channels), "stereo" if channels > 1 else "mono"]
    for each in candidates:
        if each is not None and _opens(encoder, each, rate):
            return each, rate
    return "stereo" if channels > 1 else "mono", rate
