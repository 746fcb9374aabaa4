"""The encoded view: one H.264 encoder per http sink and size, its chunks shared by every viewer.

Two sizes (:data:`SIZES`): ``full``, the picture as it is (a stream's own page), and
``tile``, scaled down to the sink's ``tile_width`` before it is encoded (the grid's
tiles: :func:`downscale`, at a bitrate in proportion, :func:`scaled_bitrate`).

The sink hands each picture to :meth:`Feed.submit` (the newest replaces one not yet
encoded, so a slow encoder skips pictures and never holds up the pipeline); the feed's
own thread encodes it once (libx264, ultrafast, zerolatency, capped at ``bitrate``) into
a :class:`Chunk` and keeps the last few in a ring.  Each viewer walks the ring with a
:class:`Cursor` (:mod:`.view`): consecutive chunks while it keeps up, and when it falls
behind or joins, nothing until the next keyframe, which it asks the feed for
(:meth:`Feed.request_keyframe`).  Requests are merged and at most one keyframe is forced
every :data:`MIN_KEY_GAP` pictures, so one struggling viewer cannot turn everyone's
stream into keyframes.

Why H.264 and not VP8: measured on 720p Sobel and Canny maps of ``samples/tree.avi`` on
this machine, libx264 ultrafast/zerolatency held a 2 Mbps cap at 7 ms a picture, while
libvpx realtime (cpu-used 8-16) took 20-200 ms and overshot its target on Canny maps
(6.8 Mbps asked 1-2); Chromium's WebCodecs decodes both.  See docs/browser-view.md.
"""

from __future__ import annotations

import collections
import dataclasses
import fractions
import logging
import struct
import threading

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: A chunk's header (little-endian): version, flags, width, height, reserved, seq, frame
#: index, capture time (ms on the server's wall clock), then the H.264 access unit (Annex B).
CHUNK_HEADER = struct.Struct("<BBHHHIId")
CHUNK_VERSION = 1
FLAG_KEY = 1

#: Chunks kept for viewers that are a picture or two late.
RING = 8

#: Pictures at least between two keyframes forced by requests.
MIN_KEY_GAP = 5

#: Seconds between keyframes the encoder makes on its own (requests add more).
GOP_SECONDS = 4.0

#: What a viewer may ask for (``?size=``): the picture as it is, or scaled down to a grid
#: tile (the http sink's ``tile_width``).
SIZES = ("full", "tile")

#: Bits per second a downscaled feed gets at least, however small its pictures.
MIN_BITRATE = 100_000


def scaled_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """``(width, height)`` of a picture no wider than ``max_width``, aspect kept, both even.

    A picture that fits is kept at its own size (rounded up to even, as :class:`Encoder`
    pads it); a wider one is scaled to ``max_width`` (rounded down to even) and its height
    in proportion (to the nearest even number, at least 2).
    """
    if max_width is None or width <= max_width:
        return width + width % 2, height + height % 2
    small = max(2, max_width - max_width % 2)
    tall = max(2, 2 * round(height * small / width / 2))
    return small, tall


