"""Run statistics: frames in/out/dropped, fps, capture-to-sink latency, time per stage.

:class:`RunStats` is filled by the engine's threads while a run goes on (every method
locks) and turned into a :class:`Summary` at the end.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import threading
import time

import numpy as np

# Latencies kept for the summary's percentiles: all of them up to this many (11 minutes
# at 30 fps), then a uniform reservoir sample, in one preallocated array: a night-long
# live run holds 160 KB, not a list growing by a float per frame.
LATENCY_RESERVOIR = 20_000
# Recent window for the live fps and p95 the hud shows.
RECENT_SECONDS = 1.0
RECENT_LATENCIES = 256


#: A live run that dropped more than this share of its frames at one place gets a note
#: in its summary saying where and what helps (the counts alone do not say why).
BEHIND_SHARE = 0.01


def behind_places(mode: str, frames_in: int, drops: dict) -> list[tuple[float, str]]:
    """Where a live run dropped more than :data:`BEHIND_SHARE` of its frames, worst first:
    ``(percent, place)``, place ``"the chain's input"`` (processing was slower than the
    input), ``"sink NAME"`` or ``"the caller of frames()"``; empty when it did not."""
    if mode != "live" or frames_in <= 0:
        return []
    named = {"source": "the chain's input", "frames": "the caller of frames()"}
    return sorted(((100 * count / frames_in, named.get(place, "sink " + place))
                   for place, count in drops.items() if count > BEHIND_SHARE * frames_in),
                  reverse=True)


def places_text(places: list[tuple[float, str]]) -> str:
    """:func:`behind_places` as words: ``"24.0% at the chain's input, 3.0% at sink video"``."""
    return ", ".join(f"{percent:.1f}% at {place}" for percent, place in places)


BEHIND_HELP = ("--mode batch keeps every frame, at the cost of delay; a lighter chain "
               "(grayscale: {from: luma}) or fewer streams per process keep up")


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a run did.

    Attributes
    ----------
    mode : str
        ``"live"`` or ``"batch"``.
    stop_reason : str
        ``"end of stream"``, ``"max_frames"``, ``"stopped"`` (window closed, ``q``),
        ``"interrupted"`` (Ctrl+C), ``"terminated"`` (SIGTERM), ``"error"``, or
        ``"source failed"`` (the input ended because of an error: ``on_error: stop``, a
        lost stream; the sinks were closed normally and the run raises SourceError).
    frames_in : int
        Frames read from the source.
    frames_out : int
        Frames written by every sink that did not fail (by the slowest of them; the
        frames processed when there are no sinks).
    dropped : int
        Frames dropped to bound latency (live mode), all queues together.
    drops : dict
        Drops per place: ``"source"`` (before processing), each sink's name, and
        ``"frames"`` (a caller of :meth:`Pipeline.frames` that fell behind, live mode).
    seconds : float
        Wall time from the first frame read to the last frame written.
    fps : float
        ``frames_out / seconds``.
    latency_ms : dict
        Capture-to-sink latency percentiles ``p50``, ``p95`` and ``max`` in milliseconds.
    stage_ms : dict
        Mean milliseconds per frame of each processing step (fused steps joined by +).
    sinks : dict
        Frames written per sink (a failed sink's frames are not in its removed output).
    failed_sinks : dict
        The sinks that failed, by name, with their error; the other sinks' outputs
        were finished and kept.
    skipped : int
        Frames of the input that did not decode and were skipped (``on_error: skip``).
    read_errors : int
        Failed reads that were not the normal end of the input (skipped frames,
        timeouts, lost connections, a file shorter than its container states).
    reconnects : int
        Reconnections of a camera or stream (``on_error: retry``).
    notes : list of str
        What the source reported about bad input, one line each.
    """

    mode: str
    stop_reason: str
    frames_in: int
    frames_out: int
    dropped: int
    drops: dict
    seconds: float
    fps: float
    latency_ms: dict
    stage_ms: dict
    sinks: dict
    failed_sinks: dict = dataclasses.field(default_factory=dict)
    skipped: int = 0
    read_errors: int = 0
    reconnects: int = 0
    notes: list = dataclasses.field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        """True when the run was ended by a signal rather than its stream or the user."""
        return self.stop_reason in ("interrupted", "terminated")

    def to_dict(self) -> dict:
        """Plain data, for JSON."""
        return dataclasses.asdict(self)

    def format(self) -> str:
        """A short multi-line report for the terminal."""
        lat = self.latency_ms
        lines = [
            f"edgepipe: {self.stop_reason} ({self.mode} mode)",
            f"  frames   in {self.frames_in}  out {self.frames_out}  dropped {self.dropped}"
            + (f" ({', '.join(f'{k} {v}' for k, v in self.drops.items() if v)})" if self.dropped else ""),
            f"  speed    {self.fps:.1f} fps over {self.seconds:.2f} s",
            f"  latency  p50 {lat['p50']:.1f} ms  p95 {lat['p95']:.1f} ms  max {lat['max']:.1f} ms"
            "  (capture to sink)",
        ]
        if self.failed_sinks or len(self.sinks) > 1:
            lines.append("  sinks    " + "  ".join(
                f"{name} {count}" + (" FAILED" if name in self.failed_sinks else "")
                for name, count in self.sinks.items()))
        for name, message in self.failed_sinks.items():
            kept = [n for n in self.sinks if n not in self.failed_sinks]
            lines.append(f"  failed   {name}: {message}"
                         + (f" (its output removed; kept: {', '.join(kept)})" if kept else ""))
        if self.skipped or self.read_errors or self.reconnects:
            lines.append(f"  input    skipped {self.skipped}  read errors {self.read_errors}"
                         f"  reconnects {self.reconnects}")
        lines += [f"  note     {note}" for note in self.notes]
        behind = behind_places(self.mode, self.frames_in, self.drops)
        if behind:
            lines.append(f"  note     live mode dropped frames to keep up: {places_text(behind)} "
                         f"(of the frames read); {BEHIND_HELP}")
        if self.stage_ms:
            width = max(len(name) for name in self.stage_ms)
            lines.append("  time per frame")
            lines += [f"    {name:<{width}}  {ms:7.2f} ms" for name, ms in self.stage_ms.items()]
        return "\n".join(lines)


