"""The window sink on a real virtual display: Xvfb, real keys (xdotool), real screenshots.

Each window test runs the sink in a child process (this file run as a script): OpenCV's
Qt backend binds to one display for the life of a process and ends the process if that
display goes away, so the test process itself never touches highgui.  The child opens
a :class:`WindowSink`, feeds it synthetic frames and prints the run's controls as JSON
lines whenever they change; the test sends keys with ``xdotool`` and waits for the state
it expects.

Needs ``Xvfb`` (apt ``xvfb``), ``xdotool`` (apt ``xdotool``) and, for the screenshot,
``ffmpeg`` with x11grab; each test skips with the reason when its tool is missing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import queue
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]  # the checkout (this file runs as a script too)
SIZE = (160, 120)  # width, height of the child's frames
STILL_INDEX = 7  # the synthetic frame the child shows in "still" mode


# --------------------------------------------------------------------------------------
# The child: run with ``python tests/io/sinks/test_window.py TITLE SNAPSHOT_DIR MODE``.
def child_main(title: str, snapshot_dir: str, mode: str) -> None:
    """Show synthetic frames in a WindowSink until the run is stopped; report state."""
    sys.path.insert(0, str(ROOT))
    from pipeline.frame import Frame
    from pipeline.io.sources.synthetic import SyntheticSource
    from pipeline.io.sinks.window import WindowSink
    from pipeline.controls import Controls
    from pipeline.tuned import single

    source = SyntheticSource(width=SIZE[0], height=SIZE[1], length=0)
    source.open()
    controls = Controls()
    windows = 2 if mode == "twice" else 1
    for round_ in range(windows):
        sink = WindowSink(title=f"{title}{round_ or ''}", snapshot_dir=snapshot_dir, threshold_step=4)
        sink.check()
        index = STILL_INDEX if mode == "still" else 0
        image = source.render(index)
        sink.open(Frame(index, time.perf_counter(), image, image), 30.0, controls)
        print(json.dumps({"event": "open", "title": sink.title}), flush=True)
        last = None
        deadline = time.monotonic() + (1.0 if mode == "twice" else 20.0)
        frames = 0
        while not controls.stopped and time.monotonic() < deadline:
            if not controls.paused:
                index = STILL_INDEX if mode == "still" else frames
                image = source.render(index)
                sink.write(Frame(index, time.perf_counter(), image, image))
                frames += 1
            state = {
                "event": "state",
                "paused": controls.paused,
                "threshold": single(controls.tuned.manual("threshold")),
                "canny": controls.tuned.manual("canny"),
                "tuner": controls.tuner_enabled,
                "snapshots": list(sink.snapshots),
                "shown": sink._shown is not None,  # the GUI thread has drawn a frame
            }
            if state != last:
                print(json.dumps(state), flush=True)
                last = state
            time.sleep(1 / 60)
        sink.close()
    print(json.dumps({
        "event": "end", "stopped": controls.stopped, "reason": controls.stop_reason,
        "keys": sink.keys_handled, "closed_by_user": sink.closed_by_user, "frames": frames,
    }), flush=True)


if __name__ == "__main__":
    child_main(*sys.argv[1:4])
    sys.exit(0)


# --------------------------------------------------------------------------------------
# Fixtures and helpers for the test process.
def _free_display() -> int:
    for number in range(90, 400):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not os.path.exists(f"/tmp/.X{number}-lock"):
            return number
    pytest.skip("no free X display number between :90 and :399")


@pytest.fixture(scope="module")
def xvfb():
    """A real X server on a display number it picks itself; yields the DISPLAY string.

    ``-displayfd``: Xvfb takes the first free number and writes it once it accepts
    connections.  (Choosing a number here first raced with other test sessions on the
    same machine: two servers for one number, and ours gone with the other session's.)
    """
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-noreset", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_end,),
    )
    os.close(write_end)
    written = b""  # the number, then a newline (written apart: read up to it, or Xvfb
    while not written.endswith(b"\n"):  # fails writing to a closed pipe)
        ready, _, _ = select.select([read_end], [], [], 30)
        chunk = os.read(read_end, 64) if ready else b""
        if not chunk:
            break
        written += chunk
    os.close(read_end)
    number = written.decode().strip()
    if not number.isdigit():
        server.kill()
        server.wait()
        pytest.fail(f"Xvfb did not start (exit code {server.poll()}; wrote {number!r})")
    yield f":{number}"
    server.terminate()
    try:
        server.wait(5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (apt-get install {tool})")


class Child:
    """The child process showing the window, with its JSON lines read on a thread."""

    def __init__(self, display: str, title: str, snapshot_dir: Path, mode: str = "run",
                 script: str = __file__):
        env = dict(os.environ, DISPLAY=display, PYTHONPATH=str(ROOT))
        env.pop("WAYLAND_DISPLAY", None)
        self.display = display
        self.title = title
        # ``script`` runs as the child: this file, or another test's (the grid's) with a
        # main of the same kind; commands go to its standard input.
        self.process = subprocess.Popen(
            [sys.executable, script, title, str(snapshot_dir), mode], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(snapshot_dir.parent),
        )
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.process.stdout, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, False), daemon=True).start()
        self.state: dict = {}

    def _pump(self, stream, is_stdout: bool) -> None:
        for line in stream:
            if is_stdout:
                self.lines.put(json.loads(line))
            else:
                self.stderr.append(line)

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "") -> dict:
        """The first message satisfying ``predicate``; fail after ``timeout`` seconds.

        The child reports state only when it changes, so the latest state counts too.
        """
        if self.state and predicate(self.state):
            return self.state
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"window child: no {what or 'expected message'} within {timeout} s; "
                            f"last state {self.state}; stderr: {''.join(self.stderr)[-2000:]}")
            try:
                message = self.lines.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            if message["event"] == "state":
                self.state = message
            if predicate(message):
                return message

    def window_id(self, title: str | None = None) -> str:
        """The X id of the visible window titled ``title`` (default: this child's)."""
        title = title or self.title
        self.wait_for(lambda m: m["event"] == "open" and m["title"] == title, what=f"window {title!r}")
        # Keys sent before the toolkit has drawn once can be lost: wait for a drawn frame.
        self.wait_for(lambda m: m["event"] == "state" and m["shown"], what=f"a frame drawn in {title!r}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--name", f"^{title}"],
                capture_output=True, text=True, env=dict(os.environ, DISPLAY=self.display),
            ).stdout.split()
            if found:
                return found[-1]
            time.sleep(0.1)
        pytest.fail(f"no visible X window named {title!r} on {self.display}")

    def key(self, window: str, *keys: str) -> None:
        subprocess.run(
            ["xdotool", "key", "--window", window, *keys],
            check=True, capture_output=True, env=dict(os.environ, DISPLAY=self.display),
        )

    def end(self, timeout: float = 10.0) -> dict:
        message = self.wait_for(lambda m: m["event"] == "end", timeout, what="end of run")
        assert self.process.wait(timeout) == 0, "".join(self.stderr)
        return message

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def child_factory(xvfb, tmp_path):
    _need("xdotool")
    children = []

    def start(title: str, mode: str = "run") -> Child:
        child = Child(xvfb, title, tmp_path / "snaps", mode)
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()


def send_wm_delete(display: str, window: str) -> None:
    """Ask ``window`` to close as a window manager's close button does (WM_DELETE_WINDOW)."""
    library = ctypes.util.find_library("X11")
    if library is None:
        pytest.skip("libX11 is not installed; cannot send WM_DELETE_WINDOW")
    xlib = ctypes.CDLL(library)

    class XClientMessageEvent(ctypes.Structure):
        _fields_ = [
            ("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
            ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
            ("format", ctypes.c_int), ("data", ctypes.c_long * 5),
        ]

    class XEvent(ctypes.Union):
        _fields_ = [("type", ctypes.c_int), ("xclient", XClientMessageEvent), ("pad", ctypes.c_long * 24)]

    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    xlib.XFlush.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = xlib.XOpenDisplay(display.encode())
    assert connection, f"cannot connect to {display}"
    try:
        event = XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = int(window)
        event.xclient.message_type = xlib.XInternAtom(connection, b"WM_PROTOCOLS", False)
        event.xclient.format = 32
        event.xclient.data[0] = xlib.XInternAtom(connection, b"WM_DELETE_WINDOW", False)
        event.xclient.data[1] = 0  # CurrentTime
        assert xlib.XSendEvent(connection, int(window), False, 0, ctypes.byref(event))
        xlib.XFlush(connection)
    finally:
        xlib.XCloseDisplay(connection)


def screenshot(display: str, path: Path) -> np.ndarray:
    """The whole screen of ``display`` as BGR, grabbed by ffmpeg's x11grab."""
    import cv2

    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "x11grab", "-draw_mouse", "0", "-video_size", "1024x768",
         "-i", display, "-frames:v", "1", str(path)],
        check=True, capture_output=True, timeout=20,
    )
    image = cv2.imread(str(path))
    assert image is not None, f"ffmpeg wrote no readable screenshot to {path}"
    return image


