"""One encode for several outputs, as ffmpeg's ``tee`` muxer does it.

A run that sends the same edges to an RTMP server, an SRT receiver and an HLS folder with
the same codec settings encodes each frame once: the first output to see a frame encodes
it into a shared log of packets (:class:`SharedEncoder`), and every output muxes the log
into its own container (:class:`PacketMuxer`), with its own sound, its own failures and
reconnections.

* H.264 repeats its headers before every keyframe (what MPEG-TS receivers joining late
  need); outputs whose muxer wants them in the extradata too (FLV for RTMP) share an
  encoder that writes global headers, MPEG-TS outputs (SRT, UDP, RTP, HLS) one that does
  not: so an RTMP push beside HLS is two encodes, SRT beside HLS one.  Each output's
  stream is a copy of its encoder's parameters.
* Outputs are sink threads that run at their own pace: a frame is encoded by whichever
  output hands it in first (frames come in the same order to all); an output behind the
  others takes the packets already made.  The log keeps what the slowest attached output
  still needs, and always the packets since the latest keyframe, so an output that opens
  late starts there; one that reconnects after losing its receiver starts at the next
  keyframe, which the encoder makes at once (the packets kept are from before the loss).  One that falls more than :data:`MAX_BEHIND` packets behind
  skips to the latest keyframe (counted).
* The first output to close flushes the encoder; a frame that reaches another output only
  after that (one its live queue kept and the first output's dropped) is not encoded, and
  is counted as skipped.
"""

from __future__ import annotations

import os
import threading
import weakref

import av

from pipeline.io.media.writer import MediaWriter

#: AV_CODEC_FLAG_GLOBAL_HEADER: the encoder puts its headers in the extradata.
GLOBAL_HEADER = 1 << 22

#: Muxers that want the codec headers in the extradata (FLV, MP4, Matroska): their
#: outputs share an encoder with global headers; MPEG-TS and what wraps it (SRT, UDP,
#: RTP, HLS) share one without (global headers cost an RTP receiver its last frame).
GLOBAL_HEADER_FORMATS = ("flv", "mp4", "mov", "matroska", "webm")

#: Packets an attached output may lag behind the newest before it skips to a keyframe.
MAX_BEHIND = 300

_lock = threading.Lock()
#: The encoders of each run, by the run's Controls (gone with the run).
_encoders: "weakref.WeakKeyDictionary[object, dict[tuple, SharedEncoder]]" = weakref.WeakKeyDictionary()


def copy_packet(packet: av.Packet, stream) -> av.Packet:
    """A new packet with ``packet``'s bytes and times, for ``stream`` (muxing takes the data)."""
    copy = av.Packet(bytes(packet))
    copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
    copy.time_base = packet.time_base
    copy.is_keyframe = packet.is_keyframe
    copy.stream = stream
    return copy


