"""The video sink's files checked with the real ffprobe: codecs, streams, frame times, sound.

Clips are made here with the real ``ffmpeg`` (lavfi ``testsrc2`` and ``sine``, AAC and
AC3 sound; a variable-frame-rate clip with a gap) and decoded with PyAV, so each frame
reaches the sink with the pts the input has, as the file source gives it.
"""

from __future__ import annotations

import fractions
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.frame import Frame
from pipeline.io.base import MediaInput, Source
from pipeline.io.sinks.video import VideoSink
from pipeline.io.sources.file import FileSource
from tests.harness import ROOT



def ffmpeg(*args: str) -> None:
    done = subprocess.run(["ffmpeg", "-v", "error", "-y", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def probe(path: Path, *entries: str) -> dict:
    done = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *entries, str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def streams(path: Path) -> dict:
    """``{"video": stream, "audio": stream}`` as ffprobe describes them."""
    found = probe(path, "-show_streams")["streams"]
    return {s["codec_type"]: s for s in found}


def frame_times(path: Path) -> list[float]:
    frames = probe(path, "-select_streams", "v:0", "-show_entries", "frame=pts_time")["frames"]
    return [float(f["pts_time"]) for f in frames]


def sound_end(path: Path) -> float:
    packets = probe(path, "-select_streams", "a:0", "-show_entries", "packet=pts_time,duration_time")["packets"]
    return max(float(p["pts_time"]) + float(p.get("duration_time", 0)) for p in packets)


def decoded(path: Path, grey: bool = True) -> list[tuple[np.ndarray, float]]:
    """Every frame of ``path`` with its pts in seconds (what a PyAV file source delivers)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(f.to_ndarray(format="gray" if grey else "bgr24"), float(f.pts * f.time_base))
                for f in container.decode(stream)]


def write(frames, out: Path, media: MediaInput | None = None, limit: int | None = None, rate: float = 25.0,
          **settings) -> VideoSink:
    sink = VideoSink(str(out), **settings)
    sink.check()
    sink.set_input(media)
    for index, (image, pts) in enumerate(frames[:limit]):
        frame = Frame(index, time.perf_counter(), image, image, pts=pts)
        if index == 0:
            sink.open(frame, rate, None)
        sink.write(frame)
    sink.close()
    return sink


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A 2 s clip with AAC sound (.mp4) and one with AC3 sound (.mkv), and a VFR clip."""
    folder = tmp_path_factory.mktemp("clips")
    sources = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2",
               "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2"]
    ffmpeg(*sources, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(folder / "aac.mp4"))
    ffmpeg(*sources, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "ac3", str(folder / "ac3.mkv"))
    # 45 frames over 2.9 s with a 1 s gap: 30 fps for 1 s, nothing for 1 s, 15 fps after.
    times = [i / 30 for i in range(30)] + [2.0 + i / 15 for i in range(15)]
    with av.open(str(folder / "vfr.mkv"), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "gray"
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
        for index, seconds in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((64, 96), index * 5, np.uint8), format="gray")
            frame.pts, frame.time_base = round(seconds * 1000), fractions.Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return folder


# --- defaults, codecs, containers --------------------------------------------------------
@pytest.mark.parametrize("name, codec, profile", [
    ("e.mp4", "h264", "High"), ("e.mov", "h264", "High"), ("e.mkv", "h264", "High"),
    ("e.webm", "vp9", "Profile 0"), ("e.avi", "mjpeg", "Baseline"),
])
def test_defaults_by_extension(clips, tmp_path, name, codec, profile):
    frames = decoded(clips / "aac.mp4")
    write(frames, tmp_path / name, audio="none")
    video = streams(tmp_path / name)["video"]
    assert (video["codec_name"], video["profile"], video["width"], video["height"]) == (codec, profile, 160, 120)
    assert video["pix_fmt"] in ("yuv420p", "yuvj420p")
    assert len(frame_times(tmp_path / name)) == len(frames)


def test_mp4_has_its_moov_atom_first(clips, tmp_path):
    write(decoded(clips / "aac.mp4"), tmp_path / "e.mp4", audio="none")
    data = (tmp_path / "e.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: plays while downloading


def test_grey_goes_into_the_luma_plane_as_it_is(tmp_path):
    """Full range, neutral chroma: a near-lossless H.264 gives the edge values back."""
    ramp = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (64, 1))  # 64 x 128, values 0..254
    frames = [(ramp, i / 25) for i in range(5)]
    write(frames, tmp_path / "e.mp4", crf=0)
    for image, _ in decoded(tmp_path / "e.mp4"):
        assert np.abs(image.astype(int) - ramp).max() <= 1
    with av.open(str(tmp_path / "e.mp4")) as container:
        frame = next(container.decode(video=0))
        chroma = frame.to_ndarray(format="yuv420p")[64:]
    assert np.all(np.abs(chroma.astype(int) - 128) <= 1)


@pytest.mark.parametrize("codec, name", [("ffv1", "e.mkv"), ("ffv1", "e.avi")])
@pytest.mark.parametrize("grey", [True, False], ids=["grey", "bgr"])
def test_ffv1_is_frame_exact(clips, tmp_path, codec, name, grey):
    frames = decoded(clips / "aac.mp4", grey=grey)[:10]
    write(frames, tmp_path / name, codec=codec)
    back = decoded(tmp_path / name, grey=grey)
    assert len(back) == len(frames)
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(frames, back))


