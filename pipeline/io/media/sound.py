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
* Sound before the first video frame is left out (the video starts there), said in a note
  when it is more than a codec's priming packet.  MP4 and MOV keep the packet that
  straddles the first frame, and the one before it (decoders need it to start: AAC's
  priming), at negative times; Matroska, WebM and AVI, which would shift the video
  instead, start with the first packet at or after it.
* Streams (``url``) are not opened twice: their sound is not copied, and a note says so.
"""

from __future__ import annotations

import fractions
import logging
import math

import av

from pipeline.io.media.writer import CONTAINERS, container_codecs

log = logging.getLogger(__name__)

#: Audio codecs a browser plays in each container (others are transcoded by ``copy``).
BROWSER_AUDIO = {"mp4": {"aac", "mp3"}, "mov": {"aac", "mp3"}, "webm": {"opus", "vorbis"}}

#: The encoder used when the sound must be transcoded, by container.
TRANSCODE = {"webm": "libopus"}
DEFAULT_TRANSCODE = "aac"

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
        self.format = CONTAINERS[extension]
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
        self.notes: list[str] = []

    @classmethod
    def for_media(cls, media, mode: str, extension: str, what: str) -> tuple["SoundTrack | None", list[str]]:
        """The track for ``media`` (a :class:`~pipeline.io.base.MediaInput`), or None, and notes."""
        if media is None or mode == "none" or media.names is not None:  # pictures: no sound
            return None, []
        if not media.seekable:
            # No URL in the note: it may carry a password.
            return None, [f"{what}: sound from a stream is not copied (a stream cannot be opened "
                          "a second time); the video has no sound track"]
        try:
            return cls(media.path, media.start, mode, extension), []
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
        allowed = BROWSER_AUDIO.get(self.format)
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
        rate = OPUS_RATE if name == "libopus" else source.sample_rate
        self.stream = output.add_stream(name, rate=rate, layout=source.layout.name)
        self.stream.codec_context.time_base = fractions.Fraction(1, rate)
        self.encoder = name
        why = ("audio: encode" if self.mode == "encode" else
               f"{self.codec} sound does not play in a browser from a {self.extension} file"
               if self.format in BROWSER_AUDIO else f"a {self.extension} file cannot hold {self.codec}")
        self.notes.append(f"sound: {self.codec} transcoded to {name.removeprefix('lib')} ({why})")

    def _next(self):
        """The next packet of the input (audio or video), or None at its end."""
        if self._pending is not None:
            packet, self._pending = self._pending, None
            return packet
        for packet in self._packets:
            if packet.pts is None and packet.dts is None:
                continue  # a flush packet at the end of a stream
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
            packet.stream = self.stream
            self.output.mux(packet)
            self.copied += 1
            return
        for frame in self.source.codec_context.decode(packet):
            self._encode(frame)

    def _encode(self, frame) -> None:
        if frame is not None:
            rate = frame.sample_rate
            frame.pts = round((float(frame.pts * frame.time_base) - self.start) * rate)
            frame.time_base = fractions.Fraction(1, rate)
        for packet in self.stream.encode(frame):
            self.output.mux(packet)
            self.copied += 1

    def finish(self, video_end: float, last_frame: float) -> list[str]:
        """Write the rest of the sound and close the input; the notes for the summary.

        ``video_end`` is where the last written frame ends and ``last_frame`` where it
        starts (output seconds).  The sound after ``video_end`` is kept when no video
        frame follows ``last_frame`` in the input (the run wrote it to its end), and cut
        at ``video_end`` when one does.
        """
        held, cut = [], self._video_seen > last_frame + 1e-4
        while (packet := self._next()) is not None:
            seconds = self._seconds(packet)
            if packet.stream.type == "video":
                cut = cut or seconds > last_frame + 1e-4
                continue
            if seconds < video_end:
                self._write(packet)
            elif cut:
                break
            else:
                held.append(packet)
        if self.left_out >= 0.05:  # more than a codec's priming packet
            self.notes.append(f"sound: the first {self.left_out:.3f} s, before the first video frame, "
                              "left out")
        if cut:
            self.notes.append(f"sound: cut at {video_end:.3f} s, where the last frame written ends "
                              "(the run stopped before the end of the input)")
        else:
            for packet in held:
                self._write(packet)
        if self.encoder is not None:
            for frame in self.source.codec_context.decode(None):
                self._encode(frame)
            self._encode(None)
        self.input.close()
        return self.notes

    def close(self) -> None:
        """Close the input (after an abort)."""
        self.input.close()
