"""What the tuner costs: the chain's throughput with the tuner off and on, and one update.

The chain: synthetic 1080p source -> grayscale, gradient (sobel l2), map abs, threshold
auto -> discard sink, batch mode (nothing dropped, as fast as it goes).  Runs alternate
off / on ``--repeats`` times; the medians and their ratio are printed (on/off fps, 1.0
means free).  The cost of one update (``--iterations`` steps on a real 1080p magnitude
histogram) is timed on its own as well.

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
from pipeline.runtime.controls import Controls  # noqa: E402
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


def run_once(frames: int, tuner_settings: dict | None) -> tuple[float, int]:
    """fps of one run, and how many tuner updates it made (-1 without a tuner)."""
    pipe = Pipeline.from_dict(config(frames, tuner_settings))
    engine = pipe.engine()
    began = time.perf_counter()
    summary = engine.run()
    seconds = time.perf_counter() - began
    updates = engine.tuner.updates if engine.tuner is not None else -1
    return summary.frames_out / seconds, updates


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
    off, on, updates = [], [], []
    for _ in range(args.repeats):
        off.append(run_once(args.frames, None)[0])
        fps, count = run_once(args.frames, settings)
        on.append(fps)
        updates.append(count)
    off_fps, on_fps = statistics.median(off), statistics.median(on)
    print(f"1080p, {args.frames} frames, {args.repeats} repeats (median fps)")
    print(f"  tuner off: {off_fps:7.1f} fps   runs: {' '.join(f'{v:.1f}' for v in off)}")
    print(f"  tuner on:  {on_fps:7.1f} fps   runs: {' '.join(f'{v:.1f}' for v in on)}")
    if updates[0] >= 0:
        print(f"  updates per run: {' '.join(map(str, updates))}")
    print(f"  ratio on/off: {on_fps / off_fps:.3f}  (throughput change {100 * (on_fps / off_fps - 1):+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
