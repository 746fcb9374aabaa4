"""What drawing the window grid costs: the tile composer over 1 to 16 live pictures.

::

    python scripts/bench_window_grid.py                       # 720p and 1080p, 1 4 9 16 tiles
    python scripts/bench_window_grid.py --tiles 16 --repeat 100

For each picture size and tile count, :func:`pipeline.io.sinks.window_tiles.compose` draws
the grid (``--width`` pixels wide, each tile a new random picture scaled with
``INTER_AREA``, its name and numbers written on it) ``--repeat`` times; printed: the
median milliseconds a draw takes, its ratio to one tile's, and the draws a second the
window makes at that cost (at most 30, and drawing at most
:data:`~pipeline.io.sinks.window_grid.DRAW_SHARE` of a core: :func:`next_pause`).  No
window opens: this is the GUI thread's drawing work alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.io.sinks.window_grid import next_pause  # noqa: E402
from pipeline.io.sinks.window_tiles import Tile, compose, layout  # noqa: E402

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def median_draw(count: int, size: tuple, width: int, repeat: int) -> float:
    """Median seconds one grid of ``count`` tiles of ``size`` pictures takes to draw."""
    rng = np.random.default_rng(count)
    pictures = [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(count)]
    tiles = [Tile(f"cam{i}", picture, "30.0 fps  0 dropped") for i, picture in enumerate(pictures)]
    grid, canvas, times = layout(count, width, size[1] / size[0]), None, []
    for _ in range(repeat):
        start = time.perf_counter()
        canvas = compose(tiles, grid, canvas)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiles", type=int, nargs="+", default=[1, 4, 9, 16])
    parser.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=list(SIZES))
    parser.add_argument("--width", type=int, default=1280, help="grid_width")
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args(argv)
    print(f"{'size':>6} {'tiles':>5} {'draw ms':>8} {'vs 1 tile':>9} {'draws/s':>8}")
    for name in args.sizes:
        base = None
        for count in args.tiles:
            spent = median_draw(count, SIZES[name], args.width, args.repeat)
            base = base or spent
            print(f"{name:>6} {count:>5} {spent * 1e3:8.2f} {spent / base:8.1f}x "
                  f"{1 / next_pause(spent):8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
