"""Damaged, empty, mislabelled and lying video files, and frames that change shape.

Every clip is made here: written with ``cv2.VideoWriter`` (MJPG in .avi, mp4v in .mp4),
then truncated, bit-flipped, zeroed in the middle or given an absurd frame rate in its
AVI header.  Each case must end (every run is bounded by a deadline), never with a
traceback: either a :class:`SourceError` / exit 1 naming the file, or a run whose
summary counts what was skipped.
"""

from __future__ import annotations

import struct
import subprocess
import sys

import cv2
import numpy as np
import pytest

import pipeline.io  # noqa: F401  (registers sources and sinks)
from pipeline.io.base import Sink, Source, SourceError
from pipeline.io.sinks.video import VideoSink
from pipeline.io.media.counting import count_decodable_frames
from pipeline.io.sources.file import DEFAULT_FILE_FPS
from pipeline.io.sources.file import FileSource
from pipeline.pipeline import Pipeline
from pipeline.runtime.engine import Engine
from pipeline.stages import Chain
from pipeline.config.registry import REGISTRIES, build
from tests.harness import bounded

WIDTH, HEIGHT, FRAMES, FPS = 64, 48, 30, 15.0
DEADLINE = 30.0  # seconds any one run may take here; a hang fails the test


def frame_number(i: int) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), (8 * i) % 240, np.uint8)
    cv2.putText(image, str(i), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
    return image


def write_clip(path, fourcc: str) -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened(), f"this OpenCV cannot write {fourcc} to {path}"
    for i in range(FRAMES):
        writer.write(frame_number(i))
    writer.release()
    return path.read_bytes()


@pytest.fixture(params=[("clip.avi", "MJPG"), ("clip.mp4", "mp4v")], ids=["mjpg-avi", "mp4v-mp4"])
def clip(request, tmp_path):
    name, fourcc = request.param
    return tmp_path / name, write_clip(tmp_path / name, fourcc)



def run_file(path, **settings):
    """Run ``path`` through grayscale + edges with no sink; the Summary or SourceError."""
    pipe = Pipeline.from_dict({"version": 1, "source": {"type": "file", "path": str(path), **settings},
                               "stages": ["grayscale", "gradient", "map"]})
    return bounded(pipe.run, DEADLINE)


def run_cli(config_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "run", str(config_path)],
                          capture_output=True, text=True, timeout=DEADLINE)


def same_clip(variant, data: bytes, new: bytes):
    variant.write_bytes(new)
    return variant


# --- truncated, flipped, zeroed ------------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.35, 0.5, 0.75, 0.95, 0.999])
def test_truncated_at_any_byte_decodes_what_is_there(clip, fraction):
    path, data = clip
    cut = path.with_name(f"cut{path.suffix}")
    cut.write_bytes(data[: int(len(data) * fraction)])
    try:
        summary = run_file(cut)
    except SourceError as error:  # nothing decodable: named at open
        assert str(cut) in str(error)
        return
    assert 1 <= summary.frames_in <= FRAMES
    assert summary.stop_reason == "end of stream"
    if summary.frames_in < FRAMES:  # the container said 30: the shortfall is reported
        assert summary.read_errors >= 1 and any("ends after" in n for n in summary.notes)


