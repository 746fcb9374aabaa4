"""``edgepipe run`` as an FFmpeg user types it, driven as a program next to real ffmpeg/ffprobe.

Pipes both ways (y4m and nut in; y4m, nut and mpegts out), trimming frame for frame
against ``ffmpeg -ss S -t D -i IN``, the overwrite rules off and on a terminal (a pty),
pictures named by ``{stem}``, the summary's output lines, ``--json`` on a failing run,
and a synthetic window demo that keeps running.  Every clip is made by ffmpeg here.
"""

from __future__ import annotations

import json
import hashlib
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.io.media.reader import to_bgr
from pipeline.written import human_bytes
from tests.harness import ROOT

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                reason="ffmpeg and ffprobe are not installed")

GREY_LOSSLESS = ["--stages", "[grayscale]", "--codec", "ffv1"]  # exact frames to compare


def edgepipe(*words: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "run", *words]


def environment() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """6 s of ffmpeg's testsrc (every frame differs: it shows a counter) at 25 fps, a
    keyframe every 12 frames, with AAC sound."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=25",
                    "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000", "-t", "6", "-g", "12",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
    return path


def grey_of(path) -> list[np.ndarray]:
    """Each frame of ``path`` as edgepipe's grayscale stage sees it (BGR as OpenCV, then grey)."""
    with av.open(str(path)) as container:
        return [cv2.cvtColor(to_bgr(frame), cv2.COLOR_BGR2GRAY) for frame in container.decode(video=0)]


def stored_grey(path) -> list[np.ndarray]:
    """The grey frames an ffv1 (or raw) file holds, exactly."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]


def same_frames(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def probe_frames(data: bytes) -> tuple[str, int]:
    done = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                           "-show_entries", "stream=codec_name,nb_read_frames", "-of", "json", "-"],
                          input=data, capture_output=True, check=True)
    stream = json.loads(done.stdout)["streams"][0]
    return stream["codec_name"], int(stream["nb_read_frames"])


# ---------------------------------------------------------------------- pipes
@pytest.mark.parametrize("muxer, codec", [("yuv4mpegpipe", []), ("nut", ["-c:v", "rawvideo"]),
                                          ("mpegts", ["-c:v", "copy"]), ("matroska", ["-c:v", "copy"])])
def test_standard_input_from_ffmpeg(muxer, codec, clip, tmp_path):
    # the clip's own frames in each: raw (nut's default codec would be a lossy mpeg4) or
    # its H.264 packets as they are
    feed = subprocess.Popen(["ffmpeg", "-v", "error", "-i", str(clip), *codec, "-f", muxer, "-"],
                            stdout=subprocess.PIPE)
    done = subprocess.run(edgepipe("-", "out.mkv", *GREY_LOSSLESS), stdin=feed.stdout, cwd=tmp_path,
                          env=environment(), capture_output=True, text=True)
    feed.stdout.close()
    assert feed.wait() == 0 and done.returncode == 0, done.stderr
    assert same_frames(stored_grey(tmp_path / "out.mkv"), grey_of(clip))
    assert "output   out.mkv  ffv1  150 frames" in done.stderr


@pytest.mark.parametrize("fmt, codec", [(None, "rawvideo"), ("nut", "rawvideo"), ("mpegts", "h264")])
def test_standard_output_to_ffprobe(fmt, codec, clip, tmp_path):
    words = ["--format", fmt] if fmt else []
    done = subprocess.run(edgepipe(str(clip), "-", "--stages", "[grayscale]", *words), cwd=tmp_path,
                          env=environment(), capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert probe_frames(done.stdout) == (codec, 150)
    summary = done.stderr.decode()
    assert f"output   standard output  {fmt or 'y4m'}  {codec}  150 frames" in summary
    if codec == "rawvideo":  # raw frames: exactly the chain's
        (tmp_path / "piped").write_bytes(done.stdout)
        assert same_frames(stored_grey(tmp_path / "piped"), grey_of(clip))


def decoded_md5(source: str, data: bytes | None = None) -> str:
    """The MD5 of every decoded picture's bytes, times left out."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", source, "-map", "0:v", "-f", "rawvideo", "-"],
                          input=data, capture_output=True, check=True)
    return hashlib.md5(done.stdout).hexdigest()


