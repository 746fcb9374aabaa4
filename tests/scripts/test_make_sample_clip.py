"""scripts/make_sample_clip.py: the video sink end to end, from synthetic frames or a file."""

from __future__ import annotations

import cv2
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from tests.harness import HEIGHT, ROOT, WIDTH, files_in, make_frame, read_video


# --- scripts/make_sample_clip.py (the video sink end to end) ---------------------------------
def load_make_sample_clip():
    import importlib.util

    path = ROOT / "scripts" / "make_sample_clip.py"
    spec = importlib.util.spec_from_file_location("make_sample_clip", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_sample_clip_synthetic(tmp_path, capsys):
    script = load_make_sample_clip()
    out = tmp_path / "clips" / "sample.avi"
    assert script.main([str(out), "--width", "96", "--height", "64", "--frames", "9", "--fps", "12"]) == 0
    assert read_video(out) == (9, (64, 96, 3), 12.0)
    assert "codec mjpeg" in capsys.readouterr().out
    assert files_in(out.parent) == ["sample.avi"]


def test_make_sample_clip_scales_and_loops_a_file(tmp_path):
    script = load_make_sample_clip()
    clip = tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(clip), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (WIDTH, HEIGHT))
    for i in range(4):
        writer.write(make_frame(i).image)
    writer.release()
    out = tmp_path / "out.mkv"
    assert script.main([str(out), "--from", str(clip), "--width", "32", "--height", "24",
                        "--frames", "10", "--codec", "ffv1", "--grey"]) == 0
    count, shape, fps = read_video(out)
    assert (count, shape[:2], fps) == (10, (24, 32), 10.0)  # 4 source frames looped to 10


def test_make_sample_clip_errors(tmp_path, capsys):
    script = load_make_sample_clip()
    assert script.main([str(tmp_path / "x.mp4"), "--from", str(tmp_path / "missing.avi")]) == 1
    assert "missing.avi" in capsys.readouterr().err
    assert files_in(tmp_path) == []
    with pytest.raises(SystemExit) as caught:
        script.main([str(tmp_path / "x.mp4"), "--frames", "0"])
    assert caught.value.code == 2
