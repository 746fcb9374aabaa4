"""The push API (:mod:`pipeline.api`): the caller's own frames through a configured chain.

What it promises: the same bytes as a :class:`~pipeline.pipeline.Pipeline` run of the same
config on the same frames (BGR and grey), a config's errors with the key at fault, and a
tuner that moves the threshold over calls, deterministically when stepped in the caller's
thread.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pipeline
from pipeline import Chain, EdgepipeError, Pipeline
from pipeline.api import FrameError, Result
from pipeline.config.document import ConfigError
from pipeline.io.base import Source
from pipeline.stages.gradient import Gradient
from pipeline.stages.map import Map
from pipeline.stages.threshold import Threshold

EDGE_STAGES = ["grayscale", {"gradient": {"kind": "sobel"}}, "map", {"threshold": {"value": "auto"}}]
CANNY_STAGES = ["grayscale", {"blur": {"ksize": 3}}, {"canny": {"low": "auto", "high": "auto"}}]


class FramesSource(Source):
    """The given frames, in order: what a Pipeline run reads them through."""

    def __init__(self, frames):
        super().__init__()
        self.frames, self.live, self._next = frames, False, 0

    @property
    def fps(self):
        return 25.0

    def open(self):
        pass

    def read(self):
        if self._next >= len(self.frames):
            return None
        self._next += 1
        return self.frames[self._next - 1]

    def close(self):
        pass


def photo_like(count: int, grey: bool, seed: int = 7) -> list[np.ndarray]:
    """Frames with edges and texture (smoothed noise over a moving square)."""
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        image = rng.normal(100, 25, (72, 88, 3)).clip(0, 255).astype(np.uint8)
        image[10 + index:40 + index, 20:60] = (200, 180, 160)
        frames.append(image[:, :, 1].copy() if grey else image)
    return frames


def pipeline_run(config: dict, frames: list[np.ndarray], monkeypatch) -> list:
    """Every processed frame of a Pipeline run of ``config`` reading ``frames``."""
    pipe = Pipeline.from_dict(config)
    built = pipe.config.build

    def build_with_frames():
        _, stages, sinks = built()
        return FramesSource([frame.copy() for frame in frames]), stages, sinks

    monkeypatch.setattr(pipe.config, "build", build_with_frames)
    return list(pipe.frames())


@pytest.mark.parametrize("grey", [False, True], ids=["bgr", "grey"])
@pytest.mark.parametrize("stages", [EDGE_STAGES, CANNY_STAGES,
                                    ["grayscale", {"gradient": {"kind": "scharr"}},
                                     {"map": {"mode": "shift"}}]],
                         ids=["threshold", "canny", "shift"])
def test_same_bytes_as_a_pipeline_run(stages, grey, monkeypatch):
    frames = photo_like(5, grey)
    config = {"version": 1, "stages": stages}
    expected = pipeline_run(config, frames, monkeypatch)
    assert len(expected) == len(frames)
    assert expected[0].original.ndim == (2 if grey else 3)  # the case meant is the case run
    chain = Chain.from_dict(config)
    for image, run in zip(frames, expected):
        edges, side = chain(image)
        assert edges.dtype == run.image.dtype and edges.shape == run.image.shape
        np.testing.assert_array_equal(edges, run.image)
        for key in ("threshold", "canny"):
            assert side.get(key) == run.side.get(key)
        np.testing.assert_array_equal(side["histogram"], run.side["histogram"])
    assert chain.frames == len(frames)


def test_from_yaml_from_stages_and_from_dict_agree(tmp_path):
    path = tmp_path / "edges.yaml"
    path.write_text("version: 1\nsource: {type: synthetic}\nstages:\n  - grayscale\n"
                    "  - gradient: {kind: sobel}\n  - map\n  - threshold: {value: auto}\n"
                    "sinks:\n  - discard\n")
    chains = [Chain.from_yaml(path), Chain.from_stages(EDGE_STAGES),
              Chain.from_dict({"version": 1, "stages": EDGE_STAGES}),
              Chain.from_stages(["grayscale", Gradient(kind="sobel"), Map(),
                                 {"threshold": {"value": "auto"}}])]
    for image in photo_like(3, grey=False):
        results = [chain(image) for chain in chains]
        for result in results[1:]:
            np.testing.assert_array_equal(result.image, results[0].image)
            assert result.threshold == results[0].threshold
    assert isinstance(results[0], Result)
    assert results[0].threshold is not None


def test_top_level_export():
    assert pipeline.Chain is Chain
    from pipeline.api import Chain as api_chain

    assert api_chain is Chain


def test_a_bad_stage_name_names_its_place():
    with pytest.raises(ConfigError) as caught:
        Chain.from_stages(["grayscale", "gradiant", "map"])
    assert caught.value.key == "stages.1"
    assert "did you mean 'gradient'" in str(caught.value)
    assert isinstance(caught.value, EdgepipeError)


def test_a_bad_key_names_its_place_with_stage_objects_too():
    with pytest.raises(ConfigError) as caught:
        Chain.from_stages(["grayscale", {"gradient": {"kind": "sobal"}}, Map()])
    assert caught.value.key == "stages.1.gradient.kind"
    with pytest.raises(ConfigError) as caught:
        Chain.from_stages(["grayscale", {"gradient": {"kind": "sobal"}}, "map"])
    assert caught.value.key == "stages.1.gradient.kind"


def test_a_chain_that_cannot_flow_is_refused():
    with pytest.raises(ConfigError) as caught:
        Chain.from_stages(["grayscale", Map()])
    assert caught.value.key == "stages.1"
    assert "map needs" in caught.value.message


def test_a_bad_tuner_key_is_named():
    with pytest.raises(ConfigError) as caught:
        Chain.from_stages(EDGE_STAGES, tuner={"evry": 2})
    assert caught.value.key.startswith("tuner")
    with pytest.raises(ConfigError) as caught:
        Chain.from_stages(["grayscale", Gradient(), Map(), Threshold(value="auto")],
                          tuner={"targets": "canny", "objective": "multiotsu"})
    assert caught.value.key == "tuner.targets"


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.float32), np.zeros((8, 8, 2), np.uint8),
                                 np.zeros((0, 4), np.uint8), [[1, 2], [3, 4]]])
def test_what_is_not_a_frame_is_refused(bad):
    chain = Chain.from_stages(EDGE_STAGES)
    with pytest.raises(FrameError, match="frame 0: got"):
        chain(bad)


def test_bgra_and_single_channel_frames_are_taken_as_a_source_gives_them():
    chain, reference = Chain.from_stages(EDGE_STAGES), Chain.from_stages(EDGE_STAGES)
    bgr = photo_like(1, grey=False)[0]
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(chain(bgra).image, reference(bgr).image)
    grey = bgr[:, :, 0].copy()
    np.testing.assert_array_equal(chain(grey[:, :, None]).image, reference(grey).image)


def test_the_tuner_moves_the_threshold_over_calls():
    frames = photo_like(12, grey=False)
    runs = []
    for _ in range(2):
        chain = Chain.from_stages(EDGE_STAGES, tuner={"every": 3, "smoothing": 0.0,
                                                      "objective": "density", "target": 0.05})
        runs.append([chain(image) for image in frames])
        assert chain.tuner.updates == 4  # frames 0, 3, 6, 9
    thresholds = [result.threshold for result in runs[0]]
    # Frame 0 uses Otsu's level; each update is used from the next frame on.
    published = [result.side["tuner"]["threshold"]["values"]["threshold"] for result in runs[0]]
    for index in range(1, len(frames)):
        assert thresholds[index] == pytest.approx(published[index - 1])
    assert len(set(thresholds)) > 2  # it moved
    # Stepped in the calling thread: the same frames give the same output.
    for first, second in zip(*runs):
        assert first.threshold == second.threshold
        np.testing.assert_array_equal(first.image, second.image)


def test_the_tuner_on_its_own_thread_publishes_too():
    frames = photo_like(4, grey=False)
    with Chain.from_stages(EDGE_STAGES, tuner={"every": 1}, background=True) as chain:
        chain(frames[0])
        assert chain.tuner.wait_handled(1, timeout=120)  # an event, not a time bound
        result = chain(frames[1])
    assert chain.tuner.updates >= 1
    assert "tuner" in result.side
    assert not chain.tuner.running


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_the_readme_example_runs_on_a_clip(tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = next(block for block in re.findall(r"^```python\n(.*?)^```", readme, re.M | re.S)
                   if "Chain.from_stages" in block)
    monkeypatch.chdir(tmp_path)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=96x64:rate=10", "-frames:v", "12", "-pix_fmt", "yuv420p",
                    "clip.mp4"], check=True, timeout=60)
    scope: dict = {}
    exec(compile(example, "README.md", "exec"), scope)  # noqa: S102  (our own README)
    written = sorted(tmp_path.glob("edges_*.png"))
    assert [path.name for path in written] == [f"edges_{n:04d}.png" for n in range(1, 13)]
    assert scope["chain"].tuner.updates == 3  # frames 0, 5, 10
    assert scope["side"]["threshold"] is not None
