"""The ``network`` sink: the edge video sent to a receiver by URL.

By the URL's scheme: ``srt://host:port`` (caller; ``?mode=listener`` waits for a caller),
MPEG-TS over SRT; ``rtmp://host[:port]/app/key``, FLV pushed over RTMP; ``udp://host:port``,
MPEG-TS in 1316-byte datagrams; ``rtp://host:port``, MPEG-TS over RTP.  PyAV's bundled
FFmpeg has no SRT, so for srt:// the MPEG-TS this sink muxes is handed to the system
``ffmpeg`` program (``-c copy``: no second encode; :mod:`pipeline.io.sinks.srt`).

:class:`StreamSink` (shared with the ``hls`` sink) takes the ``video`` sink's codec keys
and encodes with its writer (:class:`~pipeline.io.media.writer.MediaWriter`): H.264 by
default, tuned for live (``zerolatency``, a keyframe a second with its SPS/PPS, so a
receiver that joins late starts within one), and the input's sound as AAC where it is a
file.  A receiver that goes away never stops the run: the output is reopened with backoff
(0.5 s doubling to 8 s), frames meanwhile are skipped, and the summary says how many times
the receiver was lost, how many reconnections succeeded and how many frames were skipped.
"""

from __future__ import annotations

import io
import logging
import math
import time
import urllib.parse

import av

from pipeline.io.base import Sink, SinkError, check_uint8
from pipeline.io.media.shared import PacketMuxer, release, shared_encoder
from pipeline.io.media.sound import SoundTrack
from pipeline.io.media.timing import output_seconds
from pipeline.io.media.plan import MediaError, codec_for, plan_video
from pipeline.io.media.writer import ENCODERS, MediaWriter
from pipeline.io.sinks.srt import Relay, ffmpeg_has_srt  # noqa: F401  (ffmpeg_has_srt: for tests)
from pipeline.io.sinks.video import VideoSink, parse_bitrate
from pipeline.redact import redact_url
from pipeline.config.registry import Param, ParamError, register

log = logging.getLogger(__name__)

#: The muxer for each scheme.
SCHEMES = {"srt": "mpegts", "rtmp": "flv", "rtmps": "flv", "udp": "mpegts", "rtp": "rtp_mpegts"}

#: Codecs MPEG-TS (udp, rtp, srt, HLS segments) carries, of the video sink's.
MPEGTS_CODECS = ("h264", "hevc", "mpeg4")

#: The video sink's codec keys, shared (same names, checks and help).
CODEC_KEYS = tuple(p for p in VideoSink.params if p.name in ("codec", "crf", "bitrate", "preset", "pix_fmt",
                                                            "audio", "fps")) + (
    Param("share", bool, True, help="encode once with the run's other network and hls outputs of the same "
                                    "codec settings (ffmpeg's tee); false: an encoder of its own"),
)

#: Reconnection backoff: first wait and ceiling, seconds.
FIRST_WAIT, LONGEST_WAIT = 0.5, 8.0

#: Video PES packets with their length, so a receiver (or the SRT relay) passes a frame on
#: when it is whole instead of when the next one starts: the last frame is not held back.
PES_LENGTHS = {"omit_video_pes_length": "0"}

#: MPEG-TS bytes waiting for the SRT relay beyond which frames are skipped (about 2 s at 4 Mbps).
RELAY_BACKLOG = 1 << 20


