"""Pictures that would take more memory than they are worth: refused from their header
(a real PNG bomb, made here, decodes to 4.8 GB), or from their file size (a sparse 6 GB
file is never read); a bomb in a glob costs that picture alone."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
import yaml

from pipeline.io.base import SourceError
from pipeline.io.sources.images import ImagesSource
from pipeline.io.sources.picture_size import header_size, read_picture
from tests.harness import ROOT, read_all


def png_bomb(path, width=40000, height=40000) -> None:
    """A valid 1-bit grey PNG of ``width`` x ``height`` zeros: a few hundred KB on disk."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\0" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def tiny_header_bomb(path) -> None:
    """The issue's 68-byte PNG: a header that says 40000 x 40000, nothing else."""
    data = bytearray(cv2.imencode(".png", np.zeros((1, 1), np.uint8))[1].tobytes())
    data[16:24] = struct.pack(">II", 40000, 40000)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm", ".pgm"])
def test_the_header_gives_the_size_opencv_decodes(ext):
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), np.uint8)
    if ext == ".pgm":
        image = image[..., 0]
    ok, data = cv2.imencode(ext, image)
    assert ok
    head = data.tobytes()
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert header_size(head) == (decoded.shape[1], decoded.shape[0]) == (53, 37)


def test_gif_and_unknown_headers():
    assert header_size(b"GIF89a" + struct.pack("<HH", 640, 480) + b"\0" * 10) == (640, 480)
    assert header_size(b"not a picture at all") is None


def test_a_real_png_bomb_is_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    png_bomb(bomb)
    assert bomb.stat().st_size < 2_000_000
    data, problem = read_picture(str(bomb), 100_000_000)
    assert data is None and "40000x40000 = 1600000000 pixels, over max_pixels 100000000" in problem


def test_a_sparse_6_gb_file_is_not_read(tmp_path):
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as handle:
        handle.write(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes())
        handle.truncate(6 << 30)
    data, problem = read_picture(str(huge), 100_000_000)
    assert data is None and f"is {6 << 30} bytes" in problem and "not read" in problem


def test_bombs_in_a_glob_cost_those_pictures_alone(tmp_path):
    for i in (1, 3, 5):
        cv2.imwrite(str(tmp_path / f"p{i}.png"), np.full((10, 12, 3), i, np.uint8))
    png_bomb(tmp_path / "p2.png")
    tiny_header_bomb(tmp_path / "p4.png")
    with ImagesSource(str(tmp_path / "p*.png")) as source:
        frames = read_all(source)
    assert [int(f[0, 0, 0]) for f in frames] == [1, 3, 5]
    assert source.report.skipped == 2
    assert any("p2.png" in note and "over max_pixels" in note for note in source.report.notes)
    assert any("p4.png" in note and "over max_pixels" in note for note in source.report.notes)


def test_max_pixels_is_configurable(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 12, 3), np.uint8))
    with ImagesSource(str(tmp_path / "*.png"), max_pixels=100) as source:
        with pytest.raises(SourceError, match=r"a.png' is 12x10 = 120 pixels, over max_pixels 100"):
            read_all(source)
    with ImagesSource(str(tmp_path / "*.png"), max_pixels=120) as source:
        assert len(read_all(source)) == 1


def test_a_run_over_a_glob_with_a_bomb_keeps_every_good_frame(tmp_path):
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    tiny_header_bomb(tmp_path / "f3.png")
    out = tmp_path / "out"
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "version": 1, "source": {"type": "images", "glob": str(tmp_path / "f*.png")},
        "stages": [], "sinks": [{"video": {"path": str(out / "v.mkv"), "fourcc": "FFV1"}},
                                {"stats": {"path": str(out / "s.jsonl")}}]}))
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert "f3.png" in done.stderr and "over max_pixels" in done.stderr and "skipped 1" in done.stderr
    assert len([json.loads(line) for line in (out / "s.jsonl").read_text().splitlines()]) == 5
    capture = cv2.VideoCapture(str(out / "v.mkv"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 5
