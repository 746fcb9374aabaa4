"""The compiled tuner loop (pipeline.kernels.descent via pipeline.optim.fast) against the
Python path (tune_threshold -> minimize), bit for bit, for every optimizer and objective."""

import functools

import numpy as np
import pytest

from pipeline import ops
from pipeline.io.sources.synthetic import SyntheticSource
from pipeline.kernels import descent
from pipeline.optim import make_optimizer, tune_threshold
from pipeline.optim.fast import supported, tune_threshold_fast
from pipeline.optim.optimizers import Adam


def synthetic_frame_histogram(index):
    """The histogram the runtime tuner reads: ops.edges of the synthetic source's frame ``index``."""
    source = SyntheticSource(width=320, height=180)
    source.open()
    try:
        for _ in range(index + 1):
            frame = source.read()
    finally:
        source.close()
    return ops.edges(frame, hist=True)[1]


def seeded_histogram(kind, seed):
    rng = np.random.default_rng(seed)
    if kind == "normal":
        values = rng.normal(rng.uniform(20, 200), rng.uniform(5, 60), 50_000)
    elif kind == "bimodal":
        values = np.concatenate([rng.normal(25, 10, 40_000), rng.normal(170, 25, 8_000)])
    elif kind == "sparse":  # a handful of occupied bins, the rest empty
        values = rng.choice(rng.integers(0, 256, 5), 3_000)
    elif kind == "one value":  # total variance 0: otsu is 0 everywhere
        values = np.full(100, rng.integers(0, 256))
    else:  # "dark": everything in the lowest bins, as on a still frame
        values = rng.exponential(2.0, 20_000)
    return np.bincount(np.clip(values, 0, 255).astype(np.int64), minlength=256)


HISTOGRAMS = {f"synthetic {seed}": (synthetic_frame_histogram, seed) for seed in (0, 40)}
HISTOGRAMS.update({f"{kind} {seed}": (seeded_histogram, kind, seed)
                   for kind in ("normal", "bimodal", "sparse", "one value", "dark") for seed in (0, 1)})

OPTIMIZERS = [
    {"name": "sign", "step": 1.0},
    {"name": "sign", "step": 0.37},
    {"name": "sgd", "lr": 40.0},
    {"name": "sgd", "lr": 1e5},  # overshoots into the bounds: clipping on the path
    {"name": "momentum", "lr": 20.0, "gamma": 0.9},
    {"name": "momentum", "lr": 20.0, "gamma": 0.0},
    {"name": "nesterov", "lr": 20.0, "gamma": 0.8},
    {"name": "adam", "lr": 2.0},
    {"name": "adam", "lr": 9.0, "beta1": 0.5, "beta2": 0.9, "eps": 1e-3},
]
OBJECTIVES = [("otsu", {}), ("otsu", {"tau": 0.5}), ("density", {}),
              ("density", {"target": 0.3, "tau": 4.0})]


@functools.lru_cache(maxsize=None)  # one make each: ops.edges is slow under NUMBA_DISABLE_JIT
def _made(name):
    make, *arguments = HISTOGRAMS[name]
    hist = make(*arguments)
    hist.flags.writeable = False
    return hist


def histogram(name):
    return _made(name)


def assert_same_path(hist, start, spec, iterations, objective, bounds=(0, 255), **kwargs):
    slow = tune_threshold(hist, start, make_optimizer(spec), iterations, objective=objective,
                          bounds=bounds, **kwargs)
    fast = tune_threshold_fast(hist, start, make_optimizer(spec), iterations, objective=objective,
                               bounds=bounds, **kwargs)
    assert fast.points.shape == slow.points.shape == (iterations + 1, 1)
    assert fast.points.dtype == fast.values.dtype == np.float64
    # == and the sign bit (== alone calls -0.0 and 0.0 equal); NaN values would fail ==.
    assert (fast.points == slow.points).all() and (fast.values == slow.values).all()
    assert (np.signbit(fast.points) == np.signbit(slow.points)).all()
    return fast


@pytest.mark.parametrize("objective, kwargs", OBJECTIVES, ids=lambda v: str(v))
@pytest.mark.parametrize("spec", OPTIMIZERS, ids=lambda s: "-".join(map(str, s.values())))
@pytest.mark.parametrize("name", sorted(HISTOGRAMS))
def test_the_compiled_path_is_the_python_path_bit_for_bit(name, spec, objective, kwargs):
    hist = histogram(name)
    for start in (0.0, 37.25, 128.0, 255.0):
        assert_same_path(hist, start, spec, 30, objective, **kwargs)


def test_the_paths_compared_do_move_and_hit_the_bounds():
    # The comparison above would be empty if the paths stood still.
    hist = histogram("bimodal 0")
    adam = assert_same_path(hist, 128.0, {"name": "adam", "lr": 2.0}, 30, "otsu")
    assert len(np.unique(adam.points)) > 20
    clipped = assert_same_path(histogram("synthetic 0"), 5.0, {"name": "sgd", "lr": 1e5}, 30, "otsu")
    assert {0.0, 255.0} <= set(clipped.x.tolist())


@pytest.mark.parametrize("bounds, start", [(None, 10.0), ((10.0, 10.0), 10.0), ([(-5.0, 300.0)], 10.0),
                                           ((100, 140), 120.0)])
