"""Encode once, send to many: outputs of one run with the same codec settings share one
encoder (ffmpeg's tee), each with its own container; real receivers read every frame.

The unit tests of :class:`~pipeline.io.media.shared.SharedEncoder` count the encodes (one
per frame, whichever output hands it in); the end-to-end tests check that every output
is whole, carries the same packets, and that the run says which outputs shared.
``scripts/bench_outputs.py`` measures the CPU saved."""

from __future__ import annotations

import hashlib
import socket
import subprocess

import numpy as np
import pytest

from pipeline.io.media.plan import plan_video
from pipeline.io.media.shared import MAX_BEHIND, SharedEncoder
from tests.io.sinks.netcheck import (bound, config, edgepipe, end_all, finish, free_port,
                                     needs_ffmpeg, receiver, stop, video_times, wait_until)


@pytest.fixture(autouse=True)
def _no_process_outlives_a_test():
    yield
    end_all()


FRAMES = 45


def packet_hashes(path) -> list[str]:
    """The MD5 of each video packet's bytes, in file order."""
    done = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "packet=data_hash", "-show_data_hash", "MD5", "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, check=True)
    return [line.strip(", ") for line in done.stdout.splitlines() if line.strip(", ")]


def playlist_packets(playlist) -> list[str]:
    return packet_hashes(playlist)


@needs_ffmpeg
def test_mpegts_outputs_share_one_encoder_and_rtmp_has_its_own(tmp_path):
    """Two HLS folders and a UDP push (all MPEG-TS) share one encoder; the RTMP push (FLV
    wants global headers) encodes on its own; every receiver gets every frame."""
    port, udp = free_port(), free_port(socket.SOCK_DGRAM)
    got, got_udp = tmp_path / "got.flv", tmp_path / "got.ts"
    listener = receiver(["-listen", "1", "-i", f"rtmp://127.0.0.1:{port}/live/x"], got)
    udp_listener = receiver(["-i", f"udp://127.0.0.1:{udp}?timeout=3000000"], got_udp)
    wait_until(lambda: bound(port, "tcp") and bound(udp, "udp"), "the receivers")
    sinks = [{"network": {"url": f"rtmp://127.0.0.1:{port}/live/x"}},
             {"hls": {"path": str(tmp_path / "a" / "a.m3u8"), "list_size": 0}},
             {"hls": {"path": str(tmp_path / "b" / "b.m3u8"), "list_size": 0, "segment": 4}},
             {"network": {"url": f"udp://127.0.0.1:{udp}"}}]
    code, err = finish(edgepipe(config(tmp_path, sinks, FRAMES)))
    assert code == 0, err
    assert listener.wait(30) == 0, stop(listener)
    stop(udp_listener, interrupt=False)  # it ends 3 s after the last datagram
    shared = [line for line in err.splitlines() if "note" in line and "encoded once with 2 other" in line]
    assert len(shared) == 3 and not any("rtmp" in line for line in shared), err
    a, b = playlist_packets(tmp_path / "a" / "a.m3u8"), playlist_packets(tmp_path / "b" / "b.m3u8")
    assert len(a) == len(b) == FRAMES and a == b
    assert len(video_times(got)) == FRAMES
    assert len(video_times(got_udp)) == FRAMES


@needs_ffmpeg
def test_share_false_gives_each_output_its_own_encoder(tmp_path):
    sinks = [{"hls": {"path": str(tmp_path / "a" / "a.m3u8"), "list_size": 0, "share": False}},
             {"hls": {"path": str(tmp_path / "b" / "b.m3u8"), "list_size": 0, "share": False}}]
    code, err = finish(edgepipe(config(tmp_path, sinks, FRAMES)))
    assert code == 0, err
    assert "encoded once" not in err
    assert len(playlist_packets(tmp_path / "a" / "a.m3u8")) == FRAMES


def _encoder(frames_seconds: float = 1 / 30) -> SharedEncoder:
    plan = plan_video(".mkv", "h264", grey=True, width=64, height=48, crf=None, bitrate=None,
                      preset="ultrafast", pix_fmt=None)
    plan.options.update({"tune": "zerolatency", "g": "10"})
    return SharedEncoder(plan, 1 / frames_seconds)


