"""Tests for pipeline.optim.threshold_objectives and tune_threshold: values, analytic gradients, Otsu against OpenCV, tuning."""

import cv2
import numpy as np
import pytest

from pipeline.optim import (
    OBJECTIVES,
    SGD,
    Adam,
    Momentum,
    Sign,
    agreement,
    agreement_grad,
    density,
    density_grad,
    joint_histogram,
    make_optimizer,
    minimize,
    numerical_gradient,
    otsu,
    otsu_grad,
    tune_threshold,
)

LEVELS = np.arange(256, dtype=np.float64)


def histogram(image):
    return np.bincount(image.ravel(), minlength=256)


def as_u8(values):
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def sobel_magnitude_of_shapes(seed):
    """A structured edge map: |Sobel| of blurred random rectangles and discs, as uint8."""
    rng = np.random.default_rng(seed)
    canvas = np.full((96, 128), rng.integers(0, 60), np.uint8)
    for _ in range(6):
        x, y = int(rng.integers(0, 128)), int(rng.integers(0, 96))
        shade = int(rng.integers(0, 256))
        if rng.random() < 0.5:
            cv2.rectangle(
                canvas, (x, y), (x + int(rng.integers(5, 50)), y + int(rng.integers(5, 40))), shade, -1
            )
        else:
            cv2.circle(canvas, (x, y), int(rng.integers(3, 30)), shade, -1)
    canvas = cv2.GaussianBlur(canvas, (5, 5), float(rng.uniform(0.5, 2.0)))
    canvas = cv2.add(canvas, rng.integers(0, 6, canvas.shape, dtype=np.uint8))
    dx = cv2.Sobel(canvas, cv2.CV_32F, 1, 0)
    dy = cv2.Sobel(canvas, cv2.CV_32F, 0, 1)
    return cv2.convertScaleAbs(cv2.magnitude(dx, dy), alpha=float(rng.uniform(0.1, 0.5)))


def make_image(kind, seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(50, 40_000))
    if kind == "uniform":
        return rng.integers(0, 256, size).astype(np.uint8)
    if kind == "bimodal":
        low, high = rng.uniform(10, 120), rng.uniform(130, 245)
        share = int(size * rng.uniform(0.1, 0.9))
        return as_u8(
            np.concatenate(
                [
                    rng.normal(low, rng.uniform(2, 25), share),
                    rng.normal(high, rng.uniform(2, 25), size - share),
                ]
            )
        )
    if kind == "skewed":  # like a gradient magnitude: most pixels flat, a long tail of edges
        return as_u8(rng.exponential(rng.uniform(3, 40), size))
    if kind == "narrow_peaks":  # empty bins between the classes: many exact ties
        centres = rng.choice(256, size=int(rng.integers(2, 5)), replace=False)
        return as_u8(rng.choice(centres, size) + rng.normal(0, 0.4, size))
    if kind == "sobel":
        return sobel_magnitude_of_shapes(seed)
    if kind == "tiny":
        return rng.integers(0, 256, int(rng.integers(2, 6))).astype(np.uint8)
    raise ValueError(kind)


IMAGE_CASES = [
    (kind, seed)
    for kind in ["uniform", "bimodal", "skewed", "narrow_peaks", "sobel", "tiny"]
    for seed in range(8)
]


def opencv_otsu_threshold(image):
    threshold, _ = cv2.threshold(
        image.reshape(1, -1) if image.ndim == 1 else image, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU
    )
    return int(threshold)


def hard_otsu_argmin(hist):
    values = [otsu(hist, t, tau=0) for t in range(256)]
    return int(np.argmin(values))  # argmin takes the first of equal values: ties to the smallest t


# ---------------------------------------------------------------- Otsu against OpenCV


@pytest.mark.parametrize("kind, seed", IMAGE_CASES)
def test_hard_otsu_minimum_is_the_opencv_threshold(kind, seed):
    image = make_image(kind, seed)
    assert hard_otsu_argmin(histogram(image)) == opencv_otsu_threshold(image)


