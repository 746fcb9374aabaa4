"""Chromium plays the sink's H.264 in studio range (the default) and in full range alike.

Each file holds the same picture, grey 40 on the left and 200 on the right, written by
:class:`~pipeline.io.media.writer.MediaWriter` once in studio range and once full range
(tagged).  Chromium plays it in a ``<video>``, draws the shown frame on a canvas, and the
canvas's pixels must be the grey values that went in: the range tag was read, not just
the picture decoded.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from pipeline.io.media.plan import plan_video
from pipeline.io.media.writer import MediaWriter
from tests.end_to_end.test_http_browser import Chromium, needs_chromium

WIDTH, HEIGHT, DARK, LIGHT = 320, 240, 40, 200


def write_halves(path: Path, full_range: bool) -> None:
    plan = plan_video(".mp4", "h264", grey=True, width=WIDTH, height=HEIGHT, crf=18, full_range=full_range)
    assert plan.full_range == full_range
    image = np.full((HEIGHT, WIDTH), DARK, np.uint8)
    image[:, WIDTH // 2:] = LIGHT
    writer = MediaWriter(path, ".mp4", plan, 25.0)
    for index in range(50):
        writer.write(image, index / 25)
    writer.finish()


PAGE = """<!doctype html><title>range</title><body>
<video id=v muted playsinline src='{name}'></video><canvas id=c width={w} height={h}></canvas><script>
const v = document.getElementById('v'); window.shown = null;
v.addEventListener('error', () => window.shown = ['error', v.error && v.error.message]);
v.addEventListener('timeupdate', () => {{
  if (window.shown || v.currentTime < 0.2) return;
  const c = document.getElementById('c').getContext('2d', {{willReadFrequently: true}});
  c.drawImage(v, 0, 0);
  const at = (x) => Array.from(c.getImageData(x, {y}, 1, 1).data.slice(0, 3));
  window.shown = [at({left}), at({right})];
}});
v.play().catch(e => window.shown = ['play', e.name]);
</script>"""


@needs_chromium
@pytest.mark.parametrize("full_range", [False, True], ids=["studio", "full"])
def test_chromium_shows_the_grey_values_in_either_range(tmp_path, full_range):
    write_halves(tmp_path / "halves.mp4", full_range)
    (tmp_path / "page.html").write_text(PAGE.format(name="halves.mp4", w=WIDTH, h=HEIGHT, y=HEIGHT // 2,
                                                    left=WIDTH // 4, right=3 * WIDTH // 4))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Chromium(size=(640, 480)) as browser:
            browser.get(f"http://127.0.0.1:{server.server_address[1]}/page.html")
            shown = browser.wait_for("return window.shown", timeout=30, what="the video to play and be drawn")
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(shown[0], list), shown
    left, right = shown
    assert all(abs(value - DARK) <= 4 for value in left), shown
    assert all(abs(value - LIGHT) <= 4 for value in right), shown
