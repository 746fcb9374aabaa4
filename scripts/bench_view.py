"""The browser view over MJPEG against H.264 + WebCodecs, side by side, in the real Chromium.

::

    python scripts/bench_view.py                       # 720p30: synthetic and samples/tree.avi,
                                                       # Sobel and Canny, 1 and 8 viewers
    python scripts/bench_view.py --seconds 6 --viewers 1 4 --sources synthetic
    python scripts/bench_view.py --maps                # binary edge maps: bytes per codec

Each case runs the pipeline (live, 30 fps, the http sink on 127.0.0.1) in this process and
opens the page in headless Chromium (``?view=mjpeg`` or the default H.264 view).  With
more than one viewer, Chromium is one of them and the others are plain clients in a child
process (``--client``: they read the stream as a page would, acknowledge each H.264 chunk,
and do not decode), because eight Chromium windows decoding 720p30 do not fit on this
2-core machine beside the server; the server does the same work for either.
After a warm-up, over ``--seconds`` it reads back from each page (``window.edgepipeView``):
bytes received per second, pictures drawn per second, and the capture-to-display latency
of each picture (the frame's capture time travels with it: in the chunk's header, or the
MJPEG part's ``X-Capture-Time``; the page's clock offset comes from pings).  Server CPU is
this process's CPU time (pipeline, encoders, server threads; Chromium runs in its own
processes) per second, minus the same pipeline's with no viewer, per viewer.  The clip is
``samples/tree.avi`` (320x240, 15 fps) scaled to 1280x720 and played at 30 fps (twice its
speed, so every picture differs) by ffmpeg into a temporary file first.

``--maps`` only compares what a binary edge map (Canny) costs per picture at 720p in the
view's H.264 (at its 2 Mbps cap, and unconstrained at crf 23), in VP8 (realtime, 2 Mbps
target), as JPEG (the MJPEG view),
as a 1-bit PNG, and as packed bits + deflate (both lossless), on the clip's frames.

Medians over ``--rounds``; the machine's load average is printed with the table, since
the latency and the frames shown depend on what else runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.io.sinks.http.sink import HttpSink  # noqa: E402
from pipeline.pipeline import Pipeline  # noqa: E402
from tests.end_to_end.test_http_browser import Chromium  # noqa: E402

STAGES = {
    "sobel": ["grayscale", "gradient", "map"],
    "canny": [{"canny": {"low": "auto", "high": "auto"}}],
}
READ = """const v = window.edgepipeView; if (!v) return null;
          return {t: performance.timeOrigin + performance.now(), shown: v.shown, bytes: v.bytes,
                  transport: v.transport, latencies: v.latencies.slice(-3000)};"""


def make_clip(folder: str) -> str:
    """``samples/tree.avi`` as 1280x720 at 30 fps (played twice as fast), MJPEG in AVI."""
    out = os.path.join(folder, "tree-720p30.avi")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(ROOT / "samples" / "tree.avi"),
                    "-vf", "setpts=0.5*PTS,scale=1280:720:flags=bicubic", "-r", "30",
                    "-c:v", "mjpeg", "-q:v", "3", "-an", out], check=True)
    return out


def source(name: str, clip: str | None) -> dict:
    if name == "synthetic":
        return {"type": "synthetic", "width": 1280, "height": 720, "fps": 30.0, "length": 0, "live": True}
    return {"type": "file", "path": clip, "realtime": True, "loop": True}


class Run:
    """The pipeline of one case in a thread, with its http sink."""

    def __init__(self, src: dict, stages: list):
        data = {"version": 1, "source": src, "stages": stages,
                "sinks": [{"http": {"port": 0, "max_connections": 64}}], "runtime": {"mode": "live"}}
        self.pipe = Pipeline.from_dict(data)
        self.engine = self.pipe.engine()
        self.sink = next(s for s in self.engine.sinks if isinstance(s, HttpSink))
        self.thread = threading.Thread(target=self.engine.run, name="bench-run", daemon=True)

    def __enter__(self) -> "Run":
        self.thread.start()
        deadline = time.monotonic() + 120  # a cold numba compile included
        while self.sink.url is None:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise SystemExit("the pipeline did not start serving")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.pipe.controls.stop()
        self.thread.join(20)


def cpu_per_second(seconds: float) -> float:
    """This process's CPU seconds per wall second over the next ``seconds``."""
    c0, t0 = time.process_time(), time.monotonic()
    time.sleep(seconds)
    return (time.process_time() - c0) / (time.monotonic() - t0)


