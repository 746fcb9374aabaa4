"""Many live streams: one edgepipe process, N edgepipe processes and N ffmpeg, side by side.

::

    python scripts/bench_streams.py                                  # N = 4 8 12 16, 20 s each
    python scripts/bench_streams.py --streams 2 4 --seconds 5        # a quick look
    python scripts/bench_streams.py --height 1080 --streams 2 4 6     # 1080p30
    python scripts/bench_streams.py --gray luma                      # grayscale: {from: luma}
    python scripts/bench_streams.py --set runtime.queue_size=4       # any config key, every edgepipe

N copies of a 30 fps H.264 clip (``samples/tree.avi``, every frame a new picture, cropped
to 16:9, scaled to 1280x720 or 1920x1080, with a little sensor-like noise at 4 Mbit/s;
or ``--clip``) are served as live streams on 127.0.0.1, one ``ffmpeg -re -stream_loop -1
... -c copy -f mpegts tcp://127.0.0.1:PORT?listen=1`` sender per stream.  Each column
reads the N streams with fresh senders, one column at a time:

* **one edgepipe**: one ``edgepipe run`` of a ``sources:`` config (N url streams; grayscale,
  Sobel l2, map abs, threshold auto, the shipped tuner; a ``stats`` sink on standard output
  for all streams and a ``discard`` sink);
* **N edgepipe**: N ``edgepipe run`` processes of the same chain, one stream each;
* **N ffmpeg**: N ``ffmpeg -i URL -vf format=gray,sobel -f null -`` processes.

Once every stream has delivered frames and ``--settle`` seconds more have passed, each
column is measured over ``--seconds``: per stream, the frames that reached the sink per
second (edgepipe: its stats lines; ffmpeg: its ``-progress`` frame count), edgepipe's frame
age p95 (``latency_ms``: capture, after decoding, to the stats sink) and its drops (the
``drops`` field's growth), how far each reader is behind its sender at the end (the
senders' ``-progress`` frame counts against the frames read), and the CPU time of the
column's processes (``/proc/PID/stat`` utime + stime; senders not counted) in cores.  Two
more figures say how fast the machine itself was: ``probe``, the CPU ms a frame to decode
the clip on one thread just before the column (the same work each time: a slower probe is
a busy host, not edgepipe), and ``steal``, the share of the machine's CPU time the
hypervisor gave to others during the window (``/proc/stat``).  The
window starts once every reader is within 15 frames of its sender (a reader's probe leaves
a backlog).  A stream falls behind below 97% of 30 fps, above 100 ms age p95, above 1%
dropped or over 1 s behind its sender; N grows through ``--streams`` until the one-process
column falls behind (``--all`` runs every N).  Ctrl+C or an error stops every sender and
reader the script started.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from pipeline.cli.oneliner import TUNER  # noqa: E402

TREE = os.path.join(ROOT, "samples", "tree.avi")
RATE = 30
SIZES = {720: (1280, 720), 1080: (1920, 1080)}
COLUMNS = ("one edgepipe", "N edgepipe", "N ffmpeg")
BEHIND = {"fps": 0.97 * RATE, "age_ms": 100.0, "drops_pct": 1.0, "lag_s": 1.0}
PROGRESS = ("-progress", "pipe:1", "-stats_period", "0.25")
CAUGHT_UP = 15  # frames a reader may be behind its sender when the measurement starts
SETTLED_FRAMES = 15  # recent frames of a stream within the age target before the window
CATCH_UP_WAIT = 30.0  # seconds after --settle a reader is given to catch up
START_DEADLINE = 120.0  # seconds for every stream's first frame (a cold numba cache is slow)
TICK = os.sysconf("SC_CLK_TCK")
#: Every process started, by pid (the smoke test checks none is left).
STARTED: list[int] = []


def chain(gray: str) -> list:
    grey = "grayscale" if gray == "exact" else {"grayscale": {"from": "luma"}}
    return [grey, {"gradient": {"kind": "sobel", "norm": "l2"}}, {"map": {"mode": "abs"}},
            {"threshold": {"value": "auto"}}]


def stream_source(port: int) -> dict:
    return {"type": "url", "url": f"tcp://127.0.0.1:{port}", "open_timeout": 20.0, "read_timeout": 5.0}


def config(ports: list[int], gray: str) -> dict:
    """One edgepipe for all ``ports`` (several) or the one stream of ``ports[0]``."""
    data = {"version": 1, "stages": chain(gray), "tuner": TUNER, "runtime": {"mode": "live"},
            "sinks": [{"stats": {"path": "-"}}, "discard"]}
    if len(ports) == 1:
        data["source"] = stream_source(ports[0])
    else:
        data["sources"] = [{"name": f"s{i}", **stream_source(port)} for i, port in enumerate(ports)]
    return data


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), in seconds; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def decode_probe(clip: str, frames: int = 90) -> float:
    """CPU ms a frame to decode the first ``frames`` of ``clip`` on one thread, just now.

    The same work every time: a column that falls behind while this is slower than in
    the columns that kept up ran on a slower machine (a busy sibling core, a host under
    load), not into a limit of edgepipe's.
    """
    import av

    with av.open(clip) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        count, start = 0, time.thread_time()
        for _ in container.decode(stream):
            count += 1
            if count == frames:
                break
        return (time.thread_time() - start) * 1000 / count


def steal_jiffies() -> tuple[int, int]:
    """(steal, all) CPU time of the whole machine from /proc/stat; (0, 0) where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(value) for value in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_ports() -> set[int]:
    """The tcp ports in LISTEN state on this machine (``/proc/net/tcp``)."""
    with open("/proc/net/tcp", encoding="ascii") as handle:
        rows = [line.split() for line in handle.readlines()[1:]]
    return {int(row[1].rpartition(":")[2], 16) for row in rows if row[3] == "0A"}