@pytest.mark.parametrize("fmt", ["mpegts", "matroska"])
def test_encoded_standard_output_is_the_video_sinks_encoding(fmt, clip, tmp_path):
    """mpegts and matroska on standard output go through the file writer: the same
    pictures as the same edges written to an .mkv, and every frame at its time."""
    piped = subprocess.run(edgepipe(str(clip), "-", "--format", fmt, "--preset", "ultrafast"), cwd=tmp_path,
                           env=environment(), capture_output=True)
    assert piped.returncode == 0, piped.stderr.decode()
    done = subprocess.run(edgepipe(str(clip), "file.mkv", "--preset", "ultrafast", "--no-audio"), cwd=tmp_path,
                          env=environment(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert decoded_md5("-", piped.stdout) == decoded_md5(str(tmp_path / "file.mkv"))
    assert probe_frames(piped.stdout) == ("h264", 150)


def test_a_shell_pipeline_both_ways(clip, tmp_path):
    line = (f"ffmpeg -v error -i {clip} -c:v rawvideo -f nut - | {sys.executable} -m pipeline run - - -q "
            "--stages '[grayscale]' | ffmpeg -v error -f yuv4mpegpipe -i - -c:v ffv1 back.mkv")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=tmp_path, env=environment(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert same_frames(stored_grey(tmp_path / "back.mkv"), grey_of(clip))


def test_a_reader_that_leaves_is_exit_141(clip, tmp_path):
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m pipeline run {clip} - -q | head -c 100 "
                           ">/dev/null; exit ${PIPESTATUS[0]}"], cwd=tmp_path, env=environment(),
                          capture_output=True, text=True)
    assert done.returncode == 141, done.stderr


# ---------------------------------------------------------------------- trimming
@pytest.mark.parametrize("ours, theirs", [
    (["--start", "1.3", "--duration", "2"], ["-ss", "1.3", "-t", "2"]),          # not on a keyframe
    (["--to", "1.5"], ["-to", "1.5"]),
    (["--start", "00:00:02.52", "--duration", "1.0"], ["-ss", "2.52", "-t", "1"]),
    (["--start", "1.04", "--to", "00:03.2"], ["-ss", "1.04", "-to", "3.2"]),
])
def test_trimming_gives_ffmpegs_frames(ours, theirs, clip, tmp_path):
    done = subprocess.run(edgepipe(str(clip), "ours.mkv", *GREY_LOSSLESS, *ours), cwd=tmp_path,
                          env=environment(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    subprocess.run(["ffmpeg", "-v", "error", *theirs, "-i", str(clip), "-map", "0:v", "-c:v", "ffv1",
                    "-fps_mode", "passthrough", str(tmp_path / "theirs.mkv")], check=True)
    reference = grey_of(tmp_path / "theirs.mkv")
    assert 20 <= len(reference) < 150  # a real cut
    assert same_frames(stored_grey(tmp_path / "ours.mkv"), reference)


def test_a_start_past_the_end_is_named(clip, tmp_path):
    done = subprocess.run(edgepipe(str(clip), "t.mp4", "--start", "7"), cwd=tmp_path, env=environment(),
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "start 7 s is past the end of the video (its last frame is at 5.960 s)" in done.stderr
    assert not (tmp_path / "t.mp4").exists()


def test_trimmed_sound_matches_the_video(clip, tmp_path):
    done = subprocess.run(edgepipe(str(clip), "t.mp4", "--start", "2", "--duration", "1.5"),
                          cwd=tmp_path, env=environment(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with av.open(str(tmp_path / "t.mp4")) as container:
        audio = container.streams.audio[0]
        seconds = float(audio.duration * audio.time_base)
    assert abs(seconds - 1.5) < 0.05  # AAC packets are 21 ms


# ---------------------------------------------------------------------- overwriting
def test_an_existing_output_is_kept_unless_y(clip, tmp_path):
    out = tmp_path / "e.mp4"
    out.write_bytes(b"mine")
    words = [str(clip), "e.mp4", "--to", "0.2"]
    refused = subprocess.run(edgepipe(*words), cwd=tmp_path, env=environment(), capture_output=True,
                             text=True, stdin=subprocess.DEVNULL)
    assert refused.returncode == 1 and "'e.mp4' already exists; give -y" in refused.stderr
    never = subprocess.run(edgepipe(*words, "-n"), cwd=tmp_path, env=environment(), capture_output=True,
                           text=True)
    assert never.returncode == 1 and "not replacing (-n)" in never.stderr
    assert out.read_bytes() == b"mine"
    replaced = subprocess.run(edgepipe(*words, "-y"), cwd=tmp_path, env=environment(),
                              capture_output=True, text=True)
    assert replaced.returncode == 0 and out.read_bytes()[4:8] == b"ftyp"


def _on_a_terminal(words, cwd, answer: bytes) -> tuple[int, bytes]:
    """Run with stdin, stdout and stderr on a pty; answer the question when it comes."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec edgepipe on the terminal
        os.chdir(cwd)
        os.execve(sys.executable, edgepipe(*words), environment())
    seen = b""
    answered = False
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        assert ready, seen
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Overwrite? [y/N]" in seen:
            os.write(fd, answer)
            answered = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen


def test_on_a_terminal_it_asks(clip, tmp_path):
    out = tmp_path / "e.mp4"
    out.write_bytes(b"mine")
    words = [str(clip), "e.mp4", "--to", "0.2", "-q"]
    code, seen = _on_a_terminal(words, tmp_path, b"n\n")
    assert code == 1 and b"'e.mp4' already exists. Overwrite? [y/N]" in seen and b"not replacing" in seen
    assert out.read_bytes() == b"mine"
    code, seen = _on_a_terminal(words, tmp_path, b"y\n")
    assert code == 0, seen
    assert out.read_bytes()[4:8] == b"ftyp"
    code, seen = _on_a_terminal([*words, "-n"], tmp_path, b"y\n")  # -n: no question
    assert code == 1 and b"Overwrite?" not in seen


def test_video_is_not_written_onto_a_terminal(clip, tmp_path):
    code, seen = _on_a_terminal([str(clip), "-", "--to", "0.2"], tmp_path, b"")
    assert code == 1 and b"standard output is a terminal; pipe it into a program" in seen
    code, seen = _on_a_terminal(["-", "out.mp4"], tmp_path, b"")
    assert code == 1 and b"standard input is a terminal, not a video" in seen


# ---------------------------------------------------------------------- pictures
def test_pictures_by_stem_and_one_picture_to_one(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("fruits.jpg", "baboon.jpg"):
        shutil.copy(ROOT / "samples" / name, photos / name)
    done = subprocess.run(edgepipe("photos/*.jpg", "out/{stem}_e.png"), cwd=tmp_path,
                          env=environment(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["baboon_e.png", "fruits_e.png"]
    assert "output   out/baboon_e.png ... out/fruits_e.png  png  2 pictures" in done.stderr
    one = subprocess.run(edgepipe("photos/fruits.jpg", "edges.png"), cwd=tmp_path, env=environment(),
                         capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    size = os.path.getsize(tmp_path / "edges.png")
    assert f"output   edges.png  png  1 picture  {human_bytes(size)}" in one.stderr
    fruits = cv2.imread(str(photos / "fruits.jpg"))
    assert cv2.imread(str(tmp_path / "edges.png")).shape == fruits.shape
    alone = subprocess.run(edgepipe("fruits.jpg", "-q"), cwd=photos, env=environment(),
                           capture_output=True, text=True)
    assert alone.returncode == 0, alone.stderr
    assert os.listdir(photos / "photos_edges") == ["fruits.png"]  # visible, named after the input


# ---------------------------------------------------------------------- the summary and --json
def test_summary_names_each_output(clip, tmp_path):
    done = subprocess.run(edgepipe(str(clip), "e.mp4", "s.jsonl", "null", "--to", "2"), cwd=tmp_path,
                          env=environment(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    frames = probe_frames((tmp_path / "e.mp4").read_bytes())[1]
    assert frames == 50
    size = human_bytes(os.path.getsize(tmp_path / "e.mp4"))
    assert f"output   e.mp4  h264  50 frames  2.00 s  {size}" in done.stderr
    lines = len((tmp_path / "s.jsonl").read_text().splitlines())
    assert f"output   s.jsonl  jsonl  {lines} frames" in done.stderr and lines == 50
    assert done.stderr.count("output   ") == 2  # null writes nothing


def test_json_on_failure_replaces_an_older_success(clip, tmp_path):
    report = tmp_path / "run.json"
    ok = subprocess.run(edgepipe(str(clip), "e.mp4", "--to", "0.4", "--json", str(report)), cwd=tmp_path,
                        env=environment(), capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    first = json.loads(report.read_text())
    assert first["ok"] is True and first["outputs"][0]["path"] == "e.mp4" and first["outputs"][0]["frames"] == 10
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 4096)  # not a video
    failed = subprocess.run(edgepipe("bad.mp4", "b.mp4", "--json", str(report)), cwd=tmp_path,
                            env=environment(), capture_output=True, text=True)
    assert failed.returncode == 1
    data = json.loads(report.read_text())
    assert data["ok"] is False and data["exit_code"] == 1 and "bad.mp4" in data["error"]
    assert data["error"] in failed.stderr
    usage = subprocess.run(edgepipe(str(clip), "x.mp4", "--start", "soon", "--json", str(report)),
                           cwd=tmp_path, env=environment(), capture_output=True, text=True)
    assert usage.returncode == 2
    data = json.loads(report.read_text())
    assert data == {"ok": False, "exit_code": 2, "error": data["error"]} and "--start 'soon'" in data["error"]


# ---------------------------------------------------------------------- a live demo
def test_synthetic_window_keeps_running(tmp_path):
    """``synthetic window`` runs until stopped: more frames than the old 300-frame default
    (10 s at 30 fps), paced at 30 fps, so it has been up for over 15 s, then Ctrl+C."""
    from tests.io.sinks.test_window import _free_display

    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    number = _free_display()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(environment(), DISPLAY=f":{number}")
    env.pop("WAYLAND_DISPLAY", None)
    run = None
    try:
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            assert server.poll() is None
            time.sleep(0.05)
        # The frames also go to standard output (y4m), where each one is counted.
        run = subprocess.Popen(edgepipe("synthetic", "window", "-", "--set", "source.width=64",
                                        "--set", "source.height=48", "-q"),
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wanted = 15 * 30 + 1  # frames at the synthetic source's 30 fps: past 15 s
        frames, tail = 0, b""
        while frames < wanted:
            chunk = run.stdout.read1(65536)
            assert chunk, run.stderr.read().decode()  # ended by itself
            frames += (tail + chunk).count(b"FRAME\n")  # a marker cut across two reads counts once
            tail = chunk[-5:]
        assert run.poll() is None  # still running
        run.send_signal(signal.SIGINT)
        assert run.wait(60) == 130
    finally:
        if run is not None and run.poll() is None:
            run.kill()
            run.wait()
        server.terminate()
        server.wait(5)
