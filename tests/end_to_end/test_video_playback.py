"""The video sink's default .mp4 and .webm play in a real headless Chromium.

The files are written by ``edgepipe run`` (a real process: synthetic source, edge
chain, default codec settings), served by a local HTTP server with byte ranges, and
played in a ``<video>`` element: ``loadeddata`` fires, ``videoWidth`` is the frame
width, and ``currentTime`` advances.  Chromium is driven by the WebDriver client of
``tests/end_to_end/test_http_browser.py``.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.end_to_end.test_http_browser import Chromium, needs_chromium
from tests.harness import ROOT

WIDTH, HEIGHT = 320, 240


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with ``Range`` requests, as browsers fetch video."""

    def log_message(self, *args) -> None:
        pass

    def send_head(self):
        wanted = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not wanted or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        first, _, last = wanted.removeprefix("bytes=").partition("-")
        first, last = int(first or 0), min(int(last) if last else size - 1, size - 1)
        handle = open(path, "rb")
        handle.seek(first)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        self._remaining = last - first + 1
        return handle

    def copyfile(self, source, outputfile):
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        while remaining > 0:
            chunk = source.read(min(remaining, 64 * 1024))
            if not chunk:
                break
            try:
                outputfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            remaining -= len(chunk)


def write_with_edgepipe(folder: Path, name: str) -> Path:
    out = folder / name
    config = {
        "version": 1,
        "source": {"type": "synthetic", "width": WIDTH, "height": HEIGHT, "fps": 25, "length": 75},
        "stages": ["grayscale", {"gradient": {"kind": "sobel"}}, "map"],
        "sinks": [{"video": {"path": str(out)}}],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", str(path), "-q"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return out


@needs_chromium
@pytest.mark.parametrize("name", ["edges.mp4", "edges.webm"])
def test_default_output_plays_in_chromium(tmp_path, name):
    write_with_edgepipe(tmp_path, name)
    handler = functools.partial(RangeHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Chromium(size=(640, 480)) as browser:
            base = f"http://127.0.0.1:{server.server_address[1]}/"
            (tmp_path / "page.html").write_text(
                "<!doctype html><title>play</title><body>"
                f"<video id=v muted playsinline src='{name}'></video><script>"
                "const v = document.getElementById('v'); window.events = [];"
                "['loadeddata', 'error'].forEach(e => v.addEventListener(e, () => events.push(e)));"
                "v.play().catch(e => events.push('play: ' + e.name));"
                "</script>")
            browser.get(base + "page.html")
            events = browser.wait_for("return window.events.length ? window.events : null",
                                      timeout=30, what=f"{name} to load or fail")
            error = browser.run("const e = document.getElementById('v').error; return e && [e.code, e.message];")
            assert events[0] == "loadeddata" and error is None, (events, error)
            assert browser.run("return document.getElementById('v').videoWidth") == WIDTH
            assert browser.run("return document.getElementById('v').videoHeight") == HEIGHT
            browser.wait_for("return document.getElementById('v').currentTime > 0.5", timeout=30,
                             what=f"{name} to play past 0.5 s")
    finally:
        server.shutdown()
        server.server_close()
