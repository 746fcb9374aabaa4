"""The camera source without a camera: the error paths, and the mode check over a file."""

from __future__ import annotations

import logging

import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.base import SourceError
from pipeline.io.sources.camera import CameraSource
from pipeline.config.registry import ParamError, build
from tests.harness import FPS, HEIGHT, WIDTH, write_clip


# --- camera (no camera here: the error paths, and the mode check over a file) ----------
def test_camera_missing_index_suggests_what_to_try():
    with pytest.raises(SourceError) as caught:
        CameraSource(device=97).open()
    message = str(caught.value)
    assert "camera 97" in message and "ls /dev/video*" in message and "another index" in message
    assert "`file`" in message


def test_camera_missing_device_path():
    with pytest.raises(SourceError, match="'/dev/video97' does not exist") as caught:
        CameraSource(device="/dev/video97").open()
    assert "ls /dev/video*" in str(caught.value)


def test_camera_index_given_as_text_is_an_index():
    assert CameraSource(device="3").device == 3


def test_camera_bad_fourcc_is_a_param_error():
    with pytest.raises(ParamError, match="4 ASCII characters"):
        build("source", "camera", {"fourcc": "MJPEG"})


def test_camera_reports_a_mode_it_did_not_get(tmp_path, caplog):
    # A video file opened as a "device" ignores every requested setting, like a camera
    # without that mode: the source must say so and go on with what it gets.
    path = write_clip(tmp_path / "cam.avi", "MJPG")
    source = CameraSource(device=path, width=640, height=480, fps=60, fourcc="YUYV")
    assert source.live is True and source.fps == 60  # before open: the requested rate
    with caplog.at_level(logging.WARNING, logger="pipeline.io.sources"):
        with source:
            frame = source.read()
            assert source.fps == pytest.approx(FPS)  # once open: the real rate
    assert frame.shape == (HEIGHT, WIDTH, 3)
    text = caplog.text
    assert f"delivers {WIDTH}x{HEIGHT}, not the requested 640x480" in text
    assert "not the requested 'YUYV'" in text
    assert "not the requested 60" in text