def test_truncated_mjpg_reports_how_far_it_got(tmp_path):
    data = write_clip(tmp_path / "full.avi", "MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    summary = run_file(cut)
    # The cut lands inside a frame.  Whether that frame's partial JPEG decodes depends on
    # where (opencv-python 5.0's writer left it decodable, 5.1's cuts into a Huffman
    # table); one that does not is skipped and reported, and counted among those read.
    assert summary.skipped in (0, 1) and summary.read_errors == 1 + summary.skipped
    read = summary.frames_in + summary.skipped
    assert 5 <= summary.frames_in and read < FRAMES
    ends = [n for n in summary.notes if "ends after" in n]
    assert len(ends) == 1 and f"ends after {read} frames" in ends[0] and "states 30" in ends[0]
    assert summary.skipped == 0 or "does not decode; skipped" in summary.notes[0]
    assert "note" in summary.format()


@pytest.mark.parametrize("seed", range(4))
def test_flipped_bytes_in_the_middle_never_hang_or_crash(clip, seed):
    path, data = clip
    damaged = bytearray(data)
    rng = np.random.default_rng(seed)
    for offset in rng.integers(len(data) // 3, 2 * len(data) // 3, 40):
        damaged[offset] ^= 0xFF
    bad = path.with_name(f"flipped{path.suffix}")
    bad.write_bytes(bytes(damaged))
    try:
        summary = run_file(bad)
    except SourceError as error:
        assert str(bad) in str(error)
        return
    assert summary.frames_in + summary.skipped <= FRAMES
    assert summary.frames_in >= 1


def zeroed_mp4(tmp_path) -> str:
    """An mp4v clip with a stretch in the middle zeroed: frames 9-14 do not decode here."""
    data = bytearray(write_clip(tmp_path / "full.mp4", "mp4v"))
    start = len(data) // 3
    data[start: start + len(data) // 5] = bytes(len(data) // 5)
    path = tmp_path / "zeroed.mp4"
    path.write_bytes(bytes(data))
    return str(path)


def test_damaged_frames_are_skipped_and_counted(tmp_path):
    path = zeroed_mp4(tmp_path)
    summary = run_file(path)
    assert summary.stop_reason == "end of stream"
    assert summary.skipped > 0, "the damage did not hit any frame: the test tests nothing"
    assert summary.frames_in + summary.skipped == FRAMES
    assert summary.read_errors == summary.skipped
    assert "does not decode" in " ".join(summary.notes) or "do not decode" in " ".join(summary.notes)
    text = summary.format()
    assert f"skipped {summary.skipped}" in text
    assert summary.to_dict()["skipped"] == summary.skipped
    # the progress total counts the same frames
    assert count_decodable_frames(path) == summary.frames_in


def test_on_error_stop_ends_at_the_first_damaged_frame_and_keeps_the_output(tmp_path):
    path = zeroed_mp4(tmp_path)
    out = tmp_path / "out"
    pipe = Pipeline.from_dict({
        "version": 1, "source": {"type": "file", "path": path, "on_error": "stop"},
        "stages": ["grayscale", "gradient", "map"],
        "sinks": [{"images": {"path": str(out / "f_{index:03d}.png")}}]})
    with pytest.raises(SourceError, match="not decode") as caught:
        bounded(pipe.run, DEADLINE)
    assert path in str(caught.value) and "on_error" in str(caught.value)
    written = sorted(out.glob("*.png"))
    assert pipe.summary.stop_reason == "source failed"
    assert 1 <= len(written) == pipe.summary.frames_out < FRAMES  # closed, not aborted


def test_max_consecutive_errors_below_the_damage_ends_the_file_there(tmp_path):
    path = zeroed_mp4(tmp_path)
    whole = run_file(path)
    short = run_file(path, max_consecutive_errors=1)
    assert short.frames_in < whole.frames_in and short.skipped == 0
    assert any("ends after" in n for n in short.notes)


# --- empty, not a video ----------------------------------------------------------------------
def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match="empty") as caught:
        run_file(path)
    assert str(path) in str(caught.value)


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are not frames\n" * 200)
    with pytest.raises(SourceError, match="cannot decode") as caught:
        run_file(path)
    assert str(path) in str(caught.value)


# --- lying metadata --------------------------------------------------------------------------
def patch_avi(data: bytes, rate: int | None = None, scale: int | None = None,
              frames: int | None = None) -> bytes:
    """``data`` (an AVI) with the video stream header's rate/scale or frame counts replaced."""
    out = bytearray(data)
    main, stream = out.find(b"avih"), out.find(b"strh")
    assert main > 0 and out[stream + 8: stream + 12] == b"vids"
    if scale is not None:
        out[stream + 28: stream + 32] = struct.pack("<I", scale)
    if rate is not None:
        out[stream + 32: stream + 36] = struct.pack("<I", rate)
    if frames is not None:
        out[main + 24: main + 28] = struct.pack("<I", frames)  # avih dwTotalFrames
        out[stream + 40: stream + 44] = struct.pack("<I", frames)  # strh dwLength
    return bytes(out)


@pytest.mark.parametrize("rate,scale", [(10**6, 1), (1, 10**6)], ids=["1e6-fps", "1e-6-fps"])
def test_absurd_container_fps_falls_back_to_the_default(tmp_path, caplog, rate, scale):
    path = tmp_path / "absurd.avi"
    path.write_bytes(patch_avi(write_clip(tmp_path / "good.avi", "MJPG"), rate=rate, scale=scale))
    assert not 0.1 <= cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FPS) <= 1000  # the case we mean
    with FileSource(str(path)) as source:
        assert source.fps == DEFAULT_FILE_FPS
    assert "cannot be right" in caplog.text
    summary = run_file(path, realtime=True)  # pacing at the fallback rate works too
    assert summary.frames_in == FRAMES
    assert any(f"{DEFAULT_FILE_FPS:g} fps" in n for n in summary.notes)


def test_lying_frame_count_is_noted_not_trusted(tmp_path):
    path = tmp_path / "lies.avi"
    path.write_bytes(patch_avi(write_clip(tmp_path / "good.avi", "MJPG"), frames=5000))
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT) == 5000
    source = FileSource(str(path))
    assert source.count_frames() == FRAMES
    summary = run_file(path)
    assert summary.frames_in == FRAMES and summary.skipped == 0
    assert any("states 5000" in n for n in summary.notes)


