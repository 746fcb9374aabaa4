"""Soak test: a long live run, sampled, with a verdict on whether memory and latency stay flat.

The run: the synthetic source paced like a camera (``live: true``, endless, 1920x1080 at
30 fps by default) -> grayscale, gradient (sobel l2), map abs, threshold auto, overlay
(the chain of ``configs/tuner-demo.yaml`` without the hud) with the tuner on -> a
``discard`` sink (and with ``--stats-sink`` also a ``stats`` sink writing JSON lines to
a temporary file), live mode.  It runs through the Python API in a thread of its own
and is stopped with ``controls.stop()``.

Every ``--every`` seconds one line is printed: elapsed time, resident memory (VmRSS of
this process), the depth of every queue, capture-to-sink latency p95 and fps over the
interval since the previous sample, the frames dropped in the interval and in all, and
the machine's 1-minute load average (latency on a busy machine measures the machine:
run the soak on an otherwise idle one, and read a latency verdict next to the load).

The verdict: after a warm-up (1 minute, or 20% of a run shorter than 5 minutes), the
median of the first 20% of the remaining samples is compared with the median of the
last 20%, for resident memory and for latency p95.  Each is flat when it grew by less
than ``--tolerance`` (5%), or by less than a small absolute slack (``--memory-slack-mb``,
``--latency-slack-ms``, default 0 MiB and 2 ms: a 5% rise of a 30 ms p95 is within the
scheduler's jitter on a small machine).  Exit 0 when
both are flat, 1 when either grew (or the run failed), 2 for a bad command line.

Usage::

    python scripts/soak.py                                  # 30 minutes, 1080p30
    python scripts/soak.py --seconds 60 --every 2 --width 640 --height 480
    python scripts/soak.py --minutes 30 --json out/soak.json --stats-sink
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.io.sinks.discard import DiscardSink  # noqa: E402
from pipeline.pipeline import Pipeline  # noqa: E402
from pipeline.controls import Controls  # noqa: E402

#: Warm-up before the verdict's first window: this long, or this fraction of a short run.
WARMUP_SECONDS = 60.0
WARMUP_FRACTION = 0.2
#: Fraction of the samples after warm-up in each of the two windows compared.
WINDOW_FRACTION = 0.2
#: Samples needed after warm-up for a verdict.
MIN_SAMPLES = 3
#: Seconds to wait for the run's threads after stop before calling the run hung.
STOP_TIMEOUT = 30.0
#: Latencies kept by the probe between two samples (an interval of 60 s at 30 fps is 1800).
PROBE_CAPACITY = 100_000


def soak_config(width: int, height: int, fps: float, stats_path: str | None) -> dict:
    """The soak run's config: the tuner demo's chain, live from the synthetic source."""
    sinks: list = ["discard"]
    if stats_path is not None:
        sinks.append({"stats": {"path": stats_path}})
    return {
        "version": 1,
        "source": {"type": "synthetic", "width": width, "height": height, "fps": fps,
                   "length": 0, "live": True},
        "stages": [
            "grayscale",
            {"gradient": {"kind": "sobel", "norm": "l2"}},
            {"map": {"mode": "abs", "scale": 1.0}},
            {"threshold": {"value": "auto"}},
            {"overlay": {"color": [0, 255, 0], "alpha": 1.0}},
        ],
        "sinks": sinks,
        "runtime": {"mode": "live"},
        "tuner": {"objective": "otsu", "optimizer": {"name": "adam", "lr": 2.0}, "every": 5,
                  "iterations": 20, "smoothing": 0.5, "bounds": [0, 255]},
    }


class LatencyProbe(DiscardSink):
    """A discard sink that also keeps each frame's capture-to-sink latency until taken.

    Same work as ``discard`` plus one append, so the soak measures the real chain; the
    latencies of one sampling interval are taken with :meth:`take`.
    """

    def __init__(self):
        super().__init__()
        self.registry_name = "discard"
        self._lock = threading.Lock()
        self._latencies: list[float] = []

    def write(self, frame) -> None:
        """Count the frame and note its latency."""
        latency = time.perf_counter() - frame.timestamp
        with self._lock:
            if len(self._latencies) < PROBE_CAPACITY:
                self._latencies.append(latency)
        self.frames_written += 1

    def take(self) -> list[float]:
        """The latencies (seconds) noted since the last call."""
        with self._lock:
            taken, self._latencies = self._latencies, []
        return taken


def resident_mb() -> float:
    """Resident memory of this process in MiB (VmRSS from /proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource  # peak, not current: only where /proc is missing

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def flatness(times: list[float], values: list[float], warmup: float, tolerance: float,
             slack: float) -> dict:
    """Whether ``values`` stayed flat after ``warmup`` seconds.

    Parameters
    ----------
    times, values : list of float
        Sample times (seconds from the start) and the sampled quantity (None: no value).
    warmup : float
        Samples before this time are left out.
    tolerance : float
        Relative growth allowed, e.g. 0.05.
    slack : float
        Absolute growth always allowed, in the values' unit.

    Returns
    -------
    dict
        ``flat`` (bool, None when too few samples), ``first`` and ``last`` (medians of
        the first and last :data:`WINDOW_FRACTION` of the samples after warm-up),
        ``growth`` (relative), ``samples`` (after warm-up).
    """
    after = [v for t, v in zip(times, values) if t >= warmup and v is not None]
    if len(after) < MIN_SAMPLES:
        return {"flat": None, "first": None, "last": None, "growth": None, "samples": len(after)}
    k = max(1, round(WINDOW_FRACTION * len(after)))
    first, last = statistics.median(after[:k]), statistics.median(after[-k:])
    growth = (last - first) / first if first > 0 else (0.0 if last <= first else float("inf"))
    flat = last <= first * (1.0 + tolerance) or last - first <= slack
    return {"flat": bool(flat), "first": first, "last": last, "growth": growth, "samples": len(after)}


def sample_line(sample: dict) -> str:
    """One printed line for a sample."""
    queues = " ".join(f"{name}={depth}" for name, depth in sample["queues"].items())
    p95 = "-" if sample["latency_p95_ms"] is None else f"{sample['latency_p95_ms']:.2f}"
    return (f"{sample['t']:8.1f} s  rss {sample['rss_mb']:8.1f} MiB  queues [{queues}]  "
            f"p95 {p95:>7} ms  {sample['fps']:5.1f} fps  "
            f"drops +{sample['drops']} ({sample['drops_total']})  out {sample['frames_out']}  "
            f"load {sample['load1']:.1f}")


def soak(duration: float, every: float, width: int, height: int, fps: float,
         stats_sink: bool, warmup: float, tolerance: float, memory_slack_mb: float,
         latency_slack_ms: float, out=sys.stdout) -> dict:
    """Run the soak; return ``{"settings", "samples", "verdict", "summary", "error"}``."""
    with tempfile.TemporaryDirectory(prefix="edgepipe-soak-") as folder:
        stats_path = str(pathlib.Path(folder) / "stats.jsonl") if stats_sink else None
        pipe = Pipeline.from_dict(soak_config(width, height, fps, stats_path))
        controls = Controls()
        engine = pipe.engine(controls)
        probe = LatencyProbe()
        engine.sinks = [probe if isinstance(s, DiscardSink) else s for s in engine.sinks]
        failure: list[BaseException] = []

        def run() -> None:
            try:
                engine.run()
            except BaseException as exc:  # noqa: BLE001  (reported below)
                failure.append(exc)

        runner = threading.Thread(target=run, name="soak-run", daemon=True)
        start = time.monotonic()
        runner.start()
        samples: list[dict] = []
        last_t, last_out, last_drops = 0.0, 0, 0
        interrupted = False
        try:
            while runner.is_alive():
                target = start + (len(samples) + 1) * every
                if target - start > duration + 1e-9:
                    break
                while runner.is_alive() and time.monotonic() < target:
                    time.sleep(min(0.1, max(0.0, target - time.monotonic())))
                if not runner.is_alive():
                    break
                now = time.monotonic() - start
                stats = getattr(engine, "stats", None)
                live = stats.live() if stats is not None else {"frames_out": 0, "dropped": 0}
                latencies = probe.take()
                sample = {
                    "t": round(now, 3),
                    "rss_mb": round(resident_mb(), 2),
                    "queues": engine.queue_depths(),
                    "latency_p95_ms": round(float(np.percentile(latencies, 95)) * 1e3, 3) if latencies else None,
                    "fps": round((live["frames_out"] - last_out) / max(now - last_t, 1e-9), 2),
                    "drops": live["dropped"] - last_drops,
                    "drops_total": live["dropped"],
                    "frames_out": live["frames_out"],
                    "threshold": controls.snapshot().threshold,
                    "load1": round(os.getloadavg()[0], 2),
                }
                last_t, last_out, last_drops = now, live["frames_out"], live["dropped"]
                samples.append(sample)
                print(sample_line(sample), file=out, flush=True)
        except KeyboardInterrupt:
            interrupted = True
            print("soak: interrupted; verdict on the samples so far", file=out, flush=True)
        finally:
            controls.stop("stopped")
            runner.join(STOP_TIMEOUT)
        hung = runner.is_alive()
        error = (f"run did not stop within {STOP_TIMEOUT:.0f} s" if hung
                 else f"{type(failure[0]).__name__}: {failure[0]}" if failure
                 else "interrupted" if interrupted
                 else "run ended before the soak did" if not samples or samples[-1]["t"] < duration - every
                 else None)
    times = [s["t"] for s in samples]
    memory = flatness(times, [s["rss_mb"] for s in samples], warmup, tolerance, memory_slack_mb)
    latency = flatness(times, [s["latency_p95_ms"] for s in samples], warmup, tolerance, latency_slack_ms)
    flat = error is None and memory["flat"] is True and latency["flat"] is True
    summary = engine.summary.to_dict() if engine.summary is not None else None
    return {
        "settings": {"duration_s": duration, "every_s": every, "width": width, "height": height,
                     "fps": fps, "stats_sink": stats_sink, "warmup_s": warmup, "tolerance": tolerance,
                     "memory_slack_mb": memory_slack_mb, "latency_slack_ms": latency_slack_ms},
        "samples": samples,
        "verdict": {"flat": flat, "memory": memory, "latency": latency, "error": error},
        "summary": summary,
    }


def describe(name: str, result: dict, unit: str) -> str:
    """One verdict line for memory or latency."""
    if result["flat"] is None:
        return f"{name}: no verdict ({result['samples']} samples after warm-up; {MIN_SAMPLES} needed)"
    word = "flat" if result["flat"] else "GREW"
    return (f"{name}: {word}  {result['first']:.2f} -> {result['last']:.2f} {unit} "
            f"({100 * result['growth']:+.1f}%, {result['samples']} samples after warm-up)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, default=30.0, help="run length in minutes (default 30)")
    length.add_argument("--seconds", type=float, help="run length in seconds (short runs)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--stats-sink", action="store_true", help="also write a stats sink to a temporary file")
    parser.add_argument("--warmup", type=float,
                        help=f"seconds left out of the verdict (default {WARMUP_SECONDS:.0f}, "
                             f"or {WARMUP_FRACTION * 100:.0f}%% of a run under 5 minutes)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="relative growth allowed (default 0.05)")
    parser.add_argument("--memory-slack-mb", type=float, default=0.0, help="absolute memory growth allowed (MiB)")
    parser.add_argument("--latency-slack-ms", type=float, default=2.0, help="absolute p95 growth allowed (ms)")
    parser.add_argument("--json", metavar="PATH", help="write samples and verdict as JSON")
    args = parser.parse_args(argv)
    duration = args.seconds if args.seconds is not None else 60.0 * args.minutes
    if not duration > 0 or not args.every > 0:
        parser.error("the run length and --every must be positive")
    warmup = args.warmup if args.warmup is not None else min(WARMUP_SECONDS, WARMUP_FRACTION * duration)
    if (duration - warmup) / args.every < MIN_SAMPLES:
        parser.error(f"too few samples after warm-up: need {MIN_SAMPLES} (--every smaller or the run longer)")
    print(f"soak: {duration:.0f} s, {args.width}x{args.height} at {args.fps:g} fps live, tuner on, "
          f"sample every {args.every:g} s, warm-up {warmup:.0f} s", flush=True)
    report = soak(duration, args.every, args.width, args.height, args.fps, args.stats_sink, warmup,
                  args.tolerance, args.memory_slack_mb, args.latency_slack_ms)
    verdict = report["verdict"]
    print(describe("memory ", verdict["memory"], "MiB"))
    print(describe("latency", verdict["latency"], "ms p95"))
    if verdict["error"]:
        print(f"error: {verdict['error']}")
    if report["summary"] is not None:
        s = report["summary"]
        print(f"run: {s['frames_in']} in, {s['frames_out']} out, {s['dropped']} dropped, {s['fps']:.1f} fps")
    print("verdict: " + ("FLAT" if verdict["flat"] else "NOT FLAT"))
    if args.json:
        path = pathlib.Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0 if verdict["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