class SharedEncoder:
    """An encoder whose packets several outputs mux (see the module notes).

    Parameters
    ----------
    plan : VideoPlan
        The encoding (:func:`~pipeline.io.media.plan.plan_video`), the same for every output.
    rate : float
        Nominal frames per second.
    global_header : bool
        Put the codec headers in the extradata (for FLV and MP4 muxers).
    """

    def __init__(self, plan, rate: float, global_header: bool = False):
        self.lock = threading.Lock()
        self._log: list[av.Packet] = []
        self._base = 0  # sequence number of _log[0]
        self._keyframe = None  # sequence number of the latest keyframe
        self._cursors: dict[int, int | None] = {}  # output -> next sequence number (None: detached)
        self.last_index = -1
        self.finished = False
        self.joined = 0  # outputs that ever joined
        self._waiting: set[int] = set()  # reconnected outputs waiting for a keyframe
        self._missed: dict[int, int] = {}  # packets an output was moved past (lagging)
        self._want_key = False  # the next frame encoded is made a keyframe
        self.key = None  # where shared_encoder() keeps it
        self.run = None  # a weak reference to the run's Controls
        self.writer = MediaWriter(os.devnull, ".mkv", plan, rate, container_format="null",
                                  deliver=self._take, codec_flags=GLOBAL_HEADER if global_header else 0)
        self.writer.stream.codec_context.open()  # the extradata every output's stream copies

    @property
    def stream(self):
        """The encoder's stream: the template of every output's video stream."""
        return self.writer.stream

    @property
    def members(self) -> int:
        return len(self._cursors)

    def _take(self, packet: av.Packet) -> None:
        packet.time_base = self.writer.time_base
        if packet.is_keyframe:
            self._keyframe = self._base + len(self._log)
        self._log.append(packet)
        self._trim()

    def _trim(self) -> None:
        end = self._base + len(self._log)
        if self._keyframe is not None:
            # An attached output that stopped taking packets (a relay with no caller, a
            # blocked write) must not hold the log: past MAX_BEHIND it is moved to the
            # latest keyframe, the packets it missed counted for its next take.
            for output, cursor in self._cursors.items():
                if cursor is not None and end - cursor > MAX_BEHIND and self._keyframe > cursor:
                    self._missed[output] = self._missed.get(output, 0) + self._keyframe - cursor
                    self._cursors[output] = self._keyframe
        keep = [c for c in self._cursors.values() if c is not None]
        if self._keyframe is not None:
            keep.append(self._keyframe)
        start = min(keep) if keep else self._base + len(self._log)
        if start > self._base:
            del self._log[: start - self._base]
            self._base = start

    # -- what an output calls
    def join(self, output: int) -> None:
        with self.lock:
            self._cursors[output] = None
            self.joined += 1

    def attach(self, output: int, again: bool = False) -> None:
        """``output`` opened its container: it starts at the latest keyframe.  ``again``
        (a reconnection): the packets made before are stale, so it starts at the next
        keyframe, which the encoder is asked to make at once."""
        with self.lock:
            end = self._base + len(self._log)
            if again:
                self._cursors[output] = end
                self._waiting.add(output)
                self._want_key = True
            else:
                self._cursors[output] = self._keyframe if self._keyframe is not None else end

    def detach(self, output: int) -> None:
        """``output`` lost its receiver: the log no longer waits for it."""
        with self.lock:
            self._cursors[output] = None
            self._trim()

    def leave(self, output: int) -> None:
        with self.lock:
            self._cursors.pop(output, None)
            self._waiting.discard(output)
            self._trim()

    def encode(self, index: int, image, seconds: float) -> bool:
        """Encode frame ``index`` unless an output did already; False when it came too late
        (the encoder was flushed)."""
        with self.lock:
            if index <= self.last_index:
                return True
            if self.finished:
                return False
            self.writer.write(image, seconds, keyframe=self._want_key)
            self._want_key = False
            self.last_index = index
            return True

    def packets(self, output: int) -> tuple[list[av.Packet], int]:
        """The packets ``output`` has not muxed yet, and how many it skipped for lagging."""
        with self.lock:
            cursor = self._cursors.get(output)
            if cursor is None:
                return [], 0
            end = self._base + len(self._log)
            skipped = self._missed.pop(output, 0)
            taken = self._log[cursor - self._base:]
            if output in self._waiting:  # reconnected: from the first keyframe on
                keys = [number for number, packet in enumerate(taken) if packet.is_keyframe]
                skipped += keys[0] if keys else len(taken)
                taken = taken[keys[0]:] if keys else []
                if keys:
                    self._waiting.discard(output)
            self._cursors[output] = end
            self._trim()
            return taken, skipped

    def finish(self) -> None:
        """Flush the encoder (once): its last packets go into the log."""
        with self.lock:
            if not self.finished:
                self.finished = True
                self.writer.flush()


def shared_encoder(run, key: tuple, plan, rate: float, output: int, container_format: str) -> SharedEncoder:
    """The encoder of ``run`` (its Controls) for ``key`` and the kind of
    ``container_format`` (made by the first output to ask), with ``output`` joined."""
    global_header = container_format in GLOBAL_HEADER_FORMATS
    key = (*key, global_header)
    with _lock:
        encoders = _encoders.setdefault(run, {})
        encoder = encoders.get(key)
        if encoder is None:
            encoder = encoders[key] = SharedEncoder(plan, rate, global_header)
        encoder.key, encoder.run = key, weakref.ref(run)
        encoder.join(output)
        return encoder


def release(encoder: SharedEncoder, output: int) -> None:
    """``output`` is done with ``encoder``; the last one out closes it."""
    with _lock:
        encoder.leave(output)
        run = encoder.run() if encoder.run is not None else None
        encoders = _encoders.get(run, {}) if run is not None else {}
        if encoder.members == 0:
            if encoders.get(encoder.key) is encoder:
                del encoders[encoder.key]
            encoder.writer.abort()


class PacketMuxer:
    """One output of a :class:`SharedEncoder`: its container, stream copy and sound.

    Offers what the stream sinks use of a :class:`MediaWriter` (``sound``, ``packets``,
    ``finish()``, ``abort()``); :meth:`mux` takes the shared packets.
    """

    def __init__(self, target, encoder: SharedEncoder, sound=None, *, container_format: str,
                 options: dict | None = None):
        self.encoder = encoder
        self.container = av.open(target, "w", format=container_format, options=dict(options or {}))
        try:
            self.stream = self.container.add_stream_from_template(encoder.stream, opaque=True)
            self.sound = sound
            if sound is not None:
                sound.add_to(self.container)
        except BaseException:
            self.abort()
            raise
        self.packets = 0

    def mux(self, packets) -> None:
        for packet in packets:
            self.container.mux(copy_packet(packet, self.stream))
            self.packets += 1
            if self.sound is not None and packet.dts is not None:
                self.sound.feed(float(packet.dts * packet.time_base))

    def finish(self) -> list[str]:
        notes = []
        if self.sound is not None:
            writer = self.encoder.writer  # the video's end is the shared encode's
            notes += self.sound.finish(writer.end_seconds, writer.last_input, float(1 / writer.rate))
        self.container.close()
        return notes

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001  (the output is given up)
            pass
