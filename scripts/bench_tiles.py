"""What the grid's tiles cost the server: N streams' H.264 feeds at full size and at tile size.

::

    python scripts/bench_tiles.py                      # 12 streams, 720p Sobel maps, 150 pictures each
    python scripts/bench_tiles.py --streams 4 --pictures 60 --widths 640 480 320
    python scripts/bench_tiles.py --layout 1920x1080   # the grid's picture sizes, 1 to 16 tiles
    python scripts/bench_tiles.py --grid 4             # a live grid of 4 720p30 streams in Chromium

Each stream is ``samples/tree.avi`` scaled to 1280x720 (bicubic) and turned into Sobel edge
maps by the chain's own fused op (:func:`pipeline.ops.edges`, what ``grayscale, gradient,
map`` makes), each stream starting at another picture of the clip.  Every case gives each
stream its own :class:`~pipeline.io.sinks.http.feed.Feed` (unthreaded: :meth:`Feed.step`
runs here), exactly as the http sink does: ``full`` encodes the picture as it is (the
single-stream page, the enlarged tile), ``tile W`` scales it to at most W pixels wide
(``cv2.INTER_AREA``) in the step and encodes that at a bitrate in proportion to its pixels.

The cases take turns picture by picture (in a shuffled order each round), so a change in
the machine's load falls on all of them alike.  CPU is this process's CPU time around each
step (x264's own threads included), the resize included; ``ms/picture`` is the median over
every stream's pictures, ``cores for N tiles`` is that times N streams times ``--fps``
pictures a second (what N watched tiles ask of the server), and the ratio is full's over
the case's.

``--layout WxH`` instead opens the grid page in headless Chromium with a window of that
size, adds 16:9 streams one by one through ``POST /control`` and prints, for 1 to 16
tiles, the size a tile's picture is drawn at (CSS pixels: the canvas's box, the picture
kept in its aspect inside it): what a tile feed's width should cover.

``--grid N`` runs N live synthetic 1280x720 30 fps streams (``grayscale, gradient, map``)
in this process with one http sink, opens the grid in headless Chromium (1920x1080) and,
after ``--warmup`` seconds, measures over ``--seconds`` this process's CPU (the streams,
the encoders, the server; Chromium runs in its own processes) and the pictures each tile
drew, with ``tile_width: 640`` and with ``tile_width: 8192`` (tiles at full size: what
every tile cost before), in turns for ``--rounds`` rounds; medians.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import ops  # noqa: E402
from pipeline.io.sinks.http.feed import Feed  # noqa: E402

CLIP = ROOT / "samples" / "tree.avi"


def edge_maps(width: int, height: int) -> list[np.ndarray]:
    """Every decodable picture of the clip at ``width`` x ``height``, as Sobel edge maps."""
    capture = cv2.VideoCapture(str(CLIP))
    maps = []
    while True:
        ok, picture = capture.read()
        if not ok:
            break
        maps.append(ops.edges(cv2.resize(picture, (width, height), interpolation=cv2.INTER_CUBIC)))
    capture.release()
    if not maps:
        raise SystemExit(f"bench_tiles: no picture could be read from {CLIP}")
    return maps


def layout(window: str) -> None:
    """Print the size of a tile's picture in the grid for 1 to 16 tiles in a ``window``."""
    import urllib.request

    from tests.end_to_end.test_http_browser import Chromium
    from tests.harness import running_streams

    size = tuple(int(v) for v in window.lower().split("x"))

    def stream(name: str) -> dict:
        return {"name": name, "type": "synthetic", "width": 64, "height": 36, "fps": 5.0, "length": 0,
                "live": True}

    data = {"version": 1, "sources": [stream("s1")], "stages": ["grayscale"],
            "sinks": [{"http": {"port": 0}}], "runtime": {"mode": "live"}}
    read = """const c = document.querySelector('.tile .picture'); const r = c.getBoundingClientRect();
              const w = Math.min(r.width, r.height * 16 / 9); return [w, w * 9 / 16];"""
    print(f"grid in a {size[0]}x{size[1]} window: a tile's 16:9 picture, CSS pixels")
    print(f"{'tiles':>5} {'columns':>7} {'picture':>10}")
    with running_streams(data) as (_, _, sink), Chromium(size=size) as browser:
        browser.get(sink.url)
        for n in range(1, 17):
            if n > 1:
                body = json.dumps({"add": stream(f"s{n}")}).encode()
                urllib.request.urlopen(urllib.request.Request(sink.url + "control", data=body, method="POST",
                                                              headers={"Content-Type": "application/json"}))
            browser.wait_for(f"return document.querySelectorAll('.tile').length === {n} && "
                             "[...window.edgepipeGrid.tiles.values()].every((t) => t.view.shown > 0)",
                             timeout=60, what=f"{n} tiles with pictures")
            width, height = browser.run(read)
            columns = browser.run("return document.getElementById('grid').dataset.columns")
            print(f"{n:>5} {columns:>7} {width:>5.0f}x{height:<4.0f}", flush=True)