def wait_listening(ports: list[int], children: "Children") -> None:
    """Wait until every sender listens (connecting to find out would take its one client)."""
    end = time.monotonic() + 30
    while not set(ports) <= listening_ports():
        for process, _ in children.processes:
            if process.poll() is not None:
                raise SystemExit(f"bench_streams: a sender ended at once ({children.failed(process)})")
        if time.monotonic() > end:
            raise SystemExit("bench_streams: the ffmpeg senders did not listen within 30 s")
        time.sleep(0.05)


class Children:
    """The processes of one column; :meth:`stop` ends every one still running (bounded)."""

    def __init__(self, folder: str):
        self.folder = folder
        self.processes: list[tuple[subprocess.Popen, str]] = []

    def start(self, argv: list[str], name: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
        log = os.path.join(self.folder, f"{name}.log")
        with open(log, "w", encoding="utf-8") as errors:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=errors,
                                       text=True, cwd=ROOT)
        STARTED.append(process.pid)
        self.processes.append((process, log))
        return process

    def failed(self, process: subprocess.Popen) -> str:
        log = dict((p.pid, path) for p, path in self.processes)[process.pid]
        with open(log, encoding="utf-8", errors="replace") as handle:
            text = handle.read().strip().splitlines()
        return f"exit {process.returncode}: " + " | ".join(text[-4:])

    def stop(self) -> None:
        running = [p for p, _ in self.processes if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGINT)  # edgepipe finishes its outputs; ffmpeg quits
        end = time.monotonic() + 10
        for process in running:
            try:
                process.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Feed:
    """A reader's standard output, line by line on a thread: per stream, ``(time, row)``."""

    def __init__(self, process: subprocess.Popen, kind: str, name: str | None = None):
        self.kind, self.name = kind, name
        self.rows: dict[str, list] = {}
        self._progress: dict = {}
        self.thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self.thread.start()

    def _read(self, lines) -> None:
        for line in lines:
            if self.kind == "ffmpeg":  # -progress: key=value lines, a block ends with progress=
                key, _, value = line.strip().partition("=")
                self._progress[key] = value
                if key == "progress":
                    sample = (time.time(), int(self._progress.get("frame", 0)),
                              int(self._progress.get("drop_frames", 0)))
                    self.rows.setdefault(self.name, []).append(sample)
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue
            self.rows.setdefault(row.get("source", self.name), []).append(row)

    def started(self, name: str) -> bool:
        rows = self.rows.get(name, [])
        return bool(rows) and (self.kind != "ffmpeg" or rows[-1][1] > 0)

    def count_at(self, name: str, at: float) -> float:
        """Frames of stream ``name`` read by time ``at`` (ffmpeg: from its progress samples,
        linearly between two; edgepipe: the last stats line's index, which counts drops too)."""
        rows = list(self.rows.get(name, []))
        if self.kind == "ffmpeg":
            before = [r for r in rows if r[0] <= at]
            after = [r for r in rows if r[0] > at]
            if not before:
                return 0.0
            (a, count_a, _), later = before[-1], after[:1]
            if not later:
                return float(count_a)
            b, count_b, _ = later[0]
            return count_a + (count_b - count_a) * (at - a) / (b - a)
        done = [r["index"] + 1 for r in rows if r["captured_at"] <= at]
        return float(done[-1]) if done else 0.0

    def settled(self, name: str, at: float) -> bool:
        """edgepipe: the stream's last SETTLED_FRAMES frames up to ``at`` reached the sink
        within the age target (the start's backlog is gone; ffmpeg: always)."""
        if self.kind == "ffmpeg":
            return True
        recent = [r for r in list(self.rows.get(name, [])) if r["captured_at"] <= at][-SETTLED_FRAMES:]
        return len(recent) == SETTLED_FRAMES and all(r["latency_ms"] <= BEHIND["age_ms"] for r in recent)