def window_geometry(display: str, window: str) -> tuple[int, int, int, int]:
    out = subprocess.run(
        ["xdotool", "getwindowgeometry", "--shell", window],
        capture_output=True, text=True, check=True, env=dict(os.environ, DISPLAY=display),
    ).stdout
    values = dict(line.split("=", 1) for line in out.split())
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


# --------------------------------------------------------------------------------------
# Tests.
def test_q_quits_the_run(child_factory):
    child = child_factory("edgepipe-q")
    window = child.window_id()
    child.key(window, "q")
    end = child.end()
    assert end["stopped"] and "q pressed" in end["reason"]
    assert end["frames"] > 0


def test_escape_quits_the_run(child_factory):
    child = child_factory("edgepipe-esc")
    child.key(child.window_id(), "Escape")
    end = child.end()
    assert end["stopped"] and "Esc" in end["reason"]


def test_space_pauses_and_resumes(child_factory):
    child = child_factory("edgepipe-space")
    window = child.window_id()
    child.wait_for(lambda m: m["event"] == "state" and not m["paused"], what="running state")
    child.key(window, "space")
    child.wait_for(lambda m: m["event"] == "state" and m["paused"], what="paused after space")
    # While paused no frame arrives; the window must still answer keys.
    time.sleep(0.2)
    child.key(window, "space")
    child.wait_for(lambda m: m["event"] == "state" and not m["paused"], what="resumed after second space")
    child.key(window, "q")
    assert child.end()["keys"] == ["space", "space", "q"]