@pytest.mark.parametrize(
    "pixels, threshold",
    [
        # made with OpenCV 5.0.0:
        # cv2.threshold(np.array([pixels], np.uint8), 0, 255, THRESH_BINARY | THRESH_OTSU)[0]
        ([10] * 50 + [200] * 50, 10),
        ([3] + [4] * 99, 3),
        ([0] * 50 + [255] * 50, 0),
        ([7] * 100, 0),
    ],
)
def test_hard_otsu_minimum_frozen_opencv_values(pixels, threshold):
    image = np.array([pixels], np.uint8)
    assert hard_otsu_argmin(histogram(image)) == threshold
    assert opencv_otsu_threshold(image) == threshold


@pytest.mark.parametrize("value", [0, 7, 255])
@pytest.mark.parametrize("tau", [0.0, 2.0])
def test_otsu_of_a_one_valued_histogram_is_zero_with_zero_gradient(value, tau):
    hist = histogram(np.full(100, value, np.uint8))
    for t in [-5.0, 0.0, 6.5, 7.0, 100.0, 254.5]:
        assert otsu(hist, t, tau=tau) == 0.0
        assert otsu_grad(hist, t, tau=tau) == 0.0


# ---------------------------------------------------------------- values against the definitions


def soft_weights(t, tau):
    """(w, 1 - w), the second one not as a difference, so it is not 0 where w rounds to 1."""
    if tau == 0:
        return (LEVELS > t).astype(float), (LEVELS <= t).astype(float)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-(LEVELS - t) / tau)), 1.0 / (1.0 + np.exp((LEVELS - t) / tau))


def otsu_by_class_means(hist, t, tau):
    """Otsu's w0 w1 (mu0 - mu1)^2 over the total variance, from class means."""
    p = hist / hist.sum()
    w, background = soft_weights(t, tau)
    mass1, mass0 = np.sum(p * w), np.sum(p * background)
    if mass1 == 0 or mass0 == 0:
        return None
    mean1, mean0 = np.sum(p * w * LEVELS) / mass1, np.sum(p * background * LEVELS) / mass0
    mean = np.sum(p * LEVELS)
    return -mass0 * mass1 * (mean0 - mean1) ** 2 / np.sum(p * (LEVELS - mean) ** 2)


def agreement_from_pixels(magnitude, reference, t, tau):
    """1 - soft F1 computed pixel by pixel, without any histogram."""
    if tau == 0:
        w = (magnitude > t).astype(float)
    else:
        w = 1.0 / (1.0 + np.exp(-(magnitude.astype(float) - t) / tau))
    positives = reference.astype(bool)
    return 1.0 - 2.0 * np.sum(w[positives]) / (np.sum(w) + np.count_nonzero(positives))


T_GRID = [-10.3, 0.0, 12.5, 40.0, 63.7, 99.0, 127.5, 150.2, 199.9, 240.0, 255.0, 262.1]


@pytest.mark.parametrize("kind, seed", [("bimodal", 1), ("skewed", 2), ("sobel", 3)])
@pytest.mark.parametrize("tau", [0.0, 0.5, 2.0, 8.0])
def test_otsu_values_match_the_class_mean_formula(kind, seed, tau):
    hist = histogram(make_image(kind, seed))
    for t in T_GRID:
        expected = otsu_by_class_means(hist, t, tau)
        if expected is None:  # one class empty
            assert otsu(hist, t, tau=tau) == 0.0
        else:
            assert otsu(hist, t, tau=tau) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("target", [0.0, 0.1, 0.35, 1.0])
@pytest.mark.parametrize("tau", [0.0, 0.5, 3.0])
def test_density_values_match_the_edge_fraction(target, tau):
    image = make_image("skewed", 4)
    for t in T_GRID:
        if tau == 0:
            fraction = np.count_nonzero(image > t) / image.size
        else:
            fraction = np.mean(1.0 / (1.0 + np.exp(-(image - t) / tau)))
        assert density(histogram(image), t, target=target, tau=tau) == pytest.approx(
            (fraction - target) ** 2, rel=1e-9, abs=1e-15
        )


@pytest.mark.parametrize("tau", [0.0, 0.7, 2.0])
def test_agreement_values_match_soft_f1_against_a_canny_reference(tau):
    gray = cv2.GaussianBlur(make_image("uniform", 5)[:2500].reshape(50, 50), (3, 3), 1.0)
    magnitude = sobel_magnitude_of_shapes(6)
    reference = cv2.Canny(cv2.resize(gray, magnitude.shape[::-1]), 50, 150)  # 0/255
    assert 0 < np.count_nonzero(reference) < reference.size
    joint = joint_histogram(magnitude, reference)
    for t in T_GRID:
        assert agreement(joint, t, tau=tau) == pytest.approx(
            agreement_from_pixels(magnitude, reference, t, tau), rel=1e-9, abs=1e-12
        )


