"""The optimizers and make_optimizer: update rules against hand and reference twins, settings."""

import math

import numpy as np
import pytest

from pipeline.optim import (
    OPTIMIZERS,
    SGD,
    Adam,
    Momentum,
    Nesterov,
    Optimizer,
    Sign,
    make_optimizer,
    minimize,
)
from tests.harness import bowl, square


# ---------------------------------------------------------------- optimizers, one step


def test_sign_walks_by_step_against_the_sign_and_rests_on_zero_gradient():
    x = np.array([3.0, 4.0, -2.0])
    np.testing.assert_array_equal(Sign(1).step(x, [7.5, -0.001, 0.0]), [2.0, 5.0, -2.0])
    np.testing.assert_array_equal(Sign(0.25).step(x, [7.5, -0.001, 0.0]), [2.75, 4.25, -2.0])
    np.testing.assert_array_equal(x, [3.0, 4.0, -2.0])  # input untouched


def test_sgd_step():
    np.testing.assert_array_equal(SGD(0.5).step([1.0, -2.0], [4.0, 1.0]), [-1.0, -2.5])


def test_momentum_with_zero_gamma_is_sgd():
    rng = np.random.default_rng(1)
    momentum, sgd = Momentum(0.3, gamma=0.0), SGD(0.3)
    x_momentum = x_sgd = rng.normal(size=4)
    for _ in range(10):
        g = rng.normal(size=4)
        x_momentum, x_sgd = momentum.step(x_momentum, g), sgd.step(x_sgd, g)
        np.testing.assert_array_equal(x_momentum, x_sgd)


def derivative_of_square(x):
    return 2 * x


# Written out by hand for f(x) = x^2 (f' = 2x) from x = 1 with lr = 0.1, gamma = 0.9.
# Ours:  v1 = 0.2,                 x1 = 1 - 0.2 = 0.8
#        v2 = 0.18 + 0.16 = 0.34,  x2 = 0.8 - 0.34 = 0.46
#        v3 = 0.306 + 0.092 = 0.398, x3 = 0.46 - 0.398 = 0.062
# torch.optim.SGD(lr=0.1, momentum=0.9): buf1 = g = 2, p1 = 1 - 0.1*2 = 0.8
#        buf2 = 1.8 + 1.6 = 3.4, p2 = 0.8 - 0.34 = 0.46
#        buf3 = 3.06 + 0.92 = 3.98, p3 = 0.46 - 0.398 = 0.062
MOMENTUM_BY_HAND = [1.0, 0.8, 0.46, 0.062]
# torch.optim.SGD(lr=0.1, momentum=0.9, nesterov=True), the same function and start:
#        buf1 = 2, step = g + 0.9 buf = 3.8, p1 = 1 - 0.38 = 0.62
#        g = 1.24, buf2 = 1.8 + 1.24 = 3.04, step = 1.24 + 2.736 = 3.976, p2 = 0.62 - 0.3976 = 0.2224
# Ours:  v1 = 0.2, x1 = 1 - (0.18 + 0.2) = 0.62; v2 = 0.18 + 0.124 = 0.304,
#        x2 = 0.62 - (0.2736 + 0.124) = 0.2224
NESTEROV_BY_HAND = [1.0, 0.62, 0.2224]


@pytest.mark.parametrize(
    "optimizer, by_hand", [(Momentum(0.1, 0.9), MOMENTUM_BY_HAND), (Nesterov(0.1, 0.9), NESTEROV_BY_HAND)]
)
def test_momentum_and_nesterov_match_trajectories_by_hand(optimizer, by_hand):
    path = minimize(square, 1.0, optimizer, len(by_hand) - 1, grad=derivative_of_square)
    np.testing.assert_allclose(path.x, by_hand, rtol=1e-13, atol=1e-15)


