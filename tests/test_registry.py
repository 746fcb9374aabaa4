"""The registry: which sources and sinks are registered, and settings that round-trip
through ``build`` and ``settings_of``."""

from __future__ import annotations

import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.config.registry import REGISTRIES, build, check_settings, settings_of


def test_null_is_not_a_sink_name():
    assert "null" not in REGISTRIES["sink"]
    assert {"video", "images", "stats", "discard", "window"} <= set(REGISTRIES["sink"])


@pytest.mark.parametrize("name,settings", [
    ("video", {"path": "out/e.mkv", "codec": "h264", "crf": 20, "bitrate": None, "preset": "veryfast",
               "pix_fmt": "yuv420p", "audio": "none", "fourcc": None, "fps": 25.0}),
    ("video", {"path": "out/e.mkv", "codec": None, "crf": None, "bitrate": None, "preset": None,
               "pix_fmt": None, "audio": "copy", "fourcc": "FFV1", "fps": None}),
    ("images", {"path": "f/{index:05d}.jpg", "jpeg_quality": 80, "png_compression": 3}),
    ("stats", {"path": "s.jsonl"}),
    ("discard", {}),
    ("window", {"title": "edges", "snapshot_dir": "shots", "threshold_step": 2.5, "grid_width": 960}),
])
def test_sinks_round_trip_through_settings(name, settings):
    built = build("sink", name, settings)
    assert settings_of(built) == settings
    assert settings_of(build("sink", name, settings_of(built))) == settings


# --- registry -----------------------------------------------------------------------------
def test_all_sources_registered():
    assert {"camera", "file", "images", "url", "synthetic"} <= set(REGISTRIES["source"])


@pytest.mark.parametrize("name,settings", [
    ("camera", {"device": 2, "width": 1280, "height": 720, "fps": 30.0, "fourcc": "MJPG",
                "read_timeout": 2.0, "on_error": "retry", "reconnect_attempts": 3}),
    ("file", {"path": "in.mp4", "realtime": True, "loop": True, "on_error": "stop",
              "max_consecutive_errors": 5}),
    ("images", {"glob": "shots/*.png", "fps": 10.0}),
    ("url", {"url": "rtsp://cam.local/live", "open_timeout": 3.0, "read_timeout": 2.0,
             "on_error": "retry", "reconnect_backoff": 0.5, "reconnect_max_backoff": 4.0}),
    ("synthetic", {"width": 320, "height": 200, "fps": 24.0, "length": 0, "live": True}),
])
def test_sources_round_trip_through_settings(name, settings):
    built = build("source", name, settings)
    expected = check_settings(REGISTRIES["source"][name], settings)  # with defaults
    assert settings_of(built) == expected
    assert settings_of(build("source", name, settings_of(built))) == expected
