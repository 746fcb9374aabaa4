"""First-order update rules: ``x <- step(x, g)``, from the seed's sign walk to Adam.

Each optimizer is a small class that keeps its settings (validated on construction) and
its state between steps (velocity, moments).  It is registered as kind ``optimizer``
with its settings declared as ``params`` (``edgepipe stages optimizer`` lists them), and
rebuilt from a configuration by :func:`make_optimizer`.  All of them descend: ``step``
moves against the gradient.
"""

import math
import numbers
from collections.abc import Mapping

import numpy as np

from pipeline.config.registry import REGISTRIES, REQUIRED, Param, ParamError, register

__all__ = ["OPTIMIZERS", "Adam", "Momentum", "Nesterov", "Optimizer", "SGD", "Sign", "make_optimizer"]


def _check_setting(name, value, low, high, *, low_closed, high_closed=False):
    """Return ``value`` as a float if it is a real number in the interval, else raise.

    The interval is ``low .. high``, closed at each end as asked; ``high = inf`` means no
    upper limit, and then the message reads like ``lr must be > 0``.
    """
    if high == math.inf:
        allowed = f"{'>=' if low_closed else '>'} {low:g}"
    else:
        allowed = f"in {'[' if low_closed else '('}{low:g}, {high:g}{']' if high_closed else ')'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParamError(name, f"{name} must be a number {allowed}; got {value!r}")
    number = float(value)
    above_low = number >= low if low_closed else number > low
    below_high = number <= high if high_closed else number < high
    if not (math.isfinite(number) and above_low and below_high):
        raise ParamError(name, f"{name} must be a finite number {allowed}; got {value!r}")
    return number


