"""The shared processing pool (pipeline/runtime/pool.py): oldest frame first across
streams, one stream's frames one at a time and in order, a failing or paused stream holds
back no other, and the threads end with the pool.

Streams here are real :class:`Processor` objects over real queues and chains; frames are
put into their input queues with chosen capture stamps, and stages count what runs.  The
engine-level tests run real engines (synthetic sources, recording sinks) on one pool.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from pipeline import ops
from pipeline.config.registry import build
from pipeline.controls import Controls
from pipeline.frame import Frame
from pipeline.io.base import Sink
from pipeline.runtime.engine import DEFAULT_QUEUE_SIZE, POOL_LIVE_QUEUE_SIZE, Engine
from pipeline.runtime.pool import ProcessingPool, default_workers
from pipeline.runtime.queues import END, FrameQueue
from pipeline.runtime.stats import RunStats
from pipeline.runtime.workers import Processor, RunState
from pipeline.stages import Chain, StageError
from pipeline.stages.base import Stage

GUARD = 60.0  # seconds a test waits for an event at most: a deadlock guard, not a time bound


class Ledger:
    """What the stages of every stream did, in order, and how many ran at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.order: list[tuple[str, int]] = []
        self.inside: dict[str, int] = {}
        self.most_inside: dict[str, int] = {}
        self.total_inside = 0
        self.most_total = 0

    def enter(self, name: str, index: int) -> None:
        with self.lock:
            self.order.append((name, index))
            self.inside[name] = self.inside.get(name, 0) + 1
            self.most_inside[name] = max(self.most_inside.get(name, 0), self.inside[name])
            self.total_inside += 1
            self.most_total = max(self.most_total, self.total_inside)

    def leave(self, name: str) -> None:
        with self.lock:
            self.inside[name] -= 1
            self.total_inside -= 1


class Recording(Stage):
    """Notes each frame in the ledger; ``hold(frame)`` runs while inside (may wait or raise)."""

    def __init__(self, name: str, ledger: Ledger, hold=None):
        super().__init__()
        self.name, self.ledger, self.hold = name, ledger, hold

    def __call__(self, frame: Frame) -> Frame:
        self.ledger.enter(self.name, frame.index)
        try:
            if self.hold is not None:
                self.hold(frame)
        finally:
            self.ledger.leave(self.name)
        return frame


class Stream:
    """One stream's processor with its input, one consumer queue, state and stats."""

    def __init__(self, name: str, ledger: Ledger, hold=None, out_size: int = 64):
        self.name = name
        self.controls = Controls()
        self.state = RunState(self.controls)
        self.input = FrameQueue(64, drop_oldest=False)
        self.output = FrameQueue(out_size, drop_oldest=False)
        chain = Chain([Recording(name, ledger, hold)])
        self.stats = RunStats(chain.labels, ["out"])
        self.state.queues = [self.input, self.output]
        self.processor = Processor(chain, self.input, [(self.output, "out")], self.state, self.stats)

    def feed(self, stamps, close: bool = True) -> None:
        for index, stamp in enumerate(stamps):
            image = np.full((4, 4), index, np.uint8)
            self.input.put(Frame(index, stamp, image, image))
        if close:
            self.input.close()

    def drain(self) -> list[int]:
        """The indices the consumer got, up to END."""
        got = []
        while (item := self.output.get(GUARD)) is not END:
            assert item is not None, f"{self.name}: no END within the guard"
            got.append(item.index)
        return got


def run_pool(pool: ProcessingPool, streams: list[Stream]) -> list:
    entries = [pool.register(stream.processor) for stream in streams]
    pool.start()
    try:
        for entry in entries:
            assert entry.finished.wait(GUARD)
    finally:
        pool.stop()
    return entries


