"""``grayscale: {from: luma}``: the source hands out the decoder's luma plane, and the
config refuses it where it cannot hold, naming the key and what would work.

The clips are made here with the real ``ffmpeg`` from ``samples/tree.avi``; the oracle
for the grey is ffmpeg's own ``-pix_fmt gray`` output.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline import ops
from pipeline.config.document import ConfigError
from pipeline.config.run import Config
from pipeline.pipeline import Pipeline
from pipeline.stages.grayscale import Grayscale, wants_luma
from tests.harness import ROOT, decode

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")

TREE = ROOT / "samples" / "tree.avi"
WIDTH, HEIGHT, FRAMES = 200, 150, 5
LUMA = {"grayscale": {"from": "luma"}}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("from") / "tree.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(TREE),
                    "-frames:v", str(FRAMES), "-vf", f"scale={WIDTH}:{HEIGHT}", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True, timeout=60)
    return path


def ffmpeg_gray(path: Path) -> list[np.ndarray]:
    raw = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
                          "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         check=True, timeout=60, capture_output=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, HEIGHT, WIDTH))


def run_config(clip: Path, stages: list) -> list:
    return list(Pipeline.from_dict({"version": 1, "source": {"type": "file", "path": str(clip)},
                                    "stages": stages}).frames())


def test_from_luma_changes_what_the_source_gives(clip):
    exact = run_config(clip, ["grayscale"])
    luma = run_config(clip, [LUMA])
    assert len(exact) == len(luma) == FRAMES
    for frame, opencv in zip(exact, decode(clip)):  # the default: cvtColor of OpenCV's BGR
        assert frame.original.shape == (HEIGHT, WIDTH, 3)
        assert np.array_equal(frame.image, cv2.cvtColor(opencv, cv2.COLOR_BGR2GRAY))
    for frame, gray in zip(luma, ffmpeg_gray(clip)):  # from: luma: FFmpeg's own grey
        assert frame.original.shape == (HEIGHT, WIDTH) and frame.original is frame.image
        assert np.array_equal(frame.image, gray)
    assert not np.array_equal(exact[0].image, luma[0].image)


def test_the_fused_edges_run_on_the_luma(clip):
    stages = [LUMA, {"gradient": {"kind": "sobel", "norm": "l2"}}, {"map": {"mode": "abs"}}]
    frames = run_config(clip, stages)
    for frame, gray in zip(frames, ffmpeg_gray(clip)):
        assert np.array_equal(frame.image, ops.edges(gray, "sobel", "l2", "abs"))


def test_the_stage_converts_a_colour_frame_exactly_anyway():
    # The Python API can push BGR through a from: luma chain: the exact conversion then.
    image = cv2.imread(str(ROOT / "samples" / "fruits.jpg"))
    stage = Grayscale(**{"from": "luma"})
    assert stage.luma and repr(stage) == "Grayscale(from='luma')"
    assert np.array_equal(stage.apply(image), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


def test_only_a_first_luma_grayscale_asks_the_source():
    assert wants_luma([Grayscale(**{"from": "luma"})])
    assert not wants_luma([Grayscale()]) and not wants_luma([])


def config(clip: Path, stages: list, source: dict | None = None) -> dict:
    return {"version": 1, "source": source or {"type": "file", "path": str(clip)}, "stages": stages}


def refused(data: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data, file="run.yaml")
    return info.value


def test_refused_when_not_the_first_stage(clip):
    error = refused(config(clip, [{"resize": {"scale": 0.5}}, LUMA, "gradient", "map"]))
    text = str(error)
    assert "run.yaml" in text and "stages.1.grayscale.from" in text
    assert "must be the first stage" in text and "after resize" in text and "leave 'from' out" in text


def test_refused_with_an_overlay_on_the_colour_original(clip):
    error = refused(config(clip, [LUMA, "gradient", "map", {"threshold": {"value": 40}}, "overlay"]))
    text = str(error)
    assert "stages.0.grayscale.from" in text and "overlay" in text and "colour original" in text
    # hud draws on the edge picture, not the original: allowed
    Config.from_dict(config(clip, [LUMA, "gradient", "map", {"threshold": {"value": 40}}, "hud"]))


@pytest.mark.parametrize("source", [{"type": "synthetic"}, {"type": "camera", "device": 0},
                                    {"type": "images", "glob": str(ROOT / "samples" / "*.jpg")}])
def test_refused_for_a_source_that_decodes_through_opencv(clip, source):
    error = refused(config(clip, [LUMA], source))
    text = str(error)
    assert "stages.0.grayscale.from" in text and f"source {source['type']}" in text
    assert "file, stdin, url" in text and "leave 'from' out" in text


def test_refused_when_one_of_several_streams_cannot(clip):
    data = {"version": 1, "stages": [LUMA],
            "sources": [{"name": "a", "type": "file", "path": str(clip)},
                        {"name": "b", "type": "synthetic"}],
            "sinks": [{"stats": {"path": "{source}.jsonl"}}]}
    assert "source synthetic" in str(refused(data))


def test_every_stream_of_a_config_gets_the_luma(clip):
    data = {"version": 1, "stages": [LUMA],
            "sources": [{"name": "a", "type": "file", "path": str(clip)},
                        {"name": "b", "type": "file", "path": str(clip)}],
            "sinks": [{"stats": {"path": "{source}.jsonl"}}]}
    checked = Config.from_dict(data)
    for stream in checked.streams:
        source, _, _ = checked.build(stream)
        with source:
            assert source.read().shape == (HEIGHT, WIDTH)


def test_unknown_from_names_the_choices(clip):
    text = str(refused(config(clip, [{"grayscale": {"from": "yuv"}}])))
    assert "stages.0.grayscale.from" in text and "bgr" in text and "luma" in text


def test_the_config_round_trips_with_from(clip):
    checked = Config.from_dict(config(clip, [LUMA]))
    again = Config.from_dict(checked.to_dict())
    assert again.to_dict()["stages"] == [{"grayscale": {"from": "luma"}}]
    assert Config.from_dict(config(clip, ["grayscale"])).to_dict()["stages"] == [
        {"grayscale": {"from": "bgr"}}]
