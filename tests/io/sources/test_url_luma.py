"""The ``url`` source hands out the decoder's luma plane when the chain starts with
``grayscale: {from: luma}``: a real ``ffmpeg`` streaming MPEG-TS over loopback."""

from __future__ import annotations

import time

import numpy as np

from pipeline.config.run import Config
from pipeline.io.base import SourceError
from pipeline.io.media.luma import LIMITED_TO_FULL
from tests.harness import bounded
from tests.io.sources.test_url import (HEIGHT, WIDTH, free_port, open_when_listening, pytestmark,  # noqa: F401
                                       read_frames, serve, servers)


def test_tcp_stream_gives_grey_frames_from_the_luma(servers):
    port = free_port()
    servers.append(serve([f"tcp://127.0.0.1:{port}?listen=1"], seconds=2))
    source = open_when_listening(f"tcp://127.0.0.1:{port}", open_timeout=5.0, read_timeout=2.0)
    try:
        source.take_luma()  # after open: the first frame was decoded as BGR, the rest are grey
        frames = bounded(lambda: read_frames(source, limit=1000), 15)
    finally:
        source.close()
    assert len(frames) >= 10
    assert frames[0].shape == (HEIGHT, WIDTH, 3)
    grey = frames[1:]
    assert all(f.shape == (HEIGHT, WIDTH) and f.dtype == np.uint8 for f in grey)
    # range-expanded: limited-range luma (16..235) fills 0..255 through the table
    values = np.unique(np.concatenate([f.ravel() for f in grey]))
    assert set(values.tolist()) <= set(LIMITED_TO_FULL.tolist())
    assert not [note for note in source.report.notes if "luma" in note]


def test_a_url_config_with_from_luma_opens_grey(servers):
    port = free_port()
    servers.append(serve([f"tcp://127.0.0.1:{port}?listen=1"], seconds=2))
    config = Config.from_dict({"version": 1, "stages": [{"grayscale": {"from": "luma"}}],
                               "source": {"type": "url", "url": f"tcp://127.0.0.1:{port}",
                                          "open_timeout": 5.0, "read_timeout": 2.0}})
    source, _, _ = config.build()  # told by the config: even the first frame is grey
    end = time.monotonic() + 8
    while True:  # open once ffmpeg listens (a refused connection fails at once)
        try:
            bounded(source.open, 15)
            break
        except SourceError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)
    try:
        first = bounded(source.read, 10)
    finally:
        source.close()
    assert first.shape == (HEIGHT, WIDTH)
