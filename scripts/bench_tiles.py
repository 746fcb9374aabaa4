"""What the grid's tiles cost the server: N streams' H.264 feeds at full size and at tile size.

::

    python scripts/bench_tiles.py                      # 12 streams, 720p Sobel maps, 150 pictures each
    python scripts/bench_tiles.py --streams 4 --pictures 60 --widths 640 480 320
    python scripts/bench_tiles.py --layout 1920x1080   # the grid's picture sizes, 1 to 16 tiles

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=12, help="streams (tiles) encoded side by side")
    parser.add_argument("--pictures", type=int, default=150, help="pictures encoded per stream and case")
    parser.add_argument("--widths", type=int, nargs="+", default=[640, 480], help="tile widths compared")
    parser.add_argument("--size", default="1280x720", help="the streams' picture size")
    parser.add_argument("--fps", type=float, default=30.0, help="pictures a second per stream")
    parser.add_argument("--bitrate", type=int, default=2_000_000, help="the full feed's bitrate (the sink's)")
    parser.add_argument("--layout", metavar="WxH", help="only print the grid's picture sizes in a window of WxH")
    args = parser.parse_args(argv)
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
