#!/usr/bin/env python
"""Make the README's picture of the http sink's page: docs/http-view.png.

Runs a config with an ``http`` sink (default ``configs/demo-http.yaml``: the synthetic
source, so no camera is needed) on a free port, opens the page in headless Chromium,
lets the chart fill for ``--seconds``, with the threshold set by hand to ``--manual``
for the middle third of that time (so the chart shows a manual step and the way back to
auto), and saves a screenshot.

    python scripts/screenshot_http.py [--config configs/demo-http.yaml]
        [--out docs/http-view.png] [--seconds 20] [--size 1280x900]

Needs the system packages ``chromium`` and ``chromium-driver``; the browser is driven
by the small WebDriver client in ``tests/end_to_end/test_http_browser.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.io.sinks.http.sink import HttpSink  # noqa: E402
from pipeline.pipeline import Pipeline  # noqa: E402
from tests.end_to_end.test_http_browser import Chromium  # noqa: E402


def post_control(url: str, body: dict) -> None:
    request = urllib.request.Request(url + "control", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo-http.yaml"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "http-view.png"))
    parser.add_argument("--seconds", type=float, default=20.0, help="run time before the picture")
    parser.add_argument("--manual", type=float, default=90.0, help="threshold set by hand meanwhile")
    parser.add_argument("--size", default="1280x900", help="browser window, WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    width, height = (int(n) for n in args.size.lower().split("x"))

    pipe = Pipeline.from_yaml(args.config, ["sinks.0.http.port=0", "sinks.0.http.host=127.0.0.1"])
    engine = pipe.engine()
    sink = next(s for s in engine.sinks if isinstance(s, HttpSink))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            engine.run()
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    thread = threading.Thread(target=run, name="edgepipe-run", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while sink.url is None and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if sink.url is None:
            raise SystemExit(f"the http sink did not start: {errors[0] if errors else 'timeout'}")
        url = sink.url
        print(f"serving {url}", file=sys.stderr)
        with Chromium(size=(width, height)) as browser:
            browser.get(url)
            browser.wait_for("return window.edgepipeView && window.edgepipeView.shown", 20)
            third = args.seconds / 3
            time.sleep(third)
            post_control(url, {"threshold": args.manual})
            time.sleep(third)
            post_control(url, {"threshold": None})
            time.sleep(third)
            out = browser.screenshot(args.out)
        print(f"wrote {out}", file=sys.stderr)
    finally:
        pipe.controls.stop()
        thread.join(15)
    if errors:
        raise errors[0]
    return 0


if __name__ == "__main__":
    sys.exit(main())