def test_other_boxes_and_no_box(bounds, start):
    hist = histogram("normal 1")
    for spec in OPTIMIZERS:
        assert_same_path(hist, start, spec, 25, "otsu", bounds=bounds)
        assert_same_path(hist, start, spec, 25, "density", bounds=bounds, target=0.05)


@pytest.mark.parametrize("iterations", [0, 1, 2, 200])
def test_any_number_of_iterations(iterations):
    hist = histogram("synthetic 40")
    for spec in OPTIMIZERS:
        assert_same_path(hist, 60.0, spec, iterations, "otsu")


def test_what_the_loop_does_not_compile_takes_the_python_path():
    hist = histogram("normal 0")

    class Halved(Adam):  # a subclass may step differently
        def step(self, x, g):
            return super().step(x, g * 0.5)

    assert not supported("otsu", Halved(2.0))
    assert not supported("otsu", Adam(2.0), {"tau": 0.0})
    assert not supported("agreement", Adam(2.0))
    assert supported("density", Adam(2.0), {"target": 0.2})
    slow = tune_threshold(hist, 90.0, Halved(2.0), 10)
    fast = tune_threshold_fast(hist, 90.0, Halved(2.0), 10)
    assert (fast.points == slow.points).all() and (fast.values == slow.values).all()
    assert_same_path(hist, 90.0, {"name": "adam", "lr": 2.0}, 10, "otsu", tau=0.0)
    joint = np.stack([hist, hist[::-1]], axis=1)
    assert_same_path(joint, 90.0, {"name": "sign", "step": 1.0}, 10, "agreement")


@pytest.mark.parametrize("call, message", [
    (dict(t0=300.0), "outside bounds"),
    (dict(iterations=-1), "iterations must be"),
    (dict(iterations=2.5), "iterations must be"),
    (dict(bounds=(5, 1)), "lo <= hi"),
    (dict(tau=-1.0), "tau must be"),
    (dict(target=2.0, objective="density"), "target must be"),
    (dict(colour=1), "unknown keyword 'colour'"),
    (dict(objective="variance"), "unknown objective 'variance'"),
    (dict(hist=np.zeros(256)), "hist is empty"),
])
def test_bad_arguments_raise_what_tune_threshold_raises(call, message):
    arguments = dict(hist=histogram("normal 0"), t0=50.0, optimizer=Adam(2.0), iterations=5)
    arguments.update(call)
    for run in (tune_threshold, tune_threshold_fast):
        with pytest.raises(ValueError, match=message) as raised:
            run(**arguments)
        if run is tune_threshold:
            expected = str(raised.value)
    assert str(raised.value) == expected


def test_numpy_rules_for_signed_zero_and_nan():
    # np.sign gives +0.0 for -0.0; np.maximum / np.minimum give the second operand on a tie.
    for g in (-0.0, 0.0, 2.0, -2.0, np.nan):
        expected = np.sign(np.array([g]))[0]
        got = descent._sign(g)
        assert (got == expected or (np.isnan(got) and np.isnan(expected)))
        assert np.signbit(got) == np.signbit(expected)
    for x, lower, upper in [(-0.0, 0.0, 1.0), (0.0, -0.0, 1.0), (1.0, 0.0, -0.0 + 1.0),
                            (-0.0, -1.0, 0.0), (0.0, -1.0, -0.0), (np.nan, 0.0, 1.0), (5.0, 0.0, 1.0)]:
        expected = np.minimum(np.maximum(np.array([x]), lower), upper)[0]
        got = descent._clip(x, lower, upper)
        assert (got == expected or (np.isnan(got) and np.isnan(expected)))
        assert np.signbit(got) == np.signbit(expected)


def test_the_optimizer_is_reset_and_reusable():
    hist = histogram("bimodal 1")
    adam = Adam(2.0)
    first = tune_threshold_fast(hist, 120.0, adam, 15)
    adam.step(np.array([1.0]), np.array([3.0]))  # state left behind is forgotten
    again = tune_threshold_fast(hist, 120.0, adam, 15)
    assert (first.points == again.points).all()


def test_the_runtime_tuner_runs_the_compiled_loop_and_publishes_what_python_would(monkeypatch):
    from pipeline.optim import tune
    from pipeline.runtime import tuner as tuner_module
    from pipeline.runtime.tuner import targets
    from pipeline.controls import Controls

    hist = histogram("synthetic 40")
    settings = {"objective": "otsu", "optimizer": {"name": "adam", "lr": 2.0}, "iterations": 20}
    calls = []
    compiled = descent.descend

    def counted(*args):
        calls.append(args[0])
        return compiled(*args)

    monkeypatch.setattr(descent, "descend", counted)
    fast_steps = [tuner_module.Tuner(settings, Controls()).update(hist) for _ in range(2)]
    assert len(calls) == 2

    def python_run(optimizer, iterations, objective, bounds, **kwargs):
        return lambda hist, t0: tune.tune_threshold(hist, t0, optimizer, iterations,
                                                    objective=objective, bounds=bounds, **kwargs)

    monkeypatch.setattr(targets, "ThresholdRun", python_run)
    python_steps = [tuner_module.Tuner(settings, Controls()).update(hist) for _ in range(2)]
    assert len(calls) == 2
    for fast, python in zip(fast_steps, python_steps):
        assert (fast.start, fast.optimum, fast.values, fast.objective) == (
            python.start, python.optimum, python.values, python.objective)
