"""The decoder's luma plane as the grey picture (``grayscale: {from: luma}``), against ffmpeg.

Every clip is made here with the real ``ffmpeg`` from ``samples/tree.avi`` (a real
scene, not a test pattern): H.264 limited and full range, 4:2:2, 4:4:4, MJPEG
(``yuvj420p``), raw ``nv12``, at a width (642) whose rows the decoder pads (line size
above the width); plus 10-bit and RGB clips, which have no 8-bit luma plane.  The
oracles are ffmpeg's own outputs: the Y plane of ``-f rawvideo -pix_fmt FORMAT`` and
the grey of ``-pix_fmt gray``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline import ops
from pipeline.frame import LimitedLuma
from pipeline.io.media.luma import (LIMITED_TO_FULL, FramePictures, deferred_grey, expand_range,
                                    full_range, luma_plane, to_grey)
from pipeline.io.media.reader import to_bgr
from pipeline.io.sources.file import FileSource
from tests.harness import ROOT

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")

TREE = ROOT / "samples" / "tree.avi"
WIDTH, HEIGHT, FRAMES = 642, 362, 6

#: name -> (extension, ffmpeg output options, pixel format decoded)
CLIPS = {
    "h264": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"], "yuv420p"),
    "h264-bt709": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-colorspace", "bt709",
                            "-color_primaries", "bt709", "-color_trc", "bt709"], "yuv420p"),
    "h264-full-range": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-color_range", "pc"],
                        "yuvj420p"),  # the H.264 decoder says yuvj for full range
    "h264-422": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv422p"], "yuv422p"),
    "h264-444": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv444p"], "yuv444p"),
    "mjpeg": (".avi", ["-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p"], "yuvj420p"),
    "nv12": (".nut", ["-c:v", "rawvideo", "-pix_fmt", "nv12"], "nv12"),
}
#: Clips without an 8-bit luma plane: the exact path, frame by frame.
NO_LUMA = {
    "h264-10bit": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p10le"], "yuv420p10le"),
    "rgb": (".mkv", ["-c:v", "ffv1", "-pix_fmt", "bgr0"], "bgr0"),
}


def ffmpeg(*args: str) -> bytes:
    return subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                          check=True, timeout=60, capture_output=True).stdout


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("luma")
    made = {}
    for name, (extension, options, _) in {**CLIPS, **NO_LUMA}.items():
        made[name] = folder / f"{name}{extension}"
        ffmpeg("-i", str(TREE), "-frames:v", str(FRAMES), "-vf", f"scale={WIDTH}:{HEIGHT}",
               *options, str(made[name]))
    made["rotated"] = folder / "rotated.mp4"  # a phone clip filmed upright
    ffmpeg("-i", str(made["h264"]), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(made["rotated"]))
    return made


def frames_of(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def ffmpeg_planes(path: Path, pix_fmt: str, width: int = WIDTH, height: int = HEIGHT) -> list[np.ndarray]:
    """Each frame's first width x height bytes as ffmpeg writes them in ``pix_fmt``."""
    raw = ffmpeg("-i", str(path), "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-")
    frame_size = len(raw) // FRAMES
    assert frame_size * FRAMES == len(raw)
    return [np.frombuffer(raw[i * frame_size:i * frame_size + width * height], np.uint8)
            .reshape(height, width) for i in range(FRAMES)]


@pytest.mark.parametrize("name", CLIPS)
def test_luma_plane_is_ffmpegs_raw_y(clips, name):
    frames = frames_of(clips[name])
    assert len(frames) == FRAMES and frames[0].format.name == CLIPS[name][2]
    for index, (frame, y) in enumerate(zip(frames, ffmpeg_planes(clips[name], CLIPS[name][2]))):
        assert np.array_equal(luma_plane(frame), y), f"{name}: frame {index}"


