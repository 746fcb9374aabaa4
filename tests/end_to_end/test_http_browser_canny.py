"""The page's canny sliders in a real headless Chromium: shown, moved, each back to auto."""

from __future__ import annotations

from tests.harness import running
from tests.end_to_end.test_http_browser import Chromium, eventually, needs_chromium, stats


def set_slider(browser, element_id: str, value: int) -> None:
    browser.run(f"""
        const slider = document.getElementById('{element_id}');
        slider.value = '{value}';
        slider.dispatchEvent(new Event('input', {{bubbles: true}}));
        slider.dispatchEvent(new Event('change', {{bubbles: true}}));
    """)


def live_canny_view(width: int, height: int, *more_stages: dict) -> dict:
    """A live synthetic run with a canny stage (both values auto) and the http sink."""
    return {
        "version": 1,
        "source": {"type": "synthetic", "width": width, "height": height, "fps": 20.0,
                   "length": 0, "live": True},
        "stages": [{"canny": {"low": "auto", "high": "auto"}}, *more_stages],
        "sinks": [{"http": {"port": 0}}],
        "runtime": {"mode": "live"},
    }


@needs_chromium
def test_canny_sliders_set_low_and_high_and_each_auto_button_frees_one():
    data = live_canny_view(320, 240, {"overlay": {"color": [0, 255, 0]}})
    with running(data) as (pipe, _, sink):
        url = sink.url
        with Chromium(size=(1100, 820)) as browser:
            browser.get(url)
            # The block appears once /stats carries the pair, with the values in use.
            browser.wait_for("return !document.getElementById('canny').hidden", what="the canny block")
            browser.wait_for("return /^\\d+$/.test(document.getElementById('canny-high-value').textContent)",
                             what="the high value in use")
            set_slider(browser, "canny-low", 31)
            assert eventually(lambda: pipe.controls.tuned.manual("canny") == {"low": 31.0, "high": None})
            # Both at once: the second request goes out while the first is on its way,
            # and must keep the first one's value.
            set_slider(browser, "canny-low", 40)
            set_slider(browser, "canny-high", 90)
            assert eventually(lambda: pipe.controls.tuned.manual("canny") == {"low": 40.0, "high": 90.0})
            set_slider(browser, "canny-low", 31)
            set_slider(browser, "canny-high", 97)
            assert eventually(lambda: pipe.controls.tuned.manual("canny") == {"low": 31.0, "high": 97.0})
            assert eventually(lambda: stats(url)["frame"].get("canny") == {"low": 31.0, "high": 97.0})
            browser.wait_for("return document.getElementById('canny-low-value').textContent === '31' && "
                             "document.getElementById('canny-high-value').textContent === '97' && "
                             "document.getElementById('canny-low-mode').textContent === 'manual'",
                             what="the page to show 31 and 97 by hand")
            browser.run("document.getElementById('canny-low-auto').click()")
            assert eventually(lambda: pipe.controls.tuned.manual("canny") == {"low": None, "high": 97.0})
            browser.wait_for("return document.getElementById('canny-low-mode').textContent === 'auto'",
                             what="low back to auto")
            browser.run("document.getElementById('canny-high-auto').click()")
            assert eventually(lambda: pipe.controls.tuned.manual("canny") is None)


@needs_chromium
def test_a_wish_made_between_two_requests_is_not_overtaken_by_an_older_one():
    # Every POST /control answer is held back 150 ms in the page.  Low 40 goes out at
    # once, high 90 waits for it; at 200 ms (the first answer is in, the queued high 90
    # waits its turn) high becomes 97.  97 must be what the run ends with: a page that
    # copied the queue when the answer came and sent 97 on its own would send the stale
    # 90 after it.
    with running(live_canny_view(160, 120)) as (pipe, _, sink):
        with Chromium(size=(1100, 820)) as browser:
            browser.get(sink.url)
            browser.wait_for("return !document.getElementById('canny').hidden", what="the canny block")
            browser.run("""
                window.sent = [];
                const realFetch = window.fetch;
                window.fetch = async (url, options) => {
                  if (!options || !options.body) return realFetch(url, options);
                  window.sent.push(JSON.parse(options.body));
                  const answer = await realFetch(url, options);
                  await new Promise((resolve) => setTimeout(resolve, 150));
                  return answer;
                };
                const move = (id, value) => {
                  const slider = document.getElementById(id);
                  slider.value = String(value);
                  slider.dispatchEvent(new Event('input', {bubbles: true}));
                };
                move('canny-low', 40);
                move('canny-high', 90);
                setTimeout(() => move('canny-high', 97), 200);
                setTimeout(() => { window.done = true; }, 1200);
            """)
            browser.wait_for("return window.done === true", what="the page to finish sending")
            sent = browser.run("return window.sent")
            assert sent[0] == {"canny": {"low": 40}}
            assert sent[-1]["canny"]["high"] == 97, sent
            assert pipe.controls.tuned.manual("canny") == {"low": 40.0, "high": 97.0}, sent
