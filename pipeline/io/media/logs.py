"""FFmpeg's own messages, captured through PyAV's logging and summarized per kind.

A damaged clip makes FFmpeg's decoders log a line per bad macroblock or packet:
hundreds of ``error while decoding MB 12 3, bytestream -5`` lines.  PyAV hands each
message to Python's :mod:`logging` under ``libav.<context>`` once its level is set
(:func:`av.logging.set_level`; PyAV's default drops them all).  :func:`install` sets
the level to WARNING, turns off PyAV's collapsing of repeats (each message must be
counted), and puts one handler on the ``libav`` logger that does not propagate, so
nothing reaches the terminal line by line.  Each reader holds a :class:`MessageTally`
while it is open: the handler hands every message to every open tally, which counts
messages by kind (level, context, text with its numbers blanked) and gives one summary
line per kind for the source's :class:`~pipeline.io.base.ReadReport`.

FFmpeg's log is process-wide and does not say which file a message is about.  PyAV
logs each message in the thread FFmpeg logged it from, so a message from a thread that
started a tally (or :meth:`MessageTally.claim`-ed the thread) goes to that thread's
tallies only: with several streams in one process (``sources:``), one stream's bad file
at open is not blamed on the others.  A message from any other thread (FFmpeg's own
decoding threads, a reader thread that claimed nothing) still goes to every open tally.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import re
import threading
import weakref

import av
import av.logging

#: FFmpeg levels kept (and below them in number, i.e. more severe).
CAPTURED_LEVEL = av.logging.WARNING

#: Summary lines kept per tally; further kinds are counted in one last line.
MAX_KINDS = 8

_NUMBER = re.compile(r"(?<![A-Za-z])-?\d+(\.\d+)?")
_LEVEL_NAMES = {logging.CRITICAL: "fatal error", logging.ERROR: "error", logging.WARNING: "warning"}

_lock = threading.Lock()
_tallies: list["MessageTally"] = []
_installed = False
# .tallies: the tallies that claimed this thread (a WeakSet); .muted: > 0 while this
# thread decodes a side pass (counting frames), whose messages are not the run's.
_thread = threading.local()


class MessageTally:
    """FFmpeg messages heard while it was registered, counted by kind.

    Use as a context manager, or :meth:`start` and :meth:`stop`.
    """

    def __init__(self, writing: bool = False):
        self.writing = writing  # True: a sink's tally, hearing only the muxer's messages
        self.counts: collections.Counter = collections.Counter()
        self.first: dict[tuple, str] = {}
        self.total = 0
        self.contexts: set[str] | None = None  # see restrict()
        self._lock = threading.Lock()

    def restrict(self, contexts: set[str]) -> None:
        """Report only messages from these FFmpeg contexts (demuxer, decoder, protocol).

        FFmpeg's log is process-wide: while a source reads, the video sink's encoder and
        muxer (``libx264``, ``mp4``) log too.  The reader names its own contexts once it
        knows them; messages logged before (while opening) are sorted out when the lines
        are made, since every kind keeps its context.
        """
        self.contexts = set(contexts)

    def _ours(self, context: str) -> bool:
        return self.contexts is None or context in self.contexts

    def start(self) -> "MessageTally":
        """Register with the handler (installing it on first use); the calling thread's
        messages are this tally's from now on (:meth:`claim`)."""
        install()
        with _lock:
            if self not in _tallies:
                _tallies.append(self)
        return self.claim()

    def claim(self) -> "MessageTally":
        """Messages logged from the calling thread go to this tally, not to every other
        (cheap when the thread is claimed already: a reader calls it per frame)."""
        owned = getattr(_thread, "tallies", None)
        if owned is None:
            owned = _thread.tallies = weakref.WeakSet()
        if self not in owned:
            owned.add(self)
        return self

    def stop(self) -> None:
        """Stop hearing messages (counts are kept)."""
        with _lock:
            if self in _tallies:
                _tallies.remove(self)

    def __enter__(self) -> "MessageTally":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add(self, level: int, context: str, message: str) -> None:
        """Count one message (``level`` is a Python logging level)."""
        text = " ".join(message.split())
        if not text or muxing(text) != self.writing:
            # A muxer's message is about the file written (the AVI muxer logs under "avi",
            # as the AVI demuxer does): the sink's, never blamed on the input.
            return
        kind = (level, context, _NUMBER.sub("N", text))
        with self._lock:
            self.total += 1
            self.counts[kind] += 1
            self.first.setdefault(kind, text)

    @property
    def heard(self) -> int:
        """Messages counted from this tally's own contexts."""
        with self._lock:
            return sum(count for kind, count in self.counts.items() if self._ours(kind[1]))

    def lines(self, what: str) -> list[str]:
        """One line per kind of message, most frequent first, naming ``what`` was read.

        Examples
        --------
        ``video file 'cut.mp4': FFmpeg (h264) error x37, e.g. "error while decoding MB 3 4"``
        """
        with self._lock:
            ranked = [(kind, count) for kind, count in self.counts.most_common() if self._ours(kind[1])]
        out = []
        for (level, context, _), count in ranked[:MAX_KINDS]:
            name = _LEVEL_NAMES.get(level, "message")
            times = f" x{count}" if count > 1 else ""
            example = self.first[(level, context, _)]
            out.append(f"{what}: FFmpeg ({context or 'libav'}) {name}{times}, "
                       f"{'e.g.' if count > 1 else 'said'} \"{example}\"")
        rest = ranked[MAX_KINDS:]
        if rest:
            out.append(f"{what}: {sum(c for _, c in rest)} more FFmpeg messages of "
                       f"{len(rest)} other kinds")
        return out