def settled(feeds: list[Feed], name: str, at: float) -> bool:
    return any(feed.started(name) and feed.settled(name, at) for feed in feeds)


def lag_frames(senders: dict, feeds: list[Feed], name: str, at: float) -> float:
    """How many frames stream ``name``'s reader is behind its sender at time ``at``."""
    read = max(feed.count_at(name, at) for feed in feeds)
    return senders[name].count_at(name, at) - read


def measure_stream(kind: str, rows: list, t0: float, t1: float) -> dict:
    """fps, age p95 and drops of one stream over [t0, t1]."""
    if kind == "ffmpeg":
        before = [r for r in rows if r[0] <= t0] or rows[:1]
        upto = [r for r in rows if r[0] <= t1]
        (a, frames_a, drops_a), (b, frames_b, drops_b) = before[-1], upto[-1]
        frames, drops = frames_b - frames_a, drops_b - drops_a
        return {"fps": frames / (b - a) if b > a else 0.0, "age_ms": None,
                "drops_pct": 100.0 * drops / max(1, frames + drops)}
    inside = [r for r in rows if t0 <= r["captured_at"] < t1]
    if not inside:
        return {"fps": 0.0, "age_ms": None, "drops_pct": 100.0}
    earlier = [r for r in rows if r["captured_at"] < t0]
    first = (earlier[-1] if earlier else inside[0])["drops"] or 0
    drops = (inside[-1]["drops"] or 0) - first
    ages = sorted(r["latency_ms"] for r in inside)
    return {"fps": len(inside) / (t1 - t0), "age_ms": ages[min(len(ages) - 1, int(0.95 * len(ages)))],
            "drops_pct": 100.0 * drops / (len(inside) + drops)}