def test_momentum_descends_unlike_the_seed_slide_signs():
    # The slide's v = gamma v - lr g with x = x - v would step to 1 + 0.2 = 1.2 first.
    path = minimize(square, 1.0, Momentum(0.1, 0.9), 1, grad=derivative_of_square)
    assert path.x[1] == pytest.approx(0.8)
    assert path.values[1] < path.values[0]


def torch_sgd_momentum_twin(gradient, x0, lr, momentum, steps, nesterov=False):
    """torch.optim.SGD's update, written out.

    buf = momentum * buf + g (buf = g at first); p -= lr * buf, or lr * (g + momentum * buf) for nesterov.
    """
    p = np.array(x0, dtype=float)
    buf = None
    points = [p.copy()]
    for _ in range(steps):
        g = gradient(p)
        buf = g.copy() if buf is None else momentum * buf + g
        p = p - lr * (g + momentum * buf if nesterov else buf)
        points.append(p.copy())
    return np.array(points)


def tilted_bowl_gradient(p):
    return np.array([2.0 * p[0] + 0.5 * p[1] + 1.0, 0.5 * p[0] + 6.0 * p[1] - 2.0])


@pytest.mark.parametrize("optimizer_class, nesterov", [(Momentum, False), (Nesterov, True)])
@pytest.mark.parametrize("lr, gamma", [(0.05, 0.9), (0.2, 0.5), (0.01, 0.0)])
def test_momentum_equals_torch_sgd_for_a_constant_lr(optimizer_class, nesterov, lr, gamma):
    twin = torch_sgd_momentum_twin(tilted_bowl_gradient, [3.0, -4.0], lr, gamma, 50, nesterov=nesterov)
    optimizer = optimizer_class(lr, gamma)
    point = np.array([3.0, -4.0])
    for k in range(1, 51):
        point = optimizer.step(point, tilted_bowl_gradient(point))
        np.testing.assert_allclose(point, twin[k], rtol=1e-11, atol=1e-12)


def adam_twin(gradient, x0, lr, beta1, beta2, eps, steps):
    """Algorithm 1 of Kingma and Ba (2015), one coordinate, plain floats."""
    x, m, v = float(x0), 0.0, 0.0
    points = [x]
    for t in range(1, steps + 1):
        g = gradient(x)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        x = x - lr * (m / (1 - beta1**t)) / (math.sqrt(v / (1 - beta2**t)) + eps)
        points.append(x)
    return points


