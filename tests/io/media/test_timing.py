"""The timing rules on their own: FFmpeg's best-effort timestamp, frame placement, sound targets."""

from __future__ import annotations

import pytest

from pipeline.io.media.best_effort import BestEffortClock
from pipeline.io.media.sound import encoder_target
from pipeline.io.media.timing import FramePlacer
from pipeline.io.media.plan import MediaError, plan_video


def test_best_effort_trusts_dts_once_pts_go_back():
    """A packed DivX stream's frames: pts 1, 3, 2, 5, 4 with dts 1..5 (libavcodec's rule)."""
    clock = BestEffortClock()
    got = [clock.guess(pts, dts) for pts, dts in [(1, 1), (3, 2), (2, 3), (5, 4), (4, 5), (7, 6)]]
    assert got == [1, 3, 3, 4, 5, 6]


def test_best_effort_without_dts_or_pts():
    clock = BestEffortClock()
    assert [clock.guess(p, None) for p in (0, 10, 20)] == [0, 10, 20]
    assert BestEffortClock().guess(None, 7) == 7
    assert BestEffortClock().guess(None, None) is None


def placed(times, step=0.04):
    placer = FramePlacer(step)
    out = []
    for number, time in enumerate(times):
        out += placer.add(number, time)
    out += placer.finish()
    return out, placer


def test_duplicates_are_spread_and_nothing_shifts():
    out, placer = placed([0, 0, 0.08, 0.08, 0.16])
    assert [n for n, _ in out] == [0, 1, 2, 3, 4]
    assert [round(t, 3) for _, t in out] == [0, 0.04, 0.08, 0.12, 0.16]
    assert placer.moved == 2 and placer.jumps == 0


def test_a_small_step_back_waits_for_the_next_later_time():
    out, placer = placed([0.042, 0.125, 0.083, 0.167], step=1 / 24)
    assert [round(t, 4) for _, t in out] == [0.042, 0.125, 0.146, 0.167]
    assert placer.moved == 1


def test_a_jump_back_goes_on_from_the_last_frame():
    out, placer = placed([0, 0.04, 0.08, 0.12, 0.0, 0.04])
    assert [round(t, 3) for _, t in out] == [0, 0.04, 0.08, 0.12, 0.16, 0.2]
    assert placer.jumps == 1


def test_frames_waiting_at_the_end_follow_a_frame_apart():
    out, _ = placed([0, 0.04, 0.04, 0.04])
    assert [round(t, 3) for _, t in out] == [0, 0.04, 0.08, 0.12]


@pytest.mark.parametrize("encoder", ["aac", "libopus", "libmp3lame"])
@pytest.mark.parametrize("channels", [1, 2, 3, 6, 8, 16])
def test_every_channel_count_gets_a_layout_the_encoder_opens(encoder, channels):
    layout, rate = encoder_target(encoder, f"{channels} channels", channels, 192000)
    assert rate == (96000 if encoder == "aac" else 48000)  # the nearest each takes, as ffmpeg picks
    if encoder == "libmp3lame":
        assert layout == ("mono" if channels == 1 else "stereo")
    elif channels == 1:
        assert layout == "mono"


def test_rates_are_moved_to_the_nearest_the_encoder_takes():
    assert encoder_target("aac", "mono", 1, 11025) == ("mono", 11025)
    assert encoder_target("libopus", "mono", 1, 11025) == ("mono", 12000)
    assert encoder_target("libmp3lame", "5.1", 6, 96000) == ("stereo", 48000)


@pytest.mark.parametrize("codec,extension,size,limit", [
    ("h264", ".mp4", (2, 65535), "16384"), ("mpeg4", ".avi", (8192, 16), "8191"),
    ("mjpeg", ".avi", (2, 65535), "65500"), ("vp9", ".webm", (70000, 2), "65536")])
def test_sizes_beyond_a_codec_are_refused_naming_the_limit(codec, extension, size, limit):
    with pytest.raises(MediaError) as caught:
        plan_video(extension, codec, grey=True, width=size[0], height=size[1])
    assert caught.value.key == "size" and limit in str(caught.value)
    plan_video(".mkv", "ffv1", grey=True, width=size[0], height=size[1])


def test_a_sparse_data_stream_does_not_restart_the_clock_but_the_video_does():
    from fractions import Fraction
    from types import SimpleNamespace

    from pipeline.io.media.timing import ClockJoin

    def packet(kind, index, seconds):
        stream = SimpleNamespace(type=kind, index=index)
        tick = round(seconds * 90000)
        return SimpleNamespace(stream=stream, pts=tick, dts=tick, duration=3000, time_base=Fraction(1, 90000))

    join = ClockJoin()
    for second in range(30):  # video every second, a data packet at 0 s and 20 s
        join.shift(packet("video", 0, second))
        if second in (0, 20):
            join.shift(packet("data", 1, second))
    assert join.jumps == 0 and join.offset == 0
    restarted = packet("video", 0, 0.0)  # a second recording joined on: its clock starts again
    join.shift(restarted)
    assert join.jumps == 1 and abs(restarted.pts / 90000 - 29.0333) < 1e-3