def test_hard_step_is_the_limit_of_the_soft_one():
    hist = histogram(make_image("sobel", 7))
    joint = joint_histogram(make_image("sobel", 7), make_image("sobel", 7) > 30)
    for t in range(0, 255, 17):
        # Half a level from the bins, tau = 1e-3 puts every weight within exp(-500) of 0 or 1.
        assert otsu(hist, t + 0.5, tau=1e-3) == pytest.approx(otsu(hist, t, tau=0), rel=1e-12, abs=1e-15)
        assert density(hist, t + 0.5, tau=1e-3) == pytest.approx(
            density(hist, t, tau=0), rel=1e-12, abs=1e-15
        )
        assert agreement(joint, t + 0.5, tau=1e-3) == pytest.approx(
            agreement(joint, t, tau=0), rel=1e-12, abs=1e-15
        )


# ---------------------------------------------------------------- analytic gradients


def objective_cases():
    skewed = histogram(make_image("skewed", 11))
    bimodal = histogram(make_image("bimodal", 12))
    magnitude = sobel_magnitude_of_shapes(13)
    joint = joint_histogram(magnitude, magnitude > 25)
    noisy_joint = joint_histogram(magnitude, np.random.default_rng(0).random(magnitude.shape) < 0.2)
    return [
        ("otsu", skewed, {}),
        ("otsu", bimodal, {}),
        ("density", skewed, {"target": 0.1}),
        ("density", bimodal, {"target": 0.6}),
        ("agreement", joint, {}),
        ("agreement", noisy_joint, {}),
    ]


@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("tau", [0.5, 2.0, 8.0])
def test_analytic_gradient_matches_numerical_gradient(case, tau):
    name, hist, settings = objective_cases()[case]
    value_function, gradient_function = OBJECTIVES[name]
    ts = np.linspace(-12.3, 267.9, 57)
    analytic = np.array([gradient_function(hist, t, tau=tau, **settings) for t in ts])
    numeric = np.array(
        [numerical_gradient(lambda t: value_function(hist, t, tau=tau, **settings), t)[0] for t in ts]
    )
    # Truncation error ~ eps^2 |f'''| / 24 with |f'''| ~ 1 / tau^3: 3e-9 at tau = 0.5.
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
    assert np.count_nonzero(np.abs(analytic) > 1e-4) >= 5  # the check has something to check


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_hard_step_has_zero_gradient(name):
    hist = histogram(make_image("skewed", 1))
    if name == "agreement":
        hist = np.stack([hist // 2, hist - hist // 2], axis=1)
    _, gradient_function = OBJECTIVES[name]
    assert all(gradient_function(hist, t, tau=0) == 0.0 for t in T_GRID)


def test_agreement_with_an_empty_reference():
    magnitude = make_image("skewed", 3)
    joint = joint_histogram(magnitude, np.zeros(magnitude.shape, bool))
    for tau in [0.0, 2.0]:
        for t in [10.0, 300.0]:  # at 300 with tau = 0 nothing is predicted either
            assert agreement(joint, t, tau=tau) == 1.0
            assert agreement_grad(joint, t, tau=tau) == 0.0


# ---------------------------------------------------------------- joint_histogram


def test_joint_histogram_counts_like_a_loop():
    rng = np.random.default_rng(8)
    magnitude = rng.integers(0, 256, (37, 23)).astype(np.uint8)
    reference = rng.integers(0, 3, (37, 23)) * 120  # 0, 120, 240: nonzero is an edge
    expected = np.zeros((256, 2), np.int64)
    for v, r in zip(magnitude.ravel(), reference.ravel()):
        expected[v, int(r != 0)] += 1
    joint = joint_histogram(magnitude, reference)
    assert joint.dtype == np.int64 and joint.shape == (256, 2)
    np.testing.assert_array_equal(joint, expected)
    np.testing.assert_array_equal(joint_histogram(magnitude, reference != 0), expected)


@pytest.mark.parametrize(
    "magnitude, reference, message",
    [
        (
            np.zeros((4, 4), np.float32),
            np.zeros((4, 4), bool),
            "magnitude_u8 must have dtype uint8; got float32",
        ),
        (
            np.zeros((4, 4), np.uint8),
            np.zeros((4, 5), bool),
            r"reference_mask must have the magnitude's shape \(4, 4\); got \(4, 5\)",
        ),
        (
            np.zeros((4, 4), np.uint8),
            np.zeros((4, 4), np.float64),
            "reference_mask must be bool or integer; got dtype float64",
        ),
    ],
)
def test_joint_histogram_refuses_bad_input(magnitude, reference, message):
    with pytest.raises(ValueError, match=message):
        joint_histogram(magnitude, reference)


# ---------------------------------------------------------------- input checks


GOOD_HIST = np.bincount(np.arange(256) % 50, minlength=256)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: otsu(GOOD_HIST[:255], 10.0),
            r"hist must have shape \(256,\) \(one bin per uint8 magnitude\); got shape \(255,\)",
        ),
        (lambda: otsu(np.stack([GOOD_HIST, GOOD_HIST]), 10.0), r"hist must have shape \(256,\)"),
        (lambda: density(-GOOD_HIST, 10.0), "hist must hold finite counts >= 0"),
        (lambda: density(np.full(256, np.nan), 10.0), "hist must hold finite counts >= 0"),
        (lambda: otsu_grad(np.zeros(256, np.int64), 10.0), "hist is empty: every count is 0"),
        (lambda: otsu(GOOD_HIST > 0, 10.0), "hist must hold counts .*; got dtype bool"),
        (
            lambda: otsu(GOOD_HIST, 10.0, tau=-1.0),
            r"tau must be a finite number >= 0 \(0: hard threshold\); got -1.0",
        ),
        (lambda: density_grad(GOOD_HIST, 10.0, tau=float("inf")), "tau must be a finite number >= 0"),
        (
            lambda: density(GOOD_HIST, 10.0, target=1.5),
            r"target must be an edge fraction in \[0, 1\]; got 1.5",
        ),
        (lambda: agreement(GOOD_HIST, 10.0), r"joint_hist must have shape \(256, 2\)"),
        (lambda: agreement_grad(np.zeros((256, 2)), 10.0), "joint_hist is empty"),
    ],
)
def test_objectives_refuse_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_registry_pairs_each_value_with_its_gradient():
    assert OBJECTIVES == {
        "otsu": (otsu, otsu_grad),
        "density": (density, density_grad),
        "agreement": (agreement, agreement_grad),
    }