@pytest.mark.parametrize(
    "lr, beta1, beta2, eps", [(0.1, 0.9, 0.999, 1e-8), (0.5, 0.0, 0.9, 1e-3), (2.0, 0.5, 0.0, 1.0)]
)
def test_adam_equals_the_paper_algorithm(lr, beta1, beta2, eps):
    def gradient(x):
        return 2 * x + math.cos(3 * x)

    path = minimize(
        lambda x: x * x + math.sin(3 * x) / 3, 2.0, Adam(lr, beta1, beta2, eps), 40, grad=gradient
    )
    np.testing.assert_allclose(
        path.x, adam_twin(gradient, 2.0, lr, beta1, beta2, eps, 40), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("g", [1e-3, 1.0, 250.0, -42.0])
def test_adam_first_step_is_lr_whatever_the_gradient_size(g):
    step = Adam(0.5).step([10.0], [g])[0] - 10.0
    assert step == pytest.approx(-0.5 * math.copysign(1.0, g), rel=1e-4)


STATEFUL = [Momentum(0.05, 0.8), Nesterov(0.05, 0.8), Adam(0.3)]
ALL_KINDS = [Sign(0.5), SGD(0.05), *STATEFUL]


@pytest.mark.parametrize("optimizer", ALL_KINDS, ids=repr)
def test_reset_starts_over(optimizer):
    def run():
        point = np.array([3.0, -4.0])
        for _ in range(7):
            point = optimizer.step(point, tilted_bowl_gradient(point))
        return point

    optimizer.reset()
    first = run()
    optimizer.reset()
    np.testing.assert_array_equal(run(), first)


@pytest.mark.parametrize("optimizer", STATEFUL, ids=repr)
def test_state_refuses_a_point_of_another_shape(optimizer):
    optimizer.reset()
    optimizer.step([1.0, 2.0], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"shape \(2,\).*shape \(3,\).*reset\(\)"):
        optimizer.step([1.0, 2.0, 3.0], [0.1, 0.2, 0.3])
    optimizer.reset()
    assert optimizer.step([1.0, 2.0, 3.0], [0.1, 0.2, 0.3]).shape == (3,)


@pytest.mark.parametrize("optimizer", ALL_KINDS, ids=repr)
def test_step_refuses_a_gradient_of_another_shape(optimizer):
    optimizer.reset()
    with pytest.raises(ValueError, match="gradient must have the point's shape"):
        optimizer.step([1.0, 2.0], [0.1])


@pytest.mark.parametrize(
    "optimizer, text",
    [
        (Sign(), "Sign(step=1.0)"),
        (SGD(0.1), "SGD(lr=0.1)"),
        (Momentum(2, 0.9), "Momentum(lr=2.0, gamma=0.9)"),
        (Nesterov(0.5), "Nesterov(lr=0.5, gamma=0.9)"),
        (Adam(0.01), "Adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08)"),
    ],
)
def test_repr_shows_the_settings(optimizer, text):
    assert repr(optimizer) == text


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Sign(0), r"step must be a finite number > 0; got 0"),
        (lambda: SGD(-1), r"lr must be a finite number > 0; got -1"),
        (lambda: SGD(float("nan")), r"lr must be a finite number > 0; got nan"),
        (lambda: SGD(float("inf")), r"lr must be a finite number > 0; got inf"),
        (lambda: SGD("0.1"), r"lr must be a number > 0; got '0.1'"),
        (lambda: SGD(True), r"lr must be a number > 0; got True"),
        (lambda: Momentum(0.1, 1.0), r"gamma must be a finite number in \[0, 1\); got 1.0"),
        (lambda: Momentum(0.1, -0.1), r"gamma must be a finite number in \[0, 1\); got -0.1"),
        (lambda: Nesterov(0, 0.5), r"lr must be a finite number > 0; got 0"),
        (lambda: Nesterov(0.1, 2), r"gamma must be a finite number in \[0, 1\); got 2"),
        (lambda: Adam(0.1, beta1=1.0), r"beta1 must be a finite number in \[0, 1\); got 1.0"),
        (lambda: Adam(0.1, beta2=-0.5), r"beta2 must be a finite number in \[0, 1\); got -0.5"),
        (lambda: Adam(0.1, eps=0.0), r"eps must be a finite number > 0; got 0.0"),
    ],
)
def test_settings_are_validated_naming_value_and_range(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_closed_ends_of_the_ranges_are_accepted():
    assert Momentum(0.1, 0.0).gamma == 0.0
    assert Nesterov(0.1, 0.0).gamma == 0.0
    assert Adam(0.1, beta1=0.0, beta2=0.0).beta2 == 0.0


# ---------------------------------------------------------------- registry and make_optimizer


def test_registry():
    assert OPTIMIZERS == {"sign": Sign, "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam}
    for name, optimizer_class in OPTIMIZERS.items():
        assert optimizer_class.name == name
        assert issubclass(optimizer_class, Optimizer)


def test_each_optimizer_declares_its_constructor_settings_with_the_same_defaults():
    import inspect

    from pipeline.config.registry import REGISTRIES

    assert REGISTRIES["optimizer"] is OPTIMIZERS
    for name, optimizer_class in OPTIMIZERS.items():
        signature = inspect.signature(optimizer_class).parameters
        assert [param.name for param in optimizer_class.params] == list(signature), name
        for param in optimizer_class.params:
            default = signature[param.name].default
            assert param.required if default is inspect.Parameter.empty else param.default == default


@pytest.mark.parametrize("spec, key", [
    ({"name": "rmsprop", "lr": 0.1}, "name"),
    ({"lr": 0.1}, "name"),
    (["momentum", 0.1], "name"),
    ({"name": "momentum", "lr": 0.1, "beta": 0.9}, "beta"),
    ({"name": "sgd"}, "lr"),
    ({"name": "adam", "lr": 0.1, "beta1": 1.5}, "beta1"),
    ({"name": "sign", "step": -1}, "step"),
    ({"name": "momentum", "lr": "fast"}, "lr"),
])
def test_make_optimizer_errors_carry_the_key_at_fault(spec, key):
    from pipeline.config.registry import ParamError

    with pytest.raises(ParamError) as caught:
        make_optimizer(spec)
    assert caught.value.key == key and str(caught.value) == caught.value.message


def test_make_optimizer_from_the_issue_example():
    optimizer = make_optimizer({"name": "momentum", "lr": 2.0, "gamma": 0.9})
    assert type(optimizer) is Momentum
    assert (optimizer.lr, optimizer.gamma) == (2.0, 0.9)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"name": "sign"}, Sign(1.0)),
        ({"name": "sign", "step": 3}, Sign(3.0)),
        ({"name": "sgd", "lr": 0.2}, SGD(0.2)),
        ({"name": "momentum", "lr": 0.2}, Momentum(0.2, 0.9)),
        ({"name": "nesterov", "lr": 0.2, "gamma": 0.5}, Nesterov(0.2, 0.5)),
        ({"name": "adam", "lr": 0.2, "beta2": 0.99}, Adam(0.2, 0.9, 0.99, 1e-8)),
        ({"name": "adam", "lr": 1, "beta1": 0.5, "beta2": 0.6, "eps": 0.1}, Adam(1.0, 0.5, 0.6, 0.1)),
    ],
)
def test_make_optimizer_uses_every_key_and_the_defaults(spec, expected):
    optimizer = make_optimizer(spec)
    assert optimizer == expected
    assert repr(optimizer) == repr(expected)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_round_trips_through_its_spec(name):
    non_default = {
        "sign": {"step": 0.5},
        "sgd": {"lr": 0.05},
        "momentum": {"lr": 0.05, "gamma": 0.7},
        "nesterov": {"lr": 0.05, "gamma": 0.3},
        "adam": {"lr": 0.2, "beta1": 0.8, "beta2": 0.9, "eps": 1e-6},
    }
    original = make_optimizer({"name": name, **non_default[name]})
    rebuilt = make_optimizer(make_optimizer(original.spec()).spec())
    assert rebuilt.spec() == {"name": name, **non_default[name]}
    assert rebuilt == original
    np.testing.assert_array_equal(
        minimize(bowl, (3.0, -4.0), rebuilt, 15).points, minimize(bowl, (3.0, -4.0), original, 15).points
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            {"name": "rmsprop", "lr": 0.1},
            r"unknown optimizer 'rmsprop'; allowed: adam, momentum, nesterov, sgd, sign",
        ),
        ({"name": "Adam", "lr": 0.1}, r"unknown optimizer 'Adam'; allowed: adam, momentum"),
        ({"name": None}, r"unknown optimizer None; allowed"),
        ({"lr": 0.1}, r"needs a 'name' key, one of adam, momentum, nesterov, sgd, sign"),
        (
            {"name": "momentum", "lr": 0.1, "beta": 0.9},
            r"unknown key 'beta' for optimizer 'momentum'; allowed: name, lr, gamma",
        ),
        (
            {"name": "sgd", "momentum": 0.9, "lr": 0.1},
            r"unknown key 'momentum' for optimizer 'sgd'; allowed: name, lr",
        ),
        ({"name": "sgd"}, r"optimizer 'sgd' needs key 'lr'"),
        ({"name": "adam", "lr": 0.1, "beta1": 1.5}, r"beta1 must be a finite number in \[0, 1\); got 1.5"),
        (["momentum", 0.1], r"must be a mapping with a 'name' key; got \['momentum', 0.1\]"),
    ],
)
def test_make_optimizer_errors_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        make_optimizer(spec)