def _as_float_arrays(x, g):
    """``x`` and ``g`` as float64 arrays of one shape (not copies where avoidable)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    if x.shape != g.shape:
        raise ValueError(f"the gradient must have the point's shape {x.shape}; got shape {g.shape}")
    return x, g


class Optimizer:
    """Base class: settings, a ``step`` that uses and updates state, ``reset``.

    Subclasses are registered (``@register("optimizer", name)``), declare their settings
    as ``params`` (the constructor's parameters, in order, with the same defaults),
    validate them in ``__init__`` (a :class:`~pipeline.config.registry.ParamError` naming the
    setting), keep them as attributes of the same names, and implement ``step``.
    """

    name = ""
    params: tuple = ()

    def step(self, x, g):
        """Return the next point, given the point ``x`` and the gradient ``g`` there.

        Parameters
        ----------
        x : array_like of float
            Current point.  Not modified.
        g : array_like of float
            Gradient of the objective at ``x``, the same shape.

        Returns
        -------
        ndarray of float64
            The new point.
        """
        raise NotImplementedError

    def reset(self):
        """Forget the state built up by earlier steps; settings are kept."""

    def settings(self):
        """The constructor arguments, as a dict ``{parameter: value}``."""
        return {param.name: getattr(self, param.name) for param in self.params}

    def spec(self):
        """A configuration mapping that :func:`make_optimizer` turns back into an equal optimizer."""
        return {"name": self.name, **self.settings()}

    def __repr__(self):
        arguments = ", ".join(f"{parameter}={value!r}" for parameter, value in self.settings().items())
        return f"{type(self).__name__}({arguments})"

    def __eq__(self, other):
        return type(self) is type(other) and self.settings() == other.settings()

    __hash__ = None


class _WithState(Optimizer):
    """An optimizer whose state arrays take the point's shape on the first step."""

    def __init__(self):
        self._state_shape = None

    def reset(self):
        self._state_shape = None

    def _start_or_check_state(self, x):
        """Return True when this step is the first since construction or :meth:`reset`."""
        if self._state_shape is None:
            self._state_shape = x.shape
            return True
        if x.shape != self._state_shape:
            raise ValueError(
                f"{type(self).__name__} holds state for points of shape {self._state_shape}; "
                f"got a point of shape {x.shape} (call reset() before starting a new problem)"
            )
        return False


_LR = Param("lr", float, REQUIRED, min=0.0,
            help="learning rate, > 0")
_GAMMA = Param("gamma", float, 0.9, min=0.0, max=1.0,
               help="fraction of the previous velocity kept, in [0, 1)")
_STEP = Param("step", float, 1.0, min=0.0, help="distance moved along each coordinate per step, > 0")
_BETA1 = Param("beta1", float, 0.9, min=0.0, max=1.0,
               help="decay of the mean of the gradient, in [0, 1)")
_BETA2 = Param("beta2", float, 0.999, min=0.0, max=1.0,
               help="decay of the mean of its square, in [0, 1)")
_EPS = Param("eps", float, 1e-8, min=0.0, help="added to the root so 0 does not divide, > 0")
# The constructors' defaults are these Params' (one place); make_optimizer reads the Params.


@register("optimizer", "sign")
class Sign(Optimizer):
    """Sign descent, the seed's integer walk: ``x <- x - step * sign(g)``.

    Parameters
    ----------
    step : float, optional
        Distance moved along each coordinate per step; > 0.  With ``step=1`` and an
        integer start, ``x`` walks over the integers and stops where the gradient is 0.

    Notes
    -----
    The step does not depend on the size of the gradient, only on its sign; a zero
    gradient component (``np.sign(0) == 0``) leaves that coordinate where it is.
    """

    name = "sign"
    params = (_STEP,)

    def __init__(self, step=_STEP.default):
        # Kept as ``step_size``: ``step`` is the method every optimizer has.
        self.step_size = _check_setting("step", step, 0.0, math.inf, low_closed=False)

    def settings(self):
        return {"step": self.step_size}

    def step(self, x, g):
        x, g = _as_float_arrays(x, g)
        return x - self.step_size * np.sign(g)


@register("optimizer", "sgd")
class SGD(Optimizer):
    """Plain gradient descent: ``x <- x - lr * g``.

    Parameters
    ----------
    lr : float
        Learning rate; > 0.
    """

    name = "sgd"
    params = (_LR,)

    def __init__(self, lr):
        self.lr = _check_setting("lr", lr, 0.0, math.inf, low_closed=False)

    def step(self, x, g):
        x, g = _as_float_arrays(x, g)
        return x - self.lr * g


@register("optimizer", "momentum")
class Momentum(_WithState):
    """Heavy-ball momentum: ``v <- gamma * v + lr * g``, then ``x <- x - v``.

    Parameters
    ----------
    lr : float
        Learning rate; > 0.
    gamma : float, optional
        Fraction of the previous velocity kept; in [0, 1).  ``gamma=0`` is :class:`SGD`.

    Notes
    -----
    The velocity starts at 0 and is kept between steps until :meth:`reset`.

    The seed's slide writes ``v_t = gamma * v_{t-1} - eta * f'(x)`` with
    ``x_t = x_{t-1} - v_t``; with those signs the step goes uphill.  This is the descent
    form: ``+ lr * g`` in the velocity, ``- v`` in the point.

    PyTorch's ``torch.optim.SGD(params, lr, momentum)`` accumulates the raw gradient
    instead, ``buf <- momentum * buf + g`` (``buf = g`` on the first step), then
    ``p <- p - lr * buf``.  With ``momentum = gamma`` and a constant ``lr`` the two
    produce the same points, since ``v = lr * buf`` at every step; they part when ``lr``
    changes during a run (a schedule rescales torch's whole history, but only our newest
    term).  Torch's ``dampening`` and ``weight_decay`` have no counterpart here (both 0).
    """

    name = "momentum"
    params = (_LR, _GAMMA)

    def __init__(self, lr, gamma=_GAMMA.default):
        super().__init__()
        self.lr = _check_setting("lr", lr, 0.0, math.inf, low_closed=False)
        self.gamma = _check_setting("gamma", gamma, 0.0, 1.0, low_closed=True)
        self._velocity = None

    def reset(self):
        super().reset()
        self._velocity = None

    def step(self, x, g):
        x, g = _as_float_arrays(x, g)
        return x - self._accumulate(x, g)

    def _accumulate(self, x, g):
        """``v <- gamma * v + lr * g`` (v starts at 0); returns the new ``v``."""
        if self._start_or_check_state(x):
            self._velocity = np.zeros_like(x)
        self._velocity = self.gamma * self._velocity + self.lr * g
        return self._velocity


@register("optimizer", "nesterov")
class Nesterov(Momentum):
    """Nesterov momentum: ``v <- gamma * v + lr * g``, then ``x <- x - (gamma * v + lr * g)``.

    Parameters
    ----------
    lr : float
        Learning rate; > 0.
    gamma : float, optional
        Fraction of the previous velocity kept; in [0, 1).

    Notes
    -----
    Nesterov's method takes the gradient at the look-ahead point ``x - gamma * v``, but
    ``step`` is given the gradient at ``x``.  So this is the usual rewriting (Bengio,
    Boulanger-Lewandowski and Pascanu, 2012) in which the point carried from step to
    step *is* the look-ahead point: the same sequence of gradient evaluations, shifted
    by ``gamma * v``.  It is also what ``torch.optim.SGD(params, lr, momentum,
    nesterov=True)`` does: ``buf <- momentum * buf + g``, ``p <- p - lr * (g + momentum *
    buf)``, equal to ours with ``momentum = gamma`` for a constant ``lr`` since
    ``v = lr * buf``.
    """

    name = "nesterov"

    def step(self, x, g):
        x, g = _as_float_arrays(x, g)
        return x - (self.gamma * self._accumulate(x, g) + self.lr * g)


@register("optimizer", "adam")
class Adam(_WithState):
    """Adam (Kingma and Ba, 2015): steps scaled by running moments of the gradient.

    ``m <- beta1 * m + (1 - beta1) * g``, ``s <- beta2 * s + (1 - beta2) * g**2``, then
    ``x <- x - lr * m_hat / (sqrt(s_hat) + eps)`` with the bias-corrected
    ``m_hat = m / (1 - beta1**t)`` and ``s_hat = s / (1 - beta2**t)`` at step ``t``
    (1, 2, ...).

    Parameters
    ----------
    lr : float
        Learning rate, roughly the largest distance moved per step; > 0.
    beta1 : float, optional
        Decay of the first-moment (mean) estimate; in [0, 1).
    beta2 : float, optional
        Decay of the second-moment estimate; in [0, 1).
    eps : float, optional
        Added to ``sqrt(s_hat)`` so a zero gradient does not divide by 0; > 0.

    Notes
    -----
    The first step moves each coordinate by almost exactly ``lr`` against the sign of
    its gradient, whatever the gradient's size.  Matches ``torch.optim.Adam`` with its
    defaults (``amsgrad=False``, no weight decay).
    """

    name = "adam"
    params = (_LR, _BETA1, _BETA2, _EPS)

    def __init__(self, lr, beta1=_BETA1.default, beta2=_BETA2.default, eps=_EPS.default):
        super().__init__()
        self.lr = _check_setting("lr", lr, 0.0, math.inf, low_closed=False)
        self.beta1 = _check_setting("beta1", beta1, 0.0, 1.0, low_closed=True)
        self.beta2 = _check_setting("beta2", beta2, 0.0, 1.0, low_closed=True)
        self.eps = _check_setting("eps", eps, 0.0, math.inf, low_closed=False)
        self._mean = None
        self._second_moment = None
        self._steps_taken = 0

    def reset(self):
        super().reset()
        self._mean = None
        self._second_moment = None
        self._steps_taken = 0

    def step(self, x, g):
        x, g = _as_float_arrays(x, g)
        if self._start_or_check_state(x):
            self._mean = np.zeros_like(x)
            self._second_moment = np.zeros_like(x)
            self._steps_taken = 0
        self._steps_taken += 1
        self._mean = self.beta1 * self._mean + (1.0 - self.beta1) * g
        self._second_moment = self.beta2 * self._second_moment + (1.0 - self.beta2) * (g * g)
        mean_hat = self._mean / (1.0 - self.beta1**self._steps_taken)
        second_moment_hat = self._second_moment / (1.0 - self.beta2**self._steps_taken)
        return x - self.lr * mean_hat / (np.sqrt(second_moment_hat) + self.eps)


#: Optimizer classes by configuration name: the registry's table of kind ``optimizer``.
OPTIMIZERS = REGISTRIES["optimizer"]


def make_optimizer(spec):
    """Build an optimizer from a configuration mapping.

    Parameters
    ----------
    spec : Mapping
        ``name`` (a key of :data:`OPTIMIZERS`) plus the class's parameters, for example
        ``{"name": "momentum", "lr": 2.0, "gamma": 0.9}``.  Parameters left out take the
        class's defaults; those without a default (``lr``) are required.

    Returns
    -------
    Optimizer
        A fresh optimizer, without state.

    Raises
    ------
    ParamError
        A ``ValueError`` whose ``key`` is the setting at fault (``name`` for a spec that
        is not a mapping or names no known optimizer) and whose message says what is
        allowed: a missing or unknown ``name``, an unknown or missing key, or a setting
        out of range.
    """
    allowed_names = ", ".join(sorted(OPTIMIZERS))
    if not isinstance(spec, Mapping):
        raise ParamError("name", f"an optimizer spec must be a mapping with a 'name' key; got {spec!r}")
    if "name" not in spec:
        raise ParamError("name", f"an optimizer spec needs a 'name' key, one of {allowed_names}; "
                                 f"got {dict(spec)!r}")
    name = spec["name"]
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ParamError("name", f"unknown optimizer {name!r}; allowed: {allowed_names}")
    optimizer_class = OPTIMIZERS[name]
    params = optimizer_class.params
    settings = {key: value for key, value in spec.items() if key != "name"}
    allowed_keys = ", ".join(["name", *(param.name for param in params)])
    for key in settings:
        if key not in {param.name for param in params}:
            raise ParamError(str(key), f"unknown key {key!r} for optimizer {name!r}; allowed: {allowed_keys}")
    for param in params:
        if param.required and param.name not in settings:
            raise ParamError(param.name, f"optimizer {name!r} needs key {param.name!r}; allowed: {allowed_keys}")
    return optimizer_class(**settings)
