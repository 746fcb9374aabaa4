"""The grid page of a several-stream run in a real headless Chromium: one tile per stream
whose numbers and pictures update, a click enlarges one (its own page and controls), Esc
goes back, and tiles come and go as streams are added and removed through /control."""

from __future__ import annotations

import json
import urllib.request

from pipeline.tuned import single
from tests.end_to_end.test_http_browser import Chromium, eventually, needs_chromium
from tests.harness import running_streams

WIDTHS = {"door": 96, "yard": 80, "gate": 64}  # each 64 high
#: The grid's tiles get pictures at most TILE_WIDTH wide, aspect kept, even sizes:
#: door 64 x 64*64/96 = 42.7 -> 42, yard 64 x 51.2 -> 52, gate fits.
TILE_WIDTH = 64
TILES = {"door": (64, 42), "yard": (64, 52), "gate": (64, 64)}


def live(name: str, width: int) -> dict:
    return {"name": name, "type": "synthetic", "width": width, "height": 64, "fps": 20.0,
            "length": 0, "live": True}


def post(url: str, body: dict) -> int:
    request = urllib.request.Request(url + "control", data=json.dumps(body).encode(), method="POST",
                                      headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def tiles(browser) -> list:
    """Each tile's name, frame number (text), pictures its player has shown, and the size of
    the last one it decoded."""
    return browser.run("""
        return [...document.querySelectorAll('.tile')].map((t) => [t.dataset.name,
            t.querySelector('.frame').textContent,
            window.edgepipeGrid.tiles.get(t.dataset.name).view.shown,
            window.edgepipeGrid.tiles.get(t.dataset.name).view.width,
            window.edgepipeGrid.tiles.get(t.dataset.name).view.height]);
    """)


def encoding(url: str) -> dict:
    """Each stream's ``encoding`` in ``GET /streams``: what each size costs the server."""
    with urllib.request.urlopen(url + "streams", timeout=10) as response:
        return {s["name"]: s["encoding"] for s in json.load(response)["streams"]}


def all_move(browser, before: list) -> bool:
    """Whether every tile's frame number and shown count went past ``before``'s."""
    now = {name: (frame, shown) for name, frame, shown, *_ in tiles(browser)}
    return all(name in now and now[name][0] != frame and now[name][1] > shown
               for name, frame, shown, *_ in before)


@needs_chromium
def test_the_grid_shows_three_live_tiles_enlarges_one_and_follows_added_and_removed_streams(tmp_path):
    data = {"version": 1, "sources": [live(name, width) for name, width in WIDTHS.items()],
            "stages": ["grayscale", "gradient", "map", {"threshold": {"value": "auto"}}],
            "sinks": [{"http": {"port": 0, "tile_width": TILE_WIDTH}}], "runtime": {"mode": "live"}}
    with running_streams(data) as (pipe, streams, sink):
        url = sink.url
        with Chromium(size=(1200, 900)) as browser:
            browser.get(url)
            assert browser.run("return document.title") == "edgepipe streams"
            browser.wait_for("return document.querySelectorAll('.tile').length === 3", timeout=30,
                             what="three tiles")
            # Every tile draws its own stream's pictures, and its numbers update.
            browser.wait_for("return [...window.edgepipeGrid.tiles.values()].every((t) => t.view.shown > 0 "
                             "&& t.view.width > 0)", timeout=30, what="a picture in every tile")
            first = tiles(browser)
            assert [t[0] for t in first] == list(WIDTHS)
            # Each tile decodes the tile-sized pictures; only the tile size is encoded.
            assert {t[0]: (t[3], t[4]) for t in first} == TILES
            cost = encoding(url)
            for name, size in TILES.items():
                assert (cost[name]["tile"]["width"], cost[name]["tile"]["height"]) == size
                assert cost[name]["tile"]["viewers"] == 1 and cost[name]["tile"]["encoded"] > 0
                assert cost[name]["full"]["viewers"] == 0 and cost[name]["full"]["encoded"] == 0
            assert eventually(lambda: all_move(browser, first), 30)
            assert browser.run("return document.getElementById('grid').dataset.columns") == "2"
            numbers = browser.run("return document.querySelector('.tile[data-name=yard] .fps').textContent")
            assert float(numbers) > 0
            shot = browser.screenshot(tmp_path / "grid.png")

            # A click enlarges yard: its own page, whose pause reaches yard's controls only.
            browser.run("document.querySelector('.tile[data-name=yard]').click()")
            browser.wait_for("return !document.getElementById('enlarged').hidden", what="the enlarged view")
            page = "document.getElementById('enlarged-page').contentWindow"
            browser.wait_for(f"const w = {page}; return w.edgepipeView && w.edgepipeView.width === 80 "
                             "&& w.edgepipeView.height === 64", timeout=30,
                             what="yard's full-size picture in the enlarged page")
            # The enlarged view is the full size, encoded for it alone (other streams: tiles only).
            assert eventually(lambda: encoding(url)["yard"]["full"]["viewers"] == 1)
            cost = encoding(url)
            assert (cost["yard"]["full"]["width"], cost["yard"]["full"]["height"]) == (80, 64)
            assert cost["yard"]["full"]["encoded"] > 0
            assert cost["door"]["full"]["encoded"] == 0 and cost["gate"]["full"]["encoded"] == 0
            browser.wait_for(f"return /^\\d+$/.test({page}.document.getElementById('frame').textContent)",
                             what="yard's frame number in its page")
            browser.run(f"{page}.document.getElementById('pause').click()")
            assert eventually(lambda: pipe.stream_controls["yard"].paused)
            assert not pipe.stream_controls["door"].paused and not pipe.stream_controls["gate"].paused
            browser.run(f"""const s = {page}.document.getElementById('slider');
                s.value = '44'; s.dispatchEvent(new Event('input', {{bubbles: true}}));
                s.dispatchEvent(new Event('change', {{bubbles: true}}));""")
            assert eventually(lambda: single(pipe.stream_controls["yard"].tuned.manual("threshold")) == 44.0)
            assert single(pipe.stream_controls["door"].tuned.manual("threshold")) is None
            browser.wait_for("return document.querySelector('.tile[data-name=yard] .tile-state')"
                             ".textContent === 'paused'", what="yard's tile to say paused")
            # Esc (the enlarged page has the keyboard) goes back to the grid.
            browser.run(f"{page}.document.dispatchEvent(new KeyboardEvent('keydown', {{key: 'Escape', bubbles: true}}))")
            browser.wait_for("return document.getElementById('enlarged').hidden", what="back to the grid")
            # Back on the grid nobody watches yard's full size: its encoder stops.
            assert eventually(lambda: encoding(url)["yard"]["full"]["viewers"] == 0, 30)

            # A fourth stream through /control: a fourth tile; one removed: its tile goes.
            assert post(url, {"add": live("dock", 48)}) == 200
            browser.wait_for("return document.querySelectorAll('.tile').length === 4", timeout=30,
                             what="a fourth tile")
            browser.wait_for("const t = window.edgepipeGrid.tiles.get('dock'); return t && t.view.width === 48",
                             timeout=30, what="the added stream's picture")
            assert browser.run("return document.getElementById('grid').dataset.columns") == "2"
            assert post(url, {"remove": "door"}) == 200
            browser.wait_for("return !document.querySelector('.tile[data-name=door]')", timeout=30,
                             what="the removed stream's tile to go")
            left = tiles(browser)
            assert [t[0] for t in left] == ["yard", "gate", "dock"]
            browser.wait_for("return document.getElementById('grid').dataset.columns === '2'")
            moving = [t for t in left if t[0] != "yard"]  # yard is paused
            assert eventually(lambda: all_move(browser, moving), 30)
    import cv2

    picture = cv2.imread(str(shot))
    assert picture is not None and picture.std() > 10
    assert {s["name"]: s["stop_reason"] for s in streams.summary.streams}["door"] == "removed"


@needs_chromium
def test_one_tile_grows_to_five_in_three_columns_and_mjpeg_tiles_stop_at_four():
    data = {"version": 1, "sources": [live("door", 48)],
            "stages": ["grayscale", "gradient", "map"],
            "sinks": [{"http": {"port": 0, "tile_width": 40}}], "runtime": {"mode": "live"}}
    with running_streams(data) as (pipe, streams, sink):
        url = sink.url
        with Chromium(size=(1200, 900)) as browser:
            browser.get(url + "?view=mjpeg")  # MJPEG tiles: six requests per host at most
            browser.wait_for("const t = window.edgepipeGrid.tiles.get('door'); return t && t.view.shown > 0",
                             timeout=30, what="the one tile's picture")
            assert browser.run("return document.getElementById('grid').dataset.columns") == "1"
            assert browser.run("return window.edgepipeGrid.tiles.get('door').view.transport") == "mjpeg"
            # MJPEG tiles are tile-sized too: 48x64 scaled to 40 wide, 64*40/48 = 53.3 -> 54 high.
            assert browser.run("const v = window.edgepipeGrid.tiles.get('door').view; "
                               "return [v.width, v.height]") == [40, 54]
            assert encoding(url)["door"]["tile"]["mjpeg_viewers"] == 1
            for index, name in enumerate(("yard", "gate", "dock", "roof")):
                assert post(url, {"add": live(name, 40 + 8 * index)}) == 200
            browser.wait_for("return document.querySelectorAll('.tile').length === 5", timeout=30,
                             what="five tiles")
            assert browser.run("return document.getElementById('grid').dataset.columns") == "3"
            # Four tiles draw their pictures; the fifth shows its numbers and says why not.
            browser.wait_for("return ['door', 'yard', 'gate', 'dock'].every((n) => "
                             "window.edgepipeGrid.tiles.get(n).view.shown > 0)", timeout=30,
                             what="pictures in the first four tiles")
            note = browser.run("return document.querySelector('.tile[data-name=roof] .tile-error').textContent")
            assert "4 tiles at most" in note
            # Every tile's numbers still update: /streams is not stuck behind the pictures.
            before = browser.run("return [...document.querySelectorAll('.tile .frame')].map((e) => e.textContent)")
            assert eventually(lambda: all(
                a != b and b.isdigit() for a, b in zip(before, browser.run(
                    "return [...document.querySelectorAll('.tile .frame')].map((e) => e.textContent)")))
                , 30)