# --- the command line: exit codes, one line, no traceback ------------------------------------
@pytest.mark.parametrize("case,code", [("empty", 1), ("text", 1), ("zeroed", 0), ("zeroed-stop", 1)])
def test_cli_exit_codes_and_no_traceback(tmp_path, case, code):
    if case == "empty":
        path = tmp_path / "x.mp4"
        path.write_bytes(b"")
    elif case == "text":
        path = tmp_path / "x.mp4"
        path.write_text("hello")
    else:
        path = zeroed_mp4(tmp_path)
    on_error = "stop" if case == "zeroed-stop" else "skip"
    config = tmp_path / "run.yaml"
    config.write_text(f"version: 1\nsource: {{type: file, path: '{path}', on_error: {on_error}}}\n"
                      "stages: [grayscale, gradient, map]\nsinks: [discard]\n")
    result = run_cli(config)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    if code == 1:
        assert str(path) in result.stderr and result.stderr.count("edgepipe: error:") == 1
    else:
        assert "skipped" in result.stderr  # the summary's input line


# --- frames that change size and channels ----------------------------------------------------
class MixedSource(Source):
    """Frames of changing size, grey, BGR, BGRA and (H, W, 1)."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        shapes = [(48, 64, 3), (48, 64), (17, 31, 4), (120, 90, 3), (5, 7), (33, 65, 1), (48, 64, 3)]
        self.frames = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in shapes]
        self._next = 0

    def read(self):
        if self._next >= len(self.frames):
            return None
        self._next += 1
        return self.frames[self._next - 1]


class Keep(Sink):
    """A sink keeping what it is given."""

    def __init__(self):
        super().__init__()
        self.images = []

    def check(self):
        pass

    def set_input(self, media):  # the engine tells every sink what the run reads
        pass

    def open(self, first, fps, controls):
        pass

    def write(self, frame):
        self.images.append(frame.image)

    def close(self):
        pass

    def abort(self):
        pass


STAGE_CHAINS = {
    "edges": ["grayscale", "gradient", "map"],
    "unfused": ["grayscale", {"gradient": {"kind": "scharr"}}, {"map": {"mode": "shift", "offset": 100.0}}],
    "threshold-overlay-hud": ["grayscale", "gradient", "threshold", "overlay", "hud"],
    "blur-resize": ["blur", {"resize": {"width": 40, "height": 30}}],
    "none": [],
}


@pytest.mark.parametrize("name", STAGE_CHAINS)
def test_mixed_sizes_and_channels_flow_through_every_chain(name):
    stages = [build("stage", *((entry, {}) if isinstance(entry, str) else next(iter(entry.items()))))
              for entry in STAGE_CHAINS[name]]
    source, sink = MixedSource(), Keep()
    summary = bounded(Engine(source, Chain(stages), [sink], mode="batch").run)
    assert summary.frames_out == len(source.frames) == len(sink.images)
    for given, got in zip(source.frames, sink.images):
        assert got.dtype == np.uint8
        if name not in ("blur-resize",):
            assert got.shape[:2] == given.shape[:2]
        if name == "none":
            assert got.ndim == 2 or got.shape[2] == 3  # (H, W, 1) -> grey, BGRA -> BGR


# What each stage needs before it (grey for derivatives, an edge map for threshold...).
NEEDS = {"derivative": ["grayscale"], "gradient": ["grayscale"], "map": ["grayscale", "gradient"],
         "threshold": ["grayscale", "gradient", "map"], "overlay": ["grayscale", "gradient", "map"]}

SETTINGS = {"resize": {"scale": 0.5}}


@pytest.mark.parametrize("name", sorted(REGISTRIES["stage"]))
def test_every_stage_takes_frames_of_changing_size(name):
    chain = Chain([build("stage", need) for need in NEEDS.get(name, [])] + [build("stage", name, SETTINGS.get(name))],
                  fuse=False)
    summary = bounded(Engine(MixedSource(), chain, [Keep()], mode="batch").run)
    assert summary.frames_out == 7


def test_bad_frame_from_a_source_is_a_source_error_naming_the_frame():
    source = MixedSource()
    source.frames[3] = source.frames[3].astype(np.float32)
    with pytest.raises(SourceError, match=r"float32 .* as frame 3"):
        bounded(Engine(source, Chain([]), [Keep()], mode="batch").run)


def test_video_sink_keeps_frames_of_another_size_and_says_so(tmp_path):
    # Decided with the video sink (issue 15's design note): frames of another size than
    # the first are scaled to it and counted in the sink's notes, so no good frame is lost.
    sink = VideoSink(str(tmp_path / "out.mkv"), codec="ffv1")
    summary = bounded(Engine(MixedSource(), Chain([build("stage", "grayscale")]), [sink], mode="batch").run)
    assert summary.frames_out == 7
    assert any("of another size" in note and "scaled" in note for note in sink.notes)


def test_resize_stage_makes_a_mixed_stream_writable_as_video(tmp_path):
    chain = Chain([build("stage", "grayscale"), build("stage", "resize", {"width": 64, "height": 48})])
    path = tmp_path / "out.avi"
    # The source's clock is 30 fps (index / 30); an AVI holds one frame per tick of its
    # rate, so the sink is given the same rate (at 10 fps two frames in three would be
    # dropped with a note, as ffmpeg -r 10 drops them).
    summary = bounded(Engine(MixedSource(), chain, [VideoSink(str(path), fourcc="MJPG", fps=30.0)],
                             mode="batch").run)
    assert summary.frames_out == 7
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 7


# ---------------------------------------------------------------- damaged pictures in a glob

def _pictures(folder, bad_at: int, count: int = 4, bad: bytes = b"not a picture") -> str:
    for i in range(count):
        path = folder / f"p{i}.png"
        if i == bad_at:
            path.write_bytes(bad)
        else:
            cv2.imwrite(str(path), np.full((24, 32, 3), 50 * i, np.uint8))
    return str(folder / "p*.png")


@pytest.mark.parametrize("bad_at", [0, 2, 3])
@pytest.mark.parametrize("bad", [b"not a picture", b""], ids=["text", "empty"])
def test_a_picture_that_does_not_decode_is_skipped_and_the_good_frames_kept(tmp_path, bad_at, bad):
    pattern = _pictures(tmp_path, bad_at, bad=bad)
    out = tmp_path / "out" / "e_{index}.png"
    summary = Pipeline.from_dict({
        "version": 1, "source": {"type": "images", "glob": pattern},
        "stages": ["grayscale"], "sinks": [{"images": {"path": str(out)}}]}).run()
    assert summary.frames_out == 3 and summary.skipped == 1
    assert any(f"p{bad_at}.png" in note for note in summary.notes)
    assert len(list((tmp_path / "out").glob("e_*.png"))) == 3


def test_on_error_stop_ends_a_glob_at_the_bad_picture_and_keeps_the_video(tmp_path):
    pattern = _pictures(tmp_path, 2)
    out = tmp_path / "edges.mkv"
    pipe = Pipeline.from_dict({
        "version": 1, "source": {"type": "images", "glob": pattern, "on_error": "stop"},
        "stages": ["grayscale"], "sinks": [{"video": {"path": str(out), "codec": "ffv1"}}]})
    with pytest.raises(SourceError, match=r"p2\.png.*on_error: stop"):
        pipe.run()
    assert pipe.summary.frames_out == 2 and out.exists()


def test_a_glob_of_pictures_none_of_which_decode_is_an_error(tmp_path):
    for i in range(2):
        (tmp_path / f"p{i}.png").write_bytes(b"nope")
    source = build("source", "images", {"glob": str(tmp_path / "p*.png")})
    source.open()
    with pytest.raises(SourceError, match="no picture matched .* decodes"):
        source.read()
