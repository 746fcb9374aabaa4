"""The network and HLS sinks, received by the real ffmpeg/ffprobe on 127.0.0.1: UDP and RTP
(MPEG-TS), RTMP (FLV, ``ffmpeg -listen 1``), SRT both ways, and an HLS folder read while it
is written.  Frames are counted and their times compared with the paced synthetic input."""

from __future__ import annotations

import re
import socket
import time

import pytest

from pipeline.io.sinks.hls import HlsSink
from pipeline.io.sinks.network import NetworkSink, ffmpeg_has_srt
from pipeline.config.registry import ParamError
from tests.io.sinks.netcheck import (
    assert_paced,
    bound,
    config,
    edgepipe,
    end_all,
    finish,
    free_port,
    free_udp_pair,
    needs_ffmpeg,
    receiver,
    stop,
    stream_codecs,
    video_times,
    wait_until,
)

FRAMES = 45


@pytest.fixture(autouse=True)
def _no_process_outlives_a_test():
    yield
    end_all()


def run_to(tmp_path, url: str, length: int = FRAMES) -> tuple[int, str]:
    return finish(edgepipe(config(tmp_path, [{"network": {"url": url}}], length)))


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize("url, key", [
    ("ftp://127.0.0.1:21/x", "url"),
    ("udp://127.0.0.1", "url"),
    ("srt://127.0.0.1:99999", "url"),
])
def test_bad_urls_name_the_key(url, key):
    with pytest.raises(ParamError) as caught:
        NetworkSink(url=url)
    assert caught.value.key == key and "srt://HOST:PORT" in str(caught.value) or "port" in str(caught.value)


def test_a_codec_mpegts_cannot_carry_is_refused_with_what_fits():
    with pytest.raises(ParamError) as caught:
        NetworkSink(url="udp://127.0.0.1:9000", codec="vp9")
    assert caught.value.key == "codec" and "h264" in str(caught.value)
    NetworkSink(url="rtmp://127.0.0.1/live/x", codec="hevc")  # enhanced FLV carries it


def test_hls_path_must_be_a_playlist():
    with pytest.raises(ParamError) as caught:
        HlsSink(path="out/live.ts")
    assert caught.value.key == "path" and ".m3u8" in str(caught.value)


# ------------------------------------------------------------------ transports
@needs_ffmpeg
def test_udp_mpegts_reaches_ffmpeg_every_frame_on_time(tmp_path):
    port = free_port(socket.SOCK_DGRAM)
    got = tmp_path / "got.ts"
    listener = receiver(["-i", f"udp://127.0.0.1:{port}?timeout=3000000"], got)
    wait_until(lambda: bound(port, "udp"), "the udp receiver")
    code, err = run_to(tmp_path, f"udp://127.0.0.1:{port}")
    assert code == 0, err
    stop(listener, interrupt=False)
    assert_paced(video_times(got), FRAMES)


@needs_ffmpeg
def test_rtp_mpegts_reaches_ffmpeg_every_frame_on_time(tmp_path):
    port = free_udp_pair()
    got = tmp_path / "got.ts"
    listener = receiver(["-i", f"rtp://127.0.0.1:{port}"], got)
    wait_until(lambda: bound(port, "udp"), "the rtp receiver")
    code, err = run_to(tmp_path, f"rtp://127.0.0.1:{port}")
    assert code == 0, err
    wait_until(lambda: got.exists() and got.stat().st_size > 0, "the rtp receiver's file")
    stop(listener)  # RTP has no end of stream: Ctrl+C, and ffmpeg closes its file
    # ffmpeg's RTP receiver drops the first packet (RTP probation, rtpdec.c), which holds
    # the first keyframe's start, so it copies from the next keyframe (one a second) on.
    times = video_times(got)
    assert FRAMES - 31 <= len(times) <= FRAMES
    assert_paced(times, len(times))


