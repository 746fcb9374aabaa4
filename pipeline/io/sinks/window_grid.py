"""One ``window`` sink for every stream of a ``sources:`` run: one window, a tile per stream.

::

    sources:
      - {name: door, type: url, url: rtsp://10.0.0.5/stream}
      - {name: yard, type: url, url: rtsp://10.0.0.6/stream}
    sinks:
      - window: {title: cameras}           # no {source}: one window, a grid of tiles
    # - window: {title: "cam {source}"}    # {source}: one window per stream instead

The config's :class:`~.window.WindowSink` becomes the *front* of a :class:`SharedWindow`:
its title, snapshot folder, threshold step and ``grid_width``.  Each stream's engine writes
to it through a :class:`WindowHandle`, a sink like any other.  The window opens with the
first stream's first frame and closes when every stream has let go of its handle.

**The grid.** Tiles in order of arrival, ``ceil(sqrt(n))`` columns (1 to 16 tiles: a
config with more streams is refused, naming the window's key, and so is a 17th stream
added while it runs).  The grid is ``grid_width`` pixels wide (default 1280); every cell
has the shape of the first picture that arrived (any stream's), and each stream's newest picture is
scaled into its cell keeping its own aspect ratio (black bars where the shapes differ).
On each tile: the stream's name, its fps and dropped frames (the threshold too when set
by hand), and a notice when it is not simply live: ``starting``, ``paused``, ``ended:
REASON`` or ``failed: ERROR`` (an ended or failed stream keeps its last picture).  A
stream added through the http sink's ``POST /control`` gets a tile at once; a removed one
loses its tile.  The window opens at the grid's size, fitted to 1600x900, and is resized
when the number of rows or columns changes.  It is redrawn when a picture arrives, at
most 30 times a second, and less often when drawing would take more than a fifth of a
core (:func:`next_pause`).

**Keys** (as in the one-stream window, :mod:`.window`) act on the *picked* streams: every
running stream at first, or one picked by a click on its tile or by its number:

====================  ==========================================================
``1`` ... ``9``       pick that tile's stream (a click on a tile does the same)
``0`` or a click on   pick every stream again
the picked tile
``Tab``               pick the next tile (after the last: every stream)
``q`` or ``Esc``      stop every stream, whatever is picked (so does closing the window)
``space``             pause the picked streams (resume them when all are paused)
``[ ] - + = r``       the threshold of each picked stream, from its own value
``{ } < > , . c``     the canny pair of each picked stream
``t``                 each picked stream's tuner on / off
``s``                 each picked stream's newest picture as
                      ``snapshot_dir/NAME/snapshot_INDEX.png``
====================  ==========================================================

The window's title says which streams the keys act on.  Every highgui call is made by the
one GUI thread of :class:`~.window.HighguiThread` (the mouse callback runs there too,
inside ``cv2.waitKey``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path

import cv2

from pipeline.io.base import Sink, SinkError, check_uint8
from pipeline.io.sinks.shared import SharedSink
from pipeline.io.sinks.window import (KEY_ESC, MAX_INITIAL_SIZE, HighguiThread, close_window,
                                      key_action, key_name, save_snapshot)
from pipeline.io.sinks.window_tiles import MAX_TILES, TileState, compose, layout, tile_of

log = logging.getLogger(__name__)

#: The grid is redrawn at most this often (frames in between are skipped on screen) ...
MAX_DRAWS_PER_SECOND = 30
#: ... and less often when drawing it would take more than this share of a core (16
#: tiles of 720p take about 20 ms to scale: about 10 draws a second then) ...
DRAW_SHARE = 0.2
#: ... and at least every NUMBERS_EVERY seconds while nothing new arrives (its numbers
#: move on), unless DRAW_SHARE says wait longer.
NUMBERS_EVERY = 0.5
KEY_TAB = 9


class SharedWindow(SharedSink):
    """The config's window sink (``front``) showing every stream of the run as a tile."""

    def __init__(self, front):
        super().__init__(front)
        self.tiles: dict = {}  # name -> TileState, in order of arrival
        self.picked: str | None = None  # the stream the keys act on; None: every stream
        self.closed_by_user = False
        self.keys_handled: list = []
        self.snapshots: list = []
        self.draws = 0  # grids shown so far (tests count them)
        self.shown: list = []  # the names of the tiles last shown, in order
        self._gui: HighguiThread | None = None
        self._opening = threading.Lock()
        self._aspect: float | None = None
        self._grid = None
        self._canvas = None
        self._dirty = False
        self._drawn_at = float("-inf")
        self._pause = 0.0  # seconds from one draw to the next (next_pause)
        self._title = ""

    @property
    def path(self) -> None:  # a window writes no file
        return None

    def finished_message(self, name: str) -> str:
        return f"window sink: the window has closed (every stream ended); stream {name!r} cannot join it"

    # ---------------------------------------------------------------- the streams' side
    def handle(self, name: str) -> "WindowHandle":
        """The sink one stream's engine writes to; its tile appears at once."""
        with self._lock:
            if name not in self.tiles and len(self.tiles) >= MAX_TILES:
                raise SinkError(f"window sink: its grid shows at most {MAX_TILES} streams "
                                f"({', '.join(self.tiles)}); stream {name!r} cannot join it; "
                                "put {source} in its title for one window per stream")
            self._join(name)
            self.tiles[name] = TileState(name)
            self._dirty = True
        return WindowHandle(self, name)

    def attach(self, name: str, controls) -> None:
        with self._lock:
            if name in self.tiles:
                self.tiles[name].controls = controls

    def open(self, name: str, first, fps, controls) -> None:
        """Open the window with the first stream's first frame (sized for its grid)."""
        check_uint8(first, f"window {self.sink.title!r}")
        self.attach(name, controls)
        self.write(name, first)
        with self._opening:
            if self._gui is not None or self._finished:
                return
            height, width = first.image.shape[:2]
            self._aspect = height / width
            with self._lock:
                grid = self._layout()
            gui = HighguiThread.shared()
            title = self.sink.title

            def create():
                flags = cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL
                cv2.namedWindow(title, flags)
                cv2.resizeWindow(title, *_fitted(grid.size))
                cv2.setMouseCallback(title, self._on_mouse)
                self._grid = grid
                gui.attach(self)

            self.sink.check()  # again: Qt would abort the process rather than raise
            gui.call(create)
            self._gui = gui

    def write(self, name: str, frame) -> None:
        with self._lock:
            tile = self.tiles.get(name)
            if tile is not None:
                tile.frame = frame
                self._dirty = True

    def ended(self, name: str, reason: str | None, error: str | None = None) -> None:
        """Stream ``name`` is over: ``reason`` (its stop reason), ``error`` (its failure)."""
        with self._lock:
            tile = self.tiles.get(name)
            if tile is not None:
                tile.ended = reason or tile.ended or "ended"
                tile.error = error
                self._dirty = True

    def release(self, name: str, forget: bool = False) -> None:
        """Stream ``name`` let go; a removed stream's tile goes, as does (``forget``) one
        whose stream never ran.  The last one to let go closes the window."""
        with self._lock:
            tile = self.tiles.get(name)
            removed = tile is not None and tile.controls is not None and \
                tile.controls.stop_reason == "removed"
            if tile is not None and (forget or removed):
                del self.tiles[name]
                if self.picked == name:
                    self.picked = None
                self._dirty = True
            elif tile is not None and tile.ended is None:
                tile.ended = "ended"
            if not self._let_go():
                return
        with self._opening:
            gui, self._gui = self._gui, None
        if gui is not None:
            self._close(gui)

    def _close(self, gui: HighguiThread) -> None:
        close_window(gui, self, self.sink.title)

    # ---------------------------------------------------------------- the GUI thread's side
    def _layout(self):
        return layout(len(self.tiles), self.sink.grid_width, self._aspect or 9 / 16)

    def _refresh(self) -> None:
        """Draw the grid when something changed (at most 30 times a second)."""
        if self.closed_by_user:
            return
        now = time.monotonic()
        if now - self._drawn_at < self._pause:
            return
        with self._lock:
            if not self._dirty and now - self._drawn_at < max(NUMBERS_EVERY, self._pause):
                return
            self._dirty = False
            states = [dataclasses.replace(tile) for tile in self.tiles.values()]
            grid = self._layout()
            picked = self.picked
        title = self.sink.title
        if grid != self._grid:
            self._grid = grid
            cv2.resizeWindow(title, *_fitted(grid.size))
        self._canvas = compose([tile_of(state, state.name == picked) for state in states],
                               grid, self._canvas)
        cv2.imshow(title, self._canvas)
        self._drawn_at = now
        self._pause = next_pause(time.monotonic() - now)
        self.draws += 1
        self.shown = [state.name for state in states]
        status = f" [keys: {picked or 'every stream'}]"
        if status != self._title:
            self._title = status
            cv2.setWindowTitle(title, f"{title}{status}")

    def _after_poll(self, key: int) -> None:
        if self.closed_by_user:
            return
        if key != -1:
            self._on_key(key & 0xFF)
        self._save_snapshots()
        try:
            visible = cv2.getWindowProperty(self.sink.title, cv2.WND_PROP_VISIBLE)
        except cv2.error:
            visible = -1
        if visible < 1:
            self.closed_by_user = True
            if self._gui is not None:
                self._gui.detach(self)
            for controls in self._controls(every=True):
                controls.stop("window closed")

    def _controls(self, every: bool = False) -> list:
        """The picked streams' controls (``every``: all streams'), of streams not ended."""
        with self._lock:
            tiles = [t for t in self.tiles.values() if t.controls is not None and t.ended is None]
            picked = self.picked
        if not every and picked is not None:
            tiles = [t for t in tiles if t.name == picked]
        return [t.controls for t in tiles]

    def pick(self, index: int | None) -> None:
        """Pick the stream of tile ``index`` (None: every stream) for the keys."""
        with self._lock:
            names = list(self.tiles)
            self.picked = names[index] if index is not None and index < len(names) else None
            self._dirty = True

    def _on_mouse(self, event, x, y, flags, param) -> None:
        if event != cv2.EVENT_LBUTTONDOWN or self._grid is None:
            return
        index = self._grid.at(x, y)
        with self._lock:
            names = list(self.tiles)
        if index is None or index >= len(names) or names[index] == self.picked:
            self.pick(None)
        else:
            self.pick(index)

    def _on_key(self, key: int) -> None:
        name = key_name(key)
        if self._pick_key(key) or self._run_key(key, name) or self._steer(key, name):
            self.keys_handled.append(name)

    def _pick_key(self, key: int) -> bool:
        """0-9 and Tab pick the streams the keys act on; False for another key."""
        if ord("0") <= key <= ord("9"):
            self.pick(None if key == ord("0") else key - ord("1"))
        elif key == KEY_TAB:
            self._pick_next()
        else:
            return False
        return True

    def _run_key(self, key: int, name: str) -> bool:
        """q and Esc stop every stream; space pauses the picked ones (or resumes them
        when all are paused); False for another key."""
        if key in (ord("q"), ord("Q"), KEY_ESC):
            for controls in self._controls(every=True):
                controls.stop(f"{name} pressed in the window")
            return True
        if key != ord(" "):
            return False
        picked = self._controls()
        pause = any(not controls.paused for controls in picked)
        for controls in picked:
            controls.paused = pause
        return True

    def _pick_next(self) -> None:
        with self._lock:
            names = list(self.tiles)
            at = names.index(self.picked) + 1 if self.picked in names else 0
        self.pick(at if at < len(names) else None)

    def _steer(self, key: int, name: str) -> bool:
        """The one-stream window's action of ``key`` on each picked stream; False for a
        key that does nothing."""
        actions = [key_action(key, name, c, self.sink.threshold_step) for c in self._controls()]
        for action in actions:
            if action is not None:
                action()
        return any(actions)

    def _save_snapshots(self) -> None:
        with self._lock:
            tiles = [(t.name, t.controls, t.frame) for t in self.tiles.values() if t.controls is not None]
        for name, controls, frame in tiles:
            if frame is not None and controls.take_snapshot_request():
                save_snapshot(Path(self.sink.snapshot_dir) / name, frame, self.snapshots)


