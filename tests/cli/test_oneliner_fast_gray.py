"""``edgepipe run INPUT OUTPUT --fast-gray``: the grey straight from the decoder's luma
plane (``grayscale: {from: luma}``), end to end through a real ``edgepipe`` process, and
the command lines it cannot serve (exit 2, before anything opens)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from pipeline.cli import oneliner
from pipeline.cli.main import main
from pipeline.cli.oneliner_flags import Flags
from tests.harness import ROOT, decode

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")

TREE = ROOT / "samples" / "tree.avi"
WIDTH, HEIGHT, FRAMES = 170, 96, 4


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fast") / "tree.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(TREE),
                    "-frames:v", str(FRAMES), "-vf", f"scale={WIDTH}:{HEIGHT}", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True, timeout=60)
    return path


def edgepipe(*words: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pipeline", "run", *words, "-q"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def ffmpeg_gray(path: Path) -> list[np.ndarray]:
    raw = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
                          "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         check=True, timeout=60, capture_output=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, HEIGHT, WIDTH))


def test_fast_gray_writes_ffmpegs_own_grey(clip, tmp_path):
    # A real edgepipe process, pictures out (lossless), against ffmpeg -pix_fmt gray.
    done = edgepipe(str(clip), "fast/g_{index:02d}.png", "--stages", "[grayscale]", "--fast-gray",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    exact = edgepipe(str(clip), "exact/g_{index:02d}.png", "--stages", "[grayscale]", cwd=tmp_path)
    assert exact.returncode == 0, exact.stderr
    expected = ffmpeg_gray(clip)
    assert len(expected) == FRAMES
    for index, (gray, opencv) in enumerate(zip(expected, decode(clip))):
        fast = cv2.imread(str(tmp_path / "fast" / f"g_{index:02d}.png"), cv2.IMREAD_UNCHANGED)
        slow = cv2.imread(str(tmp_path / "exact" / f"g_{index:02d}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(fast, gray), f"frame {index}"
        assert np.array_equal(slow, cv2.cvtColor(opencv, cv2.COLOR_BGR2GRAY)), f"frame {index}"
    assert not (tmp_path / "fast" / f"g_{FRAMES:02d}.png").exists()


def test_fast_gray_on_the_default_chain_prints_from_luma(clip, capsys):
    assert main(["run", str(clip), "out.mp4", "--fast-gray", "--print-config"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["stages"][0] == {"grayscale": {"from": "luma"}}
    assert [next(iter(s)) if isinstance(s, dict) else s for s in data["stages"]][1:] == ["gradient", "map"]


def test_fast_gray_for_a_view_leaves_the_overlay_out(clip):
    data = oneliner.config_data([str(clip), "http://127.0.0.1:8090"], flags=Flags(fast_gray=True))
    names = [next(iter(s)) if isinstance(s, dict) else s for s in data["stages"]]
    assert "overlay" not in names and names[-1] == "hud"
    assert data["stages"][0] == {"grayscale": {"from": "luma"}}
    plain = oneliner.config_data([str(clip), "http://127.0.0.1:8090"])
    assert "overlay" in [next(iter(s)) if isinstance(s, dict) else s for s in plain["stages"]]


def test_fast_gray_keeps_settings_of_a_given_grayscale(clip):
    data = oneliner.config_data([str(clip), "out.mp4"], stages="[{grayscale: {from: bgr}}, map]",
                                flags=Flags(fast_gray=True))
    assert data["stages"] == [{"grayscale": {"from": "luma"}}, "map"]


@pytest.mark.parametrize("words, message", [
    (["synthetic", "out.mp4"], "a synthetic input has none"),
    (["CLIP", "out.mp4", "--stages", "[blur, grayscale]"], "the chain starts with 'blur'"),
    (["CLIP", "out.mp4", "--stages", "[grayscale, gradient, map, {threshold: {value: 9}}, overlay]"],
     "overlay paints the edges onto the colour one"),
])
def test_fast_gray_refuses_what_it_cannot_serve(clip, capsys, words, message):
    words = [str(clip) if word == "CLIP" else word for word in words]
    assert main(["run", *words, "--fast-gray"]) == 2
    err = capsys.readouterr().err
    assert "--fast-gray" in err and message in err and "Traceback" not in err


def test_fast_gray_is_for_one_liners_not_configs(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("version: 1\nsource: synthetic\nstages: [grayscale]\n")
    assert main(["run", str(config), "--fast-gray"]) == 2
    assert "--fast-gray is for one-liners" in capsys.readouterr().err


def test_fast_gray_with_several_inputs(clip, capsys):
    assert main(["run", "-i", str(clip), "-i", f"b={clip}", "out/{source}.mp4", "--fast-gray",
                 "--print-config"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["stages"][0] == {"grayscale": {"from": "luma"}}
    assert main(["run", "-i", str(clip), "-i", "synthetic", "out/{source}.mp4", "--fast-gray"]) == 2
    assert "synthetic input has none" in capsys.readouterr().err


def test_fast_gray_reads_standard_input(clip, tmp_path):
    piped = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(clip),
                            "-c:v", "rawvideo", "-f", "nut", "-"], check=True, timeout=60,
                           capture_output=True).stdout
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "-", "g_{index:02d}.png",
                           "--stages", "[grayscale]", "--fast-gray", "-q"], input=piped, cwd=tmp_path,
                          env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    for index, gray in enumerate(ffmpeg_gray(clip)):
        got = cv2.imread(str(tmp_path / f"g_{index:02d}.png"), cv2.IMREAD_UNCHANGED)
        assert got is not None and np.array_equal(got, gray), f"frame {index}"
