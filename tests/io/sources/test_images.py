"""The images source: pictures in natural order, globs, grey pictures, unreadable ones named."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.base import SourceError
from pipeline.io.sources.images import ImagesSource
from pipeline.io.formats import natural_sort_key
from pipeline.config.registry import build
from tests.harness import read_all


# --- images -----------------------------------------------------------------------------
def write_pictures(folder, names_levels) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, level in names_levels:
        assert cv2.imwrite(str(folder / name), np.full((10, 12, 3), level, np.uint8))


def test_images_in_natural_order(tmp_path):
    write_pictures(tmp_path / "shots", [("f_10.png", 30), ("f_2.png", 20), ("f_1.png", 10)])
    (tmp_path / "shots" / "notes.txt").write_text("not a picture")
    source = ImagesSource(str(tmp_path / "shots" / "*.png"), fps=12)
    with source:
        assert [p.rsplit("/", 1)[1] for p in source.paths] == ["f_1.png", "f_2.png", "f_10.png"]
        assert source.count_frames() == 3
        frames = read_all(source)
    assert [int(f[0, 0, 0]) for f in frames] == [10, 20, 30]
    assert frames[0].shape == (10, 12, 3) and frames[0].dtype == np.uint8


def test_images_fps_is_reported(tmp_path):
    write_pictures(tmp_path, [("a.png", 1)])
    assert ImagesSource(str(tmp_path / "*.png"), fps=12).fps == 12.0
    assert build("source", "images", {"glob": "x/*.png"}).fps == 25.0


def test_images_recursive_glob(tmp_path):
    write_pictures(tmp_path / "a", [("1.png", 1)])
    write_pictures(tmp_path / "b" / "c", [("2.png", 2)])
    with ImagesSource(str(tmp_path / "**" / "*.png")) as source:
        assert [int(f[0, 0, 0]) for f in read_all(source)] == [1, 2]


def test_images_grey_pictures_come_as_bgr(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((5, 6), 77, np.uint8))
    with ImagesSource(str(tmp_path / "*.png")) as source:
        frame = source.read()
    assert frame.shape == (5, 6, 3) and (frame == 77).all()


def test_images_glob_matching_nothing_is_an_error(tmp_path):
    pattern = str(tmp_path / "*.jpg")
    with pytest.raises(SourceError, match="matches no file") as caught:
        ImagesSource(pattern).open()
    assert pattern in str(caught.value)


def test_images_unreadable_picture_is_named(tmp_path):
    write_pictures(tmp_path, [("a1.png", 5)])
    (tmp_path / "a2.png").write_bytes(b"this is no png")
    with ImagesSource(str(tmp_path / "a*.png")) as source:
        assert source.read() is not None
        assert source.read() is None  # skipped (on_error: skip), named in the report
    assert source.report.skipped == 1
    assert any(str(tmp_path / "a2.png") in note and "does not decode" in note
               for note in source.report.notes)
    with ImagesSource(str(tmp_path / "a*.png"), on_error="stop") as source:
        assert source.read() is not None
        assert source.read() is None
    assert str(tmp_path / "a2.png") in source.report.failure


def test_natural_sort_key():
    names = ["x10.png", "x9.png", "x100.png", "x1.png"]
    assert sorted(names, key=natural_sort_key) == ["x1.png", "x9.png", "x10.png", "x100.png"]


def test_an_animated_gif_gives_its_first_frame_and_a_note_saying_how_to_read_all(tmp_path):
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=32x24:rate=10", "-t", "1.2", str(tmp_path / "anim.gif")], check=True)
    cv2.imwrite(str(tmp_path / "still.png"), np.zeros((24, 32, 3), np.uint8))
    source = ImagesSource(str(tmp_path / "*"))
    source.open()
    assert len(read_all(source)) == 2  # the GIF's first frame and the PNG
    notes = [note for note in source.report.notes if "anim.gif" in note]
    assert len(notes) == 1 and "holds 12 frames" in notes[0] and "as a video file" in notes[0]
    assert not any("still.png" in note for note in source.report.notes)
