"""Every stage, the same questions: it runs, refuses bad input, gives the right dtype and
shape, equals its function, round-trips through its config, and uses every parameter.

The stage list comes from the registry, so a new stage fails these tests until it has
an entry in EXAMPLES, REFERENCE and ALTERNATIVES below.
"""

import cv2
import numpy as np
import pytest

import pipeline.stages  # noqa: F401  (registers the stages)
from pipeline import ops
from pipeline.activations import ACTIVATIONS
from pipeline.frame import Frame
from pipeline.registry import REGISTRIES, ParamError, build, settings_of
from pipeline.runtime.controls import Controls
from pipeline.stages import Chain, StageError
from pipeline.stages.chain import plan
from pipeline.stages.gradient import FusedEdges
from pipeline.stages.hud import draw_hud, hud_lines
from pipeline.stages.map import map_activation
from pipeline.stages.overlay import paint_edges
from pipeline.stages.threshold import otsu_threshold

STAGE_NAMES = sorted(REGISTRIES["stage"])
SHAPES = [(1, 1), (3, 5), (17, 23)]


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


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_every_parameter_is_used(name):
    cls = REGISTRIES["stage"][name]
    covered = {param for _, param, _ in ALTERNATIVES[name]}
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


# ---------------------------------------------------------------- fusion

@pytest.mark.parametrize("kind", ["forward", "central", "sobel", "scharr", "prewitt"])
@pytest.mark.parametrize("norm, mode, border", [("l2", "abs", "reflect101"),
                                                 ("l1", "shift", "zero"),
                                                 ("l2", "shift", "replicate")])
@pytest.mark.parametrize("with_gray", [True, False])
def test_fused_chain_equals_stage_by_stage(kind, norm, mode, border, with_gray):
    stages = ([build("stage", "grayscale")] if with_gray else []) + [
        build("stage", "gradient", {"kind": kind, "norm": norm, "border": border}),
        build("stage", "map", {"mode": mode, "scale": 0.7}),
        build("stage", "threshold", {"value": 90}),
    ]
    fused, plain = Chain(stages), Chain(stages, fuse=False)
    assert isinstance(fused.steps[0], FusedEdges) and len(fused) == 2
    assert len(plain) == len(stages)
    image = photo((29, 41), 2) if with_gray else grey((29, 41), 2)
    a = fused(Frame(0, 0.0, image, image))
    b = plain(Frame(0, 0.0, image, image))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.side["histogram"], b.side["histogram"])
    assert a.side["threshold"] == b.side["threshold"] == 90


def test_fusion_only_where_the_fused_kernel_computes_the_same():
    g, m = build("stage", "gradient"), build("stage", "map", {"mode": "shift", "offset": 100.0})
    assert [type(s).__name__ for s in plan([g, m])] == ["Gradient", "Map"]
    act = build("stage", "map", {"mode": "activation"})
    assert [type(s).__name__ for s in plan([g, act])] == ["Gradient", "Map"]
    gray = build("stage", "grayscale")
    blur = build("stage", "blur")
    steps = plan([gray, blur, g, build("stage", "map")])
    assert [s.label for s in steps] == ["grayscale", "blur", "gradient+map"]
    assert Chain([gray, g, build("stage", "map")]).labels == ["grayscale+gradient+map"]


def test_fused_without_grayscale_refuses_colour_like_gradient():
    chain = Chain([build("stage", "gradient"), build("stage", "map")])
    bgr = photo()
    with pytest.raises(StageError, match="grayscale"):
        chain(Frame(0, 0.0, bgr, bgr))


def test_the_histogram_is_made_once_by_map_not_by_gradient():
    frame = run(build("stage", "gradient"), INPUTS["gradient"]((30, 40)))
    assert "histogram" not in frame.side  # map or threshold makes it, once
    rendered = ops.map_abs(frame.image)
    out = run(build("stage", "map"), frame)
    np.testing.assert_array_equal(out.side["histogram"], np.bincount(rendered.ravel(), minlength=256))


def test_map_leaves_the_histogram_of_the_picture_it_makes():
    frame = INPUTS["map"]((30, 40))
    frame.side["histogram"] = np.zeros(256, np.int64)
    out = run(build("stage", "map", {"mode": "activation", "center": 50.0, "width": 20.0}), frame)
    np.testing.assert_array_equal(out.side["histogram"], np.bincount(out.image.ravel(), minlength=256))
    plain = run(build("stage", "map"), INPUTS["map"]((30, 40)))
    np.testing.assert_array_equal(plain.side["histogram"], np.bincount(plain.image.ravel(), minlength=256))