def test_each_objective_is_registered_with_the_settings_its_functions_take():
    import inspect

    from pipeline.optim import PAIR_OBJECTIVES
    from pipeline.config.registry import REGISTRIES

    registered = REGISTRIES["objective"]
    assert set(registered) == set(OBJECTIVES) | set(PAIR_OBJECTIVES)
    for name, (value_function, gradient_function) in {**OBJECTIVES, **PAIR_OBJECTIVES}.items():
        cls = registered[name]
        leading = 1 + cls.thresholds  # hist, then t or (low, high)
        for function in (value_function, gradient_function):
            settings = list(inspect.signature(function).parameters.values())[leading:]
            assert {p.name: p.default for p in settings} == {
                param.name: param.default for param in cls.params}, (name, function)


def test_tune_threshold_errors_carry_the_key_at_fault():
    from pipeline.config.registry import ParamError

    hist = np.bincount(np.arange(256) % 50, minlength=256)
    with pytest.raises(ParamError, match="unknown objective 'multiotsu'") as caught:
        tune_threshold(hist, 10.0, make_optimizer({"name": "sign"}), 2, objective="multiotsu")
    assert caught.value.key == "objective"
    with pytest.raises(ParamError, match="allowed: target, tau") as caught:
        tune_threshold(hist, 10.0, make_optimizer({"name": "sign"}), 2, objective="density",
                       sigma=1.0)
    assert caught.value.key == "sigma"


# ---------------------------------------------------------------- tune_threshold


def tune_cases():
    magnitude = sobel_magnitude_of_shapes(21)
    return [
        ("otsu", histogram(make_image("bimodal", 3)), {}),
        ("otsu", histogram(magnitude), {"tau": 0.8}),
        ("density", histogram(magnitude), {"target": 0.05, "tau": 3.0}),
        ("agreement", joint_histogram(magnitude, magnitude > 40), {"tau": 1.5}),
    ]


