"""The engine's queues: bounded, closed by :data:`END`, dropping the oldest in live runs.

* batch (``drop_oldest=False``): a full queue blocks its producer, so nothing is lost
  and a slow consumer slows everything before it;
* live (``drop_oldest=True``): a put into a full queue drops the oldest frame and says
  how many, so latency stays bounded by the queue's size.

A queue whose consumer failed is *abandoned*: it takes nothing more and never blocks.

A queue may have one *watcher*, a callable told (with no arguments, outside the queue's
lock) when what its users wait for may have come: a frame put (unless the watcher asked
not to hear of puts), room made in a full queue that blocks, the queue closed or
abandoned.  The shared processing pool (:mod:`pipeline.runtime.pool`) watches its
streams' queues this way instead of polling them.
"""

from __future__ import annotations

import collections
import threading
import time

from typing import Callable

from pipeline.frame import Frame

POLL = 0.05  # seconds a waiting thread sleeps before looking at stop/abandon flags


class _End:
    """Marker closing a :class:`FrameQueue`."""

    def __repr__(self) -> str:
        return "END"


END = _End()


class FrameQueue:
    """A bounded FIFO of frames, closed by :data:`END`.

    Parameters
    ----------
    maxsize : int
        Frames held at most (``END`` does not count).
    drop_oldest : bool
        Live mode: a put into a full queue drops the oldest frame instead of waiting.
    """

    def __init__(self, maxsize: int, drop_oldest: bool):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1; got {maxsize}")
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self._items: collections.deque = collections.deque()
        self._closed = False
        self._abandoned = False
        self._cond = threading.Condition()
        self._watcher: Callable[[], None] | None = None
        self._watch_puts = True

    def watch(self, watcher: Callable[[], None] | None, puts: bool = True) -> None:
        """Call ``watcher()`` from now on (None: nobody) after a put (with ``puts``), a
        get that made room in a full blocking queue, a close and an abandon."""
        self._watcher, self._watch_puts = watcher, puts

    def _changed(self) -> None:
        watcher = self._watcher
        if watcher is not None:
            watcher()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, frame: Frame) -> int:
        """Add ``frame``; return how many old frames were dropped to make room.

        Once abandoned (its sink failed) it takes nothing and drops nothing; in blocking
        mode it waits for room.
        """
        with self._cond:
            if self._abandoned:
                return 0
            dropped = 0
            if self.drop_oldest:
                while len(self._items) >= self.maxsize:
                    self._items.popleft()
                    dropped += 1
            else:
                while len(self._items) >= self.maxsize and not self._abandoned:
                    self._cond.wait(POLL)
                if self._abandoned:
                    return 0
            self._items.append(frame)
            self._cond.notify_all()
        if self._watch_puts:
            self._changed()
        return dropped

    def has_room(self) -> bool:
        """Whether a :meth:`put` now would return at once (live, abandoned, or not full)."""
        with self._cond:
            return self.drop_oldest or self._abandoned or len(self._items) < self.maxsize

    def peek(self) -> Frame | _End | None:
        """The frame :meth:`get` would return, left in place; :data:`END` when closed
        (or abandoned) and empty; None when empty and still open."""
        with self._cond:
            if self._items:
                return self._items[0]
            return END if self._closed or self._abandoned else None

    def close(self) -> None:
        """No more frames: :meth:`get` returns :data:`END` once the queue is empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._changed()

    def abandon(self) -> None:
        """Drop everything queued; :meth:`get` returns END and :meth:`put` stops waiting."""
        with self._cond:
            self._abandoned = True
            self._items.clear()
            self._cond.notify_all()
        self._changed()

    def get(self, timeout: float | None = None) -> Frame | _End | None:
        """The oldest frame, :data:`END` when closed and empty, None after ``timeout``."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed or self._abandoned:
                    return END
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(POLL if remaining is None else min(POLL, remaining))
            made_room = len(self._items) == self.maxsize and not self.drop_oldest
            item = self._items.popleft()
            self._cond.notify_all()
        if made_room:
            self._changed()
        return item
