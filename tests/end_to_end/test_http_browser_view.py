"""The page's picture in a real headless Chromium: H.264 over /view.ws decoded with
WebCodecs, MJPEG where the browser has no VideoDecoder, the token rules, and a page that
cannot keep up dropping to keyframes.  Counts events; the waits only bound a hang."""

from __future__ import annotations

from tests.end_to_end.test_http_browser import Chromium, needs_chromium
from tests.harness import running

VIEW = "const v = window.edgepipeView; return v && "


def live_view(width: int, height: int, sink: dict | None = None, stages=None) -> dict:
    return {
        "version": 1,
        "source": {"type": "synthetic", "width": width, "height": height, "fps": 30.0,
                   "length": 0, "live": True},
        "stages": stages or ["grayscale", "gradient", "map"],
        "sinks": [{"http": dict({"port": 0}, **(sink or {}))}],
        "runtime": {"mode": "live"},
    }


def counters(browser) -> dict:
    return browser.run("const v = window.edgepipeView; return {transport: v.transport, shown: v.shown, "
                       "bytes: v.bytes, keyframes: v.keyframes, dropped: v.dropped, errors: v.decodeErrors, "
                       "latencies: v.latencies.length, width: v.width, index: v.index};")


def canvas_has_picture(browser) -> bool:
    """The canvas holds a picture that is not one flat colour."""
    return browser.run("""
        const c = document.getElementById('video');
        if (!c.width) return false;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let lo = 255, hi = 0;
        for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
        return hi - lo > 50;
    """)


@needs_chromium
def test_page_decodes_h264_with_webcodecs_and_its_numbers_advance():
    with running(live_view(320, 240)) as (pipe, _, sink):
        with Chromium(size=(1100, 820)) as browser:
            browser.get(sink.url)
            browser.wait_for(VIEW + "v.shown >= 10", what="ten pictures decoded and drawn")
            first = counters(browser)
            assert first["transport"] == "h264" and first["width"] == 320 and first["keyframes"] >= 1
            assert first["errors"] == 0 and first["bytes"] > 0
            assert canvas_has_picture(browser)
            # The counters move on; the page's numbers show a latency and a bitrate.
            browser.wait_for(f"{VIEW} v.shown >= {first['shown'] + 10} && v.latencies.length > 0",
                             what="ten more pictures, with latencies")
            later = counters(browser)
            assert later["bytes"] > first["bytes"] and later["index"] > first["index"]
            text = browser.wait_for("const t = document.getElementById('view-latency').textContent; "
                                    "return /^\\d+ \\/ \\d+ ms$/.test(t) && t;", what="p50 / p95 on the page")
            p50, p95 = (int(x) for x in text.replace(" ms", "").split(" / "))
            assert 0 <= p50 <= p95
            assert browser.wait_for("return /^\\d+\\.\\d\\d Mbps$/.test("
                                    "document.getElementById('view-rate').textContent)")
            assert browser.run("return document.getElementById('view-transport').textContent") == "h264"
            # The server saw one viewer of the encoded view and none of MJPEG.
            view = sink.view_stats()
            assert view["viewers"] == 1 and view["encoded"] >= later["shown"] and sink.board.viewers == 0
            assert view["clients"][0]["sent"] >= later["shown"]


@needs_chromium
def test_without_videodecoder_the_page_falls_back_to_mjpeg():
    with running(live_view(320, 240)) as (pipe, _, sink):
        with Chromium(size=(1100, 820)) as browser:
            browser.before_scripts("delete window.VideoDecoder;")  # a browser without WebCodecs
            browser.get(sink.url)
            browser.wait_for(VIEW + "v.shown >= 10", what="ten MJPEG pictures drawn")
            state = counters(browser)
            assert state["transport"] == "mjpeg" and state["width"] == 320 and state["keyframes"] == 0
            assert "VideoDecoder" in browser.run("return window.edgepipeView.reason")
            assert canvas_has_picture(browser)
            browser.wait_for(VIEW + "v.latencies.length > 0", what="latencies from the parts' capture times")
            assert sink.board.viewers == 1 and sink.view_stats()["viewers"] == 0
            assert browser.run("return document.getElementById('view-transport').textContent") == "mjpeg"


@needs_chromium
def test_view_mjpeg_setting_serves_mjpeg_to_a_browser_with_webcodecs():
    with running(live_view(160, 120, {"view": "mjpeg"})) as (pipe, _, sink):
        with Chromium(size=(900, 700)) as browser:
            browser.get(sink.url)
            browser.wait_for(VIEW + "v.shown >= 5", what="five pictures")
            assert counters(browser)["transport"] == "mjpeg"
            assert "did not start" in browser.run("return window.edgepipeView.reason")


@needs_chromium
def test_the_view_follows_the_token_rules():
    token = "a-token-of-24-characters"
    with running(live_view(320, 240, {"host": "0.0.0.0", "token": token})) as (pipe, _, sink):
        url = sink.url
        with Chromium(size=(1100, 820)) as browser:
            browser.get(url)  # any page of the server, no token: the 401's message
            assert browser.run("return document.title") != "edgepipe live"
            # A script on that origin opening the WebSocket without the token is refused.
            closed = browser._session_call("POST", "/execute/async", {"script": """
                const done = arguments[0];
                const ws = new WebSocket(`ws://${location.host}/view.ws`);
                ws.onopen = () => done('opened');
                ws.onclose = (e) => done('closed ' + e.code);
            """, "args": []})
            assert closed.startswith("closed") and sink.view_stats()["viewers"] == 0
            browser.get(f"{url}?token={token}")  # the address the run logged: the cookie
            browser.wait_for(VIEW + "v.shown >= 5", what="pictures with the token's cookie")
            assert counters(browser)["transport"] == "h264"
            assert sink.view_stats()["viewers"] == 1


@needs_chromium
def test_a_page_that_cannot_keep_up_drops_to_keyframes_and_asks_for_them():
    """The page's main thread is blocked for a while (as a slow phone's is): the server keeps
    at most a few chunks in flight, and the page then starts again from a new keyframe."""
    with running(live_view(320, 240)) as (pipe, _, sink):
        with Chromium(size=(900, 700)) as browser:
            browser.get(sink.url)
            browser.wait_for(VIEW + "v.shown >= 10", what="ten pictures")
            before = sink.view_stats()
            keys_before = counters(browser)["keyframes"]
            shown_before = counters(browser)["shown"]
            # Block the page until the encoder has made 30 more pictures.
            encoded = before["encoded"]
            browser.run(f"""
                const until = Date.now() + 60000;
                let n = 0;
                while (Date.now() < until) {{
                    const r = new XMLHttpRequest();
                    r.open('GET', 'stats', false);
                    r.send();
                    if (JSON.parse(r.responseText).view.encoded >= {encoded + 30}) break;
                }}
            """)
            browser.wait_for(f"{VIEW} v.keyframes > {keys_before} && v.shown > {shown_before + 5}",
                             what="a new keyframe and pictures after the stall")
            after = sink.view_stats()
            client = after["clients"][0]
            assert client["falls"] >= 1 and client["skipped"] >= 20  # skipped, not queued
            assert after["keyframe_requests"] > before.get("keyframe_requests", 0)
            assert after["forced_keyframes"] > before["forced_keyframes"]
            assert counters(browser)["errors"] == 0