@needs_ffmpeg
def test_rtmp_push_to_ffmpeg_listen(tmp_path):
    port = free_port()
    got = tmp_path / "got.flv"
    listener = receiver(["-listen", "1", "-i", f"rtmp://127.0.0.1:{port}/live/x"], got)
    wait_until(lambda: bound(port, "tcp"), "the rtmp listener")
    code, err = run_to(tmp_path, f"rtmp://127.0.0.1:{port}/live/x")
    assert code == 0, err
    assert listener.wait(30) == 0, stop(listener)  # the publisher left: ffmpeg ends by itself
    times = video_times(got)
    assert len(times) == FRAMES
    # FLV keeps milliseconds: each step is 33 or 34 ms
    assert all(abs((b - a) - 1 / 30) <= 0.0011 for a, b in zip(times, times[1:])), times


def assert_srt_frames(times: list[float]) -> None:
    """Every frame but possibly the last, paced.

    ffmpeg 5.1 ends an SRT input whose peer closed with "Input/output error" (exit 1), and
    its receiver then loses the last frame: the same 45-frame MPEG-TS sent by ffmpeg itself
    (``ffmpeg -f mpegts -i pipe:0 -c copy -f mpegts srt://``) arrives as 44 frames, while
    the same command writing a file writes 45.
    """
    assert FRAMES - 1 <= len(times) <= FRAMES, f"{len(times)} of {FRAMES} frames arrived"
    assert_paced(times, len(times))


needs_srt = pytest.mark.skipif(not ffmpeg_has_srt(), reason="the ffmpeg program has no SRT")


@needs_ffmpeg
@needs_srt
def test_srt_caller_to_an_ffmpeg_listener(tmp_path):
    port = free_port(socket.SOCK_DGRAM)
    got = tmp_path / "got.ts"
    listener = receiver(["-i", f"srt://127.0.0.1:{port}?mode=listener"], got)
    wait_until(lambda: bound(port, "udp"), "the srt listener")
    code, err = run_to(tmp_path, f"srt://127.0.0.1:{port}")
    assert code == 0, err
    stop(listener, interrupt=False, seconds=30)
    assert_srt_frames(video_times(got))


@needs_ffmpeg
@needs_srt
def test_srt_listener_waits_for_an_ffmpeg_caller(tmp_path):
    port = free_port(socket.SOCK_DGRAM)
    got = tmp_path / "got.ts"
    run = edgepipe(config(tmp_path, [{"network": {"url": f"srt://127.0.0.1:{port}?mode=listener"}}], FRAMES))
    wait_until(lambda: bound(port, "udp") or run.poll() is not None, "the sink's srt listener")
    caller = receiver(["-i", f"srt://127.0.0.1:{port}"], got)
    code, err = finish(run)
    assert code == 0, err
    stop(caller, interrupt=False, seconds=30)
    assert_srt_frames(video_times(got))


# ------------------------------------------------------------------ HLS
def playlist_segments(text: str) -> list[tuple[float, str]]:
    return [(float(m.group(1)), m.group(2)) for m in re.finditer(r"#EXTINF:([\d.]+),\s*\n(\S+)", text)]


@needs_ffmpeg
def test_hls_playlist_is_valid_and_every_segment_whole_while_written(tmp_path):
    folder = tmp_path / "www"
    playlist = folder / "edges.m3u8"
    length = 120
    run = edgepipe(config(tmp_path, [{"hls": {"path": str(playlist), "segment": 1, "list_size": 0}}], length))
    seen_while_running = 0
    for _ in range(600):  # each look reads and checks the playlist and its segments
        if run.poll() is not None:
            break
        if playlist.exists():
            text = playlist.read_text()
            assert text.startswith("#EXTM3U"), text
            for seconds, name in playlist_segments(text):
                times = video_times(folder / name)
                assert len(times) == round(seconds * 30), (name, seconds, len(times))
                seen_while_running += 1
        time.sleep(0.05)
    code, err = finish(run)
    assert code == 0, err
    assert seen_while_running > 0, "the playlist was never read before the run ended"
    text = playlist.read_text()
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    segments = playlist_segments(text)
    times = sorted(t for _, name in segments for t in video_times(folder / name))
    assert_paced(times, length)
    assert not list(folder.glob("*.tmp"))
    assert stream_codecs(folder / segments[0][1]) == ["h264"]


