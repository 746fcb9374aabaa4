"""Long files in parts: frame ranges, seeking by pts, and split outputs equal to unsplit ones
(pictures and sound)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, strategies as st

from pipeline.batch import split
from pipeline.cli import batch as command
from tests.batch.test_runner import LOSSLESS, WAIT, leftovers, make_clip, records, same_frames, write_config
from tests.harness import decode


# ---------------------------------------------------------------------- pieces
@given(total=st.integers(0, 5000), frames=st.integers(2, 400))
def test_frame_ranges_cover_every_frame_once_in_parts_near_the_size(total, frames):
    ranges = split.frame_ranges(total, frames)
    covered = [i for start, stop in ranges for i in range(start, stop)]
    assert covered == list(range(total))
    assert all(start % frames == 0 for start, _ in ranges)  # boundaries the probe notes
    assert all(stop - start <= frames * 1.5 for start, stop in ranges)
    assert all(stop - start >= frames / 2 for start, stop in ranges[:-1] or ranges[1:])


def test_seek_by_pts_is_verified_and_falls_back_to_decoding_from_the_start(tmp_path):
    clip = make_clip(tmp_path / "long.mp4", frames=60)
    truth = decode(clip)
    info = split.probe(str(clip), 20)
    assert info["frames"] == 60 and set(info["boundaries"]) == {"0", "19", "20", "39", "40", "59"}
    # the boundaries are the stream's own pts of those frames
    with av.open(str(clip)) as container:
        time_base = container.streams.video[0].time_base
        pts = [frame.pts for frame in container.decode(video=0)]
    assert all(info["boundaries"][key] == pts[int(key)] for key in info["boundaries"])
    wrong = pts[20] + 1  # no frame has this pts: the seek cannot verify
    for bounds, how in ((info["boundaries"], "seek"), ({**info["boundaries"], "20": wrong}, "decode")):
        source = split.FrameRangeSource(str(clip), 20, 20, bounds, total=60)
        source.open()
        got = [source.read() for _ in range(21)]
        source.close()
        assert source.positioned_by == how and source.ended_right
        assert got[-1] is None and all(np.array_equal(a, b) for a, b in zip(got, truth[20:40]))
        assert source.delivered_pts == pytest.approx([float(p * time_base) for p in pts[20:40]], abs=1e-9)
    # a part whose last frame is not the one the probe saw, or that does not end the
    # file it claims to end, reports it (the part task then decodes from the start)
    for start, count, total, bounds in ((20, 20, 60, {**info["boundaries"], "39": pts[38]}),
                                        (40, 19, 59, info["boundaries"])):
        source = split.FrameRangeSource(str(clip), start, count, bounds, total=total)
        source.open()
        while source.read() is not None:
            pass
        source.close()
        assert source.positioned_by == "seek" and source.ended_right is False


@pytest.mark.parametrize("seek", ["verify", "exact"])
def test_split_output_is_identical_to_the_unsplit_run(tmp_path, monkeypatch, seek):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "rec" / "mp4v.mp4", frames=75, seed=1)
    make_clip(tmp_path / "rec" / "mjpg.avi", frames=75, seed=2, fourcc="MJPG")
    make_clip(tmp_path / "rec" / "short.mp4", frames=12, seed=3)
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/*"},
                          output={"dir": "whole", **LOSSLESS}, executor={"workers": 2})
    assert command.main([str(config), "-q"]) == 0
    assert command.main([str(config), "-q", "--set", "output.dir=parts",
                         "--set", f"split={{frames: 20, seek: {seek}}}"]) == 0
    by_name = {Path(r["output"]).name: r for r in records(tmp_path / "parts" / "manifest.jsonl")}
    assert by_name["mp4v_edges.mkv"]["parts"] == 4 and by_name["short_edges.mkv"]["parts"] == 1
    for name in ("mp4v_edges.mkv", "mjpg_edges.mkv", "short_edges.mkv"):
        assert same_frames(tmp_path / "parts" / name, tmp_path / "whole" / name), name
        assert by_name[name]["frames"] == len(decode(tmp_path / "whole" / name))
    assert not leftovers(tmp_path / "parts")


def ffprobe_streams(path: Path) -> list[tuple[str, str, float]]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,duration",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True,
                         timeout=WAIT).stdout
    rows = [line.split(",") for line in out.split()]
    return sorted((kind, codec, float(duration)) for codec, kind, duration in rows)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize("late", [False, True], ids=["together", "picture-late"])
def test_split_output_carries_the_sound_like_the_unsplit_one(tmp_path, monkeypatch, late):
    """``late``: the picture starts 0.4 s after the sound; the .mp4 starts at the sound and
    shows the first frame from 0, whether the run was split or not."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rec").mkdir()
    offset = ["-itsoffset", "0.4"] if late else []
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    *offset, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-map", "1:v", "-map", "0:a",
                    "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(tmp_path / "rec" / "talk.mkv")], check=True, timeout=WAIT)  # mkv keeps the offset
    config = write_config(tmp_path / "b.yaml", inputs={"glob": "rec/*.mkv"}, output={"dir": "whole"},
                          executor={"workers": 2})
    assert command.main([str(config), "-q"]) == 0
    assert command.main([str(config), "-q", "--set", "output.dir=parts", "--set", "split={frames: 20}"]) == 0
    whole, parts = tmp_path / "whole" / "talk_edges.mp4", tmp_path / "parts" / "talk_edges.mp4"
    # the default (lossy h264) output: its frames are compared exactly, losslessly, above
    streams = ffprobe_streams(parts)
    assert [s[:2] for s in streams] == [("audio", "aac"), ("video", "h264")]
    assert streams == ffprobe_streams(whole)  # the same sound, the same durations
    assert streams[0][2] == pytest.approx(3.0, abs=0.05)
    frame_times = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                   "frame=pts_time", "-of", "csv=p=0"]
    times = [subprocess.run(frame_times + [str(path)], capture_output=True, text=True, check=True,
                            timeout=WAIT).stdout for path in (parts, whole)]
    assert times[0] == times[1]  # every frame at the same time
    first, second = (float(t.strip(",")) for t in times[0].split()[:2])
    assert len(times[0].split()) == (65 if late else 75) and first == 0.0
    # the first frame shown from 0 (the input starts 21 ms before the picture: AAC priming)
    assert second == pytest.approx(0.44 if late else 0.04, abs=0.025)