def run_column(column: str, n: int, clip: str, args, folder: str) -> dict:
    """Serve ``n`` streams, read them as ``column`` says, measure; every process stopped after."""
    children = Children(folder)
    try:
        ports = [free_port() for _ in range(n)]
        senders: dict[str, Feed] = {}
        for i, port in enumerate(ports):
            sender = children.start(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                                     "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "mpegts",
                                     f"tcp://127.0.0.1:{port}?listen=1", *PROGRESS],
                                    f"sender{i}", stdout=subprocess.PIPE)
            senders[f"s{i}"] = Feed(sender, "ffmpeg", f"s{i}")
        wait_listening(ports, children)
        feeds, readers, names = [], [], [f"s{i}" for i in range(n)]
        if column == "N ffmpeg":
            for name, port in zip(names, ports):
                process = children.start(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
                                          "-i", f"tcp://127.0.0.1:{port}", "-vf", "format=gray,sobel",
                                          "-f", "null", "-", *PROGRESS],
                                         f"ffmpeg_{name}", stdout=subprocess.PIPE)
                readers.append(process)
                feeds.append(Feed(process, "ffmpeg", name))
        else:
            groups = [ports] if column == "one edgepipe" else [[port] for port in ports]
            for index, group in enumerate(groups):
                path = os.path.join(folder, f"streams_{index}.yaml")
                with open(path, "w", encoding="utf-8") as handle:
                    json.dump(config(group, args.gray), handle)  # JSON is YAML
                process = children.start([sys.executable, "-m", "pipeline", "run", path, "-q",
                                          *overrides(args)],
                                         f"edgepipe_{index}", stdout=subprocess.PIPE)
                readers.append(process)
                feeds.append(Feed(process, "edgepipe", None if len(group) > 1 else names[index]))
        end = time.monotonic() + START_DEADLINE
        while not all(any(feed.started(name) for feed in feeds) for name in names):
            for process in readers:
                if process.poll() is not None:
                    raise SystemExit(f"bench_streams: {column}, {n} streams: a reader ended before "
                                     f"every stream started ({children.failed(process)})")
            if time.monotonic() > end:
                raise SystemExit(f"bench_streams: {column}, {n} streams: not every stream delivered "
                                 f"a frame within {START_DEADLINE:g} s")
            time.sleep(0.05)
        # A reader probing a stream buffers a second or more of it, then catches up, and
        # edgepipe's chains run on the OpenCV tier until the kernels are loaded (about
        # 3 s with twelve streams, dropping frames meanwhile): the measurement starts
        # once every reader is within CAUGHT_UP frames of its sender and every edgepipe
        # stream's last SETTLED_FRAMES frames were within the age target (or after
        # --settle + CATCH_UP_WAIT seconds: one that never catches up is behind).
        time.sleep(args.settle)
        end = time.monotonic() + CATCH_UP_WAIT
        while time.monotonic() < end:
            at = time.time() - 0.5  # the lines and progress samples of then have come
            if all(lag_frames(senders, feeds, name, at) <= CAUGHT_UP and settled(feeds, name, at)
                   for name in names):
                break
            time.sleep(0.1)
        pids = [process.pid for process in readers]
        t0, cpu0, steal0 = time.time(), sum(cpu_seconds(pid) for pid in pids), steal_jiffies()
        time.sleep(args.seconds)
        t1, cpu1, steal1 = time.time(), sum(cpu_seconds(pid) for pid in pids), steal_jiffies()
        for process in readers:
            if process.poll() is not None:
                raise SystemExit(f"bench_streams: {column}, {n} streams: a reader ended during the "
                                 f"measurement ({children.failed(process)})")
        time.sleep(0.3)  # the last lines of the window on their way
    finally:
        children.stop()
    kind = "ffmpeg" if column == "N ffmpeg" else "edgepipe"
    rows = {}
    for feed in feeds:
        rows.update(feed.rows)
    streams = [{**measure_stream(kind, rows.get(name, []), t0, t1),
                "lag_s": lag_frames(senders, feeds, name, t1) / RATE} for name in names]
    result = summarize(streams, (cpu1 - cpu0) / (t1 - t0))
    every = steal1[1] - steal0[1]
    result["steal_pct"] = 100 * (steal1[0] - steal0[0]) / every if every > 0 else 0.0
    return result


def summarize(streams: list[dict], cores: float) -> dict:
    fps = [s["fps"] for s in streams]
    ages = [s["age_ms"] for s in streams if s["age_ms"] is not None]
    result = {"fps_min": min(fps), "fps_median": statistics.median(fps),
              "age_p95_median": statistics.median(ages) if ages else None,
              "age_p95_max": max(ages) if ages else None,
              "drops_pct_max": max(s["drops_pct"] for s in streams),
              "lag_s_max": max(s["lag_s"] for s in streams), "cpu_cores": cores,
              "streams": streams}
    result["behind"] = bool(result["fps_min"] < BEHIND["fps"] or result["drops_pct_max"] > BEHIND["drops_pct"]
                            or result["lag_s_max"] > BEHIND["lag_s"]
                            or (ages and result["age_p95_max"] > BEHIND["age_ms"]))
    return result


def make_clip(folder: str, height: int) -> str:
    """10 s of tree.avi at 30 fps (each of its frames once), 16:9, ``height`` lines, H.264."""
    width, height = SIZES[height]
    path = os.path.join(folder, f"clip_{height}p30.mp4")
    if os.path.exists(TREE):
        source = ["-i", TREE]
        shape = (f"setpts=PTS/2,fps={RATE},crop=iw:iw*9/16,scale={width}:{height}:flags=lanczos,"
                 "noise=alls=6:allf=t")
    else:
        source = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={RATE}"]
        shape = "null"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *source,
                    "-vf", shape, "-t", "10", "-r", str(RATE), "-c:v", "libx264", "-preset", "veryfast",
                    "-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M", "-g", str(2 * RATE), "-bf", "0",
                    "-pix_fmt", "yuv420p", "-an", path], check=True)
    return path


def overrides(args) -> list[str]:
    """``--set KEY=VALUE`` for each of the benchmark's ``--set``, as edgepipe takes them."""
    return [arg for setting in args.set for arg in ("--set", setting)]