@pytest.mark.parametrize("name", [*CLIPS, "rotated"])
def test_grey_is_ffmpegs_own_gray(clips, name):
    frames = frames_of(clips[name])
    turned = name == "rotated"  # ffmpeg turns it upright, as OpenCV does
    expected = ffmpeg_planes(clips[name], "gray", *((HEIGHT, WIDTH) if turned else (WIDTH, HEIGHT)))
    for index, (frame, gray) in enumerate(zip(frames, expected)):
        grey = to_grey(frame)
        assert grey.shape == gray.shape and grey.dtype == np.uint8 and grey.flags.c_contiguous
        assert np.array_equal(grey, gray), f"{name}: frame {index}"


@pytest.mark.parametrize("name", CLIPS)
def test_grey_is_the_range_table_applied_to_the_luma(clips, name):
    # numpy's own reference of the expansion: round((Y - 16) * 255 / 219), clipped
    reference = np.clip(np.rint((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)
    assert np.array_equal(LIMITED_TO_FULL, reference)
    assert LIMITED_TO_FULL[16] == 0 and LIMITED_TO_FULL[235] == 255 and LIMITED_TO_FULL[128] == 130
    frame = frames_of(clips[name])[2]
    raw = luma_plane(frame)
    full = name in ("mjpeg", "h264-full-range")
    assert full_range(frame) == full
    expected = raw if full else reference[raw]
    assert np.array_equal(to_grey(frame), expected)
    assert full or not np.array_equal(to_grey(frame), raw)  # the table did something here


@pytest.mark.parametrize("width", [1, 7, 15, 16, 17, 33, 63, 65, 642, 1283])
def test_expand_range_is_the_table_for_every_value_at_every_position(width):
    # addWeighted's vector body and scalar tail must both round as the table does
    rng = np.random.default_rng(width)
    padded = rng.integers(0, 256, (29, width + 11), dtype=np.uint8)
    for luma in (padded[:, 3:3 + width], np.ascontiguousarray(padded[:, 3:3 + width])):
        out = expand_range(luma)
        assert out.flags.c_contiguous and out.dtype == np.uint8
        assert np.array_equal(out, LIMITED_TO_FULL[luma])
    ramp = (np.arange(256 * width) % 256).astype(np.uint8).reshape(-1, width)  # each value in each lane
    assert np.array_equal(expand_range(ramp), LIMITED_TO_FULL[ramp])


def test_padded_rows_are_cropped_to_the_width(clips):
    frame = frames_of(clips["h264"])[0]
    line = frame.planes[0].line_size
    assert line > WIDTH and line % 32 == 0  # the decoder pads 642 to its alignment
    view = luma_plane(frame)
    assert view.shape == (HEIGHT, WIDTH) and view.strides == (line, 1)
    assert not view.flags.c_contiguous and not view.flags.owndata  # a view, no copy
    full = frames_of(clips["mjpeg"])[0]
    assert full.planes[0].line_size > WIDTH
    grey = to_grey(full)  # full range: no table; the padded rows are copied together
    assert grey.flags.c_contiguous and np.array_equal(grey, luma_plane(full))


def test_grey_of_unpadded_full_range_rows_is_a_view_of_the_frame(tmp_path):
    path = tmp_path / "full.avi"
    ffmpeg("-i", str(TREE), "-frames:v", "2", "-vf", "scale=640:360", "-c:v", "mjpeg",
           "-pix_fmt", "yuvj420p", str(path))
    frame = frames_of(path)[0]
    assert frame.planes[0].line_size == 640
    grey = to_grey(frame)
    assert grey.flags.c_contiguous and not grey.flags.owndata  # the decoder's own bytes


@pytest.mark.parametrize("name", NO_LUMA)
def test_a_frame_without_an_8_bit_luma_plane_falls_back_to_the_exact_path(clips, name):
    notes = []
    pictures = FramePictures(notes.append, "video file 'x'")
    pictures.luma = True
    frames = frames_of(clips[name])
    assert frames[0].format.name == NO_LUMA[name][2]
    assert to_grey(frames[0]) is None
    with pytest.raises(ValueError, match="no 8-bit luma plane"):
        luma_plane(frames[0])
    for frame in frames:
        image = pictures(frame)
        assert image.shape == (HEIGHT, WIDTH, 3) and np.array_equal(image, to_bgr(frame))
    assert pictures.fallbacks == FRAMES
    assert len(notes) == 1 and NO_LUMA[name][2] in notes[0] and "exact" in notes[0]


def test_file_source_hands_out_the_grey_only_when_told(clips):
    expected = ffmpeg_planes(clips["h264"], "gray")
    with FileSource(str(clips["h264"])) as source:
        assert source.read().shape == (HEIGHT, WIDTH, 3)
    source = FileSource(str(clips["h264"]))
    source.take_luma()
    with source:
        got = []
        while (item := source.read_timed()) is not None:
            got.append(item)
    assert [pts for _, pts in got] == sorted(pts for _, pts in got)
    assert len(got) == FRAMES
    for (grey, _), gray in zip(got, expected):
        assert np.array_equal(grey, gray)
    assert source.report.notes == []


def test_file_source_notes_a_clip_without_luma_once(clips):
    source = FileSource(str(clips["h264-10bit"]))
    source.take_luma()
    with source:
        images = [source.read() for _ in range(FRAMES)]
    assert all(image.shape == (HEIGHT, WIDTH, 3) for image in images)
    notes = [note for note in source.report.notes if "luma" in note]
    assert len(notes) == 1 and "yuv420p10le" in notes[0] and "h264-10bit.mp4" in notes[0]


def test_luma_differs_from_the_exact_grey_by_a_few_levels(clips):
    # The documented difference (docs/video.md): close, not equal.
    frame = frames_of(clips["h264"])[3]
    exact = cv2.cvtColor(to_bgr(frame), cv2.COLOR_BGR2GRAY).astype(int)
    difference = np.abs(to_grey(frame).astype(int) - exact)
    assert 0 < difference.mean() < 3 and difference.max() <= 12
    assert np.abs(luma_plane(frame).astype(int) - exact).mean() > difference.mean()


@pytest.mark.parametrize("name", [*CLIPS, "rotated"])
def test_deferred_grey_expands_to_ffmpegs_own_gray(clips, name):
    # A limited-range plane comes out as decoded, marked, and its expansion (as the fused
    # pass or the grayscale stage makes it) is ffmpeg's grey; a full-range one is the grey.
    frames = frames_of(clips[name])
    turned = name == "rotated"
    expected = ffmpeg_planes(clips[name], "gray", *((HEIGHT, WIDTH) if turned else (WIDTH, HEIGHT)))
    for index, (frame, gray) in enumerate(zip(frames, expected)):
        picture = deferred_grey(frame)
        assert picture.shape == gray.shape and picture.dtype == np.uint8 and picture.flags.c_contiguous
        if full_range(frame):
            assert not isinstance(picture, LimitedLuma) and np.array_equal(picture, gray)
        else:
            assert isinstance(picture, LimitedLuma), f"{name}: frame {index}"
            assert np.array_equal(ops.expand_luma(picture), gray), f"{name}: frame {index}"
            assert np.array_equal(expand_range(np.asarray(picture)), gray)


def test_file_source_defers_the_expansion_only_when_told(clips):
    expected = ffmpeg_planes(clips["h264"], "gray")
    source = FileSource(str(clips["h264"]))
    source.take_luma(deferred=True)
    with source:
        pictures = [source.read() for _ in range(FRAMES)]
    for picture, gray in zip(pictures, expected):
        assert isinstance(picture, LimitedLuma) and np.array_equal(ops.expand_luma(picture), gray)
    source = FileSource(str(clips["h264"]))
    source.take_luma()
    with source:
        assert not isinstance(source.read(), LimitedLuma)
