"""The http sink's page in a real headless Chromium.

Chromium is driven through chromedriver's W3C WebDriver protocol, which is plain JSON
over HTTP: the small :class:`Chromium` client below needs only ``urllib``, so the test
adds no Python dependency.  It needs the system packages ``chromium`` and
``chromium-driver`` (Debian), and is skipped with that reason when they are absent.
``scripts/screenshot_http.py`` uses the same client for the README's screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pipeline.tuned import single

from tests.harness import eventually, running

#: The flags of every launch: headless, no sandbox (containers, root), nothing that
#: reaches out to the network or depends on a profile.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
)



def find_chromium() -> tuple[str | None, str | None]:
    """``(browser, chromedriver)`` paths: ``$CHROMIUM``/``$CHROMEDRIVER`` or the usual names."""
    browser = os.environ.get("CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    return browser, driver


class WebDriverError(RuntimeError):
    """chromedriver answered with an error (its message is kept)."""


class Chromium:
    """A headless Chromium session through chromedriver (W3C WebDriver over urllib).

    ::

        with Chromium(size=(1280, 860)) as browser:
            browser.get("http://127.0.0.1:8080/")
            browser.wait_for("return document.title")
            browser.screenshot("page.png")

    Parameters
    ----------
    size : (int, int)
        Window width and height in CSS pixels.
    browser, driver : str, optional
        Paths of the Chromium binary and of chromedriver (found by :func:`find_chromium`).
    flags : tuple of str
        More command-line flags (say ``--disable-blink-features=WebCodecs``).
    """

    def __init__(self, size: tuple[int, int] = (1280, 860), browser: str | None = None,
                 driver: str | None = None, flags: tuple[str, ...] = ()):
        found = find_chromium()
        self.browser = browser or found[0]
        self.driver = driver or found[1]
        if not self.browser or not self.driver:
            raise FileNotFoundError("chromium and chromedriver are needed "
                                    "(Debian: apt-get install chromium chromium-driver)")
        self.size = size
        self.flags = tuple(flags)
        self._process: subprocess.Popen | None = None
        self._profile: tempfile.TemporaryDirectory | None = None
        self._base = ""
        self._session = ""

    # ---------------------------------------------------------------- protocol
    def _call(self, method: str, path: str, body: dict | None = None, timeout: float = 60.0):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            answer = json.loads(error.read() or b"{}")
            value = answer.get("value", {})
            raise WebDriverError(f"{method} {path}: {value.get('error')}: {value.get('message')}") from None
        return answer.get("value")

    def _session_call(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self._session}{path}", body)

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self) -> "Chromium":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._process = subprocess.Popen(
            [self.driver, f"--port={port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self._base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if self._call("GET", "/status", timeout=2).get("ready"):
                        break
                except (OSError, ValueError):
                    pass
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError(f"chromedriver did not start ({self.driver})")
                time.sleep(0.1)
            self._profile = tempfile.TemporaryDirectory(prefix="edgepipe-chromium-")
            width, height = self.size
            args = [*CHROMIUM_FLAGS, *self.flags, f"--user-data-dir={self._profile.name}",
                    f"--window-size={width},{height}"]
            capabilities = {"browserName": "chrome",
                            "goog:chromeOptions": {"binary": self.browser, "args": args}}
            answer = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
            self._session = answer["sessionId"]
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._session:
            try:
                self._call("DELETE", f"/session/{self._session}", timeout=20)
            except (OSError, WebDriverError):
                pass
            self._session = ""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            self._process = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    # ---------------------------------------------------------------- commands
    def get(self, url: str) -> None:
        """Open ``url``; returns once the document has loaded (pictures may still stream)."""
        self._session_call("POST", "/url", {"url": url})

    def before_scripts(self, source: str) -> None:
        """Run ``source`` in every document from now on, before the page's own scripts
        (DevTools' ``Page.addScriptToEvaluateOnNewDocument``, through chromedriver)."""
        self._session_call("POST", "/goog/cdp/execute", {
            "cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": source}})

    def run(self, script: str, *args):
        """The value returned by ``script`` (a function body) run in the page."""
        return self._session_call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script: str, timeout: float = 10.0, what: str | None = None):
        """Run ``script`` until it returns something truthy; return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.run(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what or script}")
            time.sleep(0.1)

    def screenshot(self, path: str | os.PathLike) -> Path:
        """Save the viewport as a PNG at ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._session_call("GET", "/screenshot")))
        return path


# --- the test --------------------------------------------------------------------------
BROWSER, DRIVER = find_chromium()
needs_chromium = pytest.mark.skipif(
    not (BROWSER and DRIVER),
    reason="needs chromium and chromedriver for the headless browser test "
           "(Debian: apt-get install chromium chromium-driver)")


def stats(url: str) -> dict:
    with urllib.request.urlopen(url + "stats", timeout=5) as response:
        return json.loads(response.read())


def page_shows_the_run(browser: "Chromium", width: int, how: str = "") -> None:
    """The page is edgepipe's, its view draws pictures ``width`` wide, its frame counter moves.

    ``how`` is added to what each wait names (say, how the requests are authorised).
    """
    assert browser.run("return document.title") == "edgepipe live"
    shown = browser.wait_for("return window.edgepipeView && window.edgepipeView.width",
                             what=f"the stream's first picture{how}")
    assert shown == width
    # The frame counter moves (the page polls /stats).
    first = browser.wait_for(
        "const t = document.getElementById('frame').textContent; return /^\\d+$/.test(t) && t;",
        what=f"a frame number{how}")
    browser.wait_for(f"return document.getElementById('frame').textContent !== '{first}'",
                     what=f"the frame number to change{how}")