def test_one_worker_takes_the_oldest_frame_of_every_stream_first():
    ledger = Ledger()
    stamps = {"a": [1.0, 4.0, 5.0], "b": [2.0, 3.0, 6.0], "c": [0.5, 7.0]}
    streams = [Stream(name, ledger) for name in stamps]
    for stream in streams:
        stream.feed(stamps[stream.name])
    run_pool(ProcessingPool(1), streams)
    by_stamp = sorted((stamp, name, index) for name, values in stamps.items()
                      for index, stamp in enumerate(values))
    assert ledger.order == [(name, index) for _, name, index in by_stamp]
    assert [stream.drain() for stream in streams] == [[0, 1, 2], [0, 1, 2], [0, 1]]


def test_equal_stamps_go_to_the_stream_registered_first():
    ledger = Ledger()
    streams = [Stream(name, ledger) for name in ("first", "second")]
    for stream in streams:
        stream.feed([1.0, 1.0])
    run_pool(ProcessingPool(1), streams)
    assert ledger.order == [("first", 0), ("first", 1), ("second", 0), ("second", 1)]


def test_a_streams_frames_never_run_at_once_and_stay_in_order():
    ledger = Ledger()
    both_inside = threading.Event()

    def hold(frame):  # the first frames wait until the other stream is inside too
        with ledger.lock:
            if ledger.total_inside >= 2:
                both_inside.set()
        if frame.index == 0:
            both_inside.wait(GUARD)

    streams = [Stream(name, ledger, hold) for name in ("a", "b", "c")]
    for number, stream in enumerate(streams):
        stream.feed([number + 0.01 * i for i in range(40)])
    entries = run_pool(ProcessingPool(3), streams)
    assert both_inside.is_set()  # the workers did process streams at the same time...
    assert ledger.most_total >= 2
    assert ledger.most_inside == {"a": 1, "b": 1, "c": 1}  # ...but never one stream twice
    for stream, entry in zip(streams, entries):
        assert [i for name, i in ledger.order if name == stream.name] == list(range(40))
        assert stream.drain() == list(range(40))
        assert entry.frames == 40 and stream.stats.frames_processed == 40


def test_a_failing_chain_fails_its_stream_alone():
    ledger = Ledger()

    def explode(frame):
        if frame.index == 2:
            raise ValueError("bad pixels")

    bad, good = Stream("bad", ledger, explode), Stream("good", ledger)
    bad.feed([0.1 * i for i in range(10)])
    good.feed([0.1 * i + 0.05 for i in range(10)])
    run_pool(ProcessingPool(2), [bad, good])
    assert isinstance(bad.state.error, StageError) and "bad pixels" in str(bad.state.error)
    assert bad.state.abandoned.is_set() and bad.controls.stop_reason == "error"
    assert good.state.error is None and not good.controls.stopped
    assert good.drain() == list(range(10))
    assert bad.output.get(0) is END  # abandoned: what it held is dropped, END follows
    assert [i for name, i in ledger.order if name == "bad"] == [0, 1, 2]


def test_a_paused_stream_waits_while_the_others_go_on_then_resumes():
    ledger = Ledger()
    paused, running = Stream("paused", ledger), Stream("running", ledger)
    paused.controls.paused = True
    paused.feed([0.0, 0.1, 0.2])  # its frames are the oldest, yet nothing of it runs
    running.feed([1.0, 1.1, 1.2])
    pool = ProcessingPool(2)
    held, done = pool.register(paused.processor), pool.register(running.processor)
    pool.start()
    try:
        assert done.finished.wait(GUARD)
        assert running.drain() == [0, 1, 2]
        assert not held.finished.is_set() and len(paused.input) == 3
        assert [name for name, _ in ledger.order] == ["running"] * 3
        paused.controls.paused = False  # the controls wake the pool: no polling
        assert held.finished.wait(GUARD)
        assert paused.drain() == [0, 1, 2]
    finally:
        pool.stop()