def test_threshold_auto_without_map_makes_the_histogram_once_and_leaves_it():
    magnitude = run(build("stage", "gradient"), INPUTS["gradient"]((30, 40)))
    expected = np.bincount(ops.map_abs(magnitude.image).ravel(), minlength=256)
    out = run(build("stage", "threshold"), magnitude)
    np.testing.assert_array_equal(out.side["histogram"], expected)
    assert out.side["threshold"] == ops.otsu_threshold(expected)


# ---------------------------------------------------------------- map activation

def test_map_stage_offers_exactly_the_activation_functions():
    from pipeline.stages.map import ACTIVATION_NAMES

    assert ACTIVATION_NAMES == tuple(ACTIVATIONS)


@pytest.mark.parametrize("fn", sorted(ACTIVATIONS))
def test_map_activation_every_function(fn):
    d = magnitude((13, 17), 4)
    out = map_activation(d, fn, 80.0, 25.0)
    expected = reference("map", {"mode": "activation", "fn": fn, "center": 80.0, "width": 25.0},
                         Frame(0, 0.0, d, d))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_map_activation_sigmoid_is_half_bright_at_center():
    d = np.array([[0.0, 100.0, 1000.0]], np.float32)
    np.testing.assert_array_equal(map_activation(d, "sigmoid", 100.0, 10.0), [[0, 128, 255]])
    with pytest.raises(ValueError, match="fn must be one of"):
        map_activation(d, "softmax", 0.0, 1.0)


# ---------------------------------------------------------------- threshold

def test_otsu_threshold_matches_opencv():
    rng = np.random.default_rng(1)
    for seed in range(5):
        img = np.concatenate([rng.normal(40 + 10 * seed, 12, 900), rng.normal(170, 20, 500)])
        img = np.clip(img, 0, 255).astype(np.uint8).reshape(35, 40)
        expected, _ = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        # made with OpenCV's THRESH_OTSU, which also splits at "<= t" vs "> t"
        assert otsu_threshold(np.bincount(img.ravel(), minlength=256)) == expected
    assert otsu_threshold(np.zeros(256)) == 0.0
    assert otsu_threshold(np.bincount([7] * 5, minlength=256)) == 0.0
    with pytest.raises(ValueError, match="256 bins"):
        otsu_threshold(np.zeros(10))


def publish_threshold(controls, value):
    """What the tuner does after an update: one TunerStep through the controls."""
    from pipeline.runtime.tuner import TunerStep

    controls.publish_tuner_step(TunerStep(
        update=1, frame=None, target="threshold", start={"threshold": float(value)},
        optimum={"threshold": float(value)}, values={"threshold": float(value)},
        objective=None, iterations=0, seconds=0.0))


def test_threshold_auto_uses_manual_then_tuner_then_otsu():
    frame = INPUTS["threshold"]((30, 40))
    hist = np.bincount(frame.image.ravel(), minlength=256)
    stage = build("stage", "threshold")  # value: auto
    assert run(stage, frame).side["threshold"] == otsu_threshold(hist)
    frame.side["histogram"] = hist
    controls = Controls()
    stage.bind(controls)
    assert run(stage, frame).side["threshold"] == otsu_threshold(hist)
    publish_threshold(controls, 77)
    out = run(stage, frame)
    assert out.side["threshold"] == 77.0
    np.testing.assert_array_equal(out.image, ops.threshold(frame.image, 77))
    assert controls.snapshot().threshold == 77.0
    controls.toggle_tuner()  # tuner off: back to Otsu
    assert run(stage, frame).side["threshold"] == otsu_threshold(hist)
    controls.threshold = 12  # manual wins over everything
    controls.toggle_tuner()
    assert run(stage, frame).side["threshold"] == 12.0


def test_threshold_number_is_overridden_by_manual_only():
    frame = INPUTS["threshold"]((30, 40))
    stage = build("stage", "threshold", {"value": 40})
    controls = Controls()
    stage.bind(controls)
    publish_threshold(controls, 99)
    assert run(stage, frame).side["threshold"] == 40.0
    controls.nudge_threshold(5)  # from the value in use
    assert run(stage, frame).side["threshold"] == 45.0
    controls.threshold = None
    assert run(stage, frame).side["threshold"] == 40.0


def test_threshold_auto_on_float_magnitude_without_histogram():
    m = magnitude((30, 40))
    out = run(build("stage", "threshold"), Frame(0, 0.0, m, m))
    assert out.side["threshold"] == otsu_threshold(np.bincount(ops.map_abs(m).ravel(), minlength=256))


