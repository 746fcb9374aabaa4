"""The pictures and numbers every viewer shares: the newest JPEG and the last minute.

One picture, many viewers: the sink publishes each picture once in a
:class:`LatestFrame`; each viewer's thread takes the newest whenever it is ready, so a
slow viewer skips pictures and never holds up the sink or the other viewers.
:class:`History` keeps the samples ``/stats?since=`` answers with.
"""

from __future__ import annotations

import collections
import threading

import numpy as np

#: How much of the run ``/stats?since=`` can return, and how often it is sampled.
HISTORY_SECONDS = 60.0
HISTORY_EVERY = 0.2


class LatestFrame:
    """The newest JPEG, shared by every viewer: published once, never queued.

    The producer (the sink's thread) either publishes an encoded picture or, while no
    one watches, only holds the raw image back; the first viewer to arrive has that one
    encoded for everyone (:meth:`encode_held`).  Viewers call :meth:`wait_newer` with the
    sequence number they sent last and get the newest picture, skipping any they missed.

    Parameters
    ----------
    encode : callable
        ``image -> bytes`` (the sink's JPEG encoder).
    """

    def __init__(self, encode):
        self._encode = encode
        self._cond = threading.Condition()
        self._encode_lock = threading.Lock()
        self._seq = 0
        self._jpeg = b""
        self._index = -1
        self._capture_ms = 0.0
        self._held: tuple[int, np.ndarray, float] | None = None
        self._closed = False
        self.viewers = 0
        self.encoded = 0

    def __repr__(self) -> str:
        return f"LatestFrame(seq={self._seq}, index={self._index}, viewers={self.viewers})"

    @property
    def closed(self) -> bool:
        """True after :meth:`close`: viewers end their streams."""
        return self._closed

    def publish(self, index: int, image: np.ndarray, capture_ms: float = 0.0) -> None:
        """Encode ``image`` (frame ``index``, captured at ``capture_ms`` on the wall clock)
        and make it the newest picture."""
        with self._encode_lock:
            jpeg = self._encode(image)
            with self._cond:
                self._held = None
                self._set(index, jpeg, capture_ms)

    def hold(self, index: int, image: np.ndarray, capture_ms: float = 0.0) -> None:
        """Keep ``image`` without encoding it (no one is watching)."""
        with self._cond:
            self._held = (index, image, capture_ms)

    def encode_held(self) -> None:
        """Encode the held image, if any, and publish it (a viewer has arrived)."""
        with self._encode_lock:
            with self._cond:
                held, self._held = self._held, None
            if held is not None:
                jpeg = self._encode(held[1])
                with self._cond:
                    self._set(held[0], jpeg, held[2])

    def _set(self, index: int, jpeg: bytes, capture_ms: float) -> None:
        self._seq += 1
        self._index = index
        self._jpeg = jpeg
        self._capture_ms = capture_ms
        self.encoded += 1
        self._cond.notify_all()

    def wait_newer(self, seq: int, timeout: float) -> tuple[int, int, bytes, float] | None:
        """``(seq, index, jpeg, capture_ms)`` of the newest picture once its seq is above
        ``seq``; None on timeout or close."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self._closed, timeout)
            if self._closed or self._seq <= seq:
                return None
            return self._seq, self._index, self._jpeg, self._capture_ms

    def add_viewer(self) -> None:
        with self._cond:
            self.viewers += 1

    def remove_viewer(self) -> None:
        with self._cond:
            self.viewers -= 1

    def close(self) -> None:
        """Wake every viewer; they end their streams."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class History:
    """Samples of threshold, objective and fps over the last :data:`HISTORY_SECONDS`."""

    def __init__(self, seconds: float = HISTORY_SECONDS):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._samples: collections.deque = collections.deque()

    def add(self, sample: dict) -> None:
        """Append ``sample`` (with a ``t`` in seconds) and forget those older than a minute."""
        with self._lock:
            self._samples.append(sample)
            while self._samples and self._samples[0]["t"] < sample["t"] - self.seconds:
                self._samples.popleft()

    def since(self, t: float) -> list[dict]:
        """The samples taken after ``t``, oldest first."""
        with self._lock:
            return [s for s in self._samples if s["t"] > t]