@pytest.mark.parametrize("grey", [True, False], ids=["grey", "bgr"])
@pytest.mark.parametrize("codec", ["ffv1", "h264"])
def test_the_callers_array_is_free_once_write_returns(tmp_path, grey, codec):
    """The sink holds a frame back (its duration waits for the next pts): it must not
    hold the caller's array, which a source or stage may fill again."""
    buffer = np.zeros((48, 64) if grey else (48, 64, 3), np.uint8)
    sink = VideoSink(str(tmp_path / "r.mkv"), codec=codec)
    wanted = []
    for index in range(4):
        buffer[:] = 60 * index
        wanted.append(buffer.copy())
        frame = Frame(index, time.perf_counter(), buffer, buffer, pts=index / 25)
        if index == 0:
            sink.open(frame, 25.0, None)
        sink.write(frame)
    buffer[:] = 255  # filled again after the last write
    sink.close()
    back = decoded(tmp_path / "r.mkv", grey=grey)
    slack = 0 if codec == "ffv1" else 3  # ffv1 is lossless; h264 at crf 23 is near
    got = [int(np.median(image)) for image, _ in back]
    assert len(got) == 4 and all(abs(g - int(np.median(w))) <= slack for g, w in zip(got, wanted)), got


# --- timing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["v.mp4", "v.mkv", "v.webm", "v.mov"])
def test_variable_frame_rate_and_gaps_survive(clips, tmp_path, name):
    frames = decoded(clips / "vfr.mkv")
    assert len(frames) == 45
    write(frames, tmp_path / name, audio="none")
    got = frame_times(tmp_path / name)
    want = [pts - frames[0][1] for _, pts in frames]
    assert len(got) == len(want)
    assert max(abs(a - b) for a, b in zip(got, want)) <= 0.001


@pytest.mark.parametrize("name, codec", [("v.avi", None), ("v.mp4", "mpeg4")])
def test_constant_rate_outputs_keep_gaps_to_a_frame(clips, tmp_path, name, codec):
    """AVI, and MPEG-4 Part 2 anywhere, place frames on the nominal rate's ticks."""
    frames = decoded(clips / "vfr.mkv")
    write(frames, tmp_path / name, codec=codec, rate=30.0)  # the clip's fastest rate
    got = frame_times(tmp_path / name)
    want = [pts - frames[0][1] for _, pts in frames]
    assert len(got) == len(want)
    assert max(abs(a - b) for a, b in zip(got, want)) <= 0.5 / 30 + 1e-6  # half a tick


def test_duration_is_the_inputs_within_a_frame(clips, tmp_path):
    frames = decoded(clips / "aac.mp4")
    write(frames, tmp_path / "e.mp4", audio="none")
    duration = float(probe(tmp_path / "e.mp4", "-show_format")["format"]["duration"])
    assert abs(duration - 2.0) <= 1 / 25


# --- sound -------------------------------------------------------------------------------------
@pytest.mark.parametrize("source, name, codec, transcoded", [
    ("aac.mp4", "o.mp4", "aac", False),
    ("aac.mp4", "o.mkv", "aac", False),
    ("aac.mp4", "o.webm", "opus", True),   # AAC in WebM: browsers refuse it
    ("ac3.mkv", "o.mp4", "aac", True),     # AC3 in MP4: browsers refuse it
    ("ac3.mkv", "o.mkv", "ac3", False),
    ("ac3.mkv", "o.webm", "opus", True),
])
def test_sound_is_copied_or_transcoded(clips, tmp_path, source, name, codec, transcoded):
    frames = decoded(clips / source)
    sink = write(frames, tmp_path / name, media=MediaInput(str(clips / source), frames[0][1], True))
    found = streams(tmp_path / name)
    assert found["audio"]["codec_name"] == codec
    assert abs(sound_end(tmp_path / name) - sound_end(clips / source)) <= 0.05
    assert any("transcoded" in note for note in sink.notes) == transcoded


