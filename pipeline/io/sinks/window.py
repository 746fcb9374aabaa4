"""The ``window`` sink: edge maps on screen, with keys that steer the run.

Keys (the window must have focus):

====================  ==========================================================
``q`` or ``Esc``      stop the run cleanly (closing the window does the same)
``space``             pause / resume
``[`` or ``-``        threshold down by ``threshold_step``
``]`` or ``+``/``=``  threshold up by ``threshold_step``
``r``                 threshold back to automatic (tuner or config value)
``{`` / ``}``         canny ``low`` down / up by ``threshold_step`` (set by hand)
``<`` / ``>``         canny ``high`` down / up (``,`` / ``.`` too, unshifted)
``c``                 canny ``low`` and ``high`` back to automatic
``t``                 tuner on / off
``s``                 save the frame on screen as a PNG in ``snapshot_dir``
====================  ==========================================================

Several streams (a ``sources:`` config): one window shows every stream as a tile of a
grid, and the keys act on every stream or the one picked (:mod:`.window_grid`); with
``{source}`` in ``title`` each stream has a window of its own.

Threads: every OpenCV highgui call of the process is made by one long-lived daemon
thread, :class:`HighguiThread`.  OpenCV's Qt backend binds its QApplication to the first
thread that opens a window and hangs when another thread calls it after that thread
has ended, and the engine runs each sink in a thread of its own.  The GUI thread also
keeps polling keys while no frames arrive (paused, or a slow source), so the window
stays responsive and ``space`` can resume a paused run.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from pipeline.io.base import Sink, SinkError
from pipeline.io.sinks.display import NO_DISPLAY_HINT, display_problem, quiet_qt_fonts
from pipeline.io.outputs.commit import write_atomically
from pipeline.config.registry import Param, register
from pipeline.tuned import CANNY_TARGET, THRESHOLD_TARGET, single

log = logging.getLogger(__name__)

#: Keys that move one value of the canny pair: key -> (value, direction).
CANNY_KEYS = {ord("{"): ("low", -1), ord("}"): ("low", +1),
              ord("<"): ("high", -1), ord(">"): ("high", +1),
              ord(","): ("high", -1), ord("."): ("high", +1)}

#: Milliseconds each ``cv2.waitKey`` polls for; bounds key latency and display lag.
POLL_MS = 10

#: Seconds a call into the GUI thread may take before it is reported as stuck.
GUI_CALL_TIMEOUT = 10.0

#: A window never opens larger than this (width, height); it can be resized after.
MAX_INITIAL_SIZE = (1600, 900)

KEY_ESC = 27

class HighguiThread:
    """The one thread that makes every OpenCV highgui call of this process.

    Windows attach themselves; while any is attached the thread shows their newest
    frames, polls keys with ``cv2.waitKey`` and notices closed windows.  Other threads
    run highgui code through :meth:`call`.
    """

    _instance: "HighguiThread | None" = None
    _instance_lock = threading.Lock()

    def __init__(self):
        self._jobs: queue.Queue = queue.Queue()
        self._windows: list["WindowSink"] = []
        self._thread = threading.Thread(target=self._run, name="edgepipe-highgui", daemon=True)
        self._thread.start()

    @classmethod
    def shared(cls) -> "HighguiThread":
        """The process's GUI thread, started on first use."""
        with cls._instance_lock:
            if cls._instance is None:
                quiet_qt_fonts()
                cls._instance = cls()
            return cls._instance

    def call(self, function: Callable, timeout: float = GUI_CALL_TIMEOUT):
        """Run ``function()`` on the GUI thread; return its result or raise its exception."""
        if threading.current_thread() is self._thread:
            return function()
        done = threading.Event()
        result: dict = {}

        def job():
            try:
                result["value"] = function()
            except BaseException as error:  # handed back to the caller
                result["error"] = error
            finally:
                done.set()

        self._jobs.put(job)
        if not done.wait(timeout):
            raise SinkError(f"window: the GUI thread did not answer within {timeout:g} s")
        if "error" in result:
            raise result["error"]
        return result.get("value")

    def attach(self, window: "WindowSink") -> None:
        """Show ``window`` from now on (called on the GUI thread)."""
        self._windows.append(window)

    def detach(self, window: "WindowSink") -> None:
        """Stop serving ``window`` (called on the GUI thread)."""
        if window in self._windows:
            self._windows.remove(window)

    def _run(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=None if not self._windows else 0)
            except queue.Empty:
                job = None
            if job is not None:
                job()
                continue
            for window in list(self._windows):
                window._refresh()
            key = cv2.waitKey(POLL_MS)
            for window in list(self._windows):
                window._after_poll(key)