# ---------------------------------------------------------------- overlay, hud, resize

def test_paint_edges_blends_soft_edges_in_proportion():
    original = np.full((2, 3, 3), 100, np.uint8)
    strength = np.array([[0, 255, 51], [102, 0, 255]], np.uint8)
    out = paint_edges(original, strength, [200, 0, 100], 0.5)
    # o + (c - o) * 0.5 * s/255: s=255 -> halfway, s=51 -> a tenth of the way
    np.testing.assert_array_equal(out[0, 1], [150, 50, 100])
    np.testing.assert_array_equal(out[0, 2], [110, 90, 100])
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])


def test_overlay_on_a_grey_original_and_after_a_resize():
    g = grey((40, 60))
    small = ops.threshold(ops.map_abs(magnitude((20, 30))), 50)
    out = run(build("stage", "overlay"), Frame(0, 0.0, g, small)).image
    assert out.shape == (20, 30, 3)
    base = cv2.cvtColor(cv2.resize(g, (30, 20), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
    np.testing.assert_array_equal(out[small == 0], base[small == 0])
    assert (out[small > 0] == [0, 255, 0]).all()


def test_hud_reads_live_stats_from_controls():
    controls = Controls()
    controls.publish_stats(frames_out=10, fps=29.5, latency_p95_ms=41.0)
    stage = build("stage", "hud")
    stage.bind(controls)
    frame = INPUTS["hud"]((80, 200))
    frame.side["threshold"] = 33.0
    assert stage.lines_for(frame) == ["fps 29.5", "threshold 33", "latency 41 ms"]
    controls.paused = True
    assert stage.lines_for(frame)[-1] == "paused"
    out = run(stage, frame).image
    np.testing.assert_array_equal(out, draw_hud(frame.image, stage.lines_for(frame), "top-left",
                                                [255, 255, 255], 0.6, 1))


@pytest.mark.parametrize("corner", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_hud_draws_in_its_corner(corner):
    image = np.zeros((120, 300, 3), np.uint8)
    out = draw_hud(image, ["fps 30.0"], corner, [255, 255, 255], 0.6, 1)
    rows, cols = np.nonzero(out.any(axis=2))
    top, left = corner.split("-")
    assert (rows.mean() < 60) == (top == "top")
    assert (cols.mean() < 150) == (left == "left")


@pytest.mark.parametrize("settings, size", [({"width": 20}, (20, 15)), ({"height": 15}, (20, 15)),
                                            ({"width": 7, "height": 9}, (7, 9)),
                                            ({"scale": 0.01}, (1, 1))])
def test_resize_sizes(settings, size):
    image = np.zeros((30, 40), np.uint8)
    out = build("stage", "resize", settings).apply(image)
    assert out.shape[::-1] == size


def test_resize_and_blur_keep_dtype_of_derivatives():
    d = ops.derivative(grey(), "sobel", "x")
    assert build("stage", "resize", {"scale": 0.5}).apply(d).dtype == np.int16
    assert build("stage", "blur").apply(d.astype(np.float32)).dtype == np.float32


def test_hud_tuner_line():
    from pipeline.stages.hud import tuner_line

    assert tuner_line(True, None) is None
    assert tuner_line(False, None) == "tuner off"
    steps = {"threshold": {"values": {"threshold": 87.4}, "objective": -0.8123}}
    assert tuner_line(True, steps) == "tuner 87 (objective -0.812)"
    assert tuner_line(False, steps) == "tuner off"
    pair = dict(steps, canny={"values": {"low": 40.2, "high": 119.6}, "objective": None})
    assert tuner_line(True, pair) == "tuner 87 (objective -0.812), canny low 40 high 120 (objective -)"
    assert hud_lines(30.0, 87.0, 5.0, tuner="tuner 87 (objective -0.812)")[3] == "tuner 87 (objective -0.812)"


def test_hud_outline_sits_under_the_text():
    # OpenCV 5 advances glyphs by stroke width: a thicker outline drifted off the text.
    from pipeline.stages.hud import draw_hud

    background = np.full((60, 400, 3), 128, np.uint8)
    for corner in ("top-left", "top-right"):
        out = draw_hud(background, ["threshold 124 (objective -0.974)"], corner, [255, 0, 255], 0.6, 1)
        fill = np.all(out == (255, 0, 255), axis=2)
        untouched = np.all(out == 128, axis=2)
        near_untouched = cv2.dilate(untouched.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert fill.sum() > 100
        assert not (fill & near_untouched).any(), corner  # every text pixel is ringed by outline