def check_config(args, folder: str) -> None:
    """The generated config validates, with ``--set``'s overrides (``--gray luma`` needs
    ``grayscale: {from: luma}``)."""
    path = os.path.join(folder, "check.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(config([free_port(), free_port()], args.gray), handle)
    done = subprocess.run([sys.executable, "-m", "pipeline", "validate", path, *overrides(args)],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        hint = (" --gray luma sets grayscale: {from: luma}, the decoder's luma plane (issue 27), "
                "which this edgepipe does not know yet; use --gray exact" if args.gray == "luma" else "")
        raise SystemExit(f"bench_streams: the generated config is refused: {why}.{hint}")


def cell(value, digits=1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_line(n: int, column: str, r: dict) -> str:
    return (f"{n:>3}  {column:<13} {r['fps_min']:>7.1f} {r['fps_median']:>7.1f} "
            f"{cell(r['age_p95_median']):>8} {cell(r['age_p95_max']):>8} {r['drops_pct_max']:>7.2f} "
            f"{r['lag_s_max']:>6.2f} {r['cpu_cores']:>6.2f}  {r['probe_ms']:>6.2f} {r['steal_pct']:>5.1f}  "
            f"{'BEHIND' if r['behind'] else 'ok'}")


HEADER = ("  N  column        fps min fps med  age p95  p95 max  drops%  lag s  cores  probe  steal  kept up\n"
          "                                    (ms,med)    (ms)     max    max          ms     %")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[4, 8, 12, 16], metavar="N")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per column")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after every stream started")
    parser.add_argument("--height", type=int, choices=sorted(SIZES), default=720)
    parser.add_argument("--gray", choices=("exact", "luma"), default="exact")
    parser.add_argument("--clip", help="an H.264 30 fps clip to serve instead of the made one")
    parser.add_argument("--columns", nargs="+", choices=COLUMNS, default=list(COLUMNS), metavar="COLUMN")
    parser.add_argument("--all", action="store_true", help="every N, also after one process fell behind")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to every edgepipe run (e.g. runtime.queue_size=4); repeatable")
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        raise SystemExit("bench_streams: needs ffmpeg on the PATH (apt-get install ffmpeg)")
    results = []
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # cleaned up like Ctrl+C
    # Ctrl+C too when started with SIGINT ignored (a background job of a script: Python
    # then installs no handler of its own), as edgepipe itself does.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with tempfile.TemporaryDirectory(prefix="edgepipe-bench-streams-") as folder:
            check_config(args, folder)
            subprocess.run([sys.executable, "-m", "pipeline", "warmup"], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            clip = args.clip or make_clip(folder, args.height)
            print(f"bench_streams: {os.path.basename(clip)} as N live streams (tcp, mpegts), "
                  f"{args.seconds:g} s measured after {args.settle:g} s; {os.cpu_count()} cores; "
                  f"grey {args.gray}; Sobel l2, threshold auto, tuner, stats + discard; load "
                  f"average {os.getloadavg()[0]:.1f} (other work skews every column)")
            print(HEADER, flush=True)
            for n in args.streams:
                row = {"streams": n}
                for column in args.columns:
                    probe = decode_probe(clip)
                    row[column] = run_column(column, n, clip, args, folder)
                    row[column]["probe_ms"] = probe
                    print(table_line(n, column, row[column]), flush=True)
                results.append(row)
                ratios = [f"{c} CPU / one edgepipe {row[c]['cpu_cores'] / row['one edgepipe']['cpu_cores']:.2f}x"
                          for c in args.columns[1:] if "one edgepipe" in row and c != "one edgepipe"]
                if ratios:
                    print(f"     N={n}: " + "; ".join(ratios), flush=True)
                if "one edgepipe" in row and row["one edgepipe"]["behind"] and not args.all:
                    print(f"     one edgepipe fell behind at N={n}; stopping (--all runs every N)")
                    break
    except KeyboardInterrupt:
        print("bench_streams: interrupted; every sender and reader stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    for column in args.columns:
        kept = [row["streams"] for row in results if not row[column]["behind"]]
        print(f"largest N kept up, {column}: {max(kept) if kept else 'none'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"height": args.height, "gray": args.gray, "seconds": args.seconds,
                       "load_average": os.getloadavg()[0],
                       "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1)  # a stuck run shows where: kill -USR1 PID
    sys.exit(main())