@pytest.mark.parametrize("name", ["o.mp4", "o.mkv"])
def test_sound_before_the_first_frame(tmp_path, name):
    """The video starts 0.5 s into the sound: that half second is left out and said;
    the frames keep their times, and MP4 keeps AAC's priming packet (at -21 ms)."""
    clip = tmp_path / "late.mkv"  # Matroska keeps the 0.5 s on the video packets themselves
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
           "-itsoffset", "0.5", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1.5",
           "-map", "1:v", "-map", "0:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip))
    frames = decoded(clip)
    assert 0.45 < frames[0][1] < 0.6
    sink = write(frames, tmp_path / name, media=MediaInput(str(clip), frames[0][1], True))
    times = frame_times(tmp_path / name)
    assert abs(times[0]) < 0.001 and len(times) == len(frames)
    assert abs(sound_end(tmp_path / name) - (sound_end(clip) - frames[0][1])) <= 0.05
    assert any("before the first video frame, left out" in note for note in sink.notes)
    first = probe(tmp_path / name, "-select_streams", "a:0", "-show_entries", "packet=pts_time")["packets"][0]
    assert (float(first["pts_time"]) < 0) == name.endswith(".mp4")


def test_audio_none_and_encode(clips, tmp_path):
    frames = decoded(clips / "aac.mp4")
    media = MediaInput(str(clips / "aac.mp4"), frames[0][1], True)
    write(frames, tmp_path / "none.mp4", media=media, audio="none")
    assert "audio" not in streams(tmp_path / "none.mp4")
    sink = write(frames, tmp_path / "enc.mkv", media=media, audio="encode")
    assert streams(tmp_path / "enc.mkv")["audio"]["codec_name"] == "aac"
    assert any("audio: encode" in note for note in sink.notes)


def test_a_trimmed_run_cuts_the_sound_at_its_last_frame(clips, tmp_path):
    frames = decoded(clips / "aac.mp4")
    sink = write(frames, tmp_path / "t.mp4", media=MediaInput(str(clips / "aac.mp4"), frames[0][1], True),
                 limit=20)
    end = 20 / 25
    assert abs(sound_end(tmp_path / "t.mp4") - end) <= 0.05
    assert any("cut at 0.800 s" in note for note in sink.notes)


def test_a_stream_gets_no_sound_and_says_so(clips, tmp_path):
    frames = decoded(clips / "aac.mp4")[:5]
    sink = write(frames, tmp_path / "s.mp4", media=MediaInput("rtsp://camera/stream", 0.0, False))
    assert "audio" not in streams(tmp_path / "s.mp4")
    assert any("not copied" in note for note in sink.notes)


# --- odd sizes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("grey", [True, False], ids=["grey", "bgr"])
def test_odd_size_is_padded_and_said(tmp_path, grey):
    rng = np.random.default_rng(0)
    shape = (47, 65) if grey else (47, 65, 3)
    frames = [(rng.integers(0, 256, shape, dtype=np.uint8), i / 25) for i in range(3)]
    sink = write(frames, tmp_path / "odd.mp4", crf=0)
    video = streams(tmp_path / "odd.mp4")["video"]
    assert (video["width"], video["height"]) == (66, 48)
    assert any("65x47 padded to 66x48" in note for note in sink.notes)
    image = decoded(tmp_path / "odd.mp4")[0][0]
    assert np.abs(image[:, 65].astype(int) - image[:, 64]).max() <= 2  # the last column, repeated
    assert np.abs(image[47].astype(int) - image[46]).max() <= 2


def test_odd_size_kept_exact_in_ffv1(tmp_path):
    frames = [(np.full((47, 65), i * 9, np.uint8), i / 25) for i in range(3)]
    sink = write(frames, tmp_path / "odd.mkv", codec="ffv1")
    assert [img.shape for img, _ in decoded(tmp_path / "odd.mkv")] == [(47, 65)] * 3
    assert not sink.notes


# --- through `edgepipe run` ---------------------------------------------------------------------
needs_pyav_source = pytest.mark.skipif(
    FileSource.media is Source.media,
    reason="the file source does not give its media to sinks yet (PyAV source not merged)")


@needs_pyav_source
@pytest.mark.parametrize("source, name, codec", [("aac.mp4", "o.mp4", "aac"), ("ac3.mkv", "o.mp4", "aac"),
                                                 ("aac.mp4", "o.webm", "opus")])
def test_edgepipe_run_keeps_the_sound(clips, tmp_path, source, name, codec):
    out = tmp_path / name
    config = {"version": 1, "source": {"type": "file", "path": str(clips / source)},
              "stages": ["grayscale", {"gradient": {"kind": "sobel"}}, "map"],
              "sinks": [{"video": {"path": str(out)}}]}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert streams(out)["audio"]["codec_name"] == codec
    assert abs(sound_end(out) - sound_end(clips / source)) <= 0.05
    assert len(frame_times(out)) == 50


