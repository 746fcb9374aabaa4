"""The window grid on a real virtual display: a tile per stream, read back from the screen.

As in tests/io/sinks/test_window.py, every window lives in a child process (this file run
as a script, or ``python -m pipeline run``): OpenCV's Qt backend binds to one display for
the life of a process.  The script's child shows a :class:`SharedWindow` fed by three
streams of solid colours and obeys commands on its standard input (``add d``, ``end c``,
``remove b``, ``colour a 0 0 90``, ``ping``), printing its state as JSON lines; the test
reads the screen back with ffmpeg's x11grab, sends keys and clicks with xdotool, and waits
for the events it expects (no bound on how long they take, beyond a test's failure).

Needs ``Xvfb``, ``xdotool`` and ``ffmpeg`` (x11grab); each test skips when one is missing.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.io.sinks.netcheck import free_port
from tests.io.sinks.test_window import Child as WindowChild
from tests.io.sinks.test_window import (_need, screenshot, send_wm_delete, window_geometry,
                                        xvfb)  # noqa: F401  (xvfb: the fixture)

ROOT = Path(__file__).resolve().parents[3]
COLOURS = {"a": (0, 0, 200), "b": (0, 200, 0), "c": (200, 0, 0), "d": (200, 200, 0),
           "e": (0, 200, 200)}
GRID_WIDTH = 480  # 160x120 pictures: 2x2 cells of 240x180 for 3 or 4 streams


# --------------------------------------------------------------------------------------
# The child: ``python tests/io/sinks/test_window_grid.py TITLE SNAPSHOT_DIR``.
def child_main(title: str, snapshot_dir: str) -> None:
    sys.path.insert(0, str(ROOT))
    from pipeline.controls import Controls
    from pipeline.frame import Frame
    from pipeline.io.sinks.window import WindowSink
    from pipeline.io.sinks.window_grid import SharedWindow
    from pipeline.tuned import single

    shared = SharedWindow(WindowSink(title=title, snapshot_dir=snapshot_dir, threshold_step=4,
                                     grid_width=GRID_WIDTH))
    streams: dict = {}  # name -> {"handle", "controls", "colour", "frames", "live"}
    commands: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [commands.put(line.split()) for line in sys.stdin],
                     daemon=True).start()

    def add(name: str) -> None:
        handle, controls = shared.handle(name), Controls()
        handle.attach(None, controls)
        streams[name] = {"handle": handle, "controls": controls, "colour": COLOURS[name],
                         "frames": 0, "live": True}

    def picture(stream) -> np.ndarray:
        return np.full((120, 160, 3), stream["colour"], np.uint8)

    def finish(name: str, reason: str, error: str | None = None) -> None:
        stream = streams[name]
        stream["live"] = False
        stream["handle"].close()
        stream["handle"].ended(reason, error)
        stream["handle"].release()

    for name in "abc":
        add(name)
    for name in "abc":
        image = picture(streams[name])
        streams[name]["handle"].open(Frame(0, time.perf_counter(), image, image), 30.0,
                                     streams[name]["controls"])
    print(json.dumps({"event": "open"}), flush=True)
    last = None
    while any(s["live"] and not s["controls"].stopped for s in streams.values()):
        ping = False
        while not commands.empty():
            word, name, *rest = commands.get() + ["-"]
            if word == "add":
                add(name)
            elif word == "end":
                finish(name, "end of stream")
            elif word == "fail":
                finish(name, "error", " ".join(rest[:-1]))
            elif word == "remove":
                streams[name]["controls"].stop("removed")
                finish(name, "removed")
            elif word == "colour":
                streams[name]["colour"] = tuple(int(v) for v in rest[:3])
            ping = ping or word == "ping"
        for stream in streams.values():
            if stream["live"] and not stream["controls"].paused:
                image = picture(stream)
                stream["handle"].write(Frame(stream["frames"], time.perf_counter(), image, image))
                stream["frames"] += 1
        state = {"event": "state", "shown": shared.shown, "picked": shared.picked,
                 "keys": shared.keys_handled, "snapshots": list(shared.snapshots),
                 "drawn": shared.draws > 0,
                 "streams": {name: {"paused": s["controls"].paused, "stopped": s["controls"].stopped,
                                    "threshold": single(s["controls"].tuned.manual("threshold"))}
                             for name, s in streams.items()}}
        if state != last or ping:
            last = dict(state)
            if ping:
                state.update(event="pong", draws=shared.draws,
                             frames={name: s["frames"] for name, s in streams.items()})
            print(json.dumps(state), flush=True)
        time.sleep(1 / 60)
    reasons = {name: s["controls"].stop_reason for name, s in streams.items()}
    for name, stream in streams.items():
        if stream["live"]:
            finish(name, reasons[name] or "stopped")
    print(json.dumps({"event": "end", "reasons": reasons, "closed_by_user": shared.closed_by_user}),
          flush=True)


if __name__ == "__main__":
    child_main(*sys.argv[1:3])
    sys.exit(0)


# --------------------------------------------------------------------------------------
class Child(WindowChild):
    """The child showing the grid (this file's main); its JSON lines read on a thread,
    commands written."""

    def __init__(self, display: str, title: str, snapshot_dir: Path):
        super().__init__(display, title, snapshot_dir, mode="grid", script=__file__)

    def send(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def wait_for(self, predicate, what: str, timeout: float = 20.0) -> dict:
        """The first message (or the latest state) satisfying ``predicate``."""
        if self.state and predicate(self.state):
            return self.state
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if message["event"] == "state":
                self.state = message
            if predicate(message):
                return message
        self.kill()
        pytest.fail(f"grid child: no {what}; last state {self.state}; stderr {''.join(self.stderr)[-2000:]}")

    def pong(self) -> dict:
        self.send("ping x")
        return self.wait_for(lambda m: m["event"] == "pong", "answer to ping")

    def window(self) -> str:
        self.wait_for(lambda m: m.get("drawn"), "grid drawn")
        for _ in range(100):
            found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{self.title}"],
                                   capture_output=True, text=True,
                                   env=dict(os.environ, DISPLAY=self.display)).stdout.split()
            if found:
                return found[-1]
            time.sleep(0.1)
        pytest.fail(f"no visible window named {self.title!r}")

    def xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], check=True, capture_output=True,
                       env=dict(os.environ, DISPLAY=self.display))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def grid_child(xvfb, tmp_path):  # noqa: F811  (the imported fixture)
    _need("xdotool")
    _need("ffmpeg")
    children = []

    def start(title: str) -> Child:
        children.append(Child(xvfb, title, tmp_path / "shots"))
        return children[-1]

    yield start
    for child in children:
        child.kill()


def cells_on_screen(child: Child, window: str, path: Path, columns: int = 2, rows: int = 2) -> list:
    """The mean colour (BGR) of the middle of each cell of the window, as the screen shows it."""
    x, y, width, height = window_geometry(child.display, window)
    screen = screenshot(child.display, path)[y:y + height, x:x + width]
    cell_w, cell_h = width // columns, height // rows
    return [tuple(int(v) for v in screen[r * cell_h + cell_h // 2 - 10:r * cell_h + cell_h // 2 + 10,
                                         c * cell_w + cell_w // 2 - 10:c * cell_w + cell_w // 2 + 10]
                  .reshape(-1, 3).mean(axis=0).round())
            for r in range(rows) for c in range(columns)]


def shows(child: Child, window: str, path: Path, expected: list, columns: int = 2, rows: int = 2) -> list:
    """Grab the screen until each cell shows its expected colour (painting is asynchronous)."""
    for _ in range(50):
        found = cells_on_screen(child, window, path, columns, rows)
        if all(np.abs(np.subtract(f, e)).max() <= 2 for f, e in zip(found, expected)):
            return found
        time.sleep(0.2)
    pytest.fail(f"the window shows {found}, not {expected}")


BLACK = (0, 0, 0)


def painted(display: str, window: str, path: Path) -> bool:
    """Whether the window shows anything at all (grabbing the screen a few times)."""
    for _ in range(25):
        x, y, width, height = window_geometry(display, window)
        if screenshot(display, path)[y:y + height, x:x + width].max() > 0:
            return True
        time.sleep(0.2)
    return False


def painted_child(grid_child, title: str, tmp_path: Path) -> tuple:
    """A child whose grid the screen shows, and its window.

    Seen with one window as with the grid, about 1 run in 5 to 10 on a loaded machine: Qt
    maps the window on Xvfb (no window manager) and names it, but never paints it.  A
    second child is a fresh toolkit; a grid that is never drawn fails both.
    """
    child = grid_child(title)
    window = child.window()
    if not painted(child.display, window, tmp_path / "painted.png"):
        child.kill()
        child = grid_child(title)
        window = child.window()
    return child, window


def redrawn(child: Child, live: str = "a") -> dict:
    """Ping until the grid was drawn again and stream ``live`` wrote more frames."""
    before = child.pong()
    for _ in range(200):
        after = child.pong()
        if after["draws"] > before["draws"] and after["frames"][live] > before["frames"][live]:
            return after
        time.sleep(0.05)
    pytest.fail(f"the grid was not drawn again: {before} then {after}")


# --------------------------------------------------------------------------------------
def test_three_streams_in_one_window_each_tile_its_newest_picture(grid_child, tmp_path):
    child, window = painted_child(grid_child, "grid-three", tmp_path)
    assert window_geometry(child.display, window)[2:] == (GRID_WIDTH, 360)  # 2x2 of 240x180
    assert child.wait_for(lambda m: m.get("shown") == ["a", "b", "c"], "three tiles")
    shows(child, window, tmp_path / "s.png", [COLOURS["a"], COLOURS["b"], COLOURS["c"], BLACK])
    child.send("colour a 0 0 90")  # a's newest picture changes: its tile follows
    shows(child, window, tmp_path / "s.png", [(0, 0, 90), COLOURS["b"], COLOURS["c"], BLACK])
    redrawn(child)
    child.xdotool("key", "--window", window, "q")
    end = child.wait_for(lambda m: m["event"] == "end", "end")
    assert set(end["reasons"].values()) == {"q pressed in the window"}
    assert child.process.wait(20) == 0, "".join(child.stderr)


def notice_shown(child: Child, window: str, path: Path, cell: int, colour: tuple) -> bool:
    """Whether the bottom left of ``cell`` (2x2) shows words on a band, not the picture."""
    x, y, width, height = window_geometry(child.display, window)
    for _ in range(50):
        screen = screenshot(child.display, path)[y:y + height, x:x + width]
        row, column = divmod(cell, 2)
        bottom = screen[(row + 1) * (height // 2) - 12:(row + 1) * (height // 2) - 2,
                        column * (width // 2) + 2:column * (width // 2) + 40]
        if np.abs(bottom.reshape(-1, 3).astype(int) - colour).max() > 60:
            return True
        time.sleep(0.2)
    return False


def test_a_stream_that_ends_or_fails_keeps_its_last_picture_while_the_others_go_on(grid_child, tmp_path):
    child, window = painted_child(grid_child, "grid-ends", tmp_path)
    child.send("end c")
    child.send("fail b the camera went away")
    child.wait_for(lambda m: m["event"] == "state" and m["streams"]["c"]["stopped"] is False
                   and m["shown"] == ["a", "b", "c"], "tiles kept")
    child.send("colour a 0 0 90")  # the one still running goes on
    shows(child, window, tmp_path / "s.png", [(0, 0, 90), COLOURS["b"], COLOURS["c"], BLACK])
    assert notice_shown(child, window, tmp_path / "s.png", 1, COLOURS["b"])  # failed: ...
    assert notice_shown(child, window, tmp_path / "s.png", 2, COLOURS["c"])  # ended: ...
    after = redrawn(child, "a")
    assert after["frames"]["a"] > after["frames"]["c"]
    child.xdotool("key", "--window", window, "Escape")
    end = child.wait_for(lambda m: m["event"] == "end", "end")
    assert end["reasons"]["a"] == "Esc pressed in the window"
    assert child.process.wait(20) == 0, "".join(child.stderr)


def test_tiles_come_and_go_with_streams_added_and_removed(grid_child, tmp_path):
    child, window = painted_child(grid_child, "grid-add", tmp_path)
    child.send("add d")
    child.wait_for(lambda m: m.get("shown") == ["a", "b", "c", "d"], "a fourth tile")
    shows(child, window, tmp_path / "s.png", [COLOURS[n] for n in "abcd"])
    child.send("add e")  # five: three columns, two rows; the window follows the grid
    child.wait_for(lambda m: m.get("shown") == ["a", "b", "c", "d", "e"], "a fifth tile")
    for _ in range(50):
        if window_geometry(child.display, window)[2:] == (GRID_WIDTH, 240):
            break
        time.sleep(0.2)
    assert window_geometry(child.display, window)[2:] == (GRID_WIDTH, 240)  # 3x2 of 160x120
    shows(child, window, tmp_path / "s.png", [COLOURS[n] for n in "abcde"] + [BLACK], columns=3, rows=2)
    child.send("remove b")
    child.wait_for(lambda m: m.get("shown") == ["a", "c", "d", "e"], "b's tile gone")
    shows(child, window, tmp_path / "s.png", [COLOURS[n] for n in "acde"])
    child.send("remove e")
    child.wait_for(lambda m: m.get("shown") == ["a", "c", "d"], "e's tile gone")
    shows(child, window, tmp_path / "s.png", [COLOURS[n] for n in "acd"] + [BLACK])
    child.xdotool("key", "--window", window, "q")
    end = child.wait_for(lambda m: m["event"] == "end", "end")
    assert end["reasons"] == {"a": "q pressed in the window", "b": "removed",
                              "c": "q pressed in the window", "d": "q pressed in the window",
                              "e": "removed"}


def title_of(child: Child, window: str) -> str:
    return subprocess.run(["xdotool", "getwindowname", window], capture_output=True, text=True,
                          env=dict(os.environ, DISPLAY=child.display)).stdout.strip()


def test_keys_act_on_every_stream_or_the_one_picked_by_number_or_click(grid_child, tmp_path):
    child, window = painted_child(grid_child, "grid-keys", tmp_path)

    def thresholds(values):
        return lambda m: m["event"] == "state" and [m["streams"][n]["threshold"] for n in "abc"] == values

    child.xdotool("key", "--window", window, "2", "bracketright")
    child.wait_for(thresholds([None, 4.0, None]), "b's threshold 4 alone")
    assert child.state["picked"] == "b"
    for _ in range(50):
        if title_of(child, window) == "grid-keys [keys: b]":
            break
        time.sleep(0.1)
    assert title_of(child, window) == "grid-keys [keys: b]"
    # A click in the middle of c's tile (bottom left cell) picks c.
    child.xdotool("mousemove", "--window", window, "120", "270", "click", "1")
    child.wait_for(lambda m: m["event"] == "state" and m["picked"] == "c", "c picked by a click")
    child.xdotool("key", "--window", window, "space")
    child.wait_for(lambda m: m["event"] == "state" and [m["streams"][n]["paused"] for n in "abc"]
                   == [False, False, True], "c paused alone")
    child.xdotool("key", "--window", window, "0", "bracketright", "space")
    child.wait_for(thresholds([4.0, 8.0, 4.0]), "every threshold up by 4")
    child.wait_for(lambda m: m["event"] == "state" and all(m["streams"][n]["paused"] for n in "abc"),
                   "every stream paused")
    assert child.state["picked"] is None
    send_wm_delete(child.display, window)  # closing the window stops every stream
    end = child.wait_for(lambda m: m["event"] == "end", "end")
    assert set(end["reasons"].values()) == {"window closed"} and end["closed_by_user"]
    assert child.state["keys"] == ["2", "]", "space", "0", "]", "space"]


# --------------------------------------------------------------------------------------
# A real run: ``python -m pipeline run`` of a sources: config, on the same display.
def live(name: str, **more) -> dict:
    return {"name": name, "type": "synthetic", "width": 160, "height": 120, "fps": 20.0,
            "length": 0, "live": True, **more}


def run_config(tmp_path, data: dict, display: str) -> subprocess.Popen:
    import yaml

    path = tmp_path / "wall.yaml"
    path.write_text(yaml.safe_dump(data))
    env = dict(os.environ, DISPLAY=display, PYTHONPATH=str(ROOT))
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(path), "--json", "summary.json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=str(tmp_path))


def find_window(display: str, title: str, process: subprocess.Popen) -> str:
    for _ in range(600):  # a cold start compiles nothing here (grayscale), but imports take a while
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{title}"],
                               capture_output=True, text=True,
                               env=dict(os.environ, DISPLAY=display)).stdout.split()
        if found:
            return found[-1]
        if process.poll() is not None:
            pytest.fail(f"the run ended before its window {title!r} showed: {process.stderr.read()}")
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"no window {title!r} on {display}")


def key_to(display: str, title: str, process: subprocess.Popen, key: str) -> None:
    """Send ``key`` to the window titled ``title``, found again each try: Qt may map a
    window of that name and replace it while it sets up, so an id can go stale."""
    for _ in range(50):
        if process.poll() is not None:  # the key reached it though xdotool said otherwise
            return
        window = find_window(display, title, process)
        sent = subprocess.run(["xdotool", "key", "--window", window, key], capture_output=True,
                              env=dict(os.environ, DISPLAY=display))
        if sent.returncode == 0:
            return
        time.sleep(0.1)
    pytest.fail(f"could not send {key} to {title!r}: {sent.stderr}")


def filled_cells(display: str, window: str, path: Path) -> list:
    """For each cell of a 2x2 window grid: whether it shows something (not all black)."""
    x, y, width, height = window_geometry(display, window)
    assert (width, height) == (GRID_WIDTH, 360), "the grid's window: 2x2 cells of 240x180"
    screen = screenshot(display, path)[y:y + height, x:x + width]
    h, w = height // 2, width // 2
    return [bool(screen[r * h:(r + 1) * h, c * w:(c + 1) * w].max() > 0) for r in (0, 1) for c in (0, 1)]


def until(condition, what: str, expected=True):
    """Ask ``condition()`` until it gives ``expected``; fail naming what it gave last."""
    for _ in range(300):
        value = condition()
        if value == expected:
            return value
        time.sleep(0.1)
    pytest.fail(f"never: {what} (last: {value})")


def test_a_real_run_shows_every_stream_and_follows_control_adds_and_removes(xvfb, tmp_path):  # noqa: F811
    from tests.io.sinks.test_http_streams import listing, post

    _need("xdotool")
    _need("ffmpeg")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    data = {"version": 1,
            "sources": [live("a"), live("b"), live("c", length=30)],  # c ends after 30 frames
            "stages": ["grayscale"], "runtime": {"mode": "live"},
            "sinks": [{"window": {"title": "wall", "grid_width": GRID_WIDTH}},
                      {"http": {"port": port}}]}
    process = run_config(tmp_path, data, xvfb)
    window = find_window(xvfb, "wall", process)
    if not painted(xvfb, window, tmp_path / "painted.png"):  # see painted_child: once more
        process.kill()
        process.wait()
        process = run_config(tmp_path, data, xvfb)
        window = find_window(xvfb, "wall", process)
    try:
        until(lambda: "c" in listing(url) and not listing(url)["c"]["running"], "c ended")
        assert listing(url)["a"]["running"] and listing(url)["b"]["running"]
        shot = tmp_path / "s.png"
        until(lambda: filled_cells(xvfb, window, shot), "three tiles, c's kept after it ended",
              [True, True, True, False])
        assert post(url + "control", {"add": live("d")})[0] == 200
        until(lambda: filled_cells(xvfb, window, shot), "d's tile", [True, True, True, True])
        assert post(url + "control", {"remove": "a"})[0] == 200
        until(lambda: filled_cells(xvfb, window, shot), "a's tile gone", [True, True, True, False])
        key_to(xvfb, "wall", process, "q")
        assert process.wait(30) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    summary = json.loads((tmp_path / "summary.json").read_text())
    reasons = {s["name"]: s["stop_reason"] for s in summary["streams"]}
    assert reasons == {"a": "removed", "b": "q pressed in the window", "c": "end of stream",
                       "d": "q pressed in the window"}


def test_source_in_the_title_gives_each_stream_a_window_of_its_own(xvfb, tmp_path):  # noqa: F811
    _need("xdotool")
    data = {"version": 1, "sources": [live("a"), live("b")], "stages": ["grayscale"],
            "runtime": {"mode": "live"},
            "sinks": [{"window": {"title": "cam {source}", "snapshot_dir": "shots"}}]}
    process = run_config(tmp_path, data, xvfb)
    try:
        find_window(xvfb, "cam a", process)
        find_window(xvfb, "cam b", process)
        # One key reaches every window of the process (cv2.waitKey does not say which had
        # the focus): s saves each stream's picture in its own folder, q stops both.
        key_to(xvfb, "cam a", process, "s")
        until(lambda: all(list((tmp_path / "shots" / n).glob("snapshot_*.png")) for n in "ab"),
              "a snapshot of each stream")
        key_to(xvfb, "cam a", process, "q")
        assert process.wait(30) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {s["name"]: s["stop_reason"] for s in summary["streams"]} == \
        {"a": "q pressed in the window", "b": "q pressed in the window"}