def test_a_stopped_stream_ends_although_its_source_sends_nothing():
    ledger = Ledger()
    quiet, other = Stream("quiet", ledger), Stream("other", ledger)
    quiet.feed([0.0], close=False)  # its source is stuck: the queue never closes
    pool = ProcessingPool(1)
    entry = pool.register(quiet.processor)
    pool.start()
    try:
        assert quiet.output.get(GUARD).index == 0
        assert not entry.finished.is_set() and pool.streams() == 1
        quiet.controls.stop("stopped")
        assert entry.finished.wait(GUARD)
        assert quiet.output.get(GUARD) is END and quiet.state.error is None
        other.feed([5.0, 6.0])  # a stream joining the running pool later
        late = pool.register(other.processor)
        assert late.finished.wait(GUARD) and other.drain() == [0, 1]
        assert pool.streams() == 0
    finally:
        pool.stop()


def test_an_abandoned_stream_ends_and_drops_what_it_held():
    ledger = Ledger()
    gone, kept = Stream("gone", ledger), Stream("kept", ledger)
    gone.controls.paused = True
    gone.feed([0.0, 0.1], close=False)
    kept.feed([1.0])
    pool = ProcessingPool(2)
    entries = [pool.register(gone.processor), pool.register(kept.processor)]
    pool.start()
    try:
        gone.state.abandon()  # a second Ctrl+C
        for entry in entries:
            assert entry.finished.wait(GUARD)
        assert gone.output.get(0) is END and kept.drain() == [0]
        assert [name for name, _ in ledger.order] == ["kept"]
    finally:
        pool.stop()


def test_a_full_consumer_queue_holds_back_its_stream_only():
    """Batch mode: a stream whose sink is behind is passed over, not waited for."""
    ledger = Ledger()
    slow, fast = Stream("slow", ledger, out_size=2), Stream("fast", ledger)
    slow.feed([0.0, 0.1, 0.2, 0.3], close=False)  # twice what its sink's queue holds
    fast.feed([1.0 + 0.1 * i for i in range(20)])
    pool = ProcessingPool(1)  # one worker: had it blocked in slow's put, fast would never run
    entries = [pool.register(slow.processor), pool.register(fast.processor)]
    pool.start()
    try:
        assert entries[1].finished.wait(GUARD)
        assert fast.drain() == list(range(20))
        assert len(slow.input) == 2 and len(slow.output) == 2  # its oldest frames wait
        assert [slow.output.get(GUARD).index for _ in range(4)] == [0, 1, 2, 3]
        slow.input.close()
        assert entries[0].finished.wait(GUARD) and slow.output.get(GUARD) is END
    finally:
        pool.stop()


def test_a_frame_wakes_one_idle_worker_not_every_one():
    # Two idle workers, frames put one at a time: each frame is one job, so one worker
    # wakes for it (waking both put one back to sleep: a thread switch per frame).
    stream = Stream("a", Ledger())
    pool = ProcessingPool(2)
    wakes = []
    wait = pool._cond.wait

    def counted_wait(*args):
        result = wait(*args)
        wakes.append(threading.current_thread().name)
        return result

    pool._cond.wait = counted_wait
    entry = pool.register(stream.processor)
    pool.start()
    try:
        frames = 20
        for index in range(frames):
            image = np.full((4, 4), index, np.uint8)
            stream.input.put(Frame(index, float(index), image, image))
            assert stream.output.get(GUARD).index == index
        stream.input.close()
        assert stream.output.get(GUARD) is END and entry.finished.wait(GUARD)
    finally:
        pool.stop()
    assert frames <= len(wakes) <= frames + 4, wakes  # the end and the stop wake the rest


def test_the_workers_end_with_the_pool_and_a_stopped_pool_takes_no_stream():
    pool = ProcessingPool(3)
    pool.start()
    assert pool.alive() == 3 and pool.running
    pool.stop()
    assert pool.alive() == 0 and not pool.running
    assert not [t for t in threading.enumerate() if t.name.startswith("edgepipe-pool-")]
    with pytest.raises(RuntimeError, match="stopped"):
        pool.register(Stream("late", Ledger()).processor)


