"""Sources and sinks built from Python check their settings as a config's are (issue 14):
defaults live in the Param declarations only."""

from __future__ import annotations

import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.sinks.discard import DiscardSink
from pipeline.io.sinks.images import ImagesSink
from pipeline.io.sinks.stats import StatsSink
from pipeline.io.sinks.video import VideoSink
from pipeline.io.sources.file import FileSource
from pipeline.io.sources.images import ImagesSource
from pipeline.config.registry import REGISTRIES, ParamError, build, check_settings, settings_of


@pytest.mark.parametrize("cls, settings, key", [
    (ImagesSink, {"path": "f/{index}.jpg", "jpeg_quality": -5}, "jpeg_quality"),
    (ImagesSink, {"path": "f/{index}.png", "png_compression": 10}, "png_compression"),
    (ImagesSink, {"path": "f/{name}.png"}, "path"),
    (VideoSink, {"path": "x.mp4", "fps": 0}, "fps"),
    (VideoSink, {"path": "x.mp4", "crf": "high"}, "crf"),
    (VideoSink, {}, "path"),
    (StatsSink, {"path": 3}, "path"),
    (DiscardSink, {"every": 2}, "every"),
])
def test_sinks_built_from_python_check_their_settings(cls, settings, key):
    """Defaults live in the Param declarations only, checked as a config's are."""
    with pytest.raises(ParamError) as caught:
        cls(**settings)
    assert caught.value.key == key


# --- construction from Python checks settings as a config does (issue 14) -----------------
#: Per source: a complete good setting, then bad values a config would refuse.
PYTHON_BUILT = {
    "camera": ({}, [{"width": 3}, {"fourcc": "MJPEG"}, {"on_error": "skip"},
                    {"reconnect_attempts": 3}, {"device": -1}]),
    "file": ({"path": "in.mp4"}, [{"path": "in.mp4", "on_error": "skp"}, {"path": 5},
                                  {"path": "in.mp4", "max_consecutive_errors": 0}, {},
                                  {"path": "in.mp4", "loop": True, "start": 2.0}]),
    "images": ({"glob": "*.png"}, [{"glob": "*.png", "fps": 0}, {"glob": None}]),
    "stdin": ({}, [{"start": -1}, {"duration": "long"}, {"path": "in.mp4"}, {"loop": True}]),
    "url": ({"url": "udp://127.0.0.1:5000"}, [{"url": "in.mp4"}, {"url": "udp://127.0.0.1:5000", "read_timeout": 0},
                                              {"url": "udp://127.0.0.1:5000", "rtsp_transport": "udp"},
                                              {"url": "rtsp://cam/live", "rtsp_transport": "http"}]),
    "synthetic": ({}, [{"width": 5}, {"length": -1}, {"live": "yes"}, {"fps": float("nan")}]),
}


def test_every_source_is_covered_by_the_construction_checks():
    assert set(PYTHON_BUILT) == set(REGISTRIES["source"])


@pytest.mark.parametrize("name", sorted(PYTHON_BUILT))
def test_a_source_built_from_python_is_refused_like_in_a_config(name):
    cls = REGISTRIES["source"][name]
    good, bad = PYTHON_BUILT[name]
    assert settings_of(cls(**good)) == check_settings(cls, good)  # defaults from the Params
    for settings in bad + [{**good, "no_such_key": 1}]:
        with pytest.raises(ParamError) as from_config:
            build("source", name, settings)
        with pytest.raises(ParamError) as from_python:
            cls(**settings)
        assert from_python.value.key == from_config.value.key
        assert str(from_python.value) == str(from_config.value)


def test_defaults_live_only_in_the_params():
    # No source repeats a default in its __init__ signature: every __init__ takes
    # *values, **settings and the base fills defaults from the Params.
    import inspect

    for name, cls in REGISTRIES["source"].items():
        parameters = inspect.signature(cls.__init__).parameters.values()
        assert all(p.default is inspect.Parameter.empty for p in parameters), name


def test_positional_settings_follow_the_params():
    assert FileSource("in.mp4", True).realtime is True
    with pytest.raises(TypeError, match="both by position and by name"):
        FileSource("in.mp4", path="other.mp4")
    with pytest.raises(TypeError, match="at most 4"):
        ImagesSource("*.png", 5.0, "skip", 1000, 6)
