"""``edgepipe run INPUT [OUTPUT ...]``: every input and output kind, each run against the
config ``--print-config`` prints for it (same frames, same sink files), and the mistakes
found before anything opens (exit 2)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import yaml

from pipeline.cli import oneliner
from pipeline.cli.main import main
from pipeline.config.run import Config
from tests.harness import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]
TREE = ROOT / "samples" / "tree.avi"
PICTURES = ("fruits.jpg", "baboon.jpg", "building.jpg")
TIMING_KEYS = ("captured_at", "latency_ms", "latency")  # wall clock: differs run to run


@pytest.fixture
def tree(tmp_path):
    """A copy of samples/tree.avi in its own folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(TREE, folder / "tree.avi")
    return folder / "tree.avi"


@pytest.fixture
def pictures(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    for name in PICTURES:
        image = cv2.imread(str(ROOT / "samples" / name))
        cv2.imwrite(str(folder / (pathlib.Path(name).stem + ".png")), cv2.resize(image, (96, 64)))
    return folder


def printed(words, capsys) -> str:
    assert main(["run", *words, "--print-config"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def run_both(tmp_path, monkeypatch, capsys, words) -> tuple[pathlib.Path, pathlib.Path]:
    """Run the one-liner in one folder and its printed config in another; return both."""
    text = printed(words, capsys)
    line, direct, via = tmp_path / "line", tmp_path / "direct", tmp_path / "via_yaml"
    line.mkdir(exist_ok=True)
    direct.mkdir()
    via.mkdir()
    monkeypatch.chdir(line)
    (line / "c.yaml").write_text(text)
    monkeypatch.chdir(direct)
    assert main(["run", *words, "-q"]) == 0, capsys.readouterr().err
    monkeypatch.chdir(via)
    assert main(["run", str(line / "c.yaml"), "-q"]) == 0, capsys.readouterr().err
    return direct, via


def stats_rows(path) -> list[dict]:
    rows = [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def pictures_in(folder) -> dict:
    return {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.rglob("*.png"))}


def same_pictures(a, b) -> int:
    left, right = pictures_in(a), pictures_in(b)
    assert left and left.keys() == right.keys()
    for name in left:
        assert np.array_equal(left[name], right[name]), name
    return len(left)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("edgepipe: error: ")
    return lines[0]


# ---------------------------------------------------------------- each equals its printed config

def test_file_to_lossless_video_equals_its_printed_config(tree, tmp_path, monkeypatch, capsys):
    direct, via = run_both(tmp_path, monkeypatch, capsys,
                           [str(tree), "edges.mkv", "s.jsonl", "--max-frames", "12",
                            "--set", "sinks.0.video.codec=ffv1"])  # .mkv alone is h264
    frames, again = decode(direct / "edges.mkv"), decode(via / "edges.mkv")
    assert len(frames) == 12 and len(again) == 12
    assert all(np.array_equal(a, b) for a, b in zip(frames, again))
    # plain edges for a file: grey magnitudes, no green overlay
    assert all(np.array_equal(f[..., 0], f[..., 1]) for f in frames)
    assert stats_rows(direct / "s.jsonl") == stats_rows(via / "s.jsonl")
    assert [row["index"] for row in stats_rows(direct / "s.jsonl")] == list(range(12))


def test_file_alone_goes_beside_it_as_stem_edges_mp4(tree, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(tree), "--max-frames", "5", "-q"]) == 0
    out = tree.parent / "tree_edges.mp4"
    assert len(decode(out)) == 5
    assert sorted(p.name for p in tree.parent.iterdir()) == ["tree.avi", "tree_edges.mp4"]
    assert yaml.safe_load(printed([str(tree)], capsys))["sinks"] == [{"video": {"path": str(out)}}]


def test_image_glob_to_picture_pattern_equals_its_printed_config(pictures, tmp_path, monkeypatch, capsys):
    words = [str(pictures / "*.png"), "out/e_{index:03d}.png", "--stages",
             "[grayscale, {gradient: {kind: scharr}}, map, {threshold: {value: auto}}]"]
    direct, via = run_both(tmp_path, monkeypatch, capsys, words)
    assert same_pictures(direct, via) == len(PICTURES)
    first = cv2.imread(str(direct / "out" / "e_000.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(first)) <= {0, 255}  # thresholded, as --stages asked


def test_synthetic_to_stats_and_discard_equals_its_printed_config(tmp_path, monkeypatch, capsys):
    words = ["synthetic", "s.jsonl", "null", "--set", "source.length=7", "--set", "source.width=64",
             "--set", "source.height=48", "--stages", "[grayscale, gradient, map, {threshold: {value: auto}}]"]
    data = yaml.safe_load(printed(words, capsys))
    assert data["sinks"] == [{"stats": {"path": "s.jsonl"}}, "discard"]
    direct, via = run_both(tmp_path, monkeypatch, capsys, words)
    rows = stats_rows(direct / "s.jsonl")
    assert [row["index"] for row in rows] == list(range(7))
    assert rows == stats_rows(via / "s.jsonl")  # the Otsu thresholds of the same frames
    assert all(row["threshold"] is not None for row in rows)


def test_synthetic_to_the_browser_view_equals_its_printed_config(tmp_path, monkeypatch, capsys):
    words = ["synthetic", "http://127.0.0.1:0", "s.jsonl", "--batch", "--set", "source.length=5",
             "--set", "source.width=64", "--set", "source.height=48"]
    direct, via = run_both(tmp_path, monkeypatch, capsys, words)
    rows = stats_rows(direct / "s.jsonl")
    assert [row["index"] for row in rows] == list(range(5)) and rows == stats_rows(via / "s.jsonl")


def test_tuner_on_a_file_output_tunes_the_plain_edges_threshold(capsys):
    # (the tuner's thread publishes at times of its own: compared by config, not by frames)
    data = yaml.safe_load(printed(["synthetic", "e.mp4", "--tuner"], capsys))
    assert data["tuner"] == oneliner.TUNER
    assert data["stages"] == oneliner.PLAIN_EDGES + [{"threshold": {"value": "auto"}}]
    assert not {"overlay", "hud"} & {next(iter(s)) for s in data["stages"] if isinstance(s, dict)}
    # a window or browser output keeps the demo's overlay and hud
    data = yaml.safe_load(printed(["synthetic", "window", "--tuner"], capsys))
    assert data["stages"] == oneliner.DEMO_CHAIN and data["tuner"] == oneliner.TUNER


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_once(port: int) -> subprocess.Popen:
    """A real ffmpeg sending 20 frames of a test pattern to the first client on ``port``."""
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi",
         "-i", "testsrc=size=160x120:rate=10", "-frames:v", "20", "-c:v", "mpeg4", "-q:v", "3",
         "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_url_to_pictures_equals_its_printed_config(tmp_path, monkeypatch, capsys):
    port = free_port()
    words = [f"tcp://127.0.0.1:{port}", "f_{index:03d}.png", "--batch", "--stages", "[grayscale]"]
    text = printed(words, capsys)
    assert yaml.safe_load(text)["source"] == {"type": "url", "url": f"tcp://127.0.0.1:{port}"}
    (tmp_path / "c.yaml").write_text(text)
    outputs = []
    for how in (words, [str(tmp_path / "c.yaml")]):
        folder = tmp_path / f"run{len(outputs)}"
        folder.mkdir()
        monkeypatch.chdir(folder)
        server = serve_once(port)
        try:
            deadline = time.monotonic() + 15
            # a refused connection (ffmpeg not listening yet) fails at once: try again
            while main(["run", *how, "-q"]) != 0:
                capsys.readouterr()
                assert time.monotonic() < deadline and server.poll() is None, "ffmpeg did not listen"
                time.sleep(0.1)
        finally:
            server.kill()
            server.wait(5)
        outputs.append(folder)
    assert same_pictures(*outputs) == 20


# ---------------------------------------------------------------- each output kind, structurally


def test_a_stem_pattern_is_a_picture_sink():  # for picture inputs; synthetic has no names
    assert oneliner.parse_output("p/{stem}.png") == {"images": {"path": "p/{stem}.png"}}


@pytest.mark.parametrize("output, sink", [
    ("e.mp4", {"video": {"path": "e.mp4"}}), ("e.webm", {"video": {"path": "e.webm"}}),
    ("e.MOV", {"video": {"path": "e.MOV"}}), ("p/e_{index}.jpg", {"images": {"path": "p/e_{index}.jpg"}}),
    ("s.jsonl", {"stats": {"path": "s.jsonl"}}), ("window", {"window": {}}),
    ("http://127.0.0.1:8099", {"http": {"host": "127.0.0.1", "port": 8099}}),
    ("http://0.0.0.0:0/", {"http": {"host": "0.0.0.0", "port": 0}}), ("null", {"discard": {}}),
    ("-", {"stdout": {}}), ("p/{index:04d}_x.png", {"images": {"path": "p/{index:04d}_x.png"}}),
])
def test_each_output_word_is_its_sink_and_the_printed_config_loads_equal(output, sink, capsys):
    words = ["synthetic", output]
    data = oneliner.config_data(words)
    assert data["sinks"] == [sink]
    text = printed(words, capsys)
    path = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"oneliner-{os.getpid()}.yaml"
    path.write_text(text)
    try:
        assert (Config.from_yaml(path).to_dict()
                == Config.from_dict(data, file="command line").to_dict())
    finally:
        path.unlink()
    view = next(iter(sink)) in ("window", "http")
    assert data["stages"] == (oneliner.DEMO_CHAIN if view else oneliner.PLAIN_EDGES)
    assert data["source"].get("live", False) == view  # synthetic paced like a camera for eyes


def test_printed_config_has_a_comment_on_each_editable_line(capsys):
    text = printed(["synthetic", "e.mp4", "--stages", "[grayscale, {gradient: {kind: scharr}}, map]"],
                   capsys)
    body = [line for line in text.splitlines() if not line.startswith("#")]
    for line in body[1:]:
        assert "  # " in line, line
    assert "`" not in text.replace("`edgepipe stages`", "").replace("`edgepipe stages sinks`", "")


def test_window_one_liner_on_a_real_display_equals_its_printed_config(tmp_path, capsys):
    from tests.io.sinks.test_window import _free_display

    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    words = ["synthetic", "window", "s.jsonl", "--set", "source.length=6", "--batch"]
    (tmp_path / "c.yaml").write_text(printed(words, capsys))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("WAYLAND_DISPLAY", None)
    number = _free_display()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = []
    try:
        deadline = time.monotonic() + 10
        while not pathlib.Path(f"/tmp/.X11-unix/X{number}").exists():
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.05)
        env["DISPLAY"] = f":{number}"
        for name, args in (("direct", words), ("via_yaml", [str(tmp_path / "c.yaml")])):
            (tmp_path / name).mkdir()
            runs.append(subprocess.run([sys.executable, "-m", "pipeline", "run", *args, "-q"],
                                       cwd=tmp_path / name, env=env, capture_output=True,
                                       text=True, timeout=120))
    finally:
        server.terminate()
        server.wait(5)
    assert [done.returncode for done in runs] == [0, 0], [done.stderr for done in runs]
    rows = stats_rows(tmp_path / "direct" / "s.jsonl")
    assert [row["index"] for row in rows] == list(range(6))
    assert rows == stats_rows(tmp_path / "via_yaml" / "s.jsonl")


def test_default_chains_are_the_shipped_configs():
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    video = yaml.safe_load((ROOT / "configs" / "video.yaml").read_text())
    tuner = yaml.safe_load((ROOT / "configs" / "tuner-demo.yaml").read_text())
    assert oneliner.DEMO_CHAIN == demo["stages"]
    assert oneliner.PLAIN_EDGES == video["stages"]
    assert oneliner.TUNER == tuner["tuner"]


@pytest.mark.parametrize("words, mode, live", [
    (["synthetic", "null"], None, False), (["synthetic", "null", "--live"], "live", True),
    (["synthetic", "window", "--batch"], "batch", False), (["synthetic", "null", "--mode", "live"], "live", True),
])
def test_live_and_batch_set_the_mode(words, mode, live, capsys):
    data = yaml.safe_load(printed(words, capsys))
    assert data.get("runtime", {}).get("mode") == mode
    assert data["source"].get("live", False) == live


def test_camera_alone_goes_to_a_window(monkeypatch):
    monkeypatch.setattr(oneliner, "_camera", lambda text: "camera")  # as if /dev/video0 were there
    assert oneliner.config_data(["0"])["sinks"] == [{"window": {}}]
    assert oneliner.config_data(["/dev/video2"])["source"] == {"type": "camera", "device": "/dev/video2"}
    assert oneliner.config_data(["0"])["stages"] == oneliner.DEMO_CHAIN


def test_set_still_works_and_yaml_first_argument_is_a_config(tree, capsys):
    data = yaml.safe_load(printed([str(tree), "o.mkv", "--set", "stages.gradient.kind=prewitt",
                                   "--set", "sinks.0.video.fps=12"], capsys))
    assert data["stages"][1] == {"gradient": {"kind": "prewitt", "norm": "l2"}}
    assert data["sinks"] == [{"video": {"path": "o.mkv", "fps": 12}}]
    assert oneliner.is_config("configs/demo.yaml") and oneliner.is_config("x.YML")
    assert not oneliner.is_config(str(tree))


# ---------------------------------------------------------------- mistakes: exit 2, nothing opened

@pytest.mark.parametrize("words, words_in_message", [
    (["nope.mp4"], ["input 'nope.mp4' does not exist", "camera index"]),
    (["IN", "out.xyz"], ["no sink knows the extension '.xyz'", ".mp4 .m4v .mov .mkv .webm .avi",
                         ".png .jpg .jpeg .bmp .tif .tiff", ".jsonl", "window", "http://HOST:PORT"]),
    (["IN", "out"], ["no sink knows the extension '(none)'"]),
    (["IN", "one.png"], ["one picture name is for one input picture", "{stem}"]),
    (["IN", "e_{index}.mp4"], ["a picture pattern ends in"]),
    (["IN", "rtsp://host/out"], ["http://HOST:PORT", "inputs only"]),
    (["IN", "http://127.0.0.1:99999"], ["port must be a number"]),
    (["IN", "IN"], ["would write over the input"]),
    (["IN", "LINK"], ["would write over the input"]),
    (["IN", "HARDLINK"], ["would write over the input"]),
    (["PICS", "PICPATTERN"], ["would write over the input", "a_0.png"]),
    (["IN", "./sub/../tree.avi"], ["would write over the input"]),
    (["NOTES"], ["unknown extension '.txt'", ".mp4 .m4v .mov", ".gif .flv .ts"]),
    (["FOLDER"], ["is a folder", "*.png"]),
    (["GLOB"], ["matches no file"]),
    (["VIDEOGLOB"], ["edgepipe batch"]),
    (["/dev/video97"], ["camera /dev/video97 does not exist"]),
    (["97"], ["camera /dev/video97"]),
    (["ftp://host/x.ts"], ["a stream URL starts with"]),
    (["IN", "--stages", "grayscale"], ["--stages: expected a YAML flow list"]),
    (["IN", "--stages", "[grayscale, {gradient: {kind: sobal}}]"], ["kind must be one of"]),
    (["IN", "--set", "stages.9.map.mode=abs"], ["--set stages.9"]),
])
def test_mistakes_exit_2_before_anything_opens(words, words_in_message, tree, tmp_path,
                                               monkeypatch, capsys):
    monkeypatch.chdir(tree.parent)
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "sub").mkdir()
    shutil.copy(tree, tmp_path / "clip.mp4")
    names = {"IN": "tree.avi", "NOTES": str(tmp_path / "notes.txt"), "FOLDER": str(tmp_path / "sub"),
             "GLOB": str(tmp_path / "none" / "*.png"), "VIDEOGLOB": str(tmp_path / "*.mp4"),
             "LINK": "link.avi", "HARDLINK": "hard.avi", "PICS": "*.png", "PICPATTERN": "a_{index}.png"}
    os.symlink("tree.avi", tree.parent / "link.avi")
    os.link(tree, tree.parent / "hard.avi")
    for name in ("a_0.png", "a_1.png"):
        cv2.imwrite(str(tree.parent / name), np.zeros((8, 8, 3), np.uint8))
    words = [names.get(word, word) for word in words]
    before = sorted(os.listdir(tree.parent))
    assert main(["run", *words]) == 2
    line = one_error_line(capsys.readouterr().err)
    for text in words_in_message:
        assert text in line, line
    assert sorted(os.listdir(tree.parent)) == before  # no output, no temporary


def test_config_with_outputs_or_one_liner_flags_exits_2(capsys):
    demo = str(ROOT / "configs" / "demo.yaml")
    assert main(["run", demo, "out.mp4"]) == 2
    assert "a config takes no OUTPUT" in one_error_line(capsys.readouterr().err)
    assert main(["run", demo, "--stages", "[grayscale]"]) == 2
    assert "--stages is for one-liners" in one_error_line(capsys.readouterr().err)


def test_pictures_alone_go_to_a_folder_beside_them(pictures, capsys):
    data = yaml.safe_load(printed([str(pictures / "*.png")], capsys))
    assert data["sinks"] == [{"images": {"path": str(pictures) + "_edges/{stem}.png"}}]
    one = yaml.safe_load(printed([str(pictures / "fruits.png")], capsys))
    assert one["source"] == {"type": "images", "glob": str(pictures / "fruits.png")}


# ---------------------------------------------------------------- ffmpeg's flags, spelled out
def test_encoder_and_trim_flags_show_in_the_printed_config(tree, capsys):
    data = yaml.safe_load(printed([str(tree), "e.mkv", "--codec", "hevc", "--crf", "30", "--preset",
                                   "fast", "--no-audio", "--start", "00:00:01.5", "--to", "3"], capsys))
    assert data["sinks"] == [{"video": {"path": "e.mkv", "codec": "hevc", "crf": 30, "preset": "fast",
                                        "audio": "none"}}]
    assert data["source"] == {"type": "file", "path": str(tree), "start": 1.5, "duration": 1.5}
    data = yaml.safe_load(printed([str(tree), "-", "--format", "mpegts", "--bitrate", "2M"], capsys))
    assert data["sinks"] == [{"stdout": {"format": "mpegts", "bitrate": "2M"}}]
    data = yaml.safe_load(printed(["-"], capsys))  # standard input to standard output
    assert data["source"] == {"type": "stdin"} and data["sinks"] == ["stdout"]


def test_live_views_of_the_synthetic_source_run_until_stopped(capsys):
    for view in ("window", "http://127.0.0.1:0"):
        assert oneliner.config_data(["synthetic", view])["source"]["length"] == 0
    assert "length" not in oneliner.config_data(["synthetic", "e.mp4"])["source"]  # finite default


@pytest.mark.parametrize("words, message", [
    (["synthetic", "e.mp4", "--start", "1"], "--start trims a video file or standard input"),
    (["IN", "e.mp4", "--duration", "1", "--to", "2"], "not both"),
    (["IN", "e.mp4", "--start", "3", "--to", "2"], "--to 2 s is not after --start 3 s"),
    (["IN", "e.mp4", "--start", "1:99"], "minutes and seconds go up to 59"),
    (["IN", "s.jsonl", "--crf", "20"], "--crf applies to a video output"),
    (["IN", "e.mp4", "--format", "nut"], "--format nut is for standard output"),
    (["IN", "-", "--crf", "20"], "add --format mpegts"),
    (["IN", "-", "-"], "standard output (-) can be given once"),
    (["IN", "-", "--json", "-"], "would mix on stdout"),
    (["IN", "e.mp4", "--crf", "55"], "crf for h264 must be in [0, 51]"),
    (["IN", "x_{stem}.png"], "{stem} is the input picture's name"),
])
def test_flag_mistakes_exit_2(words, message, tree, monkeypatch, capsys):
    monkeypatch.chdir(tree.parent)
    words = [tree.name if word == "IN" else word for word in words]
    assert main(["run", *words]) == 2
    assert message in one_error_line(capsys.readouterr().err)


def test_one_liner_flags_with_a_config_exit_2(capsys):
    demo = str(ROOT / "configs" / "demo.yaml")
    for flag in (["--start", "1"], ["--crf", "20"], ["-y"], ["--no-audio"]):
        assert main(["run", demo, *flag]) == 2
        assert "is for one-liners" in one_error_line(capsys.readouterr().err)


def test_the_default_picture_folder_is_visible_and_beside_the_pictures(tmp_path, monkeypatch):
    (tmp_path / "photos").mkdir()
    monkeypatch.chdir(tmp_path / "photos")
    assert oneliner.picture_folder("fruits.jpg") == "photos_edges"
    assert oneliner.picture_folder("../photos/*.jpg") == os.path.join("..", "photos_edges")
    assert oneliner.picture_folder("a/b/*.png") == os.path.join("a", "b_edges")
    assert oneliner.picture_folder(".hidden/*.png") == "hidden_edges"
