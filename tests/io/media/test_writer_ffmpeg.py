"""The writer's range and threads against the ``ffmpeg`` program: the same frames in, the same pictures out.

``ffmpeg -f rawvideo -pix_fmt gray ... -c:v libx264 -pix_fmt yuv420p`` converts grey to
studio-range Y (swscale) and runs x264 with frame threads; the video sink must hand
x264 the same picture with the same settings, so both decode to identical frames.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.frame import Frame
from pipeline.io.media.plan import MediaError, plan_video
from pipeline.io.media.writer import STUDIO_RANGE, THREADS_ENV, to_studio_range
from pipeline.io.sinks.video import VideoSink
from tests.harness import ROOT

WIDTH, HEIGHT, COUNT = 320, 240, 24


def edge_like_frames() -> list[np.ndarray]:
    """Grey frames with every value 0..255, moving edges and noise (x264 has work to do)."""
    rng = np.random.default_rng(7)
    ramp = np.tile(np.arange(WIDTH, dtype=np.int32) * 255 // (WIDTH - 1), (HEIGHT, 1))
    frames = []
    for index in range(COUNT):
        image = np.roll(ramp, 7 * index, axis=1) + rng.integers(-20, 21, (HEIGHT, WIDTH))
        image[60 + index: 90 + index, 40:200] = 255
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return frames


def sink_writes(frames, out: Path, **settings) -> None:
    sink = VideoSink(str(out), audio="none", **settings)
    for index, image in enumerate(frames):
        frame = Frame(index, time.perf_counter(), image, image, pts=index / 25)
        if index == 0:
            sink.open(frame, 25.0, None)
        sink.write(frame)
    sink.close()


def ffmpeg_writes(frames, out: Path, *encoder: str) -> None:
    done = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray",
                           "-s", f"{WIDTH}x{HEIGHT}", "-r", "25", "-i", "-", *encoder, str(out)],
                          input=b"".join(f.tobytes() for f in frames), capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


def planes(path: Path) -> list[np.ndarray]:
    """Each decoded picture's yuv420p planes as they are (no range conversion)."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="yuv420p") for frame in container.decode(video=0)]


def x264_options(path: Path) -> str:
    found = re.search(rb"options: ([^\x00]+)", path.read_bytes())
    assert found, f"no x264 settings in {path}"
    return found.group(1).decode()


def test_studio_range_mapping_is_swscales_table():
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = np.empty_like(values)
    to_studio_range(values, out)
    assert np.array_equal(out.ravel(), STUDIO_RANGE)
    assert (STUDIO_RANGE[0], STUDIO_RANGE[255]) == (16, 235)


@pytest.mark.parametrize("crf", [23, 0])
def test_h264_is_ffmpegs_picture_for_picture(tmp_path, crf):
    """Same x264 settings, and identical decoded pictures (so identical content went in).

    Our encode runs in a fresh process, with one x264 thread as ffmpeg's: in a process
    that has already encoded with another preset, and with several threads, x264 gave
    other bytes for the same pictures, options and pts (checked frame by frame where
    they enter the encoder), so only a first, single-threaded encode is a fixed function
    of what went in.
    """
    frames = edge_like_frames()
    ours, theirs = tmp_path / "ours.mp4", tmp_path / "ffmpeg.mp4"
    script = ("import sys; from pathlib import Path; "
              "from tests.io.media.test_writer_ffmpeg import edge_like_frames, sink_writes; "
              f"sink_writes(edge_like_frames(), Path(sys.argv[1]), codec='h264', preset='veryfast', crf={crf})")
    done = subprocess.run([sys.executable, "-c", script, str(ours)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, THREADS_ENV: "1", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    encoder = ["-c:v", "libx264", "-threads", "1", "-preset", "veryfast", "-crf", str(crf)]
    if crf == 0:  # lossless: full range in, as the sink keeps it (exact edge values)
        ffmpeg_writes(frames, theirs, *encoder, "-vf", "scale=out_range=full", "-pix_fmt", "yuvj420p")
    else:
        ffmpeg_writes(frames, theirs, *encoder, "-pix_fmt", "yuv420p")
    assert x264_options(ours) == x264_options(theirs)
    got, want = planes(ours), planes(theirs)
    assert len(got) == len(want) == COUNT
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    if crf == 0:
        assert all(np.array_equal(p[:HEIGHT], f) for p, f in zip(got, frames))


def test_lossy_h264_is_tagged_studio_range_and_decodes_back_to_the_edges(tmp_path):
    frames = edge_like_frames()
    sink_writes(frames, tmp_path / "e.mp4", codec="h264", crf=10)
    with av.open(str(tmp_path / "e.mp4")) as container:
        decoded = list(container.decode(video=0))
        stream = container.streams.video[0]
        assert stream.codec_context.color_range == 1  # MPEG (studio)
    luma = decoded[0].to_ndarray(format="yuv420p")[:HEIGHT]
    assert abs(int(np.median(luma[62:88, 42:198])) - 235) <= 1  # the white block: 255 in, studio white
    grey = decoded[0].to_ndarray(format="gray")  # swscale expands it again
    assert np.abs(grey.astype(int) - frames[0]).mean() < 2.0


def test_full_range_is_kept_where_it_must_and_refused_where_it_cannot_be_tagged():
    def plan(codec, **settings):
        return plan_video(".mkv" if codec == "ffv1" else ".mp4", codec, grey=True, width=4, height=4, **settings)

    assert not plan("h264").full_range and plan("h264").studio_lut
    assert plan("h264", crf=0).full_range and plan("h264", full_range=True).full_range
    assert plan("ffv1").full_range is False and not plan("ffv1").studio_lut  # gray: no range at all
    assert plan("ffv1", pix_fmt="yuv420p").full_range
    assert not plan("mpeg4").full_range
    with pytest.raises(MediaError, match="cannot tag full range"):
        plan("mpeg4", full_range=True)