def test_threshold_and_tuner_keys(child_factory):
    child = child_factory("edgepipe-thr")
    window = child.window_id()
    # No threshold known yet: ] starts from 0 and moves up by threshold_step (4).
    child.key(window, "bracketright")
    child.wait_for(lambda m: m["event"] == "state" and m["threshold"] == 4.0, what="threshold 4 after ]")
    child.key(window, "bracketright", "bracketright")
    child.wait_for(lambda m: m["event"] == "state" and m["threshold"] == 12.0, what="threshold 12 after ]]")
    child.key(window, "bracketleft")
    child.wait_for(lambda m: m["event"] == "state" and m["threshold"] == 8.0, what="threshold 8 after [")
    child.key(window, "r")
    child.wait_for(lambda m: m["event"] == "state" and m["threshold"] is None, what="threshold reset by r")
    child.key(window, "t")
    child.wait_for(lambda m: m["event"] == "state" and m["tuner"] is False, what="tuner off after t")
    child.key(window, "t")
    child.wait_for(lambda m: m["event"] == "state" and m["tuner"] is True, what="tuner on after second t")
    child.key(window, "q")
    end = child.end()
    assert end["keys"] == ["]", "]", "]", "[", "r", "t", "t", "q"]


def test_canny_keys_move_low_and_high_and_c_resets(child_factory):
    child = child_factory("edgepipe-canny")
    window = child.window_id()

    def canny_is(low, high):
        return lambda m: m["event"] == "state" and m["canny"] == (
            None if low is None and high is None else {"low": low, "high": high})

    # No pair used yet: each value starts from 0 and moves by threshold_step (4).
    child.key(window, "braceright", "braceright")
    child.wait_for(canny_is(8.0, None), what="low 8 after }}")
    child.key(window, "greater", "greater", "greater", "period")
    child.wait_for(canny_is(8.0, 16.0), what="high 16 after >>>.")
    child.key(window, "braceleft", "less", "comma")
    child.wait_for(canny_is(4.0, 8.0), what="low 4, high 8 after { < ,")
    child.key(window, "c")
    child.wait_for(canny_is(None, None), what="both automatic after c")
    child.key(window, "q")
    assert child.end()["keys"] == ["}", "}", ">", ">", ">", ".", "{", "<", ",", "c", "q"]


