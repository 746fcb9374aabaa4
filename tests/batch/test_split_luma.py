"""``grayscale: {from: luma}`` in a batch job: a part of a split file hands out the luma
plane like a whole-file run, so split and unsplit outputs stay equal."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from pipeline.batch import split
from pipeline.cli import batch as command
from tests.batch.test_runner import LOSSLESS, WAIT, leftovers, make_clip, same_frames, write_config

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")

LUMA_STAGES = [{"grayscale": {"from": "luma"}}, {"gradient": {"kind": "sobel"}}, "map"]


def ffmpeg_gray(path, width=160, height=120) -> list[np.ndarray]:
    raw = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
                          "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         check=True, timeout=WAIT, capture_output=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, height, width))


def test_a_frame_range_hands_out_the_luma_after_a_seek(tmp_path):
    clip = make_clip(tmp_path / "long.mp4", frames=60)
    info = split.probe(str(clip), 20)
    source = split.FrameRangeSource(str(clip), 20, 20, info["boundaries"], total=60)
    source.take_luma()
    source.open()
    got = [source.read() for _ in range(20)]
    source.close()
    assert source.positioned_by == "seek" and source.ended_right
    expected = ffmpeg_gray(clip)[20:40]
    assert all(a.shape == (120, 160) and np.array_equal(a, b) for a, b in zip(got, expected))


def test_split_luma_output_is_identical_to_the_unsplit_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "rec" / "clip.mp4", frames=50, seed=4)
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/*"}, stages=LUMA_STAGES,
                          output={"dir": "whole", **LOSSLESS}, executor={"workers": 2})
    assert command.main([str(config), "-q"]) == 0
    assert command.main([str(config), "-q", "--set", "output.dir=parts", "--set", "split={frames: 20}"]) == 0
    assert command.main([str(config), "-q", "--set", "output.dir=exact",
                         "--set", "stages.0.grayscale.from=bgr"]) == 0
    assert same_frames(tmp_path / "parts" / "clip_edges.mkv", tmp_path / "whole" / "clip_edges.mkv")
    assert not same_frames(tmp_path / "exact" / "clip_edges.mkv", tmp_path / "whole" / "clip_edges.mkv")
    assert not leftovers(tmp_path / "parts")