@needs_chromium
def test_page_streams_shows_numbers_and_steers_the_run(tmp_path):
    import cv2

    data = {
        "version": 1,
        "source": {"type": "synthetic", "width": 320, "height": 240, "fps": 20.0, "length": 0, "live": True},
        "stages": ["grayscale", "gradient", "map", {"threshold": {"value": "auto"}},
                   {"overlay": {"color": [0, 255, 0]}}],
        "sinks": [{"http": {"port": 0}}],
        "runtime": {"mode": "live"},
        "tuner": {"objective": "otsu"},  # (the switch is greyed out without one)
    }
    with running(data) as (pipe, _, sink):
        url = sink.url
        with Chromium(size=(1100, 820)) as browser:
            browser.get(url)
            page_shows_the_run(browser, width=320)
            assert float(browser.run("return document.getElementById('fps').textContent")) > 0
            assert sink.board.viewers + sink.view_stats()["viewers"] >= 1
            # Moving the slider sets the threshold the run uses.
            browser.run("""
                const slider = document.getElementById('slider');
                slider.value = '77';
                slider.dispatchEvent(new Event('input', {bubbles: true}));
                slider.dispatchEvent(new Event('change', {bubbles: true}));
            """)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and stats(url)["threshold"] != 77.0:
                time.sleep(0.1)
            assert stats(url)["threshold"] == 77.0 and stats(url)["threshold_manual"] == 77.0
            browser.wait_for("return document.getElementById('threshold').textContent === '77'",
                             what="the page to show threshold 77")
            # The tuner switch and the pause button reach the run's controls.
            browser.run("document.getElementById('tuner').click()")
            browser.wait_for("return document.getElementById('tuner').checked === false")
            assert eventually(lambda: pipe.controls.tuner_enabled is False)
            # The chart has drawn the threshold line (its colour, in the canvas).
            browser.wait_for("""
                const c = document.getElementById('chart');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 0; i < d.length; i += 4) if (d[i+1] > 180 && d[i] < 120 && d[i+3] > 200) n++;
                return n > 20;
            """, what="the threshold line in the chart")
            shot = browser.screenshot(tmp_path / "http-view.png")
            browser.run("document.getElementById('pause').click()")
            browser.wait_for("return document.getElementById('pause').textContent === 'resume'")
            assert eventually(lambda: pipe.controls.paused is True)
            browser.run("document.getElementById('auto').click()")
            browser.wait_for("return document.getElementById('threshold-mode').textContent === 'auto'")
            assert single(pipe.controls.tuned.manual("threshold")) is None
        picture = cv2.imread(str(shot))
        assert picture is not None and picture.shape[1] >= 1000 and picture.std() > 10


@needs_chromium
def test_without_a_tuner_the_switch_is_off_and_greyed_out():
    data = {
        "version": 1,
        "source": {"type": "synthetic", "width": 64, "height": 48, "fps": 20.0, "length": 0, "live": True},
        "stages": ["grayscale", "gradient", "map", {"threshold": {"value": "auto"}}],
        "sinks": [{"http": {"port": 0}}],
        "runtime": {"mode": "live"},
    }
    with running(data) as (pipe, _, sink):
        with Chromium(size=(900, 700)) as browser:
            browser.get(sink.url)
            page_shows_the_run(browser, width=64)
            state = browser.wait_for("const t = document.getElementById('tuner'); "
                                     "return t.disabled && [t.checked, t.disabled];",
                                     what="the tuner switch to be greyed out")
            assert state == [False, True]


@needs_chromium
def test_page_behind_a_token_shows_nothing_without_it_and_everything_with_it():
    data = {
        "version": 1,
        "source": {"type": "synthetic", "width": 320, "height": 240, "fps": 20.0, "length": 0, "live": True},
        "stages": ["grayscale", "gradient", "map", {"threshold": {"value": "auto"}}],
        "sinks": [{"http": {"host": "0.0.0.0", "port": 0}}],  # beyond loopback: a token
        "runtime": {"mode": "live"},
    }
    with running(data) as (pipe, _, sink):
        url, token = sink.url, sink.access_token
        assert url and token
        with Chromium(size=(1100, 820)) as browser:
            browser.get(url)  # no token: the browser gets the 401's message, no page
            text = browser.run("return document.body.innerText")
            assert "needs its token" in text and "edgepipe live" != browser.run("return document.title")
            assert browser.run("return document.getElementById('stream')") is None
            assert sink.board.viewers == 0 and sink.view_stats()["viewers"] == 0
            browser.get(f"{url}?token={token}")  # the URL the run logged
            page_shows_the_run(browser, width=320, how=" (with the cookie)")
            browser.run("document.getElementById('pause').click()")  # POST /control with the cookie
            assert eventually(lambda: pipe.controls.paused is True)
            assert token not in browser.run("return document.cookie")  # HttpOnly: not for scripts
            # The token left the address bar once the page loaded (history.replaceState).
            assert browser.run("return window.location.href") == url
            assert token not in browser.run("return JSON.stringify([location.href, history.state])")
