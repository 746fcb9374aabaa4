"""The images sink over real OpenCV encoding: numbering, quality settings, no temporaries left."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.frame import Frame
from pipeline.io.base import SinkError
from pipeline.io.sinks.images import ImagesSink
from pipeline.config.registry import ParamError, build
from tests.harness import HEIGHT, WIDTH, files_in, make_frame


# --- images ---------------------------------------------------------------------------------
def test_images_numbered_by_frame_index(tmp_path):
    sink = ImagesSink(str(tmp_path / "frames" / "f_{index:04d}.png"))
    sink.check()
    sink.open(make_frame(0), 10.0, None)
    for i in (0, 1, 5):  # 2 to 4 were dropped upstream
        sink.write(make_frame(i, grey=i == 5))
    sink.close()
    assert files_in(tmp_path / "frames") == ["f_0000.png", "f_0001.png", "f_0005.png"]
    back = cv2.imread(str(tmp_path / "frames" / "f_0001.png"))
    assert np.array_equal(back, make_frame(1).image)  # PNG is lossless
    grey = cv2.imread(str(tmp_path / "frames" / "f_0005.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(grey, make_frame(5, grey=True).image)


def test_images_jpeg_quality_is_used(tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    sizes = {}
    for quality in (10, 95):
        sink = ImagesSink(str(tmp_path / f"q{quality}" / "{index}.jpg"), jpeg_quality=quality)
        sink.open(None, 10.0, None)
        sink.write(Frame(0, 0.0, noise, noise))
        sizes[quality] = (tmp_path / f"q{quality}" / "0.jpg").stat().st_size
    assert sizes[10] < sizes[95] / 2


def test_images_png_compression_is_used(tmp_path):
    smooth = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    sizes = {}
    for level in (0, 9):
        sink = ImagesSink(str(tmp_path / f"c{level}_{{index}}.png"), png_compression=level)
        sink.write(Frame(0, 0.0, smooth, smooth))
        sizes[level] = (tmp_path / f"c{level}_0.png").stat().st_size
    assert sizes[9] < sizes[0] / 4


def test_images_leaves_no_temporary_files(tmp_path):
    sink = ImagesSink(str(tmp_path / "{index:03d}.jpeg"))
    for i in range(3):
        sink.write(make_frame(i))
    assert files_in(tmp_path) == ["000.jpeg", "001.jpeg", "002.jpeg"]


@pytest.mark.parametrize("pattern,message", [
    ("frames/{name}_{index}.png", "may contain {index}"),
    ("frames/{index:06d}.bmp", "must end in"),
    ("frames/{index:q}.png", "does not format"),
])
def test_images_bad_pattern(pattern, message):
    with pytest.raises(ParamError, match=message):
        build("sink", "images", {"path": pattern})


def test_images_one_name_is_one_picture(tmp_path):
    sink = ImagesSink(str(tmp_path / "edges.png"))
    sink.write(make_frame(0))
    assert files_in(tmp_path) == ["edges.png"]
    with pytest.raises(SinkError, match=r"frame 1 would write over .*edges.png.*put \{index\}"):
        sink.write(make_frame(1))


def test_images_stem_names_each_picture_after_its_input(tmp_path):
    from pipeline.io.base import MediaInput

    sink = ImagesSink(str(tmp_path / "{stem}_e.png"))
    sink.set_input(MediaInput("*.jpg", seekable=False, names=["in/b.jpg", "in/a.jpg"]))
    sink.write(make_frame(0))
    sink.write(make_frame(1))
    assert files_in(tmp_path) == ["a_e.png", "b_e.png"]
    video = ImagesSink(str(tmp_path / "{stem}.png"))
    video.set_input(None)
    with pytest.raises(SinkError, match="source is not pictures"):
        video.write(make_frame(0))


def test_images_check_unwritable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SinkError, match="is a file"):
        ImagesSink(str(blocker / "{index}.png")).check()
