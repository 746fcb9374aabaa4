"""A receiver killed and restarted mid-run: the RTMP output reconnects with backoff, the run
and its other output (HLS) never stop, and the summary counts the loss and the reconnection.
Real processes: ``ffmpeg -listen 1`` twice on the same port, ``edgepipe run`` paced at 30 fps."""

from __future__ import annotations

import re
import signal

from tests.io.sinks.netcheck import (
    assert_paced,
    bound,
    config,
    edgepipe,
    end_all,
    finish,
    free_port,
    needs_ffmpeg,
    receiver,
    stop,
    video_times,
    wait_until,
)

LENGTH = 240  # 8 s at 30 fps: room for a kill, a restart and the backoff


@needs_ffmpeg
def test_rtmp_receiver_killed_and_restarted_mid_run(tmp_path):
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/x"
    first, second = tmp_path / "first.flv", tmp_path / "second.flv"
    playlist = tmp_path / "hls" / "edges.m3u8"
    listener = receiver(["-listen", "1", "-i", url], first)
    try:
        check_reconnection(tmp_path, url, port, listener, first, second, playlist)
    finally:  # no receiver or run outlives the test, whatever failed
        end_all()


def check_reconnection(tmp_path, url, port, listener, first, second, playlist):
    wait_until(lambda: bound(port, "tcp"), "the first rtmp listener")
    run = edgepipe(config(tmp_path, [{"network": {"url": url}},
                                     {"hls": {"path": str(playlist), "list_size": 0}}], LENGTH))
    wait_until(lambda: first.exists() and first.stat().st_size > 2_000, "frames at the first receiver")
    listener.send_signal(signal.SIGKILL)
    stop(listener, interrupt=False)
    assert run.poll() is None, "the run ended when its receiver went away"
    restarted = receiver(["-listen", "1", "-i", url], second)
    wait_until(lambda: bound(port, "tcp"), "the second rtmp listener")
    code, err = finish(run)
    assert code == 0, err
    note = re.search(r"network sink \S+: receiver lost (\d+) time\(s\), reconnected (\d+) time\(s\); "
                     r"(\d+) frame\(s\) encoded, (\d+) skipped", err)
    assert note, err
    assert restarted.wait(30) == 0, stop(restarted)  # the publisher left: ffmpeg ends by itself
    lost, reconnected, sent, skipped = map(int, note.groups())
    assert lost == 1 and reconnected == 1, err
    assert sent + skipped == LENGTH
    after = video_times(second)
    assert 0 < len(after) <= sent  # the frames sent after the reconnection (the rest went to the first)
    steps = [b - a for a, b in zip(after, after[1:])]
    assert all(abs(step - 1 / 30) <= 0.0011 for step in steps), steps
    # the other output never stopped: every frame, paced
    segments = re.findall(r"^(edges_\d+\.ts)$", playlist.read_text(), re.M)
    assert_paced(sorted(t for name in segments for t in video_times(playlist.parent / name)), LENGTH)