@needs_ffmpeg
def test_hls_one_liner_with_the_clip_sound(tmp_path):
    import subprocess
    import sys

    from tests.harness import ROOT
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x120:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
                    "-t", "2", "-c:v", "libx264", "-c:a", "aac", "-shortest", str(clip)], check=True, timeout=60)
    playlist = tmp_path / "hls" / "clip.m3u8"
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", str(clip), str(playlist), "--crf", "30"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert stream_codecs(playlist) == ["aac", "h264"]
    times = video_times(playlist)
    assert len(times) == 50 and all(abs((b - a) - 0.04) < 0.002 for a, b in zip(times, times[1:]))


# ------------------------------------------------------------------ one-liner
@pytest.mark.parametrize("word, sink", [
    ("srt://127.0.0.1:9000?mode=listener", {"network": {"url": "srt://127.0.0.1:9000?mode=listener"}}),
    ("rtmp://127.0.0.1/live/x", {"network": {"url": "rtmp://127.0.0.1/live/x"}}),
    ("udp://127.0.0.1:9000", {"network": {"url": "udp://127.0.0.1:9000"}}),
    ("rtp://127.0.0.1:9000", {"network": {"url": "rtp://127.0.0.1:9000"}}),
    ("www/live.m3u8", {"hls": {"path": "www/live.m3u8"}}),
])
def test_one_liner_outputs_by_url_take_the_encoder_flags(word, sink):
    from pipeline.cli import oneliner
    from pipeline.cli.oneliner_flags import Flags
    data = oneliner.config_data(["synthetic", word], flags=Flags(crf=28, preset="ultrafast"))
    (name, settings), = data["sinks"][0].items()
    assert {name: {k: settings[k] for k in sink[name]}} == sink
    assert settings["crf"] == 28 and settings["preset"] == "ultrafast"


# ------------------------------------------------------------------ backoff (injected clock)
def test_a_missing_receiver_is_retried_with_doubling_backoff_and_never_raises():
    import numpy as np

    from pipeline.frame import Frame
    from pipeline.io.sinks import network

    port = free_port()  # nobody listens: every connection is refused at once
    now = [0.0]
    sink = NetworkSink(url=f"rtmp://127.0.0.1:{port}/live/x", preset="ultrafast")
    sink.clock = lambda: now[0]
    tries = []
    real_connect = sink._connect
    sink._connect = lambda: (tries.append(now[0]), real_connect())[1]
    image = np.zeros((64, 64), np.uint8)
    frames = [Frame(i, i / 30, image, image, pts=i / 30) for i in range(40)]
    sink.open(frames[0], 30.0)
    for frame in frames:  # each frame a quarter second later
        sink.write(frame)
        now[0] += 0.25
    sink.close()
    # opening (PyAV connects on the first packet, so that write fails), then after 0.5, 1, 2, 4, 8 s
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    assert len(tries) >= 4 and gaps == sorted(gaps), (tries, gaps)
    waits = [network.FIRST_WAIT * 2 ** i for i in range(len(gaps))]
    assert all(gap >= min(wait, network.LONGEST_WAIT) for gap, wait in zip(gaps, waits)), (tries, gaps)
    assert sink.lost == 1 and sink.reconnects == 0
    assert sink.frames_written + sink.frames_skipped == len(frames)
    assert "receiver lost 1 time(s), reconnected 0 time(s)" in sink.notes[-1]


def test_a_failed_hls_sink_leaves_no_playlist_that_looks_finished(tmp_path):
    import numpy as np

    from pipeline.frame import Frame
    from pipeline.controls import Controls

    (tmp_path / "other.ts").write_bytes(b"not ours")
    sink = HlsSink(str(tmp_path / "edges.m3u8"), segment=0.5)
    sink.check()
    image = np.zeros((48, 64), np.uint8)
    sink.open(Frame(0, 0.0, image, image), 30.0, Controls())
    for index in range(40):
        picture = np.full((48, 64), index * 5, np.uint8)
        sink.write(Frame(index, index / 30, picture, picture))
    assert (tmp_path / "edges.m3u8").exists() and list(tmp_path.glob("edges_*.ts"))
    sink.abort()  # closing the muxer writes #EXT-X-ENDLIST: the files must go
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.ts"]