def test_s_saves_a_snapshot_png(child_factory, tmp_path):
    import cv2

    child = child_factory("edgepipe-snap")
    window = child.window_id()
    child.key(window, "s")
    state = child.wait_for(lambda m: m["event"] == "state" and m["snapshots"], what="a snapshot")
    child.key(window, "q")
    child.end()
    saved = tmp_path / state["snapshots"][0]
    assert saved.parent == tmp_path / "snaps" and saved.name.startswith("snapshot_")
    image = cv2.imread(str(saved))
    assert image is not None and image.shape == (SIZE[1], SIZE[0], 3)
    assert not [p for p in saved.parent.iterdir() if ".part-" in p.name]


def test_closing_the_window_ends_the_run(child_factory):
    child = child_factory("edgepipe-close")
    window = child.window_id()
    send_wm_delete(child.display, window)
    end = child.end()
    assert end["stopped"] and end["reason"] == "window closed" and end["closed_by_user"]


def _shows_still_frame(child_factory, tmp_path) -> tuple[float, np.ndarray, tuple]:
    """Open the "still" child, grab the screen until its window shows the frame (or 10 s)."""
    from pipeline.io.sources.synthetic import SyntheticSource

    child = child_factory("edgepipe-shot", mode="still")
    window = child.window_id()
    x, y, width, height = window_geometry(child.display, window)
    assert (width, height) == SIZE  # the window opened at the frame's size
    expected = SyntheticSource(width=SIZE[0], height=SIZE[1]).render(STILL_INDEX).astype(int)
    # Painting is asynchronous (the toolkit draws on a later event loop pass): look again
    # until the window shows the frame or the deadline passes.
    deadline = time.monotonic() + 10
    while True:
        screen = screenshot(child.display, tmp_path / "screen.png")
        difference = np.abs(screen[y:y + height, x:x + width].astype(int) - expected).mean()
        if difference < 0.5 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    child.key(window, "q")
    child.end()
    return difference, screen, (x, y, width, height)


def test_screen_shows_the_frame(child_factory, tmp_path):
    _need("ffmpeg")
    difference, screen, (x, y, width, height) = _shows_still_frame(child_factory, tmp_path)
    if difference >= 0.5 and not screen.any():
        # Seen only with the CPU heavily oversubscribed: Qt maps the window on Xvfb (no
        # window manager) but never paints it, in about 1 run of 5.  A second child is a
        # fresh toolkit; a sink that never draws fails both.
        difference, screen, (x, y, width, height) = _shows_still_frame(child_factory, tmp_path)
    # Shown 1:1 (frame 8 differs from frame 7 by a mean of about 3 levels).
    assert difference < 0.5
    # The rest of the screen is Xvfb's black background: the frame is where the window is.
    assert screen[y + height + 5:, :].max() == 0


def test_second_window_in_the_same_process(child_factory):
    # A second window after the first closed: the one GUI thread serves both (Qt would hang
    # if a new thread made the highgui calls).
    child = child_factory("edgepipe-twice", mode="twice")
    child.wait_for(lambda m: m["event"] == "open" and m["title"] == "edgepipe-twice1", what="second window")
    end = child.end(timeout=15)
    assert end["frames"] > 0 and not end["stopped"]


# --------------------------------------------------------------------------------------
# No display: errors before anything opens (in this process: no highgui is touched).
def test_no_display_names_the_alternatives(monkeypatch):
    from pipeline.io.base import SinkError
    from pipeline.io.sinks.window import WindowSink

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SinkError) as caught:
        WindowSink().check()
    message = str(caught.value)
    assert "no display" in message
    for alternative in ("`video`", "`images`", "`http`", "xvfb-run"):
        assert alternative in message


def test_unreachable_display_is_an_error_not_an_abort(monkeypatch):
    from pipeline.io.base import SinkError
    from pipeline.io.sinks.window import WindowSink

    number = _free_display()
    monkeypatch.setenv("DISPLAY", f":{number}")
    with pytest.raises(SinkError, match=f"DISPLAY=':{number}'"):
        WindowSink().check()


def test_reachable_display_passes_check(xvfb, monkeypatch):
    from pipeline.io.sinks.window import WindowSink

    monkeypatch.setenv("DISPLAY", xvfb)
    WindowSink().check()