class RunStats:
    """Counters and latencies, shared by the engine's threads.

    Parameters
    ----------
    stage_labels : list of str
        One per processing step (:attr:`pipeline.stages.Chain.labels`).
    sink_names : list of str
        One per sink, for drops and per-sink counts.
    """

    def __init__(self, stage_labels: list[str], sink_names: list[str]):
        self._lock = threading.Lock()
        self.stage_labels = list(stage_labels)
        self.stage_seconds = [0.0] * len(stage_labels)  # written by the processing thread only
        self.frames_processed = 0
        self.sink_names = list(sink_names)
        self.sink_counts = [0] * len(sink_names)
        self.sink_failures: dict[int, str] = {}
        self.frames_in = 0
        self.drops = collections.Counter()
        self._latencies = np.zeros(LATENCY_RESERVOIR)
        self._latencies_seen = 0
        self._latency_max = 0.0
        self._recent_latencies: collections.deque = collections.deque(maxlen=RECENT_LATENCIES)
        self._recent_out: collections.deque = collections.deque()
        self._random = random.Random(0)
        self.started: float | None = None
        self.finished: float | None = None

    def record_in(self) -> None:
        """A frame came from the source."""
        with self._lock:
            if self.started is None:
                self.started = time.perf_counter()
            self.frames_in += 1

    def record_drop(self, where: str, count: int = 1) -> None:
        """``count`` frames were dropped at ``where`` (``"source"`` or a sink name)."""
        with self._lock:
            self.drops[where] += count

    def record_processed(self) -> None:
        """The chain finished one frame (``stage_seconds`` was updated in place)."""
        with self._lock:
            self.frames_processed += 1
            if not self.sink_names:
                self._mark_out(time.perf_counter())

    def record_written(self, sink_index: int, timestamp: float) -> None:
        """Sink ``sink_index`` wrote the frame captured at ``timestamp``."""
        now = time.perf_counter()
        with self._lock:
            self.sink_counts[sink_index] += 1
            self._keep_latency(now - timestamp)
            if self.sink_counts[sink_index] == self._out():
                self._mark_out(now)

    def record_sink_failed(self, sink_index: int, message: str) -> None:
        """Sink ``sink_index`` failed: it no longer counts towards ``frames_out``."""
        with self._lock:
            self.sink_failures.setdefault(sink_index, message)

    def _out(self) -> int:
        # Caller holds the lock.  The slowest sink still writing sets the pace.
        if not self.sink_names:
            return self.frames_processed
        alive = [c for i, c in enumerate(self.sink_counts) if i not in self.sink_failures]
        return min(alive) if alive else min(self.sink_counts)

    def record_delivered(self, timestamp: float) -> None:
        """A frame reached the caller of :meth:`Pipeline.frames` (counts as written)."""
        now = time.perf_counter()
        with self._lock:
            self._keep_latency(now - timestamp)
            self._mark_out(now)

    def _keep_latency(self, latency: float) -> None:
        # Caller holds the lock.  Reservoir sampling (Algorithm R): every latency so far
        # has the same chance to be among the kept ones; the maximum is kept exactly.
        self._recent_latencies.append(latency)
        self._latency_max = max(self._latency_max, latency)
        seen = self._latencies_seen
        self._latencies_seen += 1
        if seen < LATENCY_RESERVOIR:
            self._latencies[seen] = latency
        else:
            slot = self._random.randrange(seen + 1)
            if slot < LATENCY_RESERVOIR:
                self._latencies[slot] = latency

    def _mark_out(self, now: float) -> None:
        self.finished = now
        self._recent_out.append(now)
        while self._recent_out and now - self._recent_out[0] > RECENT_SECONDS:
            self._recent_out.popleft()

    @property
    def frames_out(self) -> int:
        """Frames written by every sink (processed frames when there is no sink)."""
        with self._lock:
            return self._out()

    def live(self) -> dict:
        """Recent fps and latency p95 (ms), plus the counters, for the hud and progress."""
        now = time.perf_counter()
        with self._lock:
            recent = [t for t in self._recent_out if now - t <= RECENT_SECONDS]
            if len(recent) >= 2:
                span = max(now - recent[0], 1e-6)
                fps = len(recent) / span if now - recent[-1] < RECENT_SECONDS else 0.0
            else:
                fps = 0.0
            p95 = float(np.percentile(self._recent_latencies, 95)) * 1e3 if self._recent_latencies else 0.0
            out = self._out()
            return dict(frames_in=self.frames_in, frames_out=out,
                        dropped=sum(self.drops.values()), fps=fps, latency_p95_ms=p95)

    def summary(self, mode: str, stop_reason: str, delivered: int | None = None,
                report=None) -> Summary:
        """The end-of-run :class:`Summary`; ``delivered`` overrides frames_out (frames()).

        ``report`` is the source's :class:`~pipeline.io.base.ReadReport`, if any.
        """
        with self._lock:
            if delivered is not None:
                out = delivered
            else:
                out = self._out()
            seconds = (self.finished - self.started) if self.started and self.finished else 0.0
            kept = self._latencies[:min(self._latencies_seen, LATENCY_RESERVOIR)]
            if kept.size:
                p50, p95 = np.percentile(kept, [50, 95]) * 1e3
                worst = self._latency_max * 1e3
            else:
                p50 = p95 = worst = 0.0
            processed = max(self.frames_processed, 1)
            stage_ms = {label: 1e3 * total / processed
                        for label, total in zip(self.stage_labels, self.stage_seconds)}
            drops = {"source": self.drops.get("source", 0)}
            drops.update({name: self.drops.get(name, 0) for name in self.sink_names})
            drops.update({k: v for k, v in self.drops.items() if k not in drops})  # "frames"
            return Summary(
                mode=mode, stop_reason=stop_reason, frames_in=self.frames_in, frames_out=out,
                dropped=sum(self.drops.values()), drops=drops, seconds=seconds,
                fps=out / seconds if seconds > 0 else 0.0,
                latency_ms={"p50": float(p50), "p95": float(p95), "max": float(worst)},
                stage_ms=stage_ms,
                sinks=dict(zip(self.sink_names, self.sink_counts)),
                failed_sinks={self.sink_names[i]: message
                              for i, message in sorted(self.sink_failures.items())},
                **({} if report is None else dict(
                    skipped=report.skipped, read_errors=report.read_errors,
                    reconnects=report.reconnects, notes=list(report.notes))),
            )
