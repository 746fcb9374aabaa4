"""The tuner thread: follows the scene, never blocks the chain, yields to the user.

Histograms come from real :func:`pipeline.ops.edges` passes over generated frames whose
contrast jumps halfway; nothing about the objective or the optimizer is mocked except
where a test needs an update to be slow on purpose.
"""

import itertools
import json
import threading
import time

import cv2
import numpy as np
import pytest
import yaml

import pipeline.io  # noqa: F401  (registers sources and sinks)
import pipeline.stages  # noqa: F401
from pipeline import ops
from pipeline.config.document import ConfigError
from pipeline.config.run import Config
from pipeline.frame import Frame
from pipeline.optim import otsu
from pipeline.config.registry import ParamError
from pipeline.controls import Controls
from pipeline.tuned import THRESHOLD_TARGET as T, single
from pipeline.runtime.tuner import TUNER_PARAMS, Tuner, TunerStep, check_tuner_settings
from pipeline.histograms import canny_rule_of_thumb, magnitude_histogram
from tests.harness import DATA

SIZE = (96, 128)
LOW, HIGH = 12, 60  # step heights before and after the jump; Sobel magnitude about 4x


def scene(index, contrast, size=SIZE, seed=0):
    """Grey BGR frame: rectangles ``contrast`` levels off mid-grey, sliding, light noise."""
    rng = np.random.default_rng(seed)
    img = np.full(size, 128.0)
    for _ in range(12):
        y, x = rng.integers(0, size[0] - 20), rng.integers(0, size[1] - 20)
        h, w = rng.integers(10, 40, 2)
        x = (x + index) % size[1]
        img[y:y + h, x:x + w] += contrast * rng.choice([-1, 1])
    img += np.random.default_rng(seed + index + 1).normal(0, 2, size)
    return cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def jump_clip(count):
    """``count`` frames, low contrast for the first half, high contrast after."""
    return [scene(i, LOW if i < count // 2 else HIGH) for i in range(count)]


def edge_frame(index, image):
    """A frame as the chain leaves it: edge image and ``side["histogram"]``."""
    edges, histogram = ops.edges(image, hist=True)
    frame = Frame(index, time.perf_counter(), image, edges)
    frame.side["histogram"] = histogram
    return frame


def offer(tuner, frame):
    """What the engine does after the chain: the frame's index and histogram to the tuner."""
    return tuner.offer(frame.index, frame.side["histogram"])


def best_threshold(histogram, tau=2.0):
    """The soft Otsu objective's minimum over a 0.25-level grid (the answer to follow)."""
    grid = np.arange(0.0, 255.0, 0.25)
    return float(grid[np.argmin([otsu(histogram, t, tau=tau) for t in grid])])


SETTINGS = {"objective": "otsu", "optimizer": {"name": "adam", "lr": 4.0}, "every": 1,
            "iterations": 20, "smoothing": 0.5}


def drive(tuner, frames, first=0):
    """Offer frames ``first``, ``first + 1``... one by one, each once the tuner has handled
    the one before; return the threshold published after each."""
    published = []
    for number, image in enumerate(frames, start=first):
        handled = tuner.handled
        offer(tuner, edge_frame(number, image))
        assert tuner.wait_handled(handled + 1, timeout=5), "the tuner did not take the histogram"
        published.append(single(tuner.controls.tuned.tuned("threshold")))
    return published


@pytest.fixture
def running():
    tuners = []

    def start(settings, controls=None, **options):
        tuner = Tuner(settings, controls or Controls(), **options).start()
        tuners.append(tuner)
        return tuner

    yield start
    for tuner in tuners:
        tuner.stop()
        assert not tuner.running and tuner.error is None


# ---------------------------------------------------------------- following the scene


def test_threshold_follows_a_contrast_jump_within_a_few_updates(running):
    frames = jump_clip(40)
    before = best_threshold(edge_frame(19, frames[19]).side["histogram"])
    after = best_threshold(edge_frame(39, frames[39]).side["histogram"])
    assert after - before > 60  # the jump is one the tuner must follow, not noise

    tuner = running(SETTINGS)
    published = drive(tuner, frames)
    assert abs(published[19] - before) < 6  # settled on the low-contrast scene
    assert abs(published[20] - before) < 45  # one update: smoothing holds it back
    assert all(abs(value - after) < 8 for value in published[20 + 6:])  # within 6 updates
    assert tuner.updates == 40 and tuner.latest.frame == 39


def test_every_posts_at_most_one_histogram_per_n_frames(running):
    tuner = running(dict(SETTINGS, every=5))
    asked = []
    posted = []
    for i in range(12):
        asked.append(tuner.wants(i))  # what the engine asks before the chain runs
        posted.append(offer(tuner, edge_frame(i, scene(i, LOW))))
    assert posted == asked == [i % 5 == 0 for i in range(12)]
    with tuner._progress:  # woken at each histogram handled
        assert tuner._progress.wait_for(
            lambda: tuner.latest is not None and tuner.latest.frame == 10, 30), \
            "the newest posted histogram was not used"


def test_smoothing_zero_publishes_the_optimum_and_smoothing_holds_back():
    histogram = edge_frame(0, scene(0, HIGH)).side["histogram"]
    sharp = Tuner(dict(SETTINGS, smoothing=0.0), Controls())
    step = sharp.update(histogram)
    assert step.values[T] == step.optimum[T]
    smooth = Tuner(dict(SETTINGS, smoothing=0.75), Controls())
    step = smooth.update(histogram)
    assert step.values[T] == pytest.approx(0.75 * step.start[T] + 0.25 * step.optimum[T])
    assert single(smooth.controls.tuned.tuned("threshold")) == pytest.approx(step.values[T])


def test_bounds_keep_the_threshold_in_the_box():
    histogram = edge_frame(0, scene(0, HIGH)).side["histogram"]
    tuner = Tuner(dict(SETTINGS, bounds=[10, 40], smoothing=0.0), Controls())
    for _ in range(5):
        step = tuner.update(histogram)
    assert step.values[T] == 40.0  # the optimum (about 130) lies above the box


def test_density_objective_reaches_its_target():
    histogram = edge_frame(0, scene(0, HIGH)).side["histogram"]
    controls = Controls()
    # Started at Otsu's threshold (about 130), the edge fraction sits on a plateau
    # (no magnitudes between the noise and the steps) and the slope there is ~0: the
    # lecture's vanishing gradient.  Start where the slope points the way.
    controls.tuned.record_used("threshold", threshold=40.0)
    tuner = Tuner({"objective": "density", "target": 0.2, "optimizer": {"name": "adam", "lr": 4.0},
                   "smoothing": 0.0, "tau": 1.0}, controls)
    for _ in range(10):
        step = tuner.update(histogram)
    edge_fraction = histogram[int(np.ceil(step.values[T])):].sum() / histogram.sum()
    assert abs(edge_fraction - 0.2) < 0.03


def test_warm_start_from_the_threshold_in_use():
    histogram = edge_frame(0, scene(0, HIGH)).side["histogram"]
    controls = Controls()
    controls.tuned.record_used("threshold", threshold=77.0)
    step = Tuner(dict(SETTINGS, iterations=1), controls).update(histogram)
    assert step.start[T] == 77.0 and step.iterations == 1


# ---------------------------------------------------------------- never blocking


def test_offer_returns_at_once_while_an_update_is_in_progress(running, monkeypatch):
    inside, release = threading.Event(), threading.Event()
    tuner = running(SETTINGS)
    real = tuner.target.run

    def stuck(*args, **kwargs):
        inside.set()
        release.wait(30)
        return real(*args, **kwargs)

    assert tuner.warmed.wait(30)  # its objective compiled
    monkeypatch.setattr(tuner.target, "run", stuck)
    frames = [edge_frame(i, scene(i, LOW)) for i in range(30)]
    offer(tuner, frames[0])
    assert inside.wait(30)
    offered = []
    chain = threading.Thread(target=lambda: offered.extend(offer(tuner, f) for f in frames[1:]))
    chain.start()  # the chain goes on while the tuner is stuck mid-update
    chain.join(30)
    # Every offer returned while the update is still held (release is set only below):
    # an offer that waited for the tuner could not have.
    assert not chain.is_alive() and offered == [True] * 29 and not release.is_set()
    assert tuner.handled == 0 and inside.is_set()
    release.set()
    assert tuner.wait_handled(2, 5)
    assert tuner.handled == 2  # the first, then only the newest of the 29 that came meanwhile
    assert tuner.latest.frame == 29  # published before the count moved


# ---------------------------------------------------------------- yielding to the user


def test_disabled_tuner_takes_histograms_but_publishes_nothing(running):
    controls = Controls(tuner_enabled=False)
    tuner = running(SETTINGS, controls)
    drive(tuner, [scene(i, HIGH) for i in range(3)])
    assert tuner.handled == 3 and tuner.updates == 0 and single(controls.tuned.tuned("threshold")) is None
    controls.toggle_tuner()  # the t key
    drive(tuner, [scene(i, HIGH) for i in range(3, 4)], first=3)
    assert tuner.updates == 1 and single(controls.tuned.tuned("threshold")) is not None


def test_manual_threshold_pauses_the_tuner_and_it_resumes_from_there(running):
    controls = Controls()
    tuner = running(SETTINGS, controls)
    drive(tuner, [scene(i, HIGH) for i in range(3)])
    tuned = single(controls.tuned.tuned("threshold"))
    controls.tuned.set_manual("threshold", threshold=20.0)  # + / - keys or HTTP
    controls.tuned.record_used("threshold", threshold=20.0)  # what the threshold stage reports
    drive(tuner, [scene(i, HIGH) for i in range(3, 6)], first=3)
    assert tuner.updates == 3 and single(controls.tuned.tuned("threshold")) == tuned
    assert single(controls.tuned.choose("threshold", {"threshold": "auto"})) == 20.0
    controls.tuned.set_manual("threshold", threshold=None)  # back to auto
    offer(tuner, edge_frame(6, scene(6, HIGH)))
    assert tuner.wait_handled(7, 5)
    assert tuner.latest.start[T] == 20.0  # no jump: it starts from the value in use


# ---------------------------------------------------------------- settings


def test_defaults_come_from_the_params():
    checked = check_tuner_settings(None)
    assert set(checked) == {p.name for p in TUNER_PARAMS} - {"target"}  # otsu has none
    assert check_tuner_settings(checked) == checked  # the checked section loads back
    density = check_tuner_settings({"objective": "density"})
    assert density["target"] == 0.1 and check_tuner_settings(density) == density
    assert checked["optimizer"] == {"name": "adam", "lr": 2.0, "beta1": 0.9, "beta2": 0.999,
                                    "eps": 1e-8}
    assert checked["bounds"] == [0.0, 255.0]
    assert check_tuner_settings({"optimizer": {"name": "momentum", "lr": 2.0}})["optimizer"] == {
        "name": "momentum", "lr": 2.0, "gamma": 0.9}


@pytest.mark.parametrize("settings, key, message", [
    ({"evry": 3}, "evry", "did you mean 'every'"),
    ({"every": 0}, "every", "every must be"),
    ({"iterations": 2.5}, "iterations", "iterations must be int"),
    ({"objective": "agreement"}, "objective", "one of otsu, density"),
    ({"smoothing": 1.0}, "smoothing", "smoothing must be"),
    ({"bounds": [10, 5]}, "bounds", "lo < hi"),
    ({"bounds": [0, 300]}, "bounds", "bounds must be"),
    ({"bounds": [0]}, "bounds", "two numbers"),
    ({"tau": -1}, "tau", "tau must be"),
    ({"target": 0.3}, "target", "density only"),
    ({"objective": "density", "target": 2}, "target", "target must be"),
    ({"optimizer": "adam"}, "optimizer", "optimizer must be dict"),
    ({"optimizer": {"name": "adamw", "lr": 1}}, "optimizer.name", "unknown optimizer 'adamw'"),
    ({"optimizer": {"name": "momentum"}}, "optimizer.lr", "needs key 'lr'"),
    ({"optimizer": {"name": "momentum", "lr": -1}}, "optimizer.lr", "lr must be"),
    ({"optimizer": {"name": "momentum", "lr": 1, "gamma": 1.5}}, "optimizer.gamma", "gamma must be"),
    ({"optimizer": {"name": "sgd", "lr": 1, "beta": 2}}, "optimizer.beta", "unknown key 'beta'"),
])
def test_bad_settings_name_the_key(settings, key, message):
    with pytest.raises(ParamError, match=message) as caught:
        check_tuner_settings(settings)
    assert caught.value.key == key
    with pytest.raises(ParamError):
        Tuner(settings, Controls())


# ---------------------------------------------------------------- what it reports


def test_each_update_is_published_once_where_every_reader_looks(running):
    from pipeline.io.sinks.stats import StatsSink, jsonable
    from pipeline.stages.hud import Hud

    controls = Controls()
    ticks = itertools.count(100.0, 0.25)  # each reading 0.25 s after the one before
    tuner = running(SETTINGS, controls, clock=lambda: next(ticks))
    drive(tuner, [scene(i, LOW) for i in range(3)])
    step = tuner.latest
    assert controls.tuned.step(T) is step and single(controls.tuned.tuned("threshold")) == step.values[T]
    record = controls.snapshot().tuner[T]  # hud, window, http
    assert record == step.as_dict() and set(record) == set(TunerStep.__dataclass_fields__)
    assert record["update"] >= 3 and record["iterations"] == 20 and record["target"] == T
    assert record["seconds"] == 0.25 and record["objective"] < 0  # one update: two readings
    assert single(controls.tuned.choose("threshold", {"threshold": "auto"})) == step.values[T]
    frame = edge_frame(3, scene(3, LOW))
    frame.side["tuner"] = controls.tuned.records()  # the engine stamps each frame so
    row = StatsSink("-").record(frame)  # what the stats sink writes for the frame
    assert json.loads(json.dumps(row))["tuner"] == {T: jsonable(record)}
    hud = Hud()
    hud.bind(controls)
    assert f"tuner {step.values[T]:.0f} (objective {step.objective:.3f})" in hud.lines_for(frame)


def test_the_mailbox_keeps_only_the_newest_histogram_with_its_index():
    tuner = Tuner(SETTINGS, Controls())
    assert tuner._take(0.01) is None
    tuner.offer(0, np.zeros(256))
    tuner.offer(1, np.ones(256))
    index, histogram = tuner._take(0)
    assert index == 1 and histogram.sum() == 256 and tuner._take(0) is None
    got = []
    waiter = threading.Thread(target=lambda: got.append(tuner._take(5)))
    waiter.start()
    time.sleep(0.05)
    tuner.offer(2, np.full(256, 2))
    waiter.join(5)
    assert got[0][0] == 2 and got[0][1].sum() == 512


def test_an_update_that_fails_is_reported(monkeypatch):
    failures = []

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    tuner = Tuner(SETTINGS, Controls(), on_error=failures.append)
    monkeypatch.setattr(tuner.target, "run", broken)  # the update's run, not warm()'s
    tuner.start()
    offer(tuner, edge_frame(0, scene(0, LOW)))
    tuner._thread.join(5)
    assert not tuner.running and isinstance(tuner.error, RuntimeError) and failures == [tuner.error]


def test_the_thread_ends_when_the_run_stops():
    controls = Controls()
    tuner = Tuner(SETTINGS, controls).start()
    controls.stop()
    tuner._thread.join(2)
    assert not tuner.running


# ---------------------------------------------------------------- in the engine


def _engine_accepts_a_tuner():
    from pipeline.config.document import ConfigError
    from pipeline.config.run import Config

    try:
        Config.from_dict({"version": 1, "tuner": {}})
    except ConfigError:
        return False
    return True


@pytest.mark.skipif(not _engine_accepts_a_tuner(),
                    reason="config.py does not accept a top-level tuner: section yet")
def test_engine_threshold_follows_a_contrast_jump(tmp_path):
    from pipeline.pipeline import Pipeline

    clip = tmp_path / "jump.mkv"
    frames = jump_clip(120)
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"FFV1"), 60.0, SIZE[::-1])
    for image in frames:
        writer.write(image)
    writer.release()
    stats = tmp_path / "stats.jsonl"
    Pipeline.from_dict({
        "version": 1,
        # realtime: paced at the clip's 60 fps (2 s).  Unpaced, 120 tiny frames pass in
        # a few milliseconds, before any tuner could have had a go.
        "source": {"type": "file", "path": str(clip), "realtime": True},
        "stages": ["grayscale", "gradient", "map", {"threshold": {"value": "auto"}}],
        "sinks": [{"stats": {"path": str(stats)}}],
        "runtime": {"mode": "batch"},
        "tuner": {"objective": "otsu", "optimizer": {"name": "adam", "lr": 4.0}, "every": 2,
                  "iterations": 20, "smoothing": 0.5},
    }).run()
    rows = {row["index"]: row for row in map(json.loads, stats.read_text().splitlines())}
    assert sorted(rows) == list(range(120))
    updates = {row["tuner"][T]["update"]: row["tuner"][T] for row in rows.values() if "tuner" in row}
    assert len(updates) >= 20
    assert all(step["frame"] % 2 == 0 for step in updates.values())  # every: 2
    before = best_threshold(edge_frame(59, frames[59]).side["histogram"])
    assert abs(rows[59]["threshold"] - before) < 10
    # The best threshold moves with the sliding shapes (about 124 to 138 after the
    # jump); within 8 updates of the jump the tuner tracks each frame's.
    first_after = min(step["update"] for step in updates.values() if step["frame"] >= 60)
    checked = 0
    for step in updates.values():
        if step["update"] >= first_after + 8 and step["frame"] % 10 == 0:
            best = best_threshold(edge_frame(step["frame"], frames[step["frame"]]).side["histogram"])
            assert best - before > 60 and abs(step["values"][T] - best) < 12
            checked += 1
    assert checked >= 2
    # Each update did its whole work (counted, not timed: the machine may be busy).
    assert all(step["iterations"] == 20 for step in updates.values())