def test_a_stream_left_registered_when_the_pool_stops_fails_rather_than_hangs():
    stream = Stream("left", Ledger())
    stream.feed([0.0], close=False)
    pool = ProcessingPool(1)
    entry = pool.register(stream.processor)
    pool.stop()  # never started
    assert entry.finished.is_set()
    assert "pool stopped" in str(stream.state.error)


def test_default_size_is_the_cpus_the_process_may_use_and_bad_sizes_are_refused():
    assert ProcessingPool().size == default_workers() >= 1
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="workers must be a whole number"):
            ProcessingPool(bad)


# ---------------------------------------------------------------- real engines

class Collecting(Sink):
    """Keeps the indices it is given; stops or pauses its run at chosen frames."""

    def __init__(self, stop_at=None):
        self.stop_at = stop_at
        self.indices = []

    def open(self, first, fps, controls):
        self.controls = controls

    def write(self, frame):
        self.indices.append(frame.index)
        if frame.index == self.stop_at:
            self.controls.stop("stopped")

    def close(self):
        pass


def engine(pool, length, sink, threads=None):
    """A batch engine over a synthetic clip; ``threads`` (a set) gets the names of the
    threads that ran its chain on the clip's frames (the warm-up's are the source's)."""
    source = build("source", "synthetic", {"length": length, "width": 64, "height": 48})
    stages = [build("stage", "grayscale"), build("stage", "gradient", {"kind": "sobel"}),
              build("stage", "map"), build("stage", "threshold", {"value": "auto"})]
    if threads is not None:
        stages.append(Recording("named", Ledger(), lambda frame: frame.index >= 0 and threads.add(threading.current_thread().name)))
    return Engine(source, Chain(stages), [sink], mode="batch", pool=pool)


def run_engines(engines):
    errors = {}

    def run(engine):
        try:
            engine.run()
        except Exception as exc:  # noqa: BLE001
            errors[id(engine)] = exc

    threads = [threading.Thread(target=run, args=(e,), daemon=True) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GUARD)
        assert not thread.is_alive()
    return errors


def test_engines_on_one_pool_run_on_its_workers_and_stop_alone():
    pool = ProcessingPool(2)
    stopped, whole = Collecting(stop_at=4), Collecting()
    threads = set()
    engines = [engine(pool, 30, stopped, threads), engine(pool, 25, whole, threads)]
    pool.start()
    try:
        assert run_engines(engines) == {}
    finally:
        pool.stop()
    assert threads and threads <= {"edgepipe-pool-0", "edgepipe-pool-1"}
    assert whole.indices == list(range(25)) and engines[1].summary.stop_reason == "end of stream"
    assert stopped.indices == list(range(len(stopped.indices))) and 5 <= len(stopped.indices) < 30
    assert engines[0].summary.stop_reason == "stopped"
    assert engines[0].summary.frames_out == len(stopped.indices)
    assert pool.alive() == 0 and pool.streams() == 0


def test_an_engine_without_a_pool_keeps_its_processing_thread():
    sink, threads = Collecting(), set()
    engine(None, 3, sink, threads).run()
    assert sink.indices == [0, 1, 2] and threads == {"edgepipe-process"}


def test_an_engines_frames_can_come_from_the_pool_too():
    pool = ProcessingPool(2)
    threads = set()
    pool.start()
    try:
        frames = list(engine(pool, 7, Collecting(), threads).frames())
    finally:
        pool.stop()
    assert [frame.index for frame in frames] == list(range(7))
    assert threads and all(name.startswith("edgepipe-pool-") for name in threads)