def client(url: str, kind: str, warmup: float, seconds: float) -> dict:
    """One plain viewer (``--client``): bytes, pictures and latencies over ``seconds``."""
    import json
    import socket
    from urllib.parse import urlsplit

    from pipeline.io.sinks.http import websocket as ws
    from pipeline.io.sinks.http.feed import Chunk

    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    path = "/view.ws" if kind == "h264" else "/stream.mjpg"
    upgrade = ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n") if kind == "h264" else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{upgrade}\r\n".encode())
    stream = sock.makefile("rb")
    while stream.readline().strip():
        pass
    counted = {"bytes": 0, "frames": 0, "latencies": []}
    begin = time.monotonic() + warmup
    while time.monotonic() < begin + seconds:
        if kind == "h264":
            opcode, payload = ws.read_server_frame(stream.read)
            if opcode != ws.OP_BINARY:
                continue
            chunk = Chunk.unpack(payload)
            sock.sendall(ws.client_frame(ws.OP_TEXT, json.dumps({"ack": chunk.seq}).encode()))
            size, capture = len(payload), chunk.capture_ms
        else:
            head = {}
            while (line := stream.readline().strip()) or not head:
                name, _, value = line.decode("latin-1").partition(":")
                if value:
                    head[name.lower()] = value.strip()
            size = int(head["content-length"])
            stream.read(size + 2)
            capture = float(head["x-capture-time"])
        if time.monotonic() >= begin:
            counted["bytes"] += size
            counted["frames"] += 1
            counted["latencies"].append(time.time() * 1000.0 - capture)
    sock.close()
    return counted


def clients(url: str, kind: str, count: int, warmup: float, seconds: float) -> subprocess.Popen:
    """``count`` plain viewers in a child process (its CPU is not the server's)."""
    return subprocess.Popen([sys.executable, __file__, "--client", url, kind, str(count), str(warmup),
                             str(seconds)], stdout=subprocess.PIPE, text=True)


def run_clients(url: str, kind: str, count: int, warmup: float, seconds: float) -> None:
    import json

    results: list = [None] * count

    def one(i: int) -> None:
        results[i] = client(url, kind, warmup, seconds)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(results))


def measure(browser, run: Run, transport: str, viewers: int, warmup: float, seconds: float) -> dict:
    """The page in Chromium plus ``viewers - 1`` plain clients, read back after ``seconds``."""
    import json

    url = run.sink.url + ("?view=mjpeg" if transport == "mjpeg" else "")
    handles = [browser._session_call("GET", "/window")]
    others = clients(run.sink.url, transport, viewers - 1, warmup, seconds) if viewers > 1 else None
    try:
        for handle in handles:  # navigate without waiting for the load (a busy renderer is slow)
            browser._session_call("POST", "/window", {"handle": handle})
            browser.run("window.location.href = arguments[0];", url)
        time.sleep(warmup)
        starts = []
        for handle in handles:
            browser._session_call("POST", "/window", {"handle": handle})
            starts.append(browser.run(READ))
        cpu = cpu_per_second(seconds)
        rates, fps, latencies = [], [], []
        for handle, start in zip(handles, starts):
            browser._session_call("POST", "/window", {"handle": handle})
            end = browser.run(READ)
            if not start or not end or end["transport"] != transport:
                raise RuntimeError(f"a page did not show the {transport} view in time")
            span = (end["t"] - start["t"]) / 1000.0
            rates.append((end["bytes"] - start["bytes"]) * 8 / span / 1e6)
            fps.append((end["shown"] - start["shown"]) / span)
            latencies += [ms for t, ms in end["latencies"] if t > start["t"]]
        plain = json.loads(others.communicate(timeout=seconds + warmup + 60)[0]) if others else []
        for counted in plain:
            rates.append(counted["bytes"] * 8 / seconds / 1e6)
            latencies += counted["latencies"]
        browser_fps = fps[0]
        fps += [counted["frames"] / seconds for counted in plain]
    finally:
        if others is not None and others.poll() is None:
            others.kill()
            others.wait()
        for handle in handles[1:]:  # back to one window
            browser._session_call("POST", "/window", {"handle": handle})
            browser._session_call("DELETE", "/window")
        browser._session_call("POST", "/window", {"handle": handles[0]})
        browser.run("window.location.href = 'about:blank';")
    latencies.sort()

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return {"mbps": statistics.median(rates), "fps": browser_fps, "fps_min": min(fps),
            "p50": quantile(0.5), "p95": quantile(0.95), "cpu": cpu}