class StreamSink(Sink):
    """What the network and HLS sinks share: the plan, the writer, the reconnections."""

    clock = staticmethod(time.monotonic)  # tests may inject another

    def __init__(self, *args, **settings):
        super().__init__(*args, **settings)
        self._writer: MediaWriter | None = None
        self._relay: Relay | None = None
        self._media = None
        self.lost = 0  # times the receiver went away
        self.reconnects = 0  # successful reopenings after a loss
        self.frames_written = 0
        self.frames_skipped = 0  # while the receiver was away (or the relay behind)
        self._wait = FIRST_WAIT
        self._next_try = 0.0
        self._sound_used = False
        self._down = False  # lost and not yet back
        self._shared = None  # the SharedEncoder this output muxes from (share: true)

    # -- what subclasses say
    def target(self) -> str:
        raise NotImplementedError

    def muxer(self) -> tuple[str, dict]:
        raise NotImplementedError

    def name(self) -> str:
        return redact_url(self.target())

    def keyframe_seconds(self) -> float:
        return 1.0

    # -- settings
    def validate(self) -> None:
        self.bitrate = parse_bitrate(self.bitrate)
        try:
            self.codec_used = codec_for(".mkv", self.codec, None)
            self._check_codec()
            plan_video(".mkv", self.codec_used, grey=True, width=2, height=2, crf=self.crf,
                       bitrate=self.bitrate, preset=self.preset, pix_fmt=self.pix_fmt)
        except MediaError as error:
            raise ParamError(error.key, str(error)) from None

    def _check_codec(self) -> None:
        fmt, _ = self.muxer()
        if fmt == "flv":
            with av.open(io.BytesIO(), "w", format=fmt) as probe:
                held = [c for c, e in ENCODERS.items() if e in probe.supported_codecs]
        else:
            held = list(MPEGTS_CODECS)  # libavformat lists only MPEG-2 for mpegts, but muxes these
        if self.codec_used not in held:
            raise MediaError("codec", f"{self.name()}: {fmt} cannot carry {self.codec_used}; "
                                      f"use {', '.join(held)} (h264 plays everywhere)")

    def set_input(self, media) -> None:
        self._media = media

    # -- opening and reopening
    def open(self, first, fps, controls=None) -> None:
        self.check()
        image = check_uint8(first, f"{type(self).registry_label} sink")
        rate = self.fps if self.fps is not None else fps
        if rate is None or not rate > 0 or not math.isfinite(rate):
            raise SinkError(f"{self.registry_label} sink {self.name()}: the source has no frame rate; "
                            "set fps in the sink")
        self._rate = float(rate)
        height, width = image.shape[:2]
        grey = image.ndim == 2 or image.shape[2] == 1
        try:
            self._plan = plan_video(".mkv", self.codec_used, grey=grey, width=width, height=height,
                                    crf=self.crf, bitrate=self.bitrate,
                                    preset=self.preset or ("veryfast" if self.codec_used == "h264" else None),
                                    pix_fmt=self.pix_fmt)
        except MediaError as error:
            raise SinkError(f"{self.registry_label} sink {self.name()}: {error}") from None
        if self._plan.codec in ("h264", "hevc"):
            self._plan.options["tune"] = "zerolatency"
        if self._plan.codec == "h264":
            # SPS/PPS before every keyframe: HLS asks for global headers, which would keep
            # them out of the segments, and a receiver joining late needs them in-band.
            self._plan.options["x264-params"] = "repeat-headers=1"
        # A keyframe every keyframe_seconds(); a shared encoder's at least every second, so
        # outputs of any segment length can share it.
        seconds = min(1.0, self.keyframe_seconds()) if self.share else self.keyframe_seconds()
        self._plan.options.setdefault("g", str(max(1, round(self._rate * seconds))))
        self._shape = image.shape
        self._origin = self._media.start if self._media is not None else (first.pts or 0.0)
        self._first_index = first.index
        self.notes = []
        if self.share and controls is not None:
            # Outputs of one run (one Controls) with the same encoding share one encoder.
            key = (self._plan.encoder, tuple(sorted(self._plan.options.items())),
                   self._plan.pix_fmt, self._plan.padded, self._rate, image.shape, self._origin)
            self._shared = shared_encoder(controls, key, self._plan, self._rate, id(self), self.muxer()[0])
        try:
            self._connect()
        except (OSError, av.FFmpegError) as error:
            if not self.reconnect:
                self._release()
                raise SinkError(f"{self.registry_label} sink {self.name()}: cannot open: "
                                f"{getattr(error, 'strerror', None) or error}") from error
            self._lose(error)
        except BaseException:
            self._release()  # the engine does not abort a sink whose open failed
            raise

    def _connect(self) -> None:
        fmt, options = self.muxer()
        sound = None
        if not self._sound_used:
            sound, notes = SoundTrack.for_media(self._media, self.audio, ".mp4", f"{self.registry_label} sink")
            self.notes += notes
            self._sound_used = True
        target = self.target()
        if target.startswith("srt://"):
            self._relay = Relay(target)
            target = self._relay
        try:
            if self._shared is not None:
                self._writer = PacketMuxer(target, self._shared, sound, container_format=fmt, options=options)
                self._shared.attach(id(self), again=self._down)
            else:
                self._writer = MediaWriter(target, ".mkv", self._plan, self._rate, sound,
                                           container_format=fmt, options=options)
        except BaseException:
            if sound is not None:
                sound.close()
            self._drop_relay()
            raise

    def _drop_relay(self, wait: float = 1.0) -> bool:
        """Close the SRT relay (if any); False when it had to be stopped with data undelivered."""
        if self._relay is None:
            return True
        relay, self._relay = self._relay, None
        return relay.close(wait=wait)

    def _lose(self, error) -> None:
        """The receiver went away (or never came): drop the connection, retry after the backoff."""
        if not self._down:
            self.lost += 1
            self._down = True
            log.warning("%s sink %s: the receiver went away (%s); retrying with backoff", self.registry_label,
                        self.name(), getattr(error, "strerror", None) or error)
        if self._writer is not None and self._writer.sound is not None:
            self.notes.append(f"{self.registry_label} sink {self.name()}: the input's sound stopped at "
                              f"loss {self.lost}; a reconnected stream carries the video alone")
        self._drop_connection()
        self._next_try = self.clock() + self._wait
        self._wait = min(self._wait * 2, LONGEST_WAIT)

    def _retry(self) -> bool:
        """Reopen once the backoff has passed; True when a connection is open again."""
        if self.clock() < self._next_try:
            return False
        try:
            self._connect()
        except (OSError, av.FFmpegError) as error:
            self._lose(error)
            return False
        return True

    def _sent(self) -> None:
        """A packet went out: after a loss, that is a reconnection (opening alone proves nothing:
        RTMP and the SRT relay connect when the first packet is written)."""
        if self._down and self._writer.packets:
            self._down = False
            self.reconnects += 1
            self._wait = FIRST_WAIT
            log.info("%s sink %s: reconnected", self.registry_label, self.name())

    # -- writing
    def write(self, frame) -> None:
        image = check_uint8(frame, f"{self.registry_label} sink")
        if self._writer is None and not (self.reconnect and self._retry()):
            self.frames_skipped += 1
            return
        if self._relay is not None:
            if self._relay.broken or self._relay.process.poll() is not None:
                self._lose(BrokenPipeError("the SRT connection closed"))
                self.frames_skipped += 1
                return
            if self._relay.backlog > RELAY_BACKLOG:
                self.frames_skipped += 1  # the listener has no caller yet, or the link is slow
                return
        if image.shape != self._shape:
            raise SinkError(f"{self.registry_label} sink {self.name()}: frame {frame.index} is "
                            f"{image.shape[1]}x{image.shape[0]}, the stream {self._shape[1]}x{self._shape[0]}; "
                            "a stream keeps one size")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        seconds = output_seconds(frame, self._origin, self._first_index, self._rate)
        try:
            if self._shared is not None:
                if not self._shared.encode(frame.index, image, seconds):
                    self.frames_skipped += 1  # it came after the encoder was flushed
                    return
                packets, skipped = self._shared.packets(id(self))
                self.frames_skipped += skipped
                self._writer.mux(packets)
                self.frames_written += len(packets)  # what this output carries
                self._sent()
                return
            else:
                self._writer.write(image, seconds)
        except (OSError, av.FFmpegError) as error:
            if not self.reconnect:
                raise SinkError(f"{self.registry_label} sink {self.name()}: "
                                f"{getattr(error, 'strerror', None) or error}") from error
            self._lose(error)
            self.frames_skipped += 1
            return
        self.frames_written += 1
        self._sent()

    def close(self) -> None:
        if self._shared is not None:
            self._shared.finish()
            if self._writer is not None and self._shared.joined > 1:
                self.notes.append(f"{self.registry_label} sink {self.name()}: encoded once with "
                                  f"{self._shared.joined - 1} other output(s) of the same settings")
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                if self._shared is not None:
                    packets, skipped = self._shared.packets(id(self))
                    writer.mux(packets)
                    self.frames_written += len(packets)
                    self.frames_skipped += skipped
                self.notes += writer.finish()
            except (OSError, av.FFmpegError) as error:
                writer.abort()
                if not self._down:  # else the loss is the one already counted
                    self.lost += 1
                log.warning("%s sink %s: the end of the stream was not sent (%s)", self.registry_label,
                            self.name(), getattr(error, "strerror", None) or error)
        if not self._drop_relay(wait=3.0) and not self._down:
            self.lost += 1  # a listener nobody called, or a receiver that stopped reading
            self._down = True
            log.warning("%s sink %s: the SRT receiver did not take the end of the stream (no caller, or "
                        "it stopped reading)", self.registry_label, self.name())
        if self.lost or self.frames_skipped:
            self.notes.append(f"{self.registry_label} sink {self.name()}: receiver lost {self.lost} time(s), "
                              f"reconnected {self.reconnects} time(s); {self.frames_written} frame(s) encoded, "
                              f"{self.frames_skipped} skipped while it was away or behind")
        self._release()
        for note in self.notes:
            log.info("%s", note)

    def _drop_connection(self) -> None:
        """Close this output's container (and relay); a shared encoder no longer waits for it."""
        if self._shared is not None:
            self._shared.detach(id(self))
        if self._writer is not None:
            writer, self._writer = self._writer, None
            if writer.sound is not None:
                writer.sound.close()
            writer.abort()
        self._drop_relay()

    def _release(self) -> None:
        if self._shared is not None:
            shared, self._shared = self._shared, None
            release(shared, id(self))

    def abort(self) -> None:
        self._drop_connection()
        self._release()


