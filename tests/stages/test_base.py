"""Every stage, the same questions: it runs, refuses bad input, gives the right dtype and
shape, equals its function, round-trips through its config, and uses every parameter.

The stage list comes from the registry, so a new stage fails these tests until it has
an entry in EXAMPLES, BAD_INPUTS and ALTERNATIVES below and in INPUTS and ``reference``
of tests/harness.py (the stage tests of tests/stages/ share those).
"""

import numpy as np
import pytest

import pipeline.stages  # noqa: F401  (registers the stages)
from pipeline.frame import Frame
from pipeline.config.registry import REGISTRIES, ParamError, build, settings_of
from pipeline.stages import Chain, StageError
from pipeline.stages.hud import hud_lines
from tests.harness import INPUTS, reference, run

STAGE_NAMES = sorted(REGISTRIES["stage"])
SHAPES = [(1, 1), (3, 5), (17, 23)]


# Settings that make each stage do something visible (besides the defaults).
EXAMPLES = {
    "grayscale": {},
    "derivative": {"kind": "central", "axis": "y", "mapping": "shift", "offset": 100.0},
    "gradient": {"kind": "scharr", "norm": "l1"},
    "map": {"mode": "shift", "scale": 0.5, "offset": 120.0},
    "threshold": {"value": 40},
    "overlay": {"color": [255, 0, 0], "alpha": 0.5},
    "hud": {"corner": "bottom-right", "color": [0, 0, 255]},
    "resize": {"scale": 0.5},
    "blur": {"ksize": 3, "sigma": 1.0},
    "canny": {"low": 30, "high": 90, "l2": True},
}


# A bad input each stage must refuse with a ValueError naming the problem.
BAD_INPUTS = {
    "grayscale": np.zeros((4, 5, 3), np.float64),
    "derivative": np.zeros((4, 5, 3), np.uint8),
    "gradient": np.zeros((4, 5, 3), np.uint8),
    "map": np.zeros((4, 5, 3), np.float32),
    "threshold": np.zeros((4, 5, 3), np.uint8),
    "overlay": np.zeros((4, 5), np.float32),
    "hud": np.zeros((4, 5), np.float32),
    "resize": np.zeros((0, 5), np.uint8),
    "blur": np.zeros((2, 2, 2, 2), np.uint8),
    "canny": np.zeros((4, 5), np.float32),
}


def test_every_registered_stage_has_examples():
    for table in (INPUTS, EXAMPLES, BAD_INPUTS, ALTERNATIVES):
        assert sorted(table) == STAGE_NAMES


@pytest.mark.parametrize("name", STAGE_NAMES)
@pytest.mark.parametrize("shape", SHAPES)
def test_stage_runs_and_equals_its_function(name, shape):
    stage = build("stage", name, EXAMPLES[name])
    frame = INPUTS[name](shape, sum(shape))
    settings = settings_of(stage)
    expected = reference(name, settings, frame)
    if name == "hud":  # no controls: the latency line is this frame's age; pin it
        stage.lines_for = lambda f: hud_lines(None, None, 0.0)
    out = run(stage, frame).image
    assert out.dtype == expected.dtype
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)


def test_hud_and_overlay_and_grayscale_change_something():
    # The equality tests above must not pass by comparing a no-op with a no-op.
    frame = INPUTS["hud"]((60, 200))
    assert not np.array_equal(run(build("stage", "hud"), frame).image, frame.image)
    frame = INPUTS["overlay"]((24, 31))
    assert (frame.image > 0).any()
    out = run(build("stage", "overlay"), frame).image
    assert (out[frame.image > 0] == [0, 255, 0]).all()
    assert (out[frame.image == 0] == frame.original[frame.image == 0]).all()


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_stage_refuses_bad_input(name):
    stage = build("stage", name, EXAMPLES[name])
    bad = BAD_INPUTS[name]
    with pytest.raises(ValueError) as info:
        stage(Frame(0, 0.0, bad, bad))
    assert str(info.value)  # a message, naming the problem
    with pytest.raises(StageError, match=f"stage {name} failed on frame 7"):
        Chain([stage], fuse=False)(Frame(7, 0.0, bad, bad))


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_stage_round_trips_through_its_config(name):
    stage = build("stage", name, EXAMPLES[name])
    settings = settings_of(stage)
    again = build("stage", name, settings)
    assert settings_of(again) == settings
    assert repr(again) == repr(stage)
    frame = INPUTS[name]((19, 27), 5)
    if name == "hud":
        stage.lines_for = again.lines_for = lambda f: hud_lines(30.0, 40.0, 5.0)
    np.testing.assert_array_equal(run(stage, frame).image, run(again, frame).image)