def test_the_tuner_publishes_a_pair_and_warm_starts_from_the_pair_in_use():
    controls = Controls()
    tuner = Tuner({"objective": "multiotsu", "targets": "canny", "smoothing": 0.0,
                   "optimizer": {"name": "sign", "step": 1}, "iterations": 5}, controls)
    assert controls.tuned.tuner_runs("canny") and not controls.tuned.tuner_runs("threshold")
    hist = magnitude_histogram(cv2.imread(str(DATA / "fruits.jpg")))
    step = tuner.handle(hist, 7)
    assert step.start == dict(zip(("low", "high"), canny_rule_of_thumb(hist)))
    assert controls.tuned.auto("canny") == step.values and step.frame == 7
    controls.tuned.record_used("canny", low=10.0, high=20.0)
    controls.tuned.set_manual("canny", low=10.0, high=20.0)  # both by hand: the tuner waits
    assert tuner.handle(hist) is None
    controls.tuned.set_manual("canny", low=None, high=None)
    assert tuner.handle(hist).start == {"low": 10.0, "high": 20.0}


def test_a_third_target_runs_through_the_same_step_and_publication():
    from pipeline.optim import make_optimizer
    from pipeline.runtime.tuner.step import optimize
    from pipeline.runtime.tuner.targets import ThresholdTarget
    from pipeline.tuned import Target

    class Level(ThresholdTarget):  # a new tuned value: a key, the rest inherited
        key = Target("level", ("t",))

    def target(cls):
        return cls(make_optimizer({"name": "adam", "lr": 4.0}), 20, "otsu", (0.0, 255.0),
                   {"tau": 2.0})

    controls = Controls()
    controls.tuned.add(Level.key)
    hist = edge_frame(0, scene(0, HIGH)).side["histogram"]
    step = optimize(target(Level), hist, (10.0,), 0.0, update=1, frame=3)
    controls.tuned.publish(step)
    assert step.target == "level" and step.start == {"t": 10.0} and step.frame == 3
    assert controls.tuned.auto("level") == step.values
    assert controls.snapshot().tuner == {"level": step.as_dict()}
    same = optimize(target(ThresholdTarget), hist, (10.0,), 0.0, update=1, frame=3)
    assert same.values == {T: step.values["t"]}  # the threshold's answer, under its own key