def close_window(gui, owner, title: str) -> None:
    """Detach ``owner`` from ``gui`` and destroy its window ``title`` on the GUI thread
    (unless the user closed it), then let the toolkit process the close."""

    def destroy():
        gui.detach(owner)
        if not owner.closed_by_user:
            try:
                cv2.destroyWindow(title)
            except cv2.error:
                pass
        cv2.waitKey(1)  # let the toolkit process the close

    try:
        gui.call(destroy)
    except SinkError as error:  # pragma: no cover - a stuck GUI must not stop shutdown
        log.warning("%s", error)


def save_snapshot(folder: Path, frame, saved: list) -> None:
    """Write ``frame``'s picture to ``folder/snapshot_NNNNNN.png`` (whole or not at all) and
    add its path to ``saved``; a failure is logged, never raised: it must not end a live
    session."""
    path = folder / f"snapshot_{frame.index:06d}.png"
    ok, data = cv2.imencode(".png", np.ascontiguousarray(frame.image))
    try:
        if not ok:
            raise OSError("PNG encoding failed")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data.tobytes())
    except OSError as error:
        log.error("window: cannot save snapshot %s (%s); check snapshot_dir", path, error)
        return
    saved.append(str(path))
    log.info("window: saved snapshot %s", path)

def key_action(key: int, name: str, controls, step: float):
    """What ``key`` does to ``controls``, as a call; None for a key that does nothing.

    ``name`` is the key as the stop reason says it (``q``, ``Esc``); ``step`` how far the
    threshold keys move a value.
    """
    tuned = controls.tuned
    if key in CANNY_KEYS:
        which, sign = CANNY_KEYS[key]
        return lambda: tuned.nudge(CANNY_TARGET, which, sign * step)
    actions = [
        ((ord("q"), ord("Q"), KEY_ESC), lambda: controls.stop(f"{name} pressed in the window")),
        ((ord(" "),), controls.toggle_pause),
        ((ord("["), ord("-")), lambda: tuned.nudge(THRESHOLD_TARGET, "threshold", -step)),
        ((ord("]"), ord("+"), ord("=")), lambda: tuned.nudge(THRESHOLD_TARGET, "threshold", +step)),
        ((ord("r"), ord("R")), lambda: tuned.set_manual(THRESHOLD_TARGET, threshold=None)),
        ((ord("c"), ord("C")), lambda: tuned.set_manual(CANNY_TARGET, low=None, high=None)),
        ((ord("t"), ord("T")), controls.toggle_tuner),
        # taken right after this poll (or by another sink)
        ((ord("s"), ord("S")), controls.request_snapshot),
    ]
    return next((action for keys, action in actions if key in keys), None)


def key_name(key: int) -> str:
    """``key`` (a ``cv2.waitKey`` code, low byte) as a person names it."""
    return {KEY_ESC: "Esc", ord(" "): "space"}.get(key, chr(key) if 32 < key < 127 else str(key))