def _frame(index: int) -> np.ndarray:
    return np.full((48, 64), index * 7 % 256, np.uint8)


def test_each_frame_is_encoded_once_whoever_hands_it_in():
    encoder = _encoder()
    for output in (1, 2):
        encoder.join(output)
        encoder.attach(output)
    got = {1: [], 2: []}
    for index in range(30):
        for output in (1, 2):  # both hand in every frame; the first one encodes it
            assert encoder.encode(index, _frame(index), index / 30)
            got[output] += encoder.packets(output)[0]
    encoder.finish()
    for output in (1, 2):
        got[output] += encoder.packets(output)[0]
    assert encoder.writer.frames == 30  # one encode per frame, not two
    assert len(got[1]) == len(got[2]) == 30
    assert [hashlib.md5(bytes(p)).hexdigest() for p in got[1]] == \
        [hashlib.md5(bytes(p)).hexdigest() for p in got[2]]


def test_a_late_or_reconnecting_output_starts_at_the_latest_keyframe():
    encoder = _encoder()
    encoder.join(1)
    encoder.attach(1)
    for index in range(15):  # keyframes at 0 and 10 (g=10)
        encoder.encode(index, _frame(index), index / 30)
        encoder.packets(1)
    encoder.join(2)
    encoder.attach(2)
    first, _ = encoder.packets(2)
    assert first and first[0].is_keyframe and len(first) == 4  # frames 10..13 (14 waits for its duration)
    encoder.detach(2)  # lost its receiver: the log no longer keeps packets for it
    assert encoder.packets(2) == ([], 0)


def test_a_reconnected_output_starts_at_a_fresh_keyframe_made_at_once():
    encoder = _encoder()
    for output in (1, 2):
        encoder.join(output)
        encoder.attach(output)
    for index in range(15):  # keyframes at 0 and 10
        encoder.encode(index, _frame(index), index / 30)
        encoder.packets(1)
        encoder.packets(2)
    encoder.detach(2)  # its receiver went away
    for index in range(15, 18):
        encoder.encode(index, _frame(index), index / 30)
        encoder.packets(1)
    encoder.attach(2, again=True)
    assert encoder.packets(2) == ([], 0)  # nothing stale from before the loss
    encoder.encode(18, _frame(18), 18 / 30)  # made a keyframe at once, not at 20
    encoder.encode(19, _frame(19), 19 / 30)
    taken, _ = encoder.packets(2)
    assert taken and taken[0].is_keyframe and taken[0].pts == round(18 / 30 / encoder.writer.time_base)


def test_an_output_far_behind_skips_to_a_keyframe_and_counts_it():
    encoder = _encoder()
    for output in (1, 2):
        encoder.join(output)
        encoder.attach(output)
    total = MAX_BEHIND + 25
    for index in range(total):
        encoder.encode(index, _frame(index), index / 30)
        encoder.packets(1)  # output 2 takes nothing meanwhile
    taken, skipped = encoder.packets(2)
    assert skipped > 0 and taken[0].is_keyframe and skipped + len(taken) == total - 1  # the last waits


def test_a_frame_after_the_flush_is_not_encoded_and_says_so():
    encoder = _encoder()
    encoder.join(1)
    encoder.attach(1)
    assert encoder.encode(0, _frame(0), 0.0)
    encoder.finish()
    assert encoder.encode(0, _frame(0), 0.0)  # already encoded: fine
    assert not encoder.encode(1, _frame(1), 1 / 30)


def test_an_output_that_stops_taking_packets_does_not_hold_the_log():
    """A relay with no caller, a blocked write: attached, never taking; the log stays
    bounded and the packets it missed are counted when it takes again."""
    encoder = _encoder()
    for output in (1, 2):
        encoder.join(output)
        encoder.attach(output)
    total = 4 * MAX_BEHIND
    for index in range(total):
        encoder.encode(index, _frame(index), index / 30)
        encoder.packets(1)
        assert len(encoder._log) <= MAX_BEHIND + 10  # a keyframe apart at most beyond the bound
    taken, skipped = encoder.packets(2)
    assert skipped > 0 and taken[0].is_keyframe and skipped + len(taken) == total - 1