# (base settings, parameter, other value): changing the parameter must change the output.
ALTERNATIVES = {
    "grayscale": [],
    "derivative": [
        ({}, "kind", "prewitt"), ({}, "axis", "y"), ({}, "border", "zero"),
        ({}, "mapping", "abs"), ({"mapping": "abs"}, "scale", 0.25),
        ({"mapping": "shift"}, "offset", 60.0),
    ],
    "gradient": [({}, "kind", "forward"), ({}, "norm", "l1"), ({}, "border", "replicate")],
    "map": [
        ({}, "mode", "shift"), ({}, "scale", 3.0), ({"mode": "shift"}, "offset", 10.0),
        ({"mode": "activation", "center": 100.0, "width": 30.0}, "fn", "tanh"),
        ({"mode": "activation", "width": 30.0}, "center", 120.0),
        ({"mode": "activation", "center": 100.0}, "width", 50.0),
    ],
    "threshold": [({"value": 40}, "value", 150)],
    "overlay": [({}, "color", [0, 0, 255]), ({}, "alpha", 0.3)],
    "hud": [({}, "corner", "bottom-left"), ({}, "color", [0, 0, 255]),
            ({}, "font_scale", 1.0), ({}, "thickness", 2)],
    "resize": [({"scale": 0.5}, "scale", 0.75), ({"width": 10}, "width", 12),
               ({"height": 10}, "height", 12), ({"scale": 0.4}, "interpolation", "nearest")],
    "blur": [({}, "ksize", 9), ({"ksize": 7}, "sigma", 3.0)],
    "canny": [({"low": 20, "high": 200}, "low", 120), ({"low": 20, "high": 60}, "high", 250),
              ({"low": 10, "high": 40}, "l2", True)],
}


# Parameters whose effect is not on the stage's own output, and the test that shows it.
USED_ELSEWHERE = {
    # from: luma tells the source to hand out the decoder's luma plane instead of BGR
    ("grayscale", "from"): "test_from_luma_changes_what_the_source_gives",
}


def test_parameters_used_elsewhere_have_their_test():
    from tests.stages import test_grayscale_from
    for test_name in USED_ELSEWHERE.values():
        assert callable(getattr(test_grayscale_from, test_name))


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_every_parameter_is_used(name):
    cls = REGISTRIES["stage"][name]
    covered = {param for _, param, _ in ALTERNATIVES[name]}
    covered |= {param for stage, param in USED_ELSEWHERE if stage == name}
    assert covered == {p.name for p in cls.params}, "each parameter needs an alternative"
    frame = INPUTS[name]((60, 160), 3)
    for base, param, value in ALTERNATIVES[name]:
        first = build("stage", name, base)
        second = build("stage", name, {**base, param: value})
        assert getattr(second, param) == value
        if name == "hud":
            first.lines_for = second.lines_for = lambda f: hud_lines(30.0, 40.0, 5.0)
        a, b = run(first, frame).image, run(second, frame).image
        assert a.shape != b.shape or not np.array_equal(a, b), f"{name}.{param} had no effect"


@pytest.mark.parametrize("name, settings, key", [
    ("gradient", {"kind": "sobal"}, "kind"),
    ("gradient", {"sigma": 1}, "sigma"),
    ("derivative", {"scale": 2.0}, "scale"),           # scale needs a mapping
    ("derivative", {"mapping": "abs", "offset": 3.0}, "offset"),
    ("map", {"fn": "tanh"}, "fn"),                      # fn needs mode activation
    ("map", {"mode": "activation", "scale": 2.0}, "scale"),
    ("map", {"mode": "activation", "width": 0}, "width"),
    ("threshold", {"value": "high"}, "value"),
    ("threshold", {"value": 300}, "value"),
    ("overlay", {"color": [0, 255]}, "color"),
    ("overlay", {"color": [0, 255, 256]}, "color"),
    ("overlay", {"alpha": 1.5}, "alpha"),
    ("hud", {"corner": "middle"}, "corner"),
    ("resize", {}, "scale"),
    ("resize", {"scale": 0.5, "width": 10}, "scale"),
    ("blur", {"ksize": 4}, "ksize"),
    ("blur", {"ksize": True}, "ksize"),
    ("canny", {"low": "otsu"}, "low"),
    ("canny", {"high": 256}, "high"),
    ("canny", {"low": -1}, "low"),
    ("canny", {"l2": "yes"}, "l2"),
])
def test_bad_settings_are_refused_naming_the_key(name, settings, key):
    with pytest.raises(ParamError) as info:
        build("stage", name, settings)
    assert info.value.key == key
    assert key in str(info.value)


def test_stage_constructed_directly_checks_like_a_config():
    cls = REGISTRIES["stage"]["gradient"]
    with pytest.raises(ParamError, match="did you mean 'sobel'"):
        cls(kind="sobal")
    assert repr(cls(kind="scharr")) == "Gradient(kind='scharr', norm='l2', border='reflect101')"