@pytest.mark.parametrize("case", range(4))
@pytest.mark.parametrize("optimizer", [Sign(2), SGD(500.0), Momentum(100.0, 0.8), Adam(3.0)], ids=repr)
def test_tune_threshold_equals_minimize_over_the_public_functions(case, optimizer):
    name, hist, settings = tune_cases()[case]
    value_function, gradient_function = OBJECTIVES[name]
    tuned = tune_threshold(hist, 60.0, optimizer, 20, objective=name, **settings)
    reference = minimize(
        lambda t: value_function(hist, t, **settings),
        60.0,
        optimizer,
        20,
        grad=lambda t: gradient_function(hist, t, **settings),
        bounds=(0, 255),
    )
    np.testing.assert_array_equal(tuned.points, reference.points)
    np.testing.assert_array_equal(tuned.values, reference.values)
    assert tuned.points.shape == (21, 1)


def test_tune_threshold_finds_the_otsu_valley():
    image = as_u8(
        np.concatenate(
            [
                np.random.default_rng(3).normal(60, 12, 30_000),
                np.random.default_rng(4).normal(170, 20, 20_000),
            ]
        )
    )
    hist = histogram(image)
    best = hard_otsu_argmin(hist)
    path = tune_threshold(hist, 30.0, Adam(4.0), 60)
    assert path.final_value < path.values[0]
    assert abs(path.final[0] - best) < 15  # the valley is flat: within 0.1% of the best value there
    assert path.final_value == pytest.approx(otsu(hist, best, tau=0), rel=2e-3)


def test_tune_threshold_reaches_the_density_target():
    image = as_u8(
        np.concatenate(
            [
                np.random.default_rng(3).normal(60, 12, 30_000),
                np.random.default_rng(4).normal(170, 20, 20_000),
            ]
        )
    )
    path = tune_threshold(
        histogram(image), 150.0, Momentum(2000.0, 0.5), 100, objective="density", target=0.2
    )
    assert np.mean(image > path.final[0]) == pytest.approx(0.2, abs=2e-3)


def test_tune_threshold_recovers_the_threshold_behind_a_reference():
    magnitude = sobel_magnitude_of_shapes(30)
    reference = magnitude > 35
    path = tune_threshold(
        joint_histogram(magnitude, reference), 5.0, Adam(3.0), 80, objective="agreement", tau=0.5
    )
    assert path.final_value < 0.02
    assert agreement(joint_histogram(magnitude, reference), path.final[0], tau=0) < 0.02


def test_tune_threshold_stays_in_bounds():
    hist = histogram(make_image("skewed", 5))
    # target 0 asks for no edges at all: t runs up to the upper bound and stays there.
    path = tune_threshold(hist, 250.0, Sign(4), 5, objective="density", target=0.0)
    np.testing.assert_array_equal(path.x, [250, 254, 255, 255, 255, 255])
    narrow = tune_threshold(hist, 20.0, Sign(4), 5, objective="density", target=0.0, bounds=(10, 30))
    assert narrow.x.max() == 30


def test_tune_threshold_uses_the_objective_settings():
    hist = histogram(make_image("skewed", 6))
    for settings in [{"target": 0.3}, {"tau": 0.5}]:
        changed = tune_threshold(hist, 40.0, SGD(200.0), 5, objective="density", **settings)
        default = tune_threshold(hist, 40.0, SGD(200.0), 5, objective="density")
        assert not np.array_equal(changed.points, default.points)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"objective": "f1"}, r"unknown objective 'f1'; allowed: otsu, density, agreement"),
        (
            {"objective": "otsu", "target": 0.1},
            r"unknown keyword 'target' for objective 'otsu'; allowed: tau",
        ),
        (
            {"objective": "density", "sigma": 1.0},
            r"unknown keyword 'sigma' for objective 'density'; allowed: target, tau",
        ),
        ({"t0": 300.0}, r"x0 = \[300.0\] lies outside bounds \(0, 255\)"),
        ({"tau": -2.0}, "tau must be a finite number >= 0"),
    ],
)
def test_tune_threshold_refuses_bad_arguments(kwargs, message):
    arguments = dict(hist=GOOD_HIST, t0=20.0, optimizer=SGD(1.0), iterations=3)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        tune_threshold(**arguments)