def test_a_stop_mid_read_loses_no_frame_uncounted():
    """Stopped while its source was reading, a stream either takes that frame through or
    never counts it in: frames in = frames out + dropped, for every stream on the pool
    (the reviewer saw in = out + 1 with nothing dropped, each time)."""
    from pipeline.pipeline import Pipeline

    pipe = Pipeline.from_dict({"version": 1, "runtime": {"mode": "live"},
                               "sources": [{"name": n, "type": "synthetic", "width": 64, "height": 48,
                                            "fps": 200, "length": 100000} for n in ("a", "b")],
                               "stages": ["grayscale"], "sinks": ["discard"]})
    streams = pipe.stream_set()
    seen = threading.Event()
    done = []
    runner = threading.Thread(target=lambda: done.append(streams.run()))
    runner.start()
    controls = pipe.stream_controls
    while not seen.is_set():  # until both streams have delivered frames
        seen.wait(0.05)
        if all(c.snapshot().frames_out >= 20 for c in controls.values()):
            seen.set()
    streams.interrupt("interrupted")
    runner.join(60)
    for stream in done[0].streams:
        assert stream["frames_in"] == stream["frames_out"] + stream["dropped"], stream


# ---------------------------------------------------------------- threads

def test_workers_run_kernels_on_their_own_thread_while_several_streams_share_the_pool():
    """ONE_THREAD is on in a worker for a frame taken while another stream is registered,
    and off again once a stream has the pool to itself."""
    seen: dict[str, list[bool]] = {"a": [], "b": [], "alone": []}
    gate = threading.Event()

    def note(name):
        def hold(frame):
            seen[name].append(ops.ONE_THREAD.get())
            if name == "a" and frame.index == 0:
                gate.wait(GUARD)  # b registers and runs while a's first frame is inside
        return hold

    ledger = Ledger()
    a, b = Stream("a", ledger, note("a")), Stream("b", ledger, note("b"))
    a.feed([0.0, 0.1])
    b.feed([0.05])
    pool = ProcessingPool(2)
    first, second = pool.register(a.processor), pool.register(b.processor)
    pool.start()
    try:
        assert second.finished.wait(GUARD)
        gate.set()
        assert first.finished.wait(GUARD)
    finally:
        pool.stop()
    assert seen["a"][0] is True and seen["b"] == [True]
    assert seen["a"][1] is False  # taken after b ended: a alone, every core for its kernels
    alone = Stream("alone", ledger, note("alone"))
    alone.feed([0.0, 0.1, 0.2])
    run_pool(ProcessingPool(2), [alone])
    assert seen["alone"] == [False, False, False]
    assert ops.ONE_THREAD.get() is False  # the caller's own setting is untouched


def test_opencv_has_one_thread_while_a_pool_runs_and_its_count_back_after():
    before = cv2.getNumThreads()
    counts = []
    ledger = Ledger()
    stream = Stream("s", ledger, lambda frame: counts.append(cv2.getNumThreads()))
    stream.feed([0.0, 0.1])
    run_pool(ProcessingPool(2), [stream])
    assert counts == [1, 1]
    assert cv2.getNumThreads() == before


def test_a_live_streams_queues_are_deeper_in_a_pool_unless_one_is_given():
    def live(pool, queue_size=None):
        source = build("source", "synthetic", {"length": 2, "width": 32, "height": 24})
        made = Engine(source, Chain([build("stage", "grayscale")]), [Collecting()], mode="live",
                      pool=pool, queue_size=queue_size)
        made._prepare(with_sinks=True)
        made.source.close()
        return made

    pool = ProcessingPool(2)
    assert live(pool)._input.maxsize == POOL_LIVE_QUEUE_SIZE == 8
    assert live(None)._input.maxsize == DEFAULT_QUEUE_SIZE["live"] == 2
    assert live(pool, queue_size=3)._input.maxsize == 3
    # its sinks' too: under SCHED_BATCH a woken sink thread waits its turn (docs/streams.md)
    assert [runner.queue.maxsize for runner in live(pool)._runners] == [8]
    assert [runner.queue.maxsize for runner in live(None)._runners] == [2]
    assert [runner.queue.maxsize for runner in live(pool, queue_size=3)._runners] == [3]
