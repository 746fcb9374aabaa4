"""The warm-up before the clock, and the tiered start.

Numba code compiled by the warm-up is paid before the clock starts, and stderr hears why,
once, terminal or not.  The edgepipe kernels are not waited for: frames start on the
OpenCV tier and switch to the kernels once a child process has compiled them (one line
each way), with the same bytes as a run that waited (EDGEPIPE_OPENCV_TIER=0).

The subprocess tests point NUMBA_CACHE_DIR at an empty folder, so numba really compiles
(as on a fresh machine).
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numba
import numpy as np
import pytest

from pipeline import opencv_tier
from pipeline.frame import Frame
from pipeline.io.base import Sink
from pipeline.config.registry import build
from pipeline.runtime import warmup
from pipeline.runtime.engine import Engine
from pipeline.stages import Chain
from pipeline.stages import tiers as tiers_module
from pipeline.stages.base import Stage
from tests.harness import ROOT



class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def fresh_notice(monkeypatch):
    """A process in which the notice was not shown yet; install the terminal in the test
    (pytest's capture puts its own sys.stderr back between setup and call)."""
    monkeypatch.setattr(warmup, "_noticed", threading.Event())
    return Terminal()


def uncached_stage():
    """A stage calling a numba function compiled on first use (no cache: always a miss)."""
    @numba.njit(cache=False)
    def total(a):
        return a.sum()

    class Compiling(Stage):
        params = ()

        def __call__(self, frame):
            frame.side["total"] = int(total(frame.image))
            return frame

    return Compiling()


@pytest.mark.parametrize("image", [
    np.zeros((48, 64), np.uint8), np.zeros((48, 64, 3), np.uint8),
    np.zeros((48, 128, 3), np.uint8)[:, ::2], np.zeros((100, 100), np.uint8)[10:90, 5:95],
], ids=["grey", "bgr", "strided-bgr", "cropped-grey"])
def test_the_sample_is_typed_by_numba_as_the_frame_is(image):
    sample = warmup.warm_sample(image)
    assert numba.typeof(sample) == numba.typeof(image)
    assert sample.shape[:2] == (min(32, image.shape[0]), min(32, image.shape[1]))


def test_a_compile_during_the_warm_up_is_told_once_on_a_terminal(fresh_notice, monkeypatch):
    monkeypatch.setattr(sys, "stderr", fresh_notice)
    frame = np.zeros((40, 40), np.uint8)
    done = warmup.warm_chain(Chain([uncached_stage()]), frame)
    assert done.compiles > 0 and fresh_notice.getvalue() == warmup.NOTICE + "\n"
    again = warmup.warm_chain(Chain([uncached_stage()]), frame)  # another compile...
    assert again.compiles > 0 and fresh_notice.getvalue() == warmup.NOTICE + "\n"  # ...said once


def test_the_notice_is_said_without_a_terminal_too_and_only_when_numba_compiles(
        fresh_notice, monkeypatch):
    stage = uncached_stage()
    frame = np.zeros((40, 40), np.uint8)
    monkeypatch.setattr(sys, "stderr", None)  # stderr closed (2>&-): no error
    assert warmup.warm_chain(Chain([stage]), frame).compiles > 0
    monkeypatch.setattr(warmup, "_noticed", threading.Event())
    pipe = io.StringIO()  # a pipe, a file: no terminal
    monkeypatch.setattr(sys, "stderr", pipe)
    assert warmup.warm_chain(Chain([stage]), frame).compiles == 0  # compiled already
    assert pipe.getvalue() == ""
    assert warmup.warm_chain(Chain([uncached_stage()]), frame).compiles > 0
    assert pipe.getvalue() == warmup.NOTICE + "\n"


def test_a_failing_warm_up_leaves_the_error_to_the_first_frame():
    class Picky(Stage):
        params = ()

        def __call__(self, frame):
            if frame.index < 0:
                raise ValueError("too small")
            return frame

    assert warmup.warm_chain(Chain([Picky()]), np.zeros((8, 8), np.uint8)).compiles == 0


class SlowFirstCall(Stage):
    """Takes ``seconds`` on its first call only, as a kernel that compiles."""

    params = ()

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.calls, self.bound_at_first = seconds, 0, "unset"
        self.first_index = None  # the index of the frame the slow call was made on

    def __call__(self, frame):
        if self.calls == 0:
            self.bound_at_first = self.controls
            self.first_index = frame.index
            time.sleep(self.seconds)
        self.calls += 1
        return frame


class Discard(Sink):
    def write(self, frame):
        pass


def test_the_first_call_is_paid_before_the_first_frame_is_timed():
    slow = SlowFirstCall(0.2)
    source = build("source", "synthetic", {"width": 64, "height": 48, "length": 20})
    engine = Engine(source, Chain([build("stage", "grayscale"), slow]), [Discard()], mode="batch")
    summary = engine.run()
    # The slow call was made on the warm-up's frame (index -1), which the source thread
    # runs before it stamps frame 0: no timed frame pays it.
    assert slow.first_index == -1
    assert engine.warmup.seconds >= 0.2  # what the warm-up reports is the call it made
    assert slow.bound_at_first is None  # unbound: no trace in the run's controls
    assert summary.frames_out == 20 and slow.calls == 21


CHILD = textwrap.dedent("""
    import json
    from pipeline.pipeline import Pipeline

    pipe = Pipeline.from_dict({
        "version": 1,
        "source": {"type": "synthetic", "width": 96, "height": 64, "length": 30},
        "stages": ["grayscale", "gradient", "map", "threshold"],
        "sinks": ["discard"], "runtime": {"mode": "batch"}})
    engine = pipe.engine()

    from numba.core import event

    class Compiles(event.Listener):  # every numba compile in the run, warm-up or not
        count = 0

        def on_start(self, _):
            self.count += 1

        def on_end(self, _):
            pass

    compiles = Compiles()
    with event.install_listener("numba:compile", compiles):
        summary = engine.run()
    print(json.dumps({"seconds": engine.warmup.seconds, "compiles": engine.warmup.compiles,
                      "run_compiles": compiles.count,
                      "latency": summary.latency_ms, "frames": summary.frames_out}))
""")


def run_child(cache_dir: Path, tiers: str = "0") -> tuple[dict, str]:
    """The child's summary and what it wrote on its terminal (stderr is a pty)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT),
               EDGEPIPE_OPENCV_TIER=tiers)
    master, slave = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE,
                              stderr=slave, timeout=300, cwd=ROOT)
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child's side is closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert done.returncode == 0, terminal
    return json.loads(done.stdout), terminal


def test_without_tiers_a_fresh_cache_compiles_before_the_clock_and_says_so_once(tmp_path):
    cold, said = run_child(tmp_path / "numba-cache")
    assert cold["frames"] == 30 and cold["compiles"] > 0
    assert said.count("compiling kernels (first run only)") == 1
    # Every compile of the run happened in the warm-up, before frame 0 was stamped:
    # none is in a frame's latency.
    assert cold["run_compiles"] == cold["compiles"]
    warm, said = run_child(tmp_path / "numba-cache")  # the cache is filled now
    assert warm["compiles"] == 0 and "compiling" not in said


class TierProbe(Stage):
    """Leaves in ``frame.side`` whether the frame ran on the OpenCV tier."""

    params = ()

    def __call__(self, frame):
        frame.side["opencv"] = opencv_tier.active()
        return frame


TIERED_CHILD = textwrap.dedent("""
    import hashlib, json, sys
    from pipeline.config.registry import build
    from pipeline.runtime.engine import Engine
    from pipeline.stages import Chain
    from tests.runtime.test_warmup import Discard, TierProbe

    frames = int(sys.argv[1])  # 0: until 5 frames after the switch
    source = build("source", "synthetic", {"width": 96, "height": 64,
                                           "length": frames or 10**6})
    stages = [build("stage", name) for name in ("grayscale", "gradient", "map", "threshold")]
    engine = Engine(source, Chain(stages + [TierProbe()]), [Discard()], mode="batch")
    rows, switched = [], None
    for frame in engine.frames():
        rows.append([frame.index, frame.side["opencv"],
                     hashlib.md5(frame.image.tobytes()).hexdigest()])
        if switched is None and not frame.side["opencv"]:
            switched = frame.index
        if not frames and switched is not None and frame.index >= switched + 5:
            break
    print(json.dumps({"rows": rows, "tiered": engine.warmup.tiered}))
""")


def run_tiered(cache_dir: Path, frames: int, tiers: str) -> tuple[dict, str]:
    """The child's frames and its stderr (a pipe: no terminal)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT),
               EDGEPIPE_OPENCV_TIER=tiers)
    done = subprocess.run([sys.executable, "-c", TIERED_CHILD, str(frames)], env=env,
                          capture_output=True, timeout=600, cwd=ROOT, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_a_fresh_cache_starts_on_opencv_and_switches_to_the_compiled_kernels(tmp_path):
    cache = tmp_path / "numba-cache"
    cold, said = run_tiered(cache, 0, "1")
    rows = cold["rows"]
    tiers = [opencv for _, opencv, _ in rows]
    switch = tiers.index(False)
    # From the first frame on OpenCV; once switched, on the kernels for good.
    assert cold["tiered"] and switch > 0 and not any(tiers[switch:]) and all(tiers[:switch])
    lines = said.splitlines()
    assert lines.count(tiers_module.NOTICE) == 1  # its own line, without a terminal
    ready = [line for line in lines if line.startswith("edgepipe: kernels ready after ")]
    assert ready == [ready[0]] and ready[0].endswith(f"frames from {switch} on run on them")
    # The same bytes as a run that waited for the kernels (the cache is filled now).
    waited, said = run_tiered(cache, len(rows), "0")
    assert not waited["tiered"] and not any(opencv for _, opencv, _ in waited["rows"])
    assert [digest for *_, digest in waited["rows"]] == [digest for *_, digest in rows]
    assert "compiling" not in said


def test_a_warm_cache_switches_in_process_without_a_word(monkeypatch):
    chain = Chain([build("stage", "grayscale"), build("stage", "gradient"),
                   build("stage", "map")])
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    monkeypatch.setenv("EDGEPIPE_OPENCV_TIER", "0")  # compiled or loaded here, in this process
    warmup.warm_chain(Chain(list(chain.stages)), image)
    monkeypatch.setenv("EDGEPIPE_OPENCV_TIER", "1")
    done = warmup.warm_chain(chain, image)
    assert done.tiered and chain.tier == "opencv" and not chain.loader.started
    first = chain(Frame(0, 0.0, image, image))  # on OpenCV; then the loader starts
    assert chain.tier == "opencv" and chain.loader.started
    assert chain.loader.join(300) and not chain.loader.compiled
    second = chain(Frame(1, 0.0, image, image))
    assert chain.tier == "kernels"
    np.testing.assert_array_equal(first.image, second.image)


class SlowFirstWrite(Sink):
    """Takes a while over its first frame, as a video sink opening its encoder."""

    def __init__(self):
        super().__init__()
        self.written = 0

    def write(self, frame):
        if not self.written:
            time.sleep(0.3)
        self.written += 1


def loader_watch(monkeypatch, sink=None):
    """Record what ``sink`` had written when the kernel loader began to load (its first
    ``warm``); the loader then gives up, so the run stays on OpenCV without numba's work."""
    seen, began = [], threading.Event()

    def warm(calls, compile_=True):
        seen.append(sink.written if sink is not None else None)
        began.set()
        raise RuntimeError("held here by the test")

    monkeypatch.setattr(tiers_module, "warm", warm)
    monkeypatch.setenv("EDGEPIPE_OPENCV_TIER", "1")
    return seen, began


def edges_chain():
    return Chain([build("stage", "grayscale"), build("stage", "gradient"), build("stage", "map")])


def test_the_kernel_loader_waits_until_the_first_frame_is_written(monkeypatch):
    sink = SlowFirstWrite()
    seen, began = loader_watch(monkeypatch, sink)
    source = build("source", "synthetic", {"width": 64, "height": 48, "length": 10})
    engine = Engine(source, edges_chain(), [sink], mode="batch")
    assert engine.run().frames_out == 10
    assert engine.warmup.tiered and engine.chain.loader.started
    # numba's import and the kernels' loading would compete with the first frame's write.
    assert began.wait(120) and seen[0] >= 1


def test_without_sinks_the_loader_waits_for_the_frame_handed_to_the_caller(monkeypatch):
    seen, began = loader_watch(monkeypatch)
    monkeypatch.setattr(tiers_module, "HOLD_SECONDS", 600.0)  # only the frame releases it
    source = build("source", "synthetic", {"width": 64, "height": 48, "length": 10})
    frames = Engine(source, edges_chain(), [], mode="batch").frames()
    assert next(frames).index == 0
    assert began.wait(120)
    frames.close()
