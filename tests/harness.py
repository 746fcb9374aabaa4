"""Small pieces several test modules share: bounded waits, reading frames back, a live run,
the pictures and inputs the stage tests take, and the frames and clips the io tests write."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline import ops
from pipeline.activations import ACTIVATIONS
from pipeline.frame import Frame
from pipeline.stages.hud import draw_hud, hud_lines

ROOT = Path(__file__).resolve().parents[1]  # the checkout: tests/ sits at its top
DATA = ROOT / "samples"  # OpenCV sample photos (BSD)


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
    from pipeline.io.sinks.http.sink import HttpSink
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


@contextlib.contextmanager
def running_streams(data: dict):
    """Run the ``sources:`` config ``data`` in a thread; yield ``(pipeline, stream set,
    the http sink serving every stream)``; stop every stream and join.

    Waits (30 s at most: the streams' kernels may compile first) until the sink serves.
    """
    from pipeline.io.sinks.http.sink import HttpSink
    from pipeline.pipeline import Pipeline

    pipe = Pipeline.from_dict(data)
    streams = pipe.stream_set()
    front = next(sink for sink in pipe.sinks if isinstance(sink, HttpSink))
    thread = threading.Thread(target=streams.run, name="test-streams", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while front.url is None and thread.is_alive():
            if time.monotonic() > deadline:
                raise AssertionError("timed out after 30 s waiting for the shared http sink to serve")
            time.sleep(0.02)
        yield pipe, streams, front
    finally:
        for controls in list(pipe.stream_controls.values()):
            controls.stop("stopped")
        thread.join(30)
        assert not thread.is_alive(), "the streams did not stop"


# ---------------------------------------------------------------- pictures for the stages

def photo(shape=(24, 31), seed=0):
    """A BGR picture with smooth noise and hard edges."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, shape + (3,), dtype=np.uint8), (0, 0), 1.5)
    h, w = shape
    cv2.rectangle(img, (w // 4, h // 4), (w // 2, h // 2), (250, 240, 230), -1)
    cv2.circle(img, (2 * w // 3, h // 2), max(1, min(shape) // 5), (10, 20, 30), -1)
    return img


def grey(shape=(24, 31), seed=0):
    return cv2.cvtColor(photo(shape, seed), cv2.COLOR_BGR2GRAY) if min(shape) > 1 else \
        np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def magnitude(shape=(24, 31), seed=0):
    g = grey(shape, seed)
    return ops.magnitude(ops.derivative(g, "sobel", "x"), ops.derivative(g, "sobel", "y"))


def edges(shape=(24, 31), seed=0):
    return ops.threshold(magnitude(shape, seed), 60)


# The input each stage expects (given the shape), as a Frame with the BGR original.
def _frame(image, original):
    return Frame(0, 0.0, original, image)


INPUTS = {
    "grayscale": lambda s, k=0: _frame(photo(s, k), photo(s, k)),
    "derivative": lambda s, k=0: _frame(grey(s, k), photo(s, k)),
    "gradient": lambda s, k=0: _frame(grey(s, k), photo(s, k)),
    "map": lambda s, k=0: _frame(magnitude(s, k), photo(s, k)),
    "threshold": lambda s, k=0: _frame(ops.map_abs(magnitude(s, k)), photo(s, k)),
    "overlay": lambda s, k=0: _frame(edges(s, k), photo(s, k)),
    "hud": lambda s, k=0: _frame(photo(s, k), photo(s, k)),
    "resize": lambda s, k=0: _frame(photo(s, k), photo(s, k)),
    "blur": lambda s, k=0: _frame(photo(s, k), photo(s, k)),
    "canny": lambda s, k=0: _frame(photo(s, k), photo(s, k)),
}


def reference(name, settings, frame):
    """What the stage must produce, from the functions it is built on."""
    s, image = settings, frame.image
    if name == "grayscale":
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if name == "derivative":
        d = ops.derivative(image, s["kind"], s["axis"], s["border"])
        if s["mapping"] == "abs":
            return ops.map_abs(d, s["scale"])
        if s["mapping"] == "shift":
            return ops.map_shift(d, s["offset"], s["scale"])
        return d
    if name == "gradient":
        return ops.magnitude(ops.derivative(image, s["kind"], "x", s["border"]),
                             ops.derivative(image, s["kind"], "y", s["border"]), s["norm"])
    if name == "map":
        if s["mode"] == "abs":
            return ops.map_abs(image, s["scale"])
        if s["mode"] == "shift":
            return ops.map_shift(image, s["offset"], s["scale"])
        fn = ACTIVATIONS[s["fn"]][0]
        y = np.array([[fn((float(v) - s["center"]) / s["width"]) for v in row] for row in image])
        return np.clip(np.rint(255 * y), 0, 255).astype(np.uint8)
    if name == "threshold":
        return np.where(image > s["value"], 255, 0).astype(np.uint8)
    if name == "overlay":
        out = frame.original.astype(np.float64)
        w = (image.astype(np.float64) * s["alpha"] / 255.0)[..., None]
        painted = np.rint(out + (np.array(s["color"], np.float64) - out) * w)
        return np.where(image[..., None] > 0, painted, frame.original).astype(np.uint8)
    if name == "hud":
        return draw_hud(image, hud_lines(None, None, 0.0), s["corner"], s["color"],
                        s["font_scale"], s["thickness"])
    if name == "resize":
        h, w = image.shape[:2]
        size = (max(1, round(w * s["scale"])), max(1, round(h * s["scale"])))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if name == "blur":
        return cv2.GaussianBlur(image, (s["ksize"], s["ksize"]), s["sigma"],
                                borderType=cv2.BORDER_REFLECT_101)
    if name == "canny":
        return cv2.Canny(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), s["low"], s["high"],
                         apertureSize=3, L2gradient=s["l2"])
    raise AssertionError(f"no reference for stage {name!r}")


def run(stage, frame):
    copy = Frame(frame.index, frame.timestamp, frame.original, frame.image, dict(frame.side))
    return stage(copy)


# ---------------------------------------------------------------- frames and clips for io

WIDTH, HEIGHT = 64, 48  # of make_frame's frames and write_clip's clips


def make_frame(index: int, grey: bool = False, side: dict | None = None) -> Frame:
    level = (25 * index) % 250
    shape = (HEIGHT, WIDTH) if grey else (HEIGHT, WIDTH, 3)
    image = np.full(shape, level, np.uint8)
    image[: HEIGHT // 2, : WIDTH // 2] = 255 - level  # an edge, so codecs have work to do
    return Frame(index, time.perf_counter(), image, image, dict(side or {}))


def read_video(path) -> tuple[int, tuple, float]:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    assert capture.isOpened(), f"cannot read back {path}"
    count, shape = 0, None
    while True:
        ok, image = capture.read()
        if not ok:
            break
        count, shape = count + 1, image.shape
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return count, shape, fps


def files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


FRAMES, FPS = 12, 15.0  # write_clip's defaults


def dead_pid() -> int:
    """The pid of a process that ran and was reaped (so it is no live process now)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def hidden(folder: Path) -> list[str]:
    """The names of the hidden files in ``folder`` (temporaries and locks are hidden)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def frame_number(i: int) -> np.ndarray:
    """Frame ``i`` of the test clips: flat grey level 20 * i (mod 240), so decoded frames are identifiable."""
    return np.full((HEIGHT, WIDTH, 3), (20 * i) % 240, np.uint8)


def write_clip(path, fourcc: str, frames: int = FRAMES, fps: float = FPS) -> str:
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), fps, (WIDTH, HEIGHT))
    assert writer.isOpened(), f"this OpenCV cannot write {fourcc} to {path}"
    for i in range(frames):
        writer.write(frame_number(i))
    writer.release()
    return str(path)


# ---------------------------------------------------------------- the seed's functions (optim)

def bowl(x, y):
    """The seed's f(x, y) = x^2 + y^2."""
    return x**2 + y**2


def square(x):
    """The seed's f(x) = x^2."""
    return x**2


def eventually(condition, seconds: float = 30.0) -> bool:
    """Whether ``condition()`` became true within ``seconds``: a wait for events (a page
    updating itself, a POST /control reaching the run), not a bound on their time."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
