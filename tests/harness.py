"""Small pieces several test modules share: bounded waits, reading frames back, a live run."""

import contextlib
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]  # the checkout: tests/ sits at its top


def bounded(function, seconds: float = 30.0):
    """``function()``'s result; the test fails if it has not returned within ``seconds``."""
    box: dict = {}

    def target():
        try:
            box["value"] = function()
        except BaseException as error:  # handed to the test
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def decode(path) -> list[np.ndarray]:
    """Every frame OpenCV decodes from the video at ``path``."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def read_all(source, limit: int = 10_000) -> list[np.ndarray]:
    """Frames from an opened source until it ends, at most ``limit``."""
    frames = []
    while len(frames) < limit:
        frame = source.read()
        if frame is None:
            break
        frames.append(frame)
    return frames


@contextlib.contextmanager
def running(data: dict):
    """Run the config ``data`` in a thread; yield ``(pipeline, engine, http sink)``; stop and join.

    Waits (10 s at most) until the config's http sink serves; an error the run raises,
    before or after, is raised in the test.
    """
    from pipeline.io.sinks.http import HttpSink
    from pipeline.pipeline import Pipeline

    pipe = Pipeline.from_dict(data)
    engine = pipe.engine()
    sink = next(s for s in engine.sinks if isinstance(s, HttpSink))
    errors = []

    def run():
        try:
            engine.run()
        except BaseException as error:  # noqa: BLE001  (re-raised in the test)
            errors.append(error)

    thread = threading.Thread(target=run, name="test-pipeline", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while sink.url is None and not errors and thread.is_alive():
            if time.monotonic() > deadline:
                raise AssertionError("timed out after 10 s waiting for the sink to serve")
            time.sleep(0.02)
        if errors:
            raise errors[0]
        yield pipe, engine, sink
    finally:
        pipe.controls.stop()
        thread.join(15)
        assert not thread.is_alive(), "the pipeline did not stop"
    if errors:
        raise errors[0]
