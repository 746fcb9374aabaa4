"""The PyAV reader behind the file and url sources: OpenCV's BGR bytes, stream pts, messages.

Every clip is made here with the real ``ffmpeg`` (lavfi ``testsrc2``), in the formats a
user meets: H.264 8-bit and 10-bit, BT.709-tagged, full range, odd size, 4:2:2, MPEG-4,
VP9, MJPEG, a rotated phone clip, a variable-frame-rate clip with a gap, an MPEG-TS
whose first pts is not 0; plus the OpenCV sample ``samples/tree.avi``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from av.video.reformatter import Interpolation

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.base import SourceError
from pipeline.io.media.counting import count_decodable_frames
from pipeline.io.media.reader import MediaReader, to_bgr
from pipeline.io.sources.file import FileSource
from pipeline.config.registry import build
from tests.harness import ROOT, bounded, decode

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


TREE = ROOT / "samples" / "tree.avi"


#: name -> (extension, ffmpeg output options, video filter)
CLIPS = {
    "h264": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"], None),
    "h264-bt709": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-colorspace", "bt709",
                            "-color_primaries", "bt709", "-color_trc", "bt709"], None),
    "h264-full-range": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-color_range", "pc"], None),
    "h264-444-odd-size": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv444p"], "scale=161:119"),
    "ffv1-420-odd-size": (".mkv", ["-c:v", "ffv1", "-pix_fmt", "yuv420p"], "scale=161:119"),
    "h264-10bit": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p10le"], None),
    "h264-422": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv422p"], None),
    "mpeg4": (".mp4", ["-c:v", "mpeg4"], None),
    "vp9": (".webm", ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p"], None),
    "mjpeg": (".avi", ["-c:v", "mjpeg"], None),
}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                   check=True, timeout=60)


def make(path: Path, options: list[str], vf: str | None = None, frames: int = 8) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-frames:v", str(frames),
           *(["-vf", vf] if vf else []), *options, str(path))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    made = {name: make(folder / f"{name}{ext}", options, vf) for name, (ext, options, vf) in CLIPS.items()}
    # a phone clip filmed upright: a 90 degree display matrix on the stream
    made["rotated"] = folder / "rotated.mp4"
    ffmpeg("-i", str(made["h264"]), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(made["rotated"]))
    made["tree.avi"] = TREE
    return made


def read_all(source) -> list[tuple[np.ndarray, float]]:
    items = []
    while (item := source.read_timed()) is not None:
        items.append(item)
    return items


def ffprobe_pts(path: Path) -> list[float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=pts_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [float(line.strip(",")) for line in out.split() if line.strip(",")]


# --- the BGR bytes are OpenCV's -------------------------------------------------------------
@pytest.mark.parametrize("name", [*CLIPS, "rotated", "tree.avi"])
def test_bgr_bytes_equal_opencv_videocapture(clips, name):
    expected = decode(clips[name])
    with FileSource(str(clips[name])) as source:
        got = [image for image, _ in read_all(source)]
    assert len(got) == len(expected) > 0
    for index, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == b.shape and np.array_equal(a, b), f"{name}: frame {index} differs"


def test_pyav_default_interpolation_is_not_opencvs_for_10_bit(clips):
    # Why the reader asks for BICUBIC: with PyAV's default (BILINEAR) a 10-bit clip's
    # chroma goes through swscale's scaled path and the bytes differ from OpenCV's.
    expected = decode(clips["h264-10bit"])[0]
    with av.open(str(clips["h264-10bit"])) as container:
        frame = next(container.decode(video=0))
        bilinear = frame.to_ndarray(format="bgr24")
        bicubic = frame.to_ndarray(format="bgr24", interpolation=Interpolation.BICUBIC)
    assert not np.array_equal(bilinear, expected)
    assert np.array_equal(bicubic, expected) and np.array_equal(to_bgr(frame), expected)


def test_rotated_clip_comes_upright_as_from_opencv(clips):
    with FileSource(str(clips["rotated"])) as source:
        image, _ = source.read_timed()
    assert image.shape == (160, 120, 3)  # 160x120 stored, shown turned by 90 degrees


def test_grayscale_stays_bit_exact_with_cvtcolor_of_the_decoded_frame(clips):
    grey = build("stage", "grayscale")
    with FileSource(str(clips["h264-bt709"])) as source:
        images = [image for image, _ in read_all(source)]
    for image, opencv in zip(images, decode(clips["h264-bt709"])):
        assert np.array_equal(grey.apply(image), cv2.cvtColor(opencv, cv2.COLOR_BGR2GRAY))


# --- timing -----------------------------------------------------------------------------------
def test_pts_are_the_streams_for_a_variable_rate_clip_with_a_gap(tmp_path):
    clip = tmp_path / "vfr.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-frames:v", "30",
           "-vf", r"settb=1/10,setpts=N+10*gte(N\,15)", "-fps_mode", "passthrough",
           "-enc_time_base", "1/10", "-c:v", "libx264", "-bf", "0", "-pix_fmt", "yuv420p", str(clip))
    truth = ffprobe_pts(clip)
    assert truth[15] - truth[14] > 1.0  # the gap the clip is made with
    with FileSource(str(clip)) as source:
        got = [pts for _, pts in read_all(source)]
    assert got == pytest.approx(truth, abs=1e-6)


def test_media_names_the_file_and_its_first_pts(tmp_path):
    clip = make(tmp_path / "ts.ts", ["-c:v", "mpeg2video", "-f", "mpegts"])
    truth = ffprobe_pts(clip)
    assert truth[0] > 0  # MPEG-TS starts at 1.4 s
    source = FileSource(str(clip))
    assert source.media is None  # not open yet
    with source:
        first = source.read_timed()[1]
        media = source.media
    assert media.path == str(clip) and media.seekable and media.start == pytest.approx(truth[0], abs=1e-6)
    assert first == media.start


def test_frame_count_is_decoded_not_the_containers(clips):
    with av.open(str(TREE)) as container:
        assert container.streams.video[0].frames == 444  # what the AVI header says
    assert count_decodable_frames(str(TREE)) == 68 == FileSource(str(TREE)).count_frames()
    with FileSource(str(TREE)) as source:
        assert len(read_all(source)) == 68
        assert source.fps == pytest.approx(cv2.VideoCapture(str(TREE)).get(cv2.CAP_PROP_FPS))


def test_decoder_threads_follow_the_environment(clips, monkeypatch):
    monkeypatch.setenv("EDGEPIPE_DECODE_THREADS", "2")
    reader = MediaReader(str(clips["h264"])).open()
    try:
        assert reader.stream.codec_context.thread_count == 2
        assert reader.stream.thread_type.name == "AUTO"
    finally:
        reader.close()


# --- FFmpeg's messages ------------------------------------------------------------------------
def damaged_clip(tmp_path) -> Path:
    """An MPEG-4 clip with a zeroed stretch: dozens of decoder errors."""
    clip = make(tmp_path / "full.mp4", ["-c:v", "mpeg4", "-g", "300"], frames=40)
    data = bytearray(clip.read_bytes())
    start = len(data) // 3
    data[start: start + len(data) // 5] = bytes(len(data) // 5)
    damaged = tmp_path / "zeroed.mp4"
    damaged.write_bytes(bytes(data))
    return damaged


# --- what a path really is (issue 15.14) ------------------------------------------------------
@pytest.mark.parametrize("path,words", [("/dev/zero", "character device"), ("/dev/null", "character device"),
                                        ("/proc/self/status", "kernel file under /proc")])
def test_devices_as_a_video_path_say_what_they_are(path, words):
    with pytest.raises(SourceError) as caught:
        FileSource(path).open()
    assert words in str(caught.value) and path in str(caught.value) and "empty" not in str(caught.value)


def test_fifo_as_a_video_path_says_it_is_a_pipe(tmp_path):
    fifo = tmp_path / "video.fifo"
    os.mkfifo(fifo)
    with pytest.raises(SourceError) as caught:
        bounded(FileSource(str(fifo)).open, 5)  # never blocks waiting for a writer
    text = str(caught.value)
    assert "named pipe (FIFO)" in text and str(fifo) in text and "empty" not in text and "url" in text


def test_empty_file_is_still_empty(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match=r"is empty \(0 bytes\)"):
        FileSource(str(path)).open()


def test_closing_mid_damage_never_deadlocks(tmp_path):
    # Closing while FFmpeg's frame threads still decode (and log) damaged packets: the
    # reader parks them with the GIL released first (a codec context freed under the GIL
    # would wait for a thread that waits for the GIL).
    path = damaged_clip(tmp_path)

    def read_then_close(times: int) -> int:
        ended = 0
        for _ in range(times):
            source = FileSource(str(path), max_consecutive_errors=1)
            source.open()
            while source.read() is not None:
                pass
            source.close()
            ended += 1
        return ended

    assert bounded(lambda: read_then_close(25), 90) == 25
