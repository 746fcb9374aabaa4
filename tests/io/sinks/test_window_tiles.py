"""The window grid without a window: the tile composer (pipeline/io/sinks/window_tiles.py)
as pure functions, and the grid's streams, keys and snapshots
(pipeline/io/sinks/window_grid.py) on real Controls, with no highgui call (the real window
is tests/io/sinks/test_window_grid.py's)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from pipeline.controls import Controls
from pipeline.frame import Frame
from pipeline.io.base import SinkError
from pipeline.io.sinks.window import WindowSink
from pipeline.io.sinks.window_grid import DRAW_SHARE, MAX_DRAWS_PER_SECOND, SharedWindow, next_pause
from pipeline.io.sinks.window_tiles import (MAX_TILES, SELECTED, Tile, TileState, compose, fit,
                                            layout, tile_of)
from pipeline.tuned import single

COLOURS = {"a": (0, 0, 200), "b": (0, 200, 0), "c": (200, 0, 0), "d": (200, 200, 0)}


def solid(colour, width=160, height=120) -> np.ndarray:
    return np.full((height, width, 3), colour, np.uint8)


def frame(index: int, image: np.ndarray) -> Frame:
    return Frame(index, 0.0, image, image)


# ---------------------------------------------------------------------- layout
@pytest.mark.parametrize("n", range(0, MAX_TILES + 1))
def test_columns_are_the_ceiling_of_the_square_root_as_in_the_browser_grid(n):
    grid = layout(n, 1200, 0.75)
    assert grid.columns == max(1, math.ceil(math.sqrt(n)))
    assert grid.columns * grid.rows >= n and (grid.rows - 1) * grid.columns < max(n, 1)
    assert grid.tile == (1200 // grid.columns, round(1200 // grid.columns * 0.75))
    assert grid.size == (grid.columns * grid.tile[0], grid.rows * grid.tile[1])


def test_more_tiles_than_the_grid_holds_is_a_value_error_naming_the_limit():
    with pytest.raises(ValueError, match=f"1 to {MAX_TILES} tiles; got {MAX_TILES + 1}"):
        layout(MAX_TILES + 1, 640, 0.75)


def test_each_cell_is_found_back_from_a_point_inside_it():
    grid = layout(7, 600, 0.5)  # 3 columns, 3 rows of 200x100
    for index in range(9):
        x, y = grid.cell(index)
        assert grid.at(x, y) == index and grid.at(x + 199, y + 99) == index
    assert grid.at(600, 0) is None and grid.at(-1, 5) is None and grid.at(0, 300) is None


# ---------------------------------------------------------------------- pictures
@pytest.mark.parametrize("shape, cell, placed", [
    ((120, 320), (200, 200), (200, 75)),   # wide picture, square cell: bars above and below
    ((300, 100), (200, 200), (67, 200)),   # tall picture: bars left and right
    ((60, 80), (240, 180), (240, 180)),    # same shape, enlarged to fill
    ((720, 1280), (426, 240), (426, 240)),  # 3 columns of 720p: by 3, then a little
    ((1080, 1920), (320, 180), (320, 180)),  # by 6 exactly
    ((1080, 1920), (1280, 720), (1280, 720)),  # by 1.5: bilinear only
])
def test_a_picture_fits_its_cell_keeping_its_aspect_ratio(shape, cell, placed):
    smooth = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
                              .astype(np.float32), (0, 0), 8)
    image = cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)  # grey
    picture, (x, y) = fit(image, cell)
    assert picture.shape == (placed[1], placed[0], 3)  # grey made BGR
    assert (x, y) == ((cell[0] - placed[0]) // 2, (cell[1] - placed[1]) // 2)
    assert np.array_equal(picture[:, :, 0], picture[:, :, 2])
    # Close to OpenCV's exact area mean (which it does not use: slow at odd factors).
    exact = cv2.resize(image, placed, interpolation=cv2.INTER_AREA)
    assert np.abs(picture[:, :, 0].astype(int) - exact).mean() < 3.0  # of 255


def lines_seen(picture: np.ndarray, rows: list, columns: list, scale: float) -> int:
    """How many of the one-pixel lines at ``rows`` and ``columns`` (of the full picture)
    show in ``picture`` (its first channel) where they should, within a pixel (at least
    20 of 255: a line shrunk by 6 is a sixth as bright)."""
    seen = 0
    for row in rows:
        at = round((row + 0.5) * scale - 0.5)
        seen += int(picture[max(0, at - 1):at + 2, 5].max() >= 20)
    for column in columns:
        at = round((column + 0.5) * scale - 0.5)
        seen += int(picture[5, max(0, at - 1):at + 2].max() >= 20)
    return seen


@pytest.mark.parametrize("cell", [(426, 240), (320, 180), (200, 112), (640, 360)])
def test_a_thin_edge_survives_the_shrink(cell):
    """One-pixel lines at every phase stay visible, where a plain bilinear shrink by more
    than 2 skips some (the check can fail: it does for the bilinear shrink)."""
    image = np.zeros((720, 1280), np.uint8)
    rows, columns = [300 + 17 * i for i in range(12)], [700 + 23 * i for i in range(12)]
    image[rows, :] = 255
    image[:, columns] = 255
    picture, _ = fit(image, cell)
    scale = picture.shape[1] / 1280  # (199 wide in a 200x112 cell)
    assert lines_seen(picture[:, :, 0], rows, columns, scale) == 24
    naive = cv2.resize(image, picture.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    if 1280 // cell[0] >= 3:
        assert lines_seen(naive, rows, columns, scale) < 24


def test_compose_puts_each_stream_in_its_cell_with_its_words_and_leaves_empty_cells_black():
    grid = layout(3, 480, 0.75)  # 2x2 cells of 240x180
    tiles = [Tile("a", solid(COLOURS["a"]), "30.0 fps  0 dropped"),
             Tile("b", solid(COLOURS["b"], 320, 120), "", "ended: end of stream"),
             Tile("c", solid(COLOURS["c"]), selected=True)]
    canvas = compose(tiles, grid)
    assert canvas.shape == (360, 480, 3)
    cells = {name: canvas[y:y + 180, x:x + 240] for name, (x, y) in
             zip("abc", (grid.cell(i) for i in range(3)))}
    # The picture fills a's cell (same shape), under its name and numbers at the top.
    assert np.array_equal(cells["a"][90, 120], COLOURS["a"])
    assert not np.array_equal(cells["a"][8, 8], COLOURS["a"])  # the name's band
    # b is wider: black bars above and below, the notice on a band at the bottom.
    assert np.array_equal(cells["b"][90, 120], COLOURS["b"]) and cells["b"][40, 200].max() == 0
    assert not np.array_equal(cells["b"][170, 8], (0, 0, 0))
    # The picked tile is framed; the fourth cell has no tile: black.
    assert np.array_equal(cells["c"][90, 0], SELECTED) and np.array_equal(cells["c"][90, 120], COLOURS["c"])
    assert canvas[180:, 240:].max() == 0
    # The canvas given back is drawn into again (the window reuses it).
    again = compose(tiles[:1], grid, canvas)
    assert again is canvas and canvas[180:, :240].max() == 0


def test_long_words_are_cut_to_the_tile_with_a_tilde():
    tile = Tile("x" * 200, solid((0, 0, 0)), notice="failed: " + "y" * 300)
    canvas = compose([tile], layout(1, 160, 0.75))
    assert canvas[:, :].max() > 0 and canvas.shape == (120, 160, 3)


# ---------------------------------------------------------------------- what a tile says
def test_a_tile_says_its_numbers_and_state():
    controls = Controls()
    controls.publish_stats(fps=29.5, dropped=3, frames_out=40)
    state = TileState("door", controls)
    assert tile_of(state, False) == Tile("door", None, "29.5 fps  3 dropped", "starting", False)
    state.frame = frame(0, solid(COLOURS["a"]))
    controls.tuned.set_manual("threshold", threshold=40.0)
    controls.paused = True
    tile = tile_of(state, True)
    assert (tile.numbers, tile.notice, tile.selected) == ("29.5 fps  3 dropped  thr 40", "paused", True)
    assert tile.image is state.frame.image
    state.ended = "end of stream"
    assert tile_of(state, False).notice == "ended: end of stream"
    assert tile_of(state, False).numbers.startswith("40 frames  3 dropped")  # no live fps any more
    state.error = "source failed: no such file"
    assert tile_of(state, False).notice == "failed: source failed: no such file"


# ---------------------------------------------------------------------- streams, keys, snapshots
def grid(tmp_path, names="abc") -> tuple:
    shared = SharedWindow(WindowSink(title="wall", snapshot_dir=str(tmp_path / "shots"),
                                     threshold_step=4, grid_width=480))
    handles, controls = {}, {}
    for name in names:
        handles[name], controls[name] = shared.handle(name), Controls()
        handles[name].attach(None, controls[name])
    return shared, handles, controls


def test_tiles_come_with_their_streams_and_go_when_removed_or_never_run(tmp_path):
    shared, handles, controls = grid(tmp_path)
    assert list(shared.tiles) == ["a", "b", "c"]
    for name in "abc":
        shared.write(name, frame(1, solid(COLOURS[name])))
    handles["a"].close()  # ended by itself: its tile and last picture stay
    handles["a"].ended("end of stream", None)
    handles["a"].release()
    assert shared.tiles["a"].ended == "end of stream" and shared.tiles["a"].frame is not None
    controls["b"].stop("removed")  # removed through POST /control: its tile goes
    handles["b"].close()
    handles["b"].release()
    handles["d"] = shared.handle("d")  # added while it runs
    handles["e"] = shared.handle("e")
    handles["e"].withdraw()  # refused by the run: no tile left behind
    assert list(shared.tiles) == ["a", "c", "d"]
    handles["c"].release()
    handles["d"].release()  # the last one: the window is finished
    with pytest.raises(SinkError, match="stream 'f' cannot join"):
        shared.handle("f")


def test_a_seventeenth_stream_cannot_join_the_grid(tmp_path):
    shared, _, _ = grid(tmp_path, [f"s{i}" for i in range(MAX_TILES)])
    with pytest.raises(SinkError, match=r"at most 16 streams.*'s16' cannot join.*\{source\}"):
        shared.handle("s16")
    assert len(shared.tiles) == MAX_TILES


def test_keys_act_on_every_stream_or_the_one_picked(tmp_path):
    shared, _, controls = grid(tmp_path)
    threshold = {name: (lambda c=c: single(c.tuned.manual("threshold"))) for name, c in controls.items()}
    shared._on_key(ord("]"))  # every stream
    assert [threshold[n]() for n in "abc"] == [4.0, 4.0, 4.0]
    shared._on_key(ord("2"))  # pick b
    assert shared.picked == "b"
    shared._on_key(ord("]"))
    shared._on_key(ord(" "))
    assert [threshold[n]() for n in "abc"] == [4.0, 8.0, 4.0]
    assert [controls[n].paused for n in "abc"] == [False, True, False]
    shared._on_key(9)  # Tab: the next tile, then every stream after the last
    assert shared.picked == "c"
    shared._on_key(9)
    assert shared.picked is None
    shared._on_key(ord(" "))  # some paused: pause them all; then all paused: resume all
    assert all(controls[n].paused for n in "abc")
    shared._on_key(ord(" "))
    assert not any(controls[n].paused for n in "abc")
    shared._on_key(ord("7"))  # no seventh tile: every stream
    assert shared.picked is None
    shared._on_key(ord("1"))
    shared._on_key(ord("t"))
    assert [controls[n].tuner_enabled for n in "abc"] == [False, True, True]
    shared._on_key(ord("x"))  # does nothing, is not counted
    shared._on_key(ord("q"))  # every stream, whatever is picked
    assert all(controls[n].stop_reason == "q pressed in the window" for n in "abc")
    assert shared.keys_handled == ["]", "2", "]", "space", "9", "9", "space", "space", "7", "1", "t", "q"]


def test_a_click_picks_a_tile_and_a_second_click_every_stream(tmp_path):
    shared, _, _ = grid(tmp_path)
    shared._aspect = 0.75
    shared._grid = shared._layout()  # 2x2 cells of 240x180
    shared._on_mouse(cv2.EVENT_LBUTTONDOWN, 300, 100, 0, None)
    assert shared.picked == "b"
    shared._on_mouse(cv2.EVENT_MOUSEMOVE, 10, 200, 0, None)  # only a press picks
    assert shared.picked == "b"
    shared._on_mouse(cv2.EVENT_LBUTTONDOWN, 10, 200, 0, None)
    assert shared.picked == "c"
    shared._on_mouse(cv2.EVENT_LBUTTONDOWN, 20, 190, 0, None)
    assert shared.picked is None
    shared._on_mouse(cv2.EVENT_LBUTTONDOWN, 300, 300, 0, None)  # the empty cell
    assert shared.picked is None


def test_s_saves_each_picked_streams_picture_in_a_folder_of_its_name(tmp_path):
    shared, _, controls = grid(tmp_path)
    for name in "abc":
        shared.write(name, frame(5, solid(COLOURS[name], 64, 48)))
    shared._on_key(ord("s"))
    shared._save_snapshots()
    saved = sorted(tmp_path.joinpath("shots").rglob("*.png"))
    assert [p.relative_to(tmp_path / "shots").as_posix() for p in saved] == \
        [f"{n}/snapshot_000005.png" for n in "abc"]
    assert np.array_equal(cv2.imread(str(saved[1])), solid(COLOURS["b"], 64, 48))
    shared._on_key(ord("3"))
    shared._on_key(ord("s"))
    shared._save_snapshots()
    assert shared.snapshots[3:] == [str(tmp_path / "shots" / "c" / "snapshot_000005.png")]


def test_a_seventeenth_stream_added_while_it_runs_is_refused_naming_the_window(tmp_path):
    from pipeline.config.document import ConfigError
    from pipeline.io.sinks.http.streams import added_error
    from pipeline.pipeline import Pipeline

    sources = [{"name": f"s{i}", "type": "synthetic", "length": 1} for i in range(MAX_TILES)]
    pipe = Pipeline.from_dict({"version": 1, "sources": sources, "stages": ["grayscale"],
                               "sinks": [{"window": {"title": "wall"}}]})
    streams = pipe.stream_set(pool=False)  # built, not run: no window opens
    window = pipe._shared[0]
    assert isinstance(window, SharedWindow) and list(window.tiles) == [f"s{i}" for i in range(MAX_TILES)]
    with pytest.raises(ConfigError) as caught:
        pipe.new_stream({"name": "late", "type": "synthetic"})
    assert added_error(caught.value).startswith("add: sinks.0.window: one window shows at most 16")
    assert "late" not in window.tiles and len(streams.streams) == MAX_TILES


def test_drawing_takes_at_most_its_share_of_a_core():
    assert next_pause(0.001) == 1 / MAX_DRAWS_PER_SECOND  # a quick draw: 30 a second
    assert next_pause(0.02) == pytest.approx(0.02 / DRAW_SHARE)  # 16 tiles of 720p: slower
    spent = 0.02
    assert spent / (spent + next_pause(spent)) <= DRAW_SHARE