# --- messages and mixed sizes, through `edgepipe run` ----------------------------------------
def edgepipe_run(tmp_path: Path, source: dict, sink: dict, stages=("grayscale",)) -> subprocess.CompletedProcess:
    config = {"version": 1, "source": source, "stages": list(stages), "sinks": [{"video": sink}]}
    path = tmp_path / f"run-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "pipeline", "run", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


SYNTHETIC = {"type": "synthetic", "width": 64, "height": 48, "fps": 25, "length": 5}


@pytest.mark.parametrize("sink, words", [
    ({"path": "/proc/edgepipe-test/edges.mp4"}, ["/proc", "proc filesystem"]),
    ({"path": "/proc/edges.mkv"}, ["/proc", "proc filesystem"]),
    ({"path": "/sys/edges.mp4"}, ["/sys", "sysfs filesystem"]),
    ({"path": "OUT/edges.png"}, ["edges.png", "images sink", "{index:06d}"]),
    ({"path": "OUT/edges.JPG"}, ["edges.JPG", "images sink"]),
    ({"path": "OUT/edges.mp4", "fourcc": "ZZZZ"}, ["fourcc", "ZZZZ", "replaced by codec"]),
    ({"path": "OUT/edges.avi", "fourcc": "ZZZZ"}, ["fourcc", "ZZZZ", "replaced by codec"]),
])
def test_messages_name_the_real_cause(tmp_path, sink, words):
    if sink["path"].startswith(("/proc", "/sys")) and not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux /proc")
    sink = {**sink, "path": sink["path"].replace("OUT", str(tmp_path / "out"))}
    done = edgepipe_run(tmp_path, SYNTHETIC, sink)
    errors = [line for line in done.stderr.splitlines() if line.startswith("edgepipe: error:")]
    assert done.returncode in (1, 2) and len(errors) == 1, done.stderr
    assert all(word in errors[0] for word in words), errors[0]
    assert "OpenCV" not in done.stderr and "FFMPEG" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_frame_of_another_size_keeps_the_good_ones(tmp_path):
    """Issue 15's design note: the odd picture is scaled (as ffmpeg does), counted, and said."""
    folder = tmp_path / "shots"
    folder.mkdir()
    import cv2

    for index, size in enumerate([(48, 64), (48, 64), (60, 80), (48, 64)]):
        cv2.imwrite(str(folder / f"{index}.png"), np.full((*size, 3), 40 * index, np.uint8))
    out = tmp_path / "out" / "edges.mp4"
    done = edgepipe_run(tmp_path, {"type": "images", "glob": str(folder / "*.png")}, {"path": str(out)})
    assert done.returncode == 0, done.stderr
    assert "out 4" in done.stderr + done.stdout
    assert "1 frame(s) of another size or kind (first: frame 2, 80x60) scaled to 64x48" in done.stderr + done.stdout
    video = streams(out)["video"]
    assert (video["width"], video["height"]) == (64, 48) and len(frame_times(out)) == 4


@needs_pyav_source
def test_edgepipe_run_trimmed_and_live_runs_do_what_a_user_expects(clips, tmp_path):
    """--max-frames cuts the sound at the last frame; a live run over the whole file keeps it all."""
    out = tmp_path / "trim.mp4"
    source = {"type": "file", "path": str(clips / "aac.mp4")}
    path = tmp_path / "trim.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "source": source, "stages": ["grayscale"],
                                    "sinks": [{"video": {"path": str(out)}}]}))
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", str(path), "--max-frames", "20"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert len(frame_times(out)) == 20 and abs(sound_end(out) - 20 / 25) <= 0.05
    assert ": cut at 0.800 s, where the last frame" in done.stdout + done.stderr
    live = tmp_path / "live.mp4"
    done = edgepipe_run(tmp_path, {**source, "realtime": True}, {"path": str(live)})
    assert done.returncode == 0, done.stderr
    assert abs(sound_end(live) - sound_end(clips / "aac.mp4")) <= 0.05
    assert "cut at" not in done.stdout + done.stderr


@needs_pyav_source
def test_edgepipe_run_pads_an_odd_clip_and_says_so(tmp_path):
    clip = tmp_path / "odd.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=162x122:rate=25:duration=1", "-vf", "format=yuv444p,crop=161:121:0:0",
           "-c:v", "ffv1", str(clip))  # testsrc2 makes even sizes only; 4:4:4 holds odd ones
    out = tmp_path / "odd.mp4"
    done = edgepipe_run(tmp_path, {"type": "file", "path": str(clip)}, {"path": str(out)},
                        stages=["grayscale", {"gradient": {"kind": "sobel"}}, "map"])
    assert done.returncode == 0, done.stderr
    assert "161x121 padded to 162x122" in done.stdout + done.stderr
    video = streams(out)["video"]
    assert (video["width"], video["height"], video["codec_name"]) == (162, 122, "h264")
    assert len(frame_times(out)) == 25