def muxing(text: str) -> bool:
    """Whether FFmpeg's message is its muxer's (``... to muxer in stream 1``)."""
    return "muxer" in text or "muxing" in text


def _benign(context: str, message: str) -> bool:
    """Messages about our own conversion, not the input: left out of the tallies.

    swscale warns "deprecated pixel format used, make sure you did set range correctly"
    once per frame converted from the full-range ``yuvj*`` formats (MJPEG, some phone
    H.264); it converts them as full range all the same, as OpenCV does.
    """
    return context == "swscaler" and "deprecated pixel format" in message


class _Handler(logging.Handler):
    """Hands every ``libav.*`` record to the open tallies; the terminal gets none."""

    def emit(self, record: logging.LogRecord) -> None:
        context = record.name[len("libav."):] if record.name.startswith("libav.") else ""
        if context == "generic":
            context = ""
        if getattr(_thread, "muted", 0):
            return
        with _lock:
            tallies = list(_tallies)
        message = record.getMessage()
        if _benign(context, message):
            return
        owned = getattr(_thread, "tallies", ())  # the handler runs in the logging thread
        owners = [tally for tally in tallies if tally in owned]
        for tally in owners or tallies:
            tally.add(record.levelno, context, message)


def install() -> None:
    """Route FFmpeg's messages (WARNING and worse) to the tallies, once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        logger = logging.getLogger("libav")
        logger.addHandler(_Handler())
        logger.setLevel(logging.WARNING)
        logger.propagate = False  # no codec lines on the terminal, summary lines instead
        av.logging.set_skip_repeated(False)  # each message is counted, not "(repeated N times)"
        av.logging.set_level(CAPTURED_LEVEL)
        _installed = True


@contextlib.contextmanager
def muted():
    """Messages this thread logs inside are counted by no tally (a second decode pass of a
    file the source also reads, such as counting its frames, would count them twice).

    Per thread: a count running beside the run (the progress line's, from the first frame
    on) must not hide the run's own messages.  The pass must decode on this thread (one
    decoder thread): FFmpeg's own threads log on threads of their own.
    """
    _thread.muted = getattr(_thread, "muted", 0) + 1
    try:
        yield
    finally:
        _thread.muted -= 1
