"""What the tuner costs: its thread's CPU time against the processing thread's, and one update.

The chain: synthetic 1080p source -> grayscale, gradient (sobel l2), map abs, threshold
auto -> discard sink, batch mode (nothing dropped, as fast as it goes).

The share that counts is CPU time, which other processes on a shared machine do not
disturb the way they disturb throughput: ``time.thread_time()`` read inside the tuner
thread (around its whole loop) against the same inside the processing thread, over each
tuner-on run.  The processing thread's figure leaves out the numba worker that helps it
with each kernel, so the share against it is an upper bound; the share of the whole
process's CPU time is printed beside it.  Runs alternate off / on ``--repeats`` times;
the median throughputs and their ratio are printed too (noisy here), and the cost of one
update (``--iterations`` steps on a real 1080p magnitude histogram) on its own.

The tuner runs inside the engine from the config's ``tuner:`` section, exactly as in
``edgepipe run``; the number of updates of each run is printed too.

Usage::

    python scripts/bench_tuner.py                    # 300 frames, 5 repeats, every 5
    python scripts/bench_tuner.py --frames 150 --repeats 3 --every 1
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import ops  # noqa: E402
from pipeline.io.sources.synthetic import SyntheticSource  # noqa: E402
from pipeline.pipeline import Pipeline  # noqa: E402
from pipeline.runtime import workers as workers_module  # noqa: E402
from pipeline.runtime import tuner as tuner_module  # noqa: E402
from pipeline.controls import Controls  # noqa: E402
from pipeline.runtime.tuner import Tuner  # noqa: E402


def config(frames: int, tuner: dict | None) -> dict:
    data = {
        "version": 1,
        "source": {"type": "synthetic", "width": 1920, "height": 1080, "length": frames},
        "stages": ["grayscale", {"gradient": {"kind": "sobel", "norm": "l2"}},
                   {"map": {"mode": "abs"}}, {"threshold": {"value": "auto"}}],
        "sinks": ["discard"],
        "runtime": {"mode": "batch"},
    }
    if tuner is not None:
        data["tuner"] = tuner
    return data


THREAD_CPU: dict[str, float] = {}  # "process" / "tuner": thread_time of the last run


def cpu_timed(method, key):
    """``method`` that leaves its own thread's CPU seconds in ``THREAD_CPU[key]``."""
    def run(self, *args, **kwargs):
        began = time.thread_time()
        try:
            return method(self, *args, **kwargs)
        finally:
            THREAD_CPU[key] = time.thread_time() - began
    return run


# The benchmark, not the runtime, carries the stopwatch: both loops run unchanged inside it.
workers_module.Processor.loop = cpu_timed(workers_module.Processor.loop, "process")
tuner_module.Tuner._loop = cpu_timed(tuner_module.Tuner._loop, "tuner")


def run_once(frames: int, tuner_settings: dict | None) -> dict:
    """fps, tuner updates (-1 without a tuner) and CPU seconds of one run."""
    THREAD_CPU.clear()
    pipe = Pipeline.from_dict(config(frames, tuner_settings))
    engine = pipe.engine()
    began, cpu = time.perf_counter(), time.process_time()
    summary = engine.run()
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    updates = engine.tuner.updates if engine.tuner is not None else -1
    return dict(fps=summary.frames_out / seconds, updates=updates, process_cpu=cpu,
                processing_thread=THREAD_CPU.get("process", float("nan")),
                tuner_thread=THREAD_CPU.get("tuner", 0.0))


def update_cost(settings: dict, repeats: int = 300) -> float:
    """Median seconds of one update on a 1080p synthetic frame's histogram."""
    source = SyntheticSource(width=1920, height=1080)
    source.open()
    _, histogram = ops.edges(source.read(), hist=True)
    tuner = Tuner(dict(settings, every=1), Controls())
    for _ in range(20):
        tuner.update(histogram)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        tuner.update(histogram)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--optimizer", default="adam", help="name; lr 2.0 (momentum: 2000)")
    args = parser.parse_args(argv)
    lr = 2000.0 if args.optimizer in ("sgd", "momentum", "nesterov") else 2.0
    optimizer = {"name": args.optimizer, "step": 2.0} if args.optimizer == "sign" else {
        "name": args.optimizer, "lr": lr}
    settings = {"objective": "otsu", "optimizer": optimizer, "every": args.every,
                "iterations": args.iterations, "smoothing": 0.5}
    print(f"tuner {settings}")
    cost = update_cost(settings)
    print(f"one update, {args.iterations} iterations: median {cost * 1e3:.3f} ms")
    run_once(30, None)  # warm up numba and the caches
    off, on = [], []
    for _ in range(args.repeats):
        off.append(run_once(args.frames, None))
        on.append(run_once(args.frames, settings))
    print(f"1080p, {args.frames} frames, every {args.every}, {args.repeats} repeats")
    print("  CPU time of the tuner-on runs (time.thread_time inside each thread):")
    print(f"  {'run':>3} | {'updates':>7} | {'tuner s':>8} | {'processing s':>12} | "
          f"{'process s':>9} | {'tuner/processing':>16} | {'tuner/process':>13}")
    shares = []
    for k, r in enumerate(on, 1):
        share = r["tuner_thread"] / r["processing_thread"]
        shares.append(share)
        print(f"  {k:>3} | {r['updates']:>7} | {r['tuner_thread']:8.4f} | "
              f"{r['processing_thread']:12.4f} | {r['process_cpu']:9.3f} | {100 * share:15.2f}% | "
              f"{100 * r['tuner_thread'] / r['process_cpu']:12.2f}%")
    tuner_s = sum(r["tuner_thread"] for r in on)
    updates = sum(r["updates"] for r in on)
    print(f"  tuner share of the processing thread's CPU time: median {100 * statistics.median(shares):.2f}% "
          f"(target < 5%); {1e3 * tuner_s / max(updates, 1):.3f} ms CPU per update in the thread")
    off_fps = statistics.median(r["fps"] for r in off)
    on_fps = statistics.median(r["fps"] for r in on)
    for label, fps, runs in (("off", off_fps, off), ("on: ", on_fps, on)):
        listed = " ".join(f"{r['fps']:.1f}" for r in runs)
        print(f"  throughput, tuner {label} {fps:7.1f} fps   runs: {listed}")
    print(f"  ratio on/off: {on_fps / off_fps:.3f}  (throughput change {100 * (on_fps / off_fps - 1):+.1f}%; "
          f"wall clock, shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