def grid(count: int, warmup: float, seconds: float, rounds: int) -> None:
    """Print this process's CPU for a live grid of ``count`` 720p streams, tiles at 640
    wide against tiles at full size."""
    import urllib.request

    from tests.end_to_end.test_http_browser import Chromium
    from tests.harness import running_streams

    def run(tile_width: int) -> dict:
        data = {"version": 1, "stages": ["grayscale", "gradient", "map"], "runtime": {"mode": "live"},
                "sources": [{"name": f"s{i + 1}", "type": "synthetic", "width": 1280, "height": 720,
                             "fps": 30.0, "length": 0, "live": True} for i in range(count)],
                "sinks": [{"http": {"port": 0, "tile_width": tile_width}}]}
        shown = "return [...window.edgepipeGrid.tiles.values()].map((t) => t.view.shown)"
        with running_streams(data) as (_, _, sink), Chromium(size=(1920, 1080)) as browser:
            browser.get(sink.url)
            browser.wait_for(f"return window.edgepipeGrid.tiles.size === {count} && "
                             "[...window.edgepipeGrid.tiles.values()].every((t) => t.view.shown > 0)",
                             timeout=60, what=f"{count} tiles with pictures")
            time.sleep(warmup)
            before, cpu = browser.run(shown), time.process_time()
            time.sleep(seconds)
            after, cpu = browser.run(shown), time.process_time() - cpu
            with urllib.request.urlopen(sink.url + "streams", timeout=10) as response:
                tile = json.load(response)["streams"][0]["encoding"]["tile"]
        fps = statistics.median((b - a) / seconds for a, b in zip(before, after))
        return {"cores": cpu / seconds, "fps": fps, "size": f"{tile['width']}x{tile['height']}"}

    cases = {"tile 640": 640, "full-size tiles": 8192}
    results = {case: [] for case in cases}
    for _ in range(rounds):
        for case, width in cases.items():
            results[case].append(run(width))
    print(f"a grid of {count} live 1280x720 30 fps streams in Chromium, {seconds:g} s measured after "
          f"{warmup:g} s, {rounds} round(s); load average {os.getloadavg()[0]:.1f}")
    print(f"{'tiles':<16} {'encoded':>9} {'cores (this process)':>21} {'tile fps drawn':>15}")
    for case, rows in results.items():
        print(f"{case:<16} {rows[0]['size']:>9} {statistics.median(r['cores'] for r in rows):>21.2f} "
              f"{statistics.median(r['fps'] for r in rows):>15.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=12, help="streams (tiles) encoded side by side")
    parser.add_argument("--pictures", type=int, default=150, help="pictures encoded per stream and case")
    parser.add_argument("--widths", type=int, nargs="+", default=[640, 480], help="tile widths compared")
    parser.add_argument("--size", default="1280x720", help="the streams' picture size")
    parser.add_argument("--fps", type=float, default=30.0, help="pictures a second per stream")
    parser.add_argument("--bitrate", type=int, default=2_000_000, help="the full feed's bitrate (the sink's)")
    parser.add_argument("--layout", metavar="WxH", help="only print the grid's picture sizes in a window of WxH")
    parser.add_argument("--grid", type=int, metavar="N", help="only measure a live grid of N 720p streams")
    parser.add_argument("--warmup", type=float, default=4.0, help="--grid: seconds before measuring")
    parser.add_argument("--seconds", type=float, default=8.0, help="--grid: seconds measured")
    parser.add_argument("--rounds", type=int, default=1, help="--grid: rounds of both cases")
    args = parser.parse_args(argv)
    if args.grid:
        grid(args.grid, args.warmup, args.seconds, args.rounds)
        return 0
    if args.layout:
        layout(args.layout)
        return 0
    width, height = (int(v) for v in args.size.lower().split("x"))
    maps = edge_maps(width, height)
    cases = {"full": None, **{f"tile {w}": w for w in args.widths}}
    feeds = {case: [Feed(args.fps, args.bitrate, threaded=False, max_width=w) for _ in range(args.streams)]
             for case, w in cases.items()}
    cpu = {case: [] for case in cases}
    sizes = {case: [] for case in cases}
    order = list(cases)
    shuffle = random.Random(1)
    for picture in range(args.pictures):
        shuffle.shuffle(order)
        for case in order:
            for stream, feed in enumerate(feeds[case]):
                image = maps[(picture + stream * 5) % len(maps)]
                feed.submit(picture, image, 0.0)
                start = time.process_time()
                chunk = feed.step()
                cpu[case].append((time.process_time() - start) * 1e3)
                sizes[case].append(len(chunk.data) if chunk is not None else 0)
    load = os.getloadavg()[0]
    print(f"{args.streams} streams of {width}x{height} Sobel maps ({CLIP.name}, {len(maps)} pictures looped), "
          f"{args.pictures} pictures each, {args.fps:g} fps; load average {load:.1f}")
    print(f"{'feed':<10} {'encoded':>9} {'bitrate':>9} {'ms/picture':>11} {'KB/picture':>11} "
          f"{'cores for ' + str(args.streams) + ' tiles':>18} {'full/this':>10}")
    base = statistics.median(cpu["full"])
    for case in cases:
        feed = feeds[case][0]
        ms = statistics.median(cpu[case])
        size = f"{feed.size[0]}x{feed.size[1]}"
        print(f"{case:<10} {size:>9} {feed.encoder_bitrate / 1e6:>7.2f}M {ms:>11.2f} "
              f"{statistics.median(sizes[case]) / 1e3:>11.1f} {ms * args.fps * args.streams / 1e3:>18.2f} "
              f"{base / ms:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