def compare_maps(clip: str, frames: int = 90) -> None:
    """Bytes per picture of the clip's Canny maps (720p) in each candidate encoding."""
    import zlib

    import av
    import cv2
    import numpy as np

    from pipeline.io.sinks.http.feed import Encoder

    maps = []
    with av.open(clip) as container:
        for picture in container.decode(video=0):
            grey = picture.to_ndarray(format="gray")
            maps.append(cv2.Canny(cv2.GaussianBlur(grey, (5, 5), 1.4), 40, 100))
            if len(maps) == frames:
                break

    def h264(codec: str = "libx264", bitrate: int = 0, **options) -> list[int]:
        encoder = Encoder(1280, 720, 30.0, 2_000_000)
        if options:  # the same frames into another encoder, or without the cap
            context = av.CodecContext.create(codec, "w")
            if bitrate:
                context.bit_rate = bitrate
            context.width, context.height, context.pix_fmt = 1280, 720, "yuv420p"
            context.time_base, context.framerate = encoder._context.time_base, encoder._context.framerate
            context.options = options
            context.open()
            encoder._context = context
        return [sum(len(data) for data, _ in encoder.encode(m, False)) for m in maps]

    sizes = {
        "h264, the view (2 Mbps cap)": h264(),
        "h264 crf 23 (no cap)": h264(preset="ultrafast", tune="zerolatency", crf="23"),
        "vp8 realtime, 2 Mbps target": h264("libvpx", 2_000_000, deadline="realtime", **{"cpu-used": "8",
                                                                                        "lag-in-frames": "0"}),
        "jpeg q80 (the MJPEG view)": [len(cv2.imencode(".jpg", m, [cv2.IMWRITE_JPEG_QUALITY, 80])[1]) for m in maps],
        "png, 1 bit (lossless)": [len(cv2.imencode(".png", (m > 0).astype(np.uint8), [cv2.IMWRITE_PNG_BILEVEL, 1])[1])
                                  for m in maps],
        "packed bits + deflate (lossless)": [len(zlib.compress(np.packbits(m > 0).tobytes(), 6)) for m in maps],
    }
    edge = statistics.median(float((m > 0).mean()) for m in maps)
    print(f"Canny maps of the clip, 1280x720, {len(maps)} pictures, median {edge:.1%} edge pixels:")
    for name, values in sizes.items():
        per = statistics.median(values)
        print(f"  {name:<34} {per / 1000:7.1f} KB/picture  {per * 8 * 30 / 1e6:6.2f} Mbps at 30 fps")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--client"]:  # the child process of plain viewers
        url, kind, count, warmup, seconds = argv[1:6]
        run_clients(url, kind, int(count), float(warmup), float(seconds))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured per case")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--rounds", type=int, default=1, help="each case this many times (medians)")
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 8], help="viewer counts")
    parser.add_argument("--sources", nargs="+", default=["synthetic", "clip"], choices=["synthetic", "clip"])
    parser.add_argument("--stages", nargs="+", default=["sobel", "canny"], choices=sorted(STAGES))
    parser.add_argument("--maps", action="store_true", help="only compare encodings of binary edge maps")
    args = parser.parse_args(argv)
    if args.maps:
        with tempfile.TemporaryDirectory(prefix="edgepipe-bench-view-") as folder:
            compare_maps(make_clip(folder))
        return 0

    rows = []
    with tempfile.TemporaryDirectory(prefix="edgepipe-bench-view-") as folder, Chromium(size=(960, 640)) as browser:
        clip = make_clip(folder) if "clip" in args.sources else None
        for name in args.sources:
            for stage in args.stages:
                with Run(source(name, clip), STAGES[stage]) as run:
                    time.sleep(args.warmup)
                    idle = statistics.median(cpu_per_second(args.seconds / 2) for _ in range(args.rounds))
                    for viewers in args.viewers:
                        for transport in ("mjpeg", "h264"):
                            try:
                                results = [measure(browser, run, transport, viewers, args.warmup, args.seconds)
                                           for _ in range(args.rounds)]
                            except (OSError, RuntimeError) as error:
                                print(f"{name} {stage} {transport} x{viewers}: not measured ({error})", flush=True)
                                continue
                            row = {key: statistics.median(r[key] for r in results) for key in results[0]}
                            row.update(source=name, stage=stage, viewers=viewers, transport=transport,
                                       cpu_per_viewer=(row["cpu"] - idle) / viewers, idle=idle)
                            rows.append(row)
                            print_row(row, flush=True)
    print()
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}; {os.cpu_count()} CPUs")
    print_table(rows)
    return 0


HEAD = (f"{'source':<10} {'stage':<6} {'view':<6} {'viewers':>7} {'Mbps/viewer':>11} {'fps shown':>9} "
        f"{'(min)':>6} {'p50 ms':>7} {'p95 ms':>7} {'CPU idle':>8} {'CPU/viewer':>10}")


def print_row(row: dict, flush: bool = False) -> None:
    print(f"{row['source']:<10} {row['stage']:<6} {row['transport']:<6} {row['viewers']:>7} "
          f"{row['mbps']:>11.2f} {row['fps']:>9.1f} {row['fps_min']:>6.1f} {row['p50']:>7.0f} "
          f"{row['p95']:>7.0f} {row['idle'] * 100:>7.0f}% {row['cpu_per_viewer'] * 100:>9.1f}%", flush=flush)


def print_table(rows: list[dict]) -> None:
    print(HEAD)
    for row in rows:
        print_row(row)
    print("\nratios, h264 / mjpeg (same source, stage, viewers):")
    for row in rows:
        if row["transport"] != "h264":
            continue
        peer = next(r for r in rows if r["transport"] == "mjpeg" and
                    (r["source"], r["stage"], r["viewers"]) == (row["source"], row["stage"], row["viewers"]))
        cpu = (f"{row['cpu_per_viewer'] / peer['cpu_per_viewer']:.2f}"
               if peer["cpu_per_viewer"] > 0.005 else "n/a")
        print(f"  {row['source']:<10} {row['stage']:<6} {row['viewers']} viewer(s): bytes "
              f"{row['mbps'] / peer['mbps']:.2f}, p95 {row['p95'] / peer['p95']:.2f}, CPU per viewer {cpu}")


if __name__ == "__main__":
    sys.exit(main())