@register("sink", "network")
class NetworkSink(StreamSink):
    """The edge video sent by URL: srt:// (MPEG-TS), rtmp:// (FLV), udp:// and rtp:// (MPEG-TS)."""

    registry_label = "network"
    params = (
        Param("url", str, help="srt://HOST:PORT[?mode=listener], rtmp://HOST/APP/KEY, udp://HOST:PORT "
                               "or rtp://HOST:PORT"),
        *CODEC_KEYS,
        Param("reconnect", bool, True, help="reopen with backoff when the receiver goes away "
                                            "(false: the run stops with an error)"),
    )

    def validate(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ParamError("url", f"network sink: {redact_url(self.url)!r} is not an output URL; use "
                                    "srt://HOST:PORT, rtmp://HOST/APP/KEY, udp://HOST:PORT or rtp://HOST:PORT")
        try:
            port = parts.port
        except ValueError:
            port = None
            raise ParamError("url", f"network sink: {redact_url(self.url)!r}: the port must be 0..65535") from None
        if parts.scheme in ("srt", "udp", "rtp") and port is None:
            raise ParamError("url", f"network sink: {redact_url(self.url)!r} needs a port, e.g. "
                                    f"{parts.scheme}://{parts.hostname}:9000")
        super().validate()

    def check(self) -> None:
        if self.url.startswith("srt://") and not ffmpeg_has_srt():
            raise SinkError(f"network sink {self.name()}: SRT is sent through the ffmpeg program (PyAV's "
                            "FFmpeg has no SRT), and no ffmpeg with srt is on PATH; install ffmpeg "
                            "(Debian's has SRT) or send rtmp://, udp:// or rtp://")

    def target(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme == "udp" and "pkt_size" not in parts.query:  # seven 188-byte TS packets a datagram
            return self.url + ("&" if parts.query else "?") + "pkt_size=1316"
        return self.url

    def name(self) -> str:
        return redact_url(self.url)

    def muxer(self) -> tuple[str, dict]:
        scheme = urllib.parse.urlsplit(self.url).scheme
        options = {}
        if SCHEMES[scheme] == "mpegts":
            options.update(PES_LENGTHS)
        return SCHEMES[scheme], options