@register("sink", "window")
class WindowSink(Sink):
    """Shows each frame in a window (``cv2.imshow``), several streams as tiles of one; keys steer the run.

    In a ``sources:`` run: one window with a tile per stream (1 to 16; keys act on every
    stream, or on the one picked by a click or 1-9; 0 picks all again), or one window per
    stream with ``{source}`` in ``title`` (see :mod:`pipeline.io.sinks.window_grid`).

    Display is best effort: the newest frame is shown at the next poll (every 10 ms),
    frames in between are skipped on screen, and ``write`` never waits for the screen.
    """

    params = (
        Param("title", str, "edgepipe",
              help="window title; in a sources: run, {source} in it gives each stream a window "
                   "of its own, else one window shows every stream as a tile (at most 16)"),
        Param("snapshot_dir", str, "snapshots",
              help="folder for the PNGs the s key saves (several streams: in its folder NAME, "
                   "or where {source} in it says)"),
        Param("threshold_step", float, 5.0, min=0.1, max=255, help="how far [ ] move the threshold and { } < > the canny pair"),
        Param("grid_width", int, 1280, min=160, max=7680,
              help="the width of the grid of tiles (sources: runs with one window; each tile "
                   "the first picture's shape); the window opens fitted to 1600x900. Keys act "
                   "on every stream, or on the one picked by a click or 1-9 (0: all again)"),
    )

    def __init__(self, *args, **settings):
        super().__init__(*args, **settings)
        self._controls = None
        self._gui: HighguiThread | None = None
        self._lock = threading.Lock()
        self._latest = None
        self._shown = None
        self._fresh = False
        self._status = ""
        self.closed_by_user = False
        self.snapshots: list[str] = []
        self.keys_handled: list[str] = []

    def check(self) -> None:
        """A display must be reachable; SinkError saying what to use instead if not."""
        problem = display_problem()
        if problem:
            raise SinkError(f"window sink: {problem}; {NO_DISPLAY_HINT}")

    def open(self, first, fps, controls) -> None:
        """Open the window sized for ``first`` (scaled down to fit 1600x900)."""
        problem = display_problem()
        if problem:  # checked again: Qt would abort the process rather than raise
            raise SinkError(f"window sink: {problem}; {NO_DISPLAY_HINT}")
        self._controls = controls
        self.closed_by_user = False
        self._gui = HighguiThread.shared()
        height, width = first.image.shape[:2]
        scale = min(1.0, MAX_INITIAL_SIZE[0] / width, MAX_INITIAL_SIZE[1] / height)

        def create():
            flags = cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL
            cv2.namedWindow(self.title, flags)
            cv2.resizeWindow(self.title, max(1, int(width * scale)), max(1, int(height * scale)))
            self._gui.attach(self)

        self._gui.call(create)
        self.write(first)

    def write(self, frame) -> None:
        """Hand ``frame`` to the GUI thread (never waits for the screen)."""
        if self._gui is None:
            raise SinkError(f"window {self.title!r} is not open")
        with self._lock:
            self._latest = frame
            self._fresh = True

    @property
    def is_open(self) -> bool:
        """True while the window is served (between open and close, and not closed by hand)."""
        return self._gui is not None and not self.closed_by_user

    def close(self) -> None:
        """Close the window."""
        if self._gui is None:
            return
        gui, self._gui = self._gui, None
        close_window(gui, self, self.title)

    def abort(self) -> None:
        """Close the window (nothing on disk to undo)."""
        self.close()

    # --- below runs on the GUI thread only ---------------------------------------------
    def _refresh(self) -> None:
        with self._lock:
            frame, fresh = self._latest, self._fresh
            self._fresh = False
        if fresh and frame is not None and not self.closed_by_user:
            cv2.imshow(self.title, frame.image)
            self._shown = frame
        status = self._status_text()
        if status != self._status and not self.closed_by_user:
            self._status = status
            cv2.setWindowTitle(self.title, f"{self.title}{status}")

    def _status_text(self) -> str:
        if self._controls is None:
            return ""
        parts = []
        if self._controls.paused:
            parts.append("paused")
        for target in self._controls.tuned.targets():  # the values set by hand
            manual = self._controls.tuned.manual(target.name)
            if manual is None:
                continue
            if target.values == (target.name,):
                parts.append(f"{target.name} {single(manual):g}")
            else:
                parts.append(f"{target.name} " + " ".join(
                    f"{name} {value:g}" for name, value in manual.items() if value is not None))
        if not self._controls.tuner_enabled:
            parts.append("tuner off")
        return f" [{', '.join(parts)}]" if parts else ""

    def _after_poll(self, key: int) -> None:
        if self.closed_by_user:
            return
        if key != -1:
            self._on_key(key & 0xFF)
        if self._controls is not None and self._controls.take_snapshot_request():
            self._save_snapshot()
        try:
            visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE)
        except cv2.error:
            visible = -1
        if visible < 1:
            self.closed_by_user = True
            self._gui.detach(self)
            if self._controls is not None:
                self._controls.stop("window closed")

    def _on_key(self, key: int) -> None:
        controls = self._controls
        name = key_name(key)
        if controls is None:
            return
        action = self._key_action(key, name, controls)
        if action is None:
            return
        action()
        self.keys_handled.append(name)

    def _key_action(self, key: int, name: str, controls):
        return key_action(key, name, controls, self.threshold_step)

    def _save_snapshot(self) -> None:
        frame = self._shown if self._shown is not None else self._latest
        if frame is not None:
            save_snapshot(Path(self.snapshot_dir), frame, self.snapshots)
