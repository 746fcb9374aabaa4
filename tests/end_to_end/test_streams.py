"""The real ``edgepipe`` with several streams in one process: ``run -i A -i B
'out/{source}.mp4'`` writes one complete file per input, and SIGTERM stops every stream
with its output finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import yaml

from pipeline.io.media.probe import ffprobe

EDGEPIPE = [sys.executable, "-m", "pipeline"]


def make_clip(path, frames: int, size: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
                    "-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True)


def counted(path) -> tuple[int, int]:
    stream = ffprobe(path, "-count_frames", "-select_streams", "v:0",
                     "-show_entries", "stream=nb_read_frames,width")["streams"][0]
    return int(stream["nb_read_frames"]), int(stream["width"])


def test_one_liner_with_two_inputs_writes_one_file_per_stream(tmp_path):
    make_clip(tmp_path / "x" / "clip.mp4", 12, "160x120")
    make_clip(tmp_path / "y" / "clip.mp4", 20, "128x96")
    out = tmp_path / "out"
    done = subprocess.run([*EDGEPIPE, "run", "-i", str(tmp_path / "x" / "clip.mp4"),
                           "-i", str(tmp_path / "y" / "clip.mp4"), str(out / "{source}.mp4"),
                           str(out / "all.jsonl"), "--json", "-", "-q"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert [(s["name"], s["frames_out"]) for s in outcome["streams"]] == [("clip", 12), ("clip_2", 20)]
    assert counted(out / "clip.mp4") == (12, 160)
    assert counted(out / "clip_2.mp4") == (20, 128)
    with open(out / "all.jsonl", encoding="utf-8") as handle:
        sources = [json.loads(line)["source"] for line in handle]
    assert sources.count("clip") == 12 and sources.count("clip_2") == 20


def test_an_output_all_streams_cannot_share_is_refused_before_anything_opens(tmp_path):
    make_clip(tmp_path / "a.mp4", 3, "64x48")
    done = subprocess.run([*EDGEPIPE, "run", "-i", str(tmp_path / "a.mp4"), "-i", "synthetic",
                           str(tmp_path / "one.mp4")], capture_output=True, text=True)
    assert done.returncode == 2
    assert "sinks.0.video" in done.stderr and "{source}" in done.stderr
    assert os.listdir(tmp_path) == ["a.mp4"]


def test_sigterm_stops_every_stream_and_finishes_their_outputs(tmp_path):
    config = {"version": 1,
              "sources": [{"name": "a", "type": "synthetic", "length": 0, "live": True,
                           "width": 64, "height": 48},
                          {"name": "b", "type": "synthetic", "length": 0, "live": True,
                           "width": 80, "height": 60}],
              "stages": ["grayscale", "gradient", "map"],
              "sinks": [{"video": {"path": str(tmp_path / "{source}.mkv"), "codec": "ffv1"}},
                        {"stats": {"path": "-"}}]}
    path = tmp_path / "multi.yaml"
    path.write_text(yaml.safe_dump(config))
    report = tmp_path / "report.json"
    child = subprocess.Popen([*EDGEPIPE, "run", str(path), "--json", str(report), "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = {"a": 0, "b": 0}
    for line in child.stdout:  # each stream's frames, as they reach the shared stats sink
        seen[json.loads(line)["source"]] += 1
        if min(seen.values()) >= 3:
            break
    child.send_signal(signal.SIGTERM)
    child.stdout.read()
    assert child.wait() == 143, child.stderr.read()
    outcome = json.loads(report.read_text())
    assert outcome["stop_reason"] == "terminated"
    for stream in outcome["streams"]:
        assert stream["stop_reason"] == "terminated" and stream["frames_out"] >= 3
        frames, width = counted(tmp_path / f"{stream['name']}.mkv")
        assert frames == stream["sinks"]["video"]
        assert width == {"a": 64, "b": 80}[stream["name"]]