def next_pause(spent: float) -> float:
    """Seconds to wait after a draw that took ``spent`` seconds: 1/30 s, or longer so that
    drawing takes at most :data:`DRAW_SHARE` of a core."""
    return max(1 / MAX_DRAWS_PER_SECOND, spent / DRAW_SHARE)


def _fitted(size: tuple) -> tuple:
    """``size`` scaled down to fit :data:`MAX_INITIAL_SIZE`, as a one-stream window opens."""
    scale = min(1.0, MAX_INITIAL_SIZE[0] / size[0], MAX_INITIAL_SIZE[1] / size[1])
    return max(1, int(size[0] * scale)), max(1, int(size[1] * scale))


class WindowHandle(Sink):
    """One stream's side of a :class:`SharedWindow`: a sink for that stream's engine."""

    registry_name = "window"

    def __init__(self, shared: SharedWindow, name: str):
        super().__init__()
        self.shared = shared
        self.name = name
        self.frames_written = 0
        self._done = False

    def attach(self, report, controls) -> None:
        """The stream's controls, given when the stream is built (its tile's numbers,
        and the keys, before its first frame too); ``report`` is not used."""
        self.shared.attach(self.name, controls)

    def check(self) -> None:
        self.shared.check()

    def open(self, first, fps, controls=None) -> None:
        self.shared.open(self.name, first, fps, controls)

    def write(self, frame) -> None:
        self.shared.write(self.name, frame)
        self.frames_written += 1

    def close(self) -> None:
        """The stream's frames are over (its tile keeps its last picture)."""
        self.shared.ended(self.name, None)

    def ended(self, reason: str | None, error: str | None) -> None:
        """The stream's run is over: its stop reason and its failure (None: none)."""
        self.shared.ended(self.name, reason, error)

    def release(self) -> None:
        """The stream's run is over: let go of the window (once)."""
        self._let_go(forget=False)

    def withdraw(self) -> None:
        """The stream never ran: let go, and take its tile off the grid."""
        self._let_go(forget=True)

    def _let_go(self, forget: bool) -> None:
        if not self._done:
            self._done = True
            self.shared.release(self.name, forget)
