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


@needs_chromium
def test_canny_sliders_set_low_and_high_and_each_auto_button_frees_one():
    data = {
        "version": 1,
        "source": {"type": "synthetic", "width": 320, "height": 240, "fps": 20.0, "length": 0,
                   "live": True},
        "stages": [{"canny": {"low": "auto", "high": "auto"}}, {"overlay": {"color": [0, 255, 0]}}],
        "sinks": [{"http": {"port": 0}}],
        "runtime": {"mode": "live"},
    }
    with running(data) as (pipe, _, sink):
        url = sink.url
        with Chromium(size=(1100, 820)) as browser:
            browser.get(url)
            # The block appears once /stats carries the pair, with the values in use.
            browser.wait_for("return !document.getElementById('canny').hidden", what="the canny block")
            browser.wait_for("return /^\\d+$/.test(document.getElementById('canny-high-value').textContent)",
                             what="the high value in use")
            set_slider(browser, "canny-low", 31)
            assert eventually(lambda: pipe.controls.canny_manual == {"low": 31.0, "high": None})
            # Both at once: the second request goes out while the first is on its way,
            # and must keep the first one's value.
            set_slider(browser, "canny-low", 40)
            set_slider(browser, "canny-high", 90)
            assert eventually(lambda: pipe.controls.canny_manual == {"low": 40.0, "high": 90.0})
            set_slider(browser, "canny-low", 31)
            set_slider(browser, "canny-high", 97)
            assert eventually(lambda: pipe.controls.canny_manual == {"low": 31.0, "high": 97.0})
            assert eventually(lambda: stats(url)["frame"].get("canny") == {"low": 31.0, "high": 97.0})
            browser.wait_for("return document.getElementById('canny-low-value').textContent === '31' && "
                             "document.getElementById('canny-high-value').textContent === '97' && "
                             "document.getElementById('canny-low-mode').textContent === 'manual'",
                             what="the page to show 31 and 97 by hand")
            browser.run("document.getElementById('canny-low-auto').click()")
            assert eventually(lambda: pipe.controls.canny_manual == {"low": None, "high": 97.0})
            browser.wait_for("return document.getElementById('canny-low-mode').textContent === 'auto'",
                             what="low back to auto")
            browser.run("document.getElementById('canny-high-auto').click()")
            assert eventually(lambda: pipe.controls.canny_manual is None)
