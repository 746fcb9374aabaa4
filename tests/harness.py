"""Small pieces several test modules share: bounded waits and reading frames back."""

import threading

import cv2
import numpy as np
import pytest


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