def downscale(image: np.ndarray, max_width: int | None) -> np.ndarray:
    """``image`` scaled to :func:`scaled_size` (``cv2.INTER_AREA``) when wider than
    ``max_width``, else ``image`` itself (gray or BGR alike).

    OpenCV's INTER_AREA is a quick box filter when both sizes shrink by a whole factor
    (720p to 640x360: 0.06 ms) and some 20 times slower otherwise (720p to 480x270:
    1.4 ms, more than the tile's encode saves); so the whole part of the factor is taken
    first, when it divides both sizes, and INTER_AREA does the rest on the smaller
    picture (0.5 ms; within 1-2 grey levels on average of the one-step result).
    """
    height, width = image.shape[:2]
    size = scaled_size(width, height, max_width)
    if size[0] >= width:
        return image
    whole = min(width // size[0], height // size[1])
    if whole >= 2 and width % whole == 0 and height % whole == 0 and (width // whole, height // whole) != size:
        image = cv2.resize(image, (width // whole, height // whole), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def scaled_bitrate(bitrate: int, full: tuple[int, int], small: tuple[int, int]) -> int:
    """``bitrate`` (for pictures of size ``full``) in proportion to ``small``'s pixels,
    at least :data:`MIN_BITRATE` (and never more than ``bitrate``)."""
    share = (small[0] * small[1]) / max(1, full[0] * full[1])
    return min(bitrate, max(MIN_BITRATE, round(bitrate * share)))


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One encoded picture as the viewers receive it (see :data:`CHUNK_HEADER`)."""

    seq: int
    index: int
    key: bool
    capture_ms: float
    width: int
    height: int
    data: bytes
    codec: str | None = None  # the WebCodecs codec string, on keyframes

    def pack(self) -> bytes:
        """The header and the access unit: one WebSocket message."""
        head = CHUNK_HEADER.pack(CHUNK_VERSION, FLAG_KEY if self.key else 0, self.width, self.height,
                                 0, self.seq & 0xFFFFFFFF, self.index & 0xFFFFFFFF, self.capture_ms)
        return head + self.data

    @classmethod
    def unpack(cls, message: bytes) -> "Chunk":
        """The chunk packed in ``message``; ValueError when it is not one."""
        if len(message) < CHUNK_HEADER.size:
            raise ValueError(f"a chunk has a {CHUNK_HEADER.size}-byte header; got {len(message)} bytes")
        version, flags, width, height, _, seq, index, capture_ms = CHUNK_HEADER.unpack_from(message)
        if version != CHUNK_VERSION:
            raise ValueError(f"chunk version {version}; this reader knows {CHUNK_VERSION}")
        data = bytes(message[CHUNK_HEADER.size:])
        key = bool(flags & FLAG_KEY)
        return cls(seq, index, key, capture_ms, width, height, data, codec_string(data) if key else None)


def codec_string(access_unit: bytes) -> str | None:
    """``avc1.PPCCLL`` from the sequence parameter set in ``access_unit``, else None."""
    start = 0
    while True:
        start = access_unit.find(b"\x00\x00\x01", start)
        if start < 0 or start + 7 > len(access_unit):
            return None
        header = access_unit[start + 3]
        if header & 0x1F == 7:  # SPS: profile_idc, constraint flags, level_idc
            return "avc1." + access_unit[start + 4:start + 7].hex()
        start += 3


#: A grey level (0-255, full range) as limited-range luma (16-235), rounded: what FFmpeg's
#: swscale makes of ``gray`` in ``yuv420p`` (tests/io/sinks/test_http_tiles.py compares).
GRAY_TO_LUMA = np.round(16 + np.arange(256) * (219 / 255)).astype(np.uint8)


def yuv420p(gray: np.ndarray) -> np.ndarray:
    """A grey picture (even sizes) as one yuv420p array: luma by :data:`GRAY_TO_LUMA`,
    neutral chroma.  Equal to swscale's conversion, at a fifth of its cost (a table and a
    fill, where swscale filters the chroma planes of a picture that has none)."""
    height, width = gray.shape
    planes = np.empty((height * 3 // 2, width), np.uint8)
    cv2.LUT(gray, GRAY_TO_LUMA, dst=planes[:height])
    planes[height:] = 128
    return planes


class Encoder:
    """libx264 through PyAV: gray or BGR uint8 pictures in, Annex B access units out."""

    def __init__(self, width: int, height: int, fps: float, bitrate: int, threads: int | None = None):
        import av  # lazy: PyAV only once a viewer watches the H.264 view

        self.width, self.height = width + width % 2, height + height % 2  # 4:2:0 wants even sizes
        rate = fractions.Fraction(fps).limit_denominator(1001)
        context = av.CodecContext.create("libx264", "w")
        context.width, context.height = self.width, self.height
        context.pix_fmt = "yuv420p"
        context.time_base = 1 / rate
        context.framerate = rate
        context.bit_rate = bitrate
        context.options = {"preset": "ultrafast", "tune": "zerolatency", "maxrate": str(bitrate),
                           "bufsize": str(bitrate // 5), "g": str(max(1, round(fps * GOP_SECONDS)))}
        if threads is not None:  # else x264's own choice (sliced threads under zerolatency)
            context.options = {**context.options, "threads": str(threads)}
        context.open()
        self._av = av
        self._context = context
        self._pts = 0

    def encode(self, image: np.ndarray, key: bool) -> list[tuple[bytes, bool]]:
        """``image`` as access units ``(bytes, keyframe)`` (zerolatency: one per picture)."""
        av = self._av
        if image.shape[0] != self.height or image.shape[1] != self.width:
            pad = ((0, self.height - image.shape[0]), (0, self.width - image.shape[1]))
            image = np.pad(image, pad + ((0, 0),) * (image.ndim - 2), mode="edge")
        frame = av.VideoFrame.from_ndarray(yuv420p(image), format="yuv420p") if image.ndim == 2 else \
            av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24").reformat(format="yuv420p")
        frame.pts = self._pts
        self._pts += 1
        if key:
            frame.pict_type = av.video.frame.PictureType.I
        return [(bytes(packet), bool(packet.is_keyframe)) for packet in self._context.encode(frame)]


class Feed:
    """The newest encoded chunks, shared by every viewer; the encoder runs in its own thread.

    Parameters
    ----------
    fps : float
        Pictures per second the encoder is told (rate control).
    bitrate : int
        Bits per second the stream is capped at.
    ring : int
        Chunks kept (:data:`RING`).
    min_key_gap : int
        Pictures at least between a keyframe and one forced by a request.
    threaded : bool
        Encode in the feed's own thread (started by the first :meth:`submit`); False: the
        caller encodes by calling :meth:`step` (tests).
    max_width : int or None
        A downscaled feed (the grid's tiles): pictures wider than this are scaled down
        (:func:`scaled_size`, ``cv2.INTER_AREA``) in the feed's thread before they are
        encoded, at a bitrate in proportion to their pixels (:func:`scaled_bitrate`).
        None: every picture at its own size and ``bitrate``.
    """

    def __init__(self, fps: float, bitrate: int, ring: int = RING, min_key_gap: int = MIN_KEY_GAP,
                 threaded: bool = True, max_width: int | None = None):
        self.fps = fps
        self.bitrate = bitrate
        self.max_width = max_width
        self.min_key_gap = min_key_gap
        self.threaded = threaded
        self.cond = threading.Condition()
        self.chunks: collections.deque[Chunk] = collections.deque(maxlen=ring)
        self.seq = 0
        self.viewers = 0
        self.closed = False
        self._pending: tuple[int, np.ndarray, float] | None = None
        self._key_wanted = False
        self._since_key = min_key_gap  # the first request is served at once
        self._encoder: Encoder | None = None
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        # Counters (``/stats`` shows them; the tests count them).
        self.encoded = 0
        self.keyframes = 0
        self.forced = 0
        self.requests = 0
        self.skipped = 0  # pictures replaced before the encoder took them
        self.bytes = 0
        #: ``(width, height)`` of the pictures given and encoded last, and the encoder's
        #: bitrate (None before the first).
        self.source_size: tuple[int, int] | None = None
        self.size: tuple[int, int] | None = None
        self.encoder_bitrate: int | None = None

    def __repr__(self) -> str:
        width = "" if self.max_width is None else f", max_width={self.max_width}"
        return f"Feed(seq={self.seq}, viewers={self.viewers}, keyframes={self.keyframes}{width})"

    def numbers(self) -> dict:
        """The counters ``/stats`` shows: viewers, pictures and bytes encoded, keyframes,
        and the size and bitrate of the pictures encoded last (None before the first)."""
        with self.cond:
            size = self.size or (None, None)
            return {"viewers": self.viewers, "max_width": self.max_width, "width": size[0],
                    "height": size[1], "encoder_bitrate": self.encoder_bitrate, "encoded": self.encoded,
                    "keyframes": self.keyframes, "forced_keyframes": self.forced,
                    "keyframe_requests": self.requests, "skipped": self.skipped, "bytes": self.bytes,
                    "error": self.error}

    # ---------------------------------------------------------------- producer side
    def submit(self, index: int, image: np.ndarray, capture_ms: float) -> None:
        """Hand the newest picture to the encoder's thread (started on first use)."""
        with self.cond:
            if self.closed:
                return
            if self._pending is not None:
                self.skipped += 1
            self._pending = (index, image, capture_ms)
            if self._thread is None and self.threaded:
                self._thread = threading.Thread(target=self._run, name="edgepipe-http-encoder", daemon=True)
                self._thread.start()
            self.cond.notify_all()

    def request_keyframe(self) -> None:
        """A viewer joined or fell behind: the next picture encoded is a keyframe, at the
        latest :attr:`min_key_gap` pictures after the last forced one."""
        with self.cond:
            self.requests += 1
            self._key_wanted = True

    def _run(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self._pending is not None or self.closed)
                if self.closed:
                    return
            self.step()

    def step(self) -> Chunk | None:
        """Encode the pending picture, if any, and publish its chunk (the thread's loop
        calls this; a test may call it directly, without starting the thread)."""
        with self.cond:
            pending, self._pending = self._pending, None
            if pending is None:
                return None
            force = self._key_wanted and self._since_key >= self.min_key_gap  # deltas since the last
        index, image, capture_ms = pending
        try:
            full = image.shape[1], image.shape[0]
            image = downscale(image, self.max_width)
            height, width = image.shape[:2]
            size = width + width % 2, height + height % 2
            encoder = self._encoder
            if encoder is None or (encoder.width, encoder.height) != size:
                bitrate = self.bitrate if self.max_width is None else scaled_bitrate(self.bitrate, full, size)
                # A tile's small picture: one thread costs less CPU than x264's slices, no slower.
                encoder = self._encoder = Encoder(width, height, self.fps, bitrate,
                                                  threads=None if self.max_width is None else 1)
                self.encoder_bitrate = bitrate
            self.source_size, self.size = full, (width, height)
            units = encoder.encode(image, force)
        except Exception as error:  # noqa: BLE001  (the view is lost, never the run)
            with self.cond:
                self.error = f"{type(error).__name__}: {error}"
                self.closed = True
                self.cond.notify_all()
            log.error("http sink: the encoded view stopped (%s); MJPEG still works", self.error)
            return None
        chunk = None
        with self.cond:
            if force:
                self.forced += 1
            for data, key in units:
                self.seq += 1
                chunk = Chunk(self.seq, index, key, capture_ms, width, height, data,
                              codec_string(data) if key else None)
                self.chunks.append(chunk)
                self.encoded += 1
                self.bytes += len(data)
                if key:
                    self.keyframes += 1
                    self._key_wanted = False
                    self._since_key = 0
                else:
                    self._since_key += 1
            self.cond.notify_all()
        return chunk

    def close(self) -> None:
        """Stop the encoder's thread and wake every viewer."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)


class Cursor:
    """Where one viewer is in the feed: what to send it next, and when it must skip.

    Consecutive chunks while the viewer keeps up; at most ``in_flight`` chunks sent and
    not yet acknowledged by the page; when the next chunk is more than ``backlog`` behind
    the newest, or gone from the ring, the viewer skips to the next keyframe (and asks for
    one).  Called with the feed's lock held.
    """

    def __init__(self, in_flight: int = 3, backlog: int = 2):
        self.max_in_flight = in_flight
        self.max_backlog = backlog
        self.last = 0  # the last seq sent or skipped
        self.need_key = True
        self.unacked: collections.deque[int] = collections.deque()
        self.sent = 0
        self.skipped = 0
        self.falls = 0  # times it fell behind and waited for a keyframe
        # A viewer that joins starts at a keyframe no older than ``backlog``; without one it
        # asks (the keyframe on join), unless nothing has been encoded yet (the first
        # picture is a keyframe anyway).

    def ack(self, seq: int) -> None:
        """The page decoded chunk ``seq`` (and everything before it)."""
        while self.unacked and self.unacked[0] <= seq:
            self.unacked.popleft()

    def next(self, chunks) -> tuple[Chunk | None, bool]:
        """``(chunk to send or None, whether to ask for a keyframe)`` given the ring."""
        newer = [c for c in chunks if c.seq > self.last]
        if not newer:
            return None, False
        if len(self.unacked) >= self.max_in_flight:
            return None, False
        self.skipped += max(0, newer[0].seq - self.last - 1)  # gone from the ring unseen
        if not self.need_key:
            first = newer[0]
            if first.seq != self.last + 1 or newer[-1].seq - first.seq > self.max_backlog:
                self.need_key = True  # a gap, or too far behind: drop to the next keyframe
                self.falls += 1
        if self.need_key:
            # A keyframe recent enough to start from (an old one would start it behind).
            keys = [c for c in newer if c.key and newer[-1].seq - c.seq <= self.max_backlog]
            if not keys:
                self.skipped += len(newer)
                self.last = newer[-1].seq
                return None, True
            self.skipped += sum(1 for c in newer if c.seq < keys[-1].seq)
            chunk = keys[-1]
            self.need_key = False
        else:
            chunk = newer[0]
        self.last = chunk.seq
        self.unacked.append(chunk.seq)
        self.sent += 1
        return chunk, False
