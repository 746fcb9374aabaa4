"""The picture of a window grid: one tile per stream, drawn as a pure function.

:func:`layout` places ``n`` tiles (1 to :data:`MAX_TILES`) in ``ceil(sqrt(n))`` columns,
as the browser's grid page does; :func:`tile_of` says what a stream's tile shows (from
its :class:`TileState`), and :func:`compose` draws each :class:`Tile` (the stream's
newest picture scaled into its cell, keeping its aspect ratio, with its name and a few
numbers written on it) into one BGR canvas.  Nothing here touches a window:
:mod:`pipeline.io.sinks.window_grid` shows what this draws.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from pipeline.config.streams import GRID_TILES as MAX_TILES  # more streams: refused
from pipeline.tuned import THRESHOLD_TARGET, single

#: Colours (BGR) of the text on a tile, of the band behind it, and of the selected
#: tile's frame.
TEXT = (255, 255, 255)
NOTICE = (80, 200, 255)  # "paused", "ended: ...", "failed: ..."
BAND = (40, 40, 40)
SELECTED = (0, 220, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the tiles of a grid go.

    Attributes
    ----------
    columns, rows : int
    tile : tuple of int
        A cell's ``(width, height)`` in pixels.
    """

    columns: int
    rows: int
    tile: tuple

    @property
    def size(self) -> tuple:
        """The canvas's ``(width, height)``."""
        return self.columns * self.tile[0], self.rows * self.tile[1]

    def cell(self, index: int) -> tuple:
        """``(x, y)`` of the top left corner of tile ``index`` (row by row)."""
        row, column = divmod(index, self.columns)
        return column * self.tile[0], row * self.tile[1]

    def at(self, x: int, y: int) -> int | None:
        """The index of the cell at canvas point ``(x, y)``, or None outside every cell."""
        width, height = self.size
        if not (0 <= x < width and 0 <= y < height):
            return None
        return (y // self.tile[1]) * self.columns + x // self.tile[0]


def columns_for(n: int) -> int:
    """Columns of a grid of ``n`` tiles: ``ceil(sqrt(n))`` (1, 2, 2, 2, 3, ... 4 for 16)."""
    return max(1, math.ceil(math.sqrt(n)))


def layout(n: int, width: int, aspect: float) -> Layout:
    """The grid of ``n`` tiles on a canvas ``width`` pixels wide.

    Parameters
    ----------
    n : int
        Tiles, 0 to :data:`MAX_TILES` (0 lays out one empty cell).
    width : int
        The canvas's width; each of the ``ceil(sqrt(n))`` columns gets ``width // columns``.
    aspect : float
        A tile's height over its width (the first stream's picture's).
    """
    if not 0 <= n <= MAX_TILES:
        raise ValueError(f"a window grid shows 1 to {MAX_TILES} tiles; got {n}")
    columns = columns_for(n)
    rows = max(1, math.ceil(n / columns))
    tile_width = max(1, width // columns)
    return Layout(columns, rows, (tile_width, max(1, round(tile_width * aspect))))


@dataclasses.dataclass(frozen=True)
class Tile:
    """What one tile shows.

    Attributes
    ----------
    name : str
        The stream's name, written at the tile's top.
    image : ndarray or None
        The stream's newest picture (uint8 grey or BGR), None before its first.
    numbers : str
        A line of figures written under the name (``"30.0 fps  2 dropped"``).
    notice : str
        The stream's state when it is not simply live (``"paused"``, ``"ended: ..."``),
        written at the tile's bottom; empty when live.
    selected : bool
        The keys act on this stream: a coloured frame around the tile.
    """

    name: str
    image: np.ndarray | None
    numbers: str = ""
    notice: str = ""
    selected: bool = False


@dataclasses.dataclass
class TileState:
    """One stream's tile: what its handle told the window so far."""

    name: str
    controls: object = None
    frame: object = None  # its newest Frame
    ended: str | None = None  # why it ended ("ended" until the run says more)
    error: str | None = None  # why it failed


def tile_of(state: TileState, picked: bool) -> Tile:
    """What ``state``'s tile shows: its picture, numbers and notice."""
    image = state.frame.image if state.frame is not None else None
    numbers, notice = "", ""
    controls = state.controls
    if controls is not None:
        live = controls.snapshot()
        if state.ended is None:
            numbers = f"{live.fps:.1f} fps  {live.dropped} dropped"
        else:
            numbers = f"{live.frames_out} frames  {live.dropped} dropped"
        manual = single(controls.tuned.manual(THRESHOLD_TARGET))
        if manual is not None:
            numbers += f"  thr {manual:g}"
        if state.ended is None and live.paused:
            notice = "paused"
    if state.error is not None:
        notice = f"failed: {state.error}"
    elif state.ended is not None:
        notice = f"ended: {state.ended}"
    elif image is None:
        notice = "starting"
    return Tile(state.name, image, numbers, notice, picked)


def fit(image: np.ndarray, size: tuple) -> tuple:
    """``image`` scaled into ``size`` (width, height) keeping its aspect ratio, as BGR;
    returns ``(picture, (x, y))``, the offset that centres it in the cell.

    Notes
    -----
    An edge map is mostly thin lines, which a plain bilinear shrink by more than 2 skips
    over.  So a picture shrunk by more than 2 is first reduced by the whole factor ``k``
    (``INTER_AREA``: each output pixel the mean of a k x k block, OpenCV's fast path for
    whole factors; the last ``< k`` rows and columns are left out), then scaled by what
    is left (between 1/2 and 1) bilinearly, as is any other picture.  ``INTER_AREA`` at a
    fractional factor would be exact but takes OpenCV's slow general path
    (``scripts/bench_window_grid.py`` times the grid).
    """
    height, width = image.shape[:2]
    scale = min(size[0] / width, size[1] / height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    picture = image
    whole = min(width // new[0], height // new[1])
    if whole >= 2:
        picture = cv2.resize(image[:height - height % whole, :width - width % whole],
                             (width // whole, height // whole), interpolation=cv2.INTER_AREA)
    if picture.shape[1::-1] != new:
        picture = cv2.resize(picture, new, interpolation=cv2.INTER_LINEAR)
    if picture.ndim == 2 or picture.shape[2] == 1:
        picture = cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)
    return picture, ((size[0] - new[0]) // 2, (size[1] - new[1]) // 2)


def _text_scale(tile_height: int) -> float:
    return min(1.0, max(0.35, tile_height / 400))


def _write(cell: np.ndarray, text: str, top: int, colour: tuple, scale: float) -> int:
    """``text`` on a dark band at ``top`` (pixels from the cell's top, negative: from its
    bottom), cut to the cell's width; returns the band's height."""
    thickness = 1
    room = cell.shape[1] - 8
    shown = text
    (width, height), base = cv2.getTextSize(shown, FONT, scale, thickness)
    while len(shown) > 1 and width > room:  # cut to fit: "~" says the text goes on
        text = text[:-1]
        shown = text + "~"
        (width, height), base = cv2.getTextSize(shown, FONT, scale, thickness)
    band = height + base + 6
    y0 = top if top >= 0 else cell.shape[0] + top + 1 - band
    y0 = max(0, min(y0, cell.shape[0] - band))
    cell[y0:y0 + band, :min(cell.shape[1], width + 8)] = BAND
    cv2.putText(cell, shown, (4, y0 + 3 + height), FONT, scale, colour, thickness, cv2.LINE_AA)
    return band


def draw_tile(cell: np.ndarray, tile: Tile) -> None:
    """Draw ``tile`` into ``cell`` (a view of the canvas, BGR): picture, words, frame."""
    cell[:] = 0
    if tile.image is not None:
        picture, (x, y) = fit(tile.image, (cell.shape[1], cell.shape[0]))
        cell[y:y + picture.shape[0], x:x + picture.shape[1]] = picture
    scale = _text_scale(cell.shape[0])
    top = _write(cell, tile.name, 0, TEXT, scale)
    if tile.numbers:
        _write(cell, tile.numbers, top, TEXT, scale * 0.85)
    if tile.notice:
        _write(cell, tile.notice, -1, NOTICE, scale * 0.85)
    if tile.selected:
        cv2.rectangle(cell, (0, 0), (cell.shape[1] - 1, cell.shape[0] - 1), SELECTED, 2)


def compose(tiles: list, grid: Layout, canvas: np.ndarray | None = None) -> np.ndarray:
    """Every tile drawn into its cell of ``grid``; cells without a tile are black.

    ``canvas``: a BGR array of ``grid.size`` to draw into (reused between calls), else a
    new one.
    """
    width, height = grid.size
    if canvas is None or canvas.shape != (height, width, 3):
        canvas = np.zeros((height, width, 3), np.uint8)
    else:
        canvas[:] = 0
    for index, tile in enumerate(tiles[:grid.columns * grid.rows]):
        x, y = grid.cell(index)
        draw_tile(canvas[y:y + grid.tile[1], x:x + grid.tile[0]], tile)
    return canvas
