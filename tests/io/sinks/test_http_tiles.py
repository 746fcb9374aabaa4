"""The grid's tile-sized pictures: a feed that scales pictures down before it encodes them
(sizes, aspect, even dimensions, bitrate in proportion), ``?size=tile`` on ``/view.ws`` and
``/stream.mjpg``, and what ``/stats`` says each size costs.  The grid page itself is tested
in Chromium (tests/end_to_end/test_http_browser_grid.py)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from pipeline.io.sinks.http.feed import (MIN_BITRATE, Feed, downscale, scaled_bitrate, scaled_size,
                                         yuv420p)
from tests.io.sinks.test_http import (FakeClock, MjpegReader, get_json, make_frame, open_sink, request,
                                     wait_until, write_paced)
from tests.io.sinks.test_http_view import ViewClient, feed_frames


@pytest.mark.parametrize("width, height, max_width, expected", [
    (1280, 720, 640, (640, 360)),     # 720p to a tile: exactly half
    (1920, 1080, 640, (640, 360)),
    (1280, 720, 480, (480, 270)),
    (1000, 563, 640, (640, 360)),     # 563 * 0.64 = 360.3: the nearest even height
    (1280, 720, 481, (480, 270)),     # an odd width asked: the even one below
    (641, 481, 640, (640, 480)),      # 481 * 640 / 641 = 480.2
    (2000, 3, 640, (640, 2)),         # never less than 2 rows
    (320, 240, 640, (320, 240)),      # fits: its own size
    (63, 47, 640, (64, 48)),          # fits, odd: even, as the encoder pads it
    (1280, 720, None, (1280, 720)),   # a full-size feed
])
def test_scaled_size_keeps_the_aspect_and_even_sizes(width, height, max_width, expected):
    size = scaled_size(width, height, max_width)
    assert size == expected
    assert size[0] % 2 == 0 and size[1] % 2 == 0
    if max_width is not None and width > max_width and size[1] > 2:
        assert abs(size[1] - size[0] * height / width) <= 1.0  # the aspect's height, to the nearest even row


def test_scaled_bitrate_follows_the_pixels_with_a_floor_and_a_ceiling():
    assert scaled_bitrate(2_000_000, (1280, 720), (640, 360)) == 500_000  # a quarter of the pixels
    assert scaled_bitrate(2_000_000, (1280, 720), (480, 270)) == 281_250
    assert scaled_bitrate(2_000_000, (1280, 720), (64, 36)) == MIN_BITRATE
    assert scaled_bitrate(60_000, (1280, 720), (640, 360)) == 60_000  # never above the sink's
    assert scaled_bitrate(2_000_000, (320, 240), (320, 240)) == 2_000_000


@pytest.mark.parametrize("channels", [None, 3])
def test_downscale_is_opencvs_area_resize_of_grey_and_bgr_pictures(channels):
    rng = np.random.default_rng(3)
    shape = (720, 1280) if channels is None else (720, 1280, channels)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    small = downscale(image, 640)
    assert small.shape == ((360, 640) if channels is None else (360, 640, 3)) and small.dtype == np.uint8
    assert np.array_equal(small, cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA))
    assert downscale(image, 1280) is image and downscale(image, None) is image


@pytest.mark.parametrize("bgr", [False, True])
def test_downscale_by_a_fraction_takes_the_whole_factor_first_and_stays_close_to_one_step(bgr):
    image = edge_picture(3, bgr=bgr)  # 1280x720 to 480x270: 2, then 4/3
    small = downscale(image, 480)
    assert small.shape[:2] == (270, 480)
    half = cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)
    assert np.array_equal(small, cv2.resize(half, (480, 270), interpolation=cv2.INTER_AREA))
    direct = cv2.resize(image, (480, 270), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(np.int16) - direct.astype(np.int16)).mean() < 2.0
    odd = edge_picture(3, 1001, 563, bgr=bgr)  # no whole factor divides 1001: one step
    assert np.array_equal(downscale(odd, 480), cv2.resize(odd, (480, 270), interpolation=cv2.INTER_AREA))


def decode(chunks) -> list[np.ndarray]:
    """The chunks' access units through FFmpeg's H.264 decoder, as grey pictures."""
    context = av.CodecContext.create("h264", "r")
    pictures = []
    for chunk in chunks:
        for frame in context.decode(av.Packet(chunk.data)):
            pictures.append(frame.to_ndarray(format="gray"))
    return pictures


def edge_picture(i: int, width: int = 1280, height: int = 720, bgr: bool = False) -> np.ndarray:
    """Lines and a moving box, drawn at any size (an edge map's kind of picture)."""
    image = np.zeros((height, width), np.uint8)
    image[:, ::40] = 200
    image[::30, :] = 120
    left = (i * 16) % (width - width // 8)
    image[height // 4:height // 2, left:left + width // 8] = 255
    return np.dstack([image, image // 2, 255 - image]) if bgr else image


@pytest.mark.parametrize("bgr", [False, True])
def test_a_tile_feed_encodes_pictures_scaled_down_at_a_bitrate_in_proportion(bgr):
    full = Feed(fps=30.0, bitrate=2_000_000, threaded=False)
    tile = Feed(fps=30.0, bitrate=2_000_000, threaded=False, max_width=640)
    made = {"full": [], "tile": []}
    for i in range(10):
        image = edge_picture(i, bgr=bgr)
        for name, feed in (("full", full), ("tile", tile)):
            feed.submit(i, image, float(i))
            made[name].append(feed.step())
    assert {(c.width, c.height) for c in made["tile"]} == {(640, 360)}
    assert {(c.width, c.height) for c in made["full"]} == {(1280, 720)}
    assert (tile.size, tile.source_size, tile.encoder_bitrate) == ((640, 360), (1280, 720), 500_000)
    assert (full.size, full.encoder_bitrate) == ((1280, 720), 2_000_000)
    assert made["tile"][0].key and made["tile"][0].codec.startswith("avc1.")
    numbers = tile.numbers()
    assert (numbers["width"], numbers["height"], numbers["max_width"], numbers["encoded"]) == (640, 360, 640, 10)
    assert 0 < tile.bytes < full.bytes
    # What a browser decodes is the tile size, and looks like the picture scaled down.
    pictures = decode(made["tile"])
    assert len(pictures) == 10 and pictures[-1].shape == (360, 640)
    expected = cv2.resize(edge_picture(9, bgr=bgr), (640, 360), interpolation=cv2.INTER_AREA)
    if bgr:
        expected = cv2.cvtColor(expected, cv2.COLOR_BGR2GRAY)
    diff = np.abs(pictures[-1].astype(np.int16) - expected.astype(np.int16)).mean()
    assert diff < 12.0, f"mean abs difference {diff:.2f}"
    assert decode(made["full"])[-1].shape == (720, 1280)
    full.close()
    tile.close()


def test_a_picture_narrower_than_the_tile_is_encoded_as_it_is():
    feed = Feed(fps=30.0, bitrate=2_000_000, threaded=False, max_width=640)
    feed.submit(0, edge_picture(0, 321, 181), 0.0)
    chunk = feed.step()
    assert (chunk.width, chunk.height) == (321, 181)  # padded to even inside, as a full feed
    assert feed.encoder_bitrate == 2_000_000
    feed.close()


# --- over the sink's routes -------------------------------------------------------------
def test_view_ws_size_tile_gets_tile_pictures_and_only_watched_sizes_are_encoded():
    clock = FakeClock()
    with open_sink(clock=clock, tile_width=64, bitrate=400_000) as sink:  # frames are 160x120
        feed_frames(sink, clock, 0, 1)
        tile = ViewClient(sink, path="/view.ws?size=tile")
        assert tile.status == 101
        config = tile.message()
        assert (config["type"], config["width"], config["height"]) == ("config", 64, 48)
        tile.send({"ack": tile.chunk().seq})
        feed_frames(sink, clock, 1, 3)
        for _ in range(3):
            chunk = tile.chunk()
            assert (chunk.width, chunk.height) == (64, 48)
            tile.send({"ack": chunk.seq})
        view = get_json(sink)["view"]
        # Only the tile is watched: the full-size encoder has not been made.
        assert "full" not in sink.feeds and view["encoded"] == 0 and view["width"] is None
        assert view["tile"]["viewers"] == 1 and view["tile"]["encoded"] == 4
        assert (view["tile"]["width"], view["tile"]["height"], view["tile"]["max_width"]) == (64, 48, 64)
        assert view["tile"]["encoder_bitrate"] == 100_000  # 400 kbps * 64*48 / (160*120), at its floor
        full = ViewClient(sink)
        assert full.message()["width"] == 160
        full.send({"ack": full.chunk().seq})
        feed_frames(sink, clock, 4, 2)
        view = get_json(sink)["view"]
        assert (view["width"], view["height"], view["viewers"]) == (160, 120, 1)
        assert view["tile"]["encoded"] >= 5 and len(view["tile"]["clients"]) == 1 and len(view["clients"]) == 1
        tile.close()
        full.close()
        wait_until(lambda: sink.view_stats()["tile"]["viewers"] == 0, what="the tile viewer to leave")
        encoded = sink.view_stats()["tile"]["encoded"]
        feed_frames(sink, clock, 6, 3)
        assert sink.view_stats()["tile"]["encoded"] == encoded  # nobody watches: no encode


def test_a_size_other_than_full_or_tile_is_refused_naming_it():
    with open_sink() as sink:
        refused = ViewClient(sink, path="/view.ws?size=huge")
        assert refused.status == 400
        refused.close()
        status, _, body = request(sink, "GET", "/stream.mjpg?size=huge")
        assert status == 400 and b"size must be one of full, tile; got 'huge'" in body


def test_mjpeg_size_tile_sends_pictures_scaled_to_the_tile():
    with open_sink(max_fps=1000, tile_width=80) as sink:
        tile = MjpegReader(sink, path="/stream.mjpg?size=tile")
        full = MjpegReader(sink)
        wait_until(lambda: sink.tile_board.viewers == 1 and sink.board.viewers == 1, what="two viewers")
        frame = make_frame(3)
        write_paced(sink, frame)
        seen = {}
        for name, reader in (("tile", tile), ("full", full)):
            index, image = reader.image()
            while index != 3:
                index, image = reader.image()
            seen[name] = image
        assert seen["tile"].shape == (60, 80, 3) and seen["full"].shape == (120, 160, 3)
        expected = cv2.resize(frame.image, (80, 60), interpolation=cv2.INTER_AREA)
        assert np.abs(seen["tile"].astype(np.int16) - expected.astype(np.int16)).mean() < 4.0
        stream = get_json(sink)["stream"]
        assert stream["tile"]["viewers"] == 1 and stream["tile"]["encoded"] >= 1
        assert stream["tile"]["max_width"] == 80
        tile.close()
        full.close()


def test_grey_pictures_become_yuv420p_exactly_as_ffmpegs_swscale_makes_them():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    ours = yuv420p(levels)
    theirs = av.VideoFrame.from_ndarray(levels, format="gray").reformat(format="yuv420p").to_ndarray()
    assert ours.shape == theirs.shape == (24, 16)
    assert np.array_equal(ours, theirs)