@pytest.mark.parametrize("settings, key, words", [
    ({"objective": "multiotsu"}, "objective", "with targets threshold use objective otsu or density"),
    ({"objective": "otsu", "targets": "canny"}, "objective", "use objective multiotsu"),
    ({"objective": "multiotsu", "targets": "pair"}, "targets", "threshold, canny"),
])
def test_objective_and_target_must_fit(settings, key, words):
    with pytest.raises(ParamError) as caught:
        check_tuner_settings(settings)
    assert caught.value.key == key and words in str(caught.value)


def test_a_canny_tuner_needs_a_canny_stage_with_an_auto_value():
    text = ("version: 1\nsource: {type: synthetic, length: 3}\nstages:\n  - canny: {low: 10, high: 20}\n"
            "sinks: [discard]\ntuner: {objective: multiotsu, targets: canny}\n")
    with pytest.raises(ConfigError, match="targets canny tunes the low and high of a canny stage"):
        Config.from_dict(yaml.safe_load(text))
    Config.from_dict(yaml.safe_load(text.replace("high: 20", "high: auto")))


def test_an_idle_tuner_sleeps_until_the_run_stops_it(running, monkeypatch):
    # No polling: with nothing offered, the thread waits on its mailbox; the run's stop
    # (through the controls it watches) wakes it at once, not a timeout.
    from pipeline.runtime.tuner import thread

    monkeypatch.setattr(thread, "IDLE_WAIT", 3600.0)
    monkeypatch.setattr(thread, "POLL", 3600.0)  # nor a poll
    controls = Controls()
    tuner = running(SETTINGS, controls)
    assert tuner.wait_warm(60)
    controls.stop("test")
    assert tuner._finished.wait(60), "the stop did not wake the idle tuner"
    assert not tuner.running and tuner.error is None
    assert tuner not in [getattr(w, "__self__", None) for w in controls._watchers]
