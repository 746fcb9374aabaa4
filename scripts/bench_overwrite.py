"""What the overwrite rule costs at config load, beside loading without it, on a big glob.

::

    python scripts/bench_overwrite.py                 # 20000 pictures, 7 repeats
    python scripts/bench_overwrite.py --pictures 100000 --repeats 5

Makes ``--pictures`` empty ``frame_NNNNNN.png`` files in a temporary folder and loads an
``images`` source config with each sink layout, once with the check
(:func:`pipeline.io.overwrite.check_no_overwrite`) and once with it switched off, and
prints the median load time of each and their ratio.  The glob itself (which the
``images`` source expands again when it opens) is timed alone as the floor.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pipeline.config.document import ConfigError  # noqa: E402
from pipeline.config.run import Config
from pipeline.io import overwrite  # noqa: E402

SINKS = {
    "images, other folder": {"images": {"path": "out/f_{index:06d}.png"}},
    "images, same folder": {"images": {"path": "pics/edges_{index:06d}.png"}},
    "video, same folder": {"video": {"path": "pics/edges.avi"}},
    "images onto the inputs (refused)": {"images": {"path": "pics/frame_{index:06d}.png"}},
}


def median_seconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def load(data: dict) -> None:
    try:
        Config.from_dict(data)
    except ConfigError:
        pass  # the refused layout: the time to refuse is what is measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        os.mkdir("pics")
        for index in range(args.pictures):
            open(f"pics/frame_{index:06d}.png", "wb").close()
        floor = median_seconds(lambda: [p for p in glob.glob("pics/*.png") if os.path.isfile(p)], args.repeats)
        print(f"{args.pictures} pictures; glob alone {floor * 1000:.0f} ms (median of {args.repeats})")
        print(f"{'sink':34} {'with check':>11} {'without':>9} {'ratio':>6}")
        real = overwrite.check_no_overwrite
        for name, sink in SINKS.items():
            data = {"version": 1, "source": {"type": "images", "glob": "pics/*.png"},
                    "stages": ["grayscale"], "sinks": [sink]}
            load(data)  # warm: plugins imported
            with_check = median_seconds(lambda: load(data), args.repeats)
            overwrite.check_no_overwrite = lambda *a, **k: None
            try:
                without = median_seconds(lambda: load(data), args.repeats)
            finally:
                overwrite.check_no_overwrite = real
            print(f"{name:34} {with_check * 1000:9.0f} ms {without * 1000:6.0f} ms "
                  f"{with_check / without:6.1f}")


if __name__ == "__main__":
    main()
