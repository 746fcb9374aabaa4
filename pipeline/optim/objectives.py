"""Edge-quality objectives of a threshold ``t``, evaluated on 256-bin histograms.

Every objective reads the histogram of a uint8 edge-magnitude image (``hist[v]`` pixels
of magnitude ``v``), never the image, so one evaluation costs O(256) whatever the frame
size.  A pixel of magnitude ``v`` belongs to the edge class with the soft weight

    w(v) = sigmoid((v - t) / tau)

which makes each objective smooth in ``t`` and gives it an analytic derivative through
``dw/dt = -sigmoid'((v - t) / tau) / tau``.  ``tau = 0`` is the hard step, ``w(v) = 1``
for ``v > t`` and 0 otherwise (the classes of ``cv2.threshold``'s THRESH_BINARY), under
which every derivative is 0.

Each objective comes as a value function and a derivative function of the same
signature, ``name(hist, t, ...)`` and ``name_grad(hist, t, ...)``; :data:`OBJECTIVES`
maps names to those pairs.  :func:`tune_threshold` prepares the histogram once and runs
:func:`~pipeline.optim.minimize.minimize` with the analytic derivative.
"""

import inspect
import math
import numbers

import numpy as np

from pipeline.optim.minimize import minimize

__all__ = [
    "LEVELS",
    "OBJECTIVES",
    "agreement",
    "agreement_grad",
    "density",
    "density_grad",
    "joint_histogram",
    "otsu",
    "otsu_grad",
    "tune_threshold",
]

#: The magnitude each histogram bin stands for: bin ``v`` counts pixels of value ``v``.
LEVELS = np.arange(256, dtype=np.float64)


def _check_tau(tau):
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not (math.isfinite(tau) and tau >= 0):
        raise ValueError(f"tau must be a finite number >= 0 (0: hard threshold); got {tau!r}")
    return float(tau)


def _check_counts(counts, name, shape, layout):
    """Return ``counts`` as float64 after checking shape, sign and that it is not empty."""
    array = np.asarray(counts)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape} ({layout}); got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must hold counts (integers or floats); got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not (np.isfinite(array).all() and (array >= 0).all()):
        raise ValueError(f"{name} must hold finite counts >= 0")
    if array.sum() == 0:
        raise ValueError(f"{name} is empty: every count is 0")
    return array


def _histogram_probabilities(hist):
    counts = _check_counts(hist, "hist", (256,), "one bin per uint8 magnitude")
    return counts / counts.sum()


class _ThresholdCurve:
    """An objective with its histogram prepared once, as a function of ``t`` alone.

    Every objective is a function of a few weighted sums over the bins,
    ``sum(moment * w)`` and ``sum(moment * (1 - w))`` for each per-bin vector
    ``moment`` (the probabilities, the probabilities times the centred level, ...),
    and of the derivatives ``sum(moment * dw/dt)``.  The moments are stacked in one
    (k, 256) matrix and both weights in one (2, 256) matrix, so one evaluation is a
    handful of numpy calls whatever k is: this keeps a tuner run of 20 steps well under
    a millisecond.

    Subclasses pass ``tau`` and their moments to ``__init__`` and implement
    ``_evaluate(t) -> (value, derivative)`` on top of :meth:`_weighted_sums`.  The last result is kept, because
    :func:`minimize` asks for the value and then the derivative at the same point, and
    both come from the same sums.
    """

    def __init__(self, tau, moments):
        self.tau = _check_tau(tau)
        self.moments = np.ascontiguousarray(moments, dtype=np.float64)
        self._sums = np.empty((len(self.moments), 2))
        self._slopes = np.empty(len(self.moments))
        self._last_t = None
        self._last_result = None

    def _weighted_sums(self, t):
        """Sums of each moment against ``w``, ``1 - w`` and ``dw/dt``.

        Returns
        -------
        sums : ndarray, shape (k, 2)
            ``sums[i] = (sum(moment_i * w), sum(moment_i * (1 - w)))``.
        slopes : ndarray, shape (k,), or None
            ``sum(moment_i * dw/dt)``; None for the hard step, where ``dw/dt`` is 0.

        Notes
        -----
        ``1 - w(v) = sigmoid((t - v) / tau)`` is computed directly, not as a difference,
        so it keeps full precision where ``w`` is near 1, and then
        ``dw/dt = -sigmoid'(z) / tau = -w (1 - w) / tau`` costs one product.
        """
        if self.tau == 0.0:
            edge = LEVELS > t
            weights = np.stack([edge, ~edge]).astype(np.float64)
            return self.moments @ weights.T, None
        # Imported here: pipeline.activations builds its ufuncs (a second) on import.
        from pipeline.kernels.soft_threshold import soft_class_sums

        soft_class_sums(self.moments, t, 1.0 / self.tau, self._sums, self._slopes)
        return self._sums, self._slopes

    def evaluate(self, t):
        t = float(t)
        if t != self._last_t:
            self._last_result = self._evaluate(t)
            self._last_t = t
        return self._last_result

    def value(self, t):
        return self.evaluate(t)[0]

    def derivative(self, t):
        return self.evaluate(t)[1]


class _OtsuCurve(_ThresholdCurve):
    def __init__(self, hist, tau):
        probabilities = _histogram_probabilities(hist)
        centered = LEVELS - probabilities @ LEVELS
        weighted_deviation = probabilities * centered
        super().__init__(tau, [probabilities, weighted_deviation])
        self.total_variance = float(weighted_deviation @ centered)

    def _evaluate(self, t):
        if self.total_variance == 0.0:
            return 0.0, 0.0
        sums, slopes = self._weighted_sums(t)
        (mass_edge, mass_background), (deviation_edge, deviation_background) = sums.tolist()
        masses = mass_edge * mass_background
        if masses == 0.0:
            return 0.0, 0.0
        # offset = mean * mass_edge - sum(p * w * v) = -deviation_edge = +deviation_background
        # (the deviations sum to 0); a sum over the lighter class does not cancel.
        offset = -deviation_edge if mass_edge <= mass_background else deviation_background
        between_variance = offset * offset / masses
        value = -between_variance / self.total_variance
        if slopes is None:
            return value, 0.0
        d_mass_edge, d_deviation_edge = slopes.tolist()
        d_offset = -d_deviation_edge
        # The masses sum to 1, so d(mass_edge * mass_background) = (mass_background - mass_edge) d_mass_edge.
        d_between_variance = (
            2.0 * offset * d_offset - between_variance * (mass_background - mass_edge) * d_mass_edge
        ) / masses
        return value, -d_between_variance / self.total_variance


class _DensityCurve(_ThresholdCurve):
    def __init__(self, hist, target, tau):
        if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0.0 <= target <= 1.0:
            raise ValueError(f"target must be an edge fraction in [0, 1]; got {target!r}")
        self.target = float(target)
        super().__init__(tau, [_histogram_probabilities(hist)])

    def _evaluate(self, t):
        sums, slopes = self._weighted_sums(t)
        miss = float(sums[0, 0]) - self.target
        if slopes is None:
            return miss * miss, 0.0
        return miss * miss, 2.0 * miss * float(slopes[0])


class _AgreementCurve(_ThresholdCurve):
    def __init__(self, joint_hist, tau):
        joint = _check_counts(joint_hist, "joint_hist", (256, 2), "joint[v, r], magnitude v, reference r")
        joint /= joint.sum()
        reference_edges = joint[:, 1]
        super().__init__(tau, [reference_edges, joint[:, 0] + reference_edges])
        self.actual_positives = float(reference_edges.sum())

    def _evaluate(self, t):
        sums, slopes = self._weighted_sums(t)
        true_positives = float(sums[0, 0])
        predicted_positives = float(sums[1, 0])
        denominator = predicted_positives + self.actual_positives
        if denominator == 0.0:
            return 1.0, 0.0
        f1 = 2.0 * true_positives / denominator
        if slopes is None:
            return 1.0 - f1, 0.0
        d_true_positives, d_predicted_positives = slopes.tolist()
        d_f1 = (
            2.0 * (d_true_positives * denominator - true_positives * d_predicted_positives) / denominator**2
        )
        return 1.0 - f1, -d_f1


def otsu(hist, t, tau=2.0):
    """Minus Otsu's between-class variance over the total variance, at threshold ``t``.

    Parameters
    ----------
    hist : array_like, shape (256,)
        Pixel counts per magnitude, ``np.bincount(img.ravel(), minlength=256)``.
    t : float
        Threshold: the edge class is ``v > t`` (softly, see ``tau``).
    tau : float, optional
        Softness of the class boundary, in magnitude units; >= 0, 0 for the hard step.

    Returns
    -------
    float
        In [-1, 0]; lower is a better split.  0.0 for a histogram of one value (total
        variance 0), and wherever one class is empty.

    Notes
    -----
    With class masses ``w1 = sum p w``, ``w0 = sum p (1 - w)`` (``p = hist / hist.sum()``)
    and the overall mean ``mu``, the between-class variance is
    ``(mu * w1 - sum p w v)**2 / (w0 * w1)``, Otsu's ``w0 w1 (mu0 - mu1)**2``.  With
    ``tau = 0`` the integer ``t`` in 0..255 minimizing it (ties to the smallest) is the
    threshold ``cv2.threshold(img, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)``
    returns for the image (and 0 for a one-valued image, as there).
    """
    return _OtsuCurve(hist, tau).value(t)


def otsu_grad(hist, t, tau=2.0):
    """Derivative of :func:`otsu` with respect to ``t``; parameters as there.

    Returns
    -------
    float
        0.0 for ``tau = 0`` and in the degenerate cases where :func:`otsu` is 0.
    """
    return _OtsuCurve(hist, tau).derivative(t)


def density(hist, t, target=0.10, tau=2.0):
    """Squared distance of the edge fraction from ``target``, at threshold ``t``.

    Parameters
    ----------
    hist : array_like, shape (256,)
        Pixel counts per magnitude.
    t : float
        Threshold: the edge class is ``v > t`` (softly, see ``tau``).
    target : float, optional
        Wanted fraction of edge pixels, in [0, 1].
    tau : float, optional
        Softness of the class boundary; >= 0, 0 for the hard step.

    Returns
    -------
    float
        ``(sum(w * hist) / sum(hist) - target)**2``.
    """
    return _DensityCurve(hist, target, tau).value(t)


def density_grad(hist, t, target=0.10, tau=2.0):
    """Derivative of :func:`density` with respect to ``t``; parameters as there."""
    return _DensityCurve(hist, target, tau).derivative(t)


def agreement(joint_hist, t, tau=2.0):
    """One minus the soft F1 score of the edge class against a reference edge mask.

    Parameters
    ----------
    joint_hist : array_like, shape (256, 2)
        ``joint_hist[v, r]``: pixels of magnitude ``v`` whose reference is ``r`` (1 for an
        edge); see :func:`joint_histogram`.
    t : float
        Threshold: the edge class is ``v > t`` (softly, see ``tau``).
    tau : float, optional
        Softness of the class boundary; >= 0, 0 for the hard step.

    Returns
    -------
    float
        ``1 - 2 TP / (predicted + actual)`` with ``TP = sum w joint[:, 1]``,
        ``predicted = sum w (joint[:, 0] + joint[:, 1])`` and ``actual = sum
        joint[:, 1]``; in [0, 1], 0 for a perfect match.  When there is neither a
        reference edge nor a predicted one, F1 is taken as 0 (the value 1), its limit as
        the prediction empties while the reference stays empty.
    """
    return _AgreementCurve(joint_hist, tau).value(t)


def agreement_grad(joint_hist, t, tau=2.0):
    """Derivative of :func:`agreement` with respect to ``t``; parameters as there."""
    return _AgreementCurve(joint_hist, tau).derivative(t)


def joint_histogram(magnitude_u8, reference_mask):
    """Count pixels by magnitude and by whether the reference marks them as edges.

    Parameters
    ----------
    magnitude_u8 : ndarray of uint8
        Edge magnitudes, any shape.
    reference_mask : ndarray of bool or integers
        Same shape; nonzero marks a reference edge (a drawn ground truth, or the 0/255
        output of ``cv2.Canny``).

    Returns
    -------
    ndarray of int64, shape (256, 2)
        ``joint[v, r]``, the number of pixels of magnitude ``v`` and reference ``r``.
    """
    magnitude = np.asarray(magnitude_u8)
    reference = np.asarray(reference_mask)
    if magnitude.dtype != np.uint8:
        raise ValueError(f"magnitude_u8 must have dtype uint8; got {magnitude.dtype}")
    if reference.shape != magnitude.shape:
        raise ValueError(
            f"reference_mask must have the magnitude's shape {magnitude.shape}; got {reference.shape}"
        )
    if not (reference.dtype == np.bool_ or np.issubdtype(reference.dtype, np.integer)):
        raise ValueError(f"reference_mask must be bool or integer; got dtype {reference.dtype}")
    # Bin 2 v + r, so that the flat counts reshape to [v, r].
    cell = magnitude.ravel().astype(np.intp) * 2 + (reference.ravel() != 0)
    return np.bincount(cell, minlength=512).astype(np.int64).reshape(256, 2)


#: Objective names mapped to their ``(value_fn, grad_fn)`` pairs.
OBJECTIVES = {
    "otsu": (otsu, otsu_grad),
    "density": (density, density_grad),
    "agreement": (agreement, agreement_grad),
}

# The prepared form of each objective that tune_threshold runs, and its settings with
# their defaults, read once from the public function (the one place they are written).
_CURVES = {"otsu": _OtsuCurve, "density": _DensityCurve, "agreement": _AgreementCurve}
_DEFAULT_SETTINGS = {
    name: {
        parameter.name: parameter.default
        for parameter in list(inspect.signature(value_function).parameters.values())[2:]  # after hist, t
    }
    for name, (value_function, _) in OBJECTIVES.items()
}


def tune_threshold(hist, t0, optimizer, iterations, objective="otsu", bounds=(0, 255), **objective_kwargs):
    """Minimize an edge-quality objective over the threshold, from ``t0``.

    Parameters
    ----------
    hist : array_like
        The objective's histogram: shape (256,) for ``otsu`` and ``density``, the
        (256, 2) :func:`joint_histogram` for ``agreement``.
    t0 : float
        Start threshold, inside ``bounds``.
    optimizer : Optimizer
        Update rule (reset before the run), e.g. ``make_optimizer({"name": "adam",
        "lr": 2.0})``.
    iterations : int
        Steps to take, >= 0.
    objective : str, optional
        A key of :data:`OBJECTIVES`.
    bounds : (float, float), optional
        Box for ``t``; each step is clipped onto it.
    **objective_kwargs
        The objective's own parameters (``tau``; ``target`` for ``density``); the
        rest take the defaults of the objective's function.

    Returns
    -------
    Trajectory
        Thresholds (``trajectory.x``) and objective values; ``trajectory.final[0]``
        is the tuned threshold.

    Raises
    ------
    ValueError
        For an unknown objective or keyword (naming the allowed ones), a bad histogram
        or parameter, or anything :func:`minimize` refuses.

    Notes
    -----
    The histogram is checked and normalized once, and each iteration evaluates the
    objective and its analytic derivative together in a few 256-element numpy
    operations, so a run of 20 iterations takes a fraction of a millisecond.
    """
    if objective not in _CURVES:
        raise ValueError(f"unknown objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")
    settings = dict(_DEFAULT_SETTINGS[objective])
    for key in objective_kwargs:
        if key not in settings:
            raise ValueError(
                f"unknown keyword {key!r} for objective {objective!r}; allowed: {', '.join(settings)}"
            )
    settings.update(objective_kwargs)
    curve = _CURVES[objective](hist, **settings)
    return minimize(curve.value, t0, optimizer, iterations, grad=curve.derivative, bounds=bounds)


# ---------------------------------------------------------------- two thresholds


class _MultiOtsuSurface:
    """Three-class multi-Otsu with its histogram prepared once, a function of (low, high).

    The classes are ``v <= low``, ``low < v <= high`` and ``v > high``, each softened as
    in :func:`otsu`: with ``w_t(v) = sigmoid((v - t) / tau)`` their memberships are
    ``1 - w_low``, ``w_low - w_high`` and ``w_high``.  So every class sum is one of the
    two-class sums of :class:`_ThresholdCurve` at ``low`` or at ``high``, or their
    difference, and the same numba loop computes them.
    """

    def __init__(self, hist, tau):
        probabilities = _histogram_probabilities(hist)
        centered = LEVELS - probabilities @ LEVELS
        weighted_deviation = probabilities * centered
        self._curve = _ThresholdCurve(tau, [probabilities, weighted_deviation])
        self.total_variance = float(weighted_deviation @ centered)
        self._sums_at = {}

    def _class_sums(self, t):
        # Kept per threshold: a descent step or a scan over pairs asks for each t many
        # times.  Copies, because the curve reuses its buffers for the next t.
        if t not in self._sums_at:
            sums, slopes = self._curve._weighted_sums(t)
            self._sums_at[t] = (sums.copy(), None if slopes is None else slopes.copy())
        return self._sums_at[t]

    def evaluate(self, low, high):
        """``(value, (d_low, d_high))`` at ``(low, high)``."""
        low, high = float(low), float(high)
        if low > high:  # as cv2.Canny does with its pair: the classes take the sorted one
            value, (d_high, d_low) = self.evaluate(high, low)
            return value, (d_low, d_high)
        if self.total_variance == 0.0:
            return 0.0, (0.0, 0.0)
        at_low, slope_low = self._class_sums(low)
        at_high, slope_high = self._class_sums(high)
        # Rows: (mass, deviation); columns: (above t, at or below t).
        below = at_low[:, 1]
        above = at_high[:, 0]
        # The middle class from the smaller pair of sums, so that little cancels.
        if at_low[0, 0] <= at_high[0, 1]:
            middle = at_low[:, 0] - at_high[:, 0]
        else:
            middle = at_high[:, 1] - at_low[:, 1]
        classes = (below, middle, above)
        between = 0.0
        for mass, deviation in classes:
            if mass > 0.0:
                between += deviation * deviation / mass
        value = -between / self.total_variance
        if slope_low is None:
            return value, (0.0, 0.0)
        # d/d low moves mass from the lower class into the middle one; d/d high from the
        # middle one into the upper one.  d(S^2 / M) = (2 S dS - (S^2 / M) dM) / M.
        d_low = d_high = 0.0
        for (mass, deviation), sign_low, sign_high in zip(classes, (-1.0, 1.0, 0.0), (0.0, -1.0, 1.0)):
            if mass <= 0.0:
                continue
            share = deviation / mass
            d_low += sign_low * (2.0 * share * slope_low[1] - share * share * slope_low[0])
            d_high += sign_high * (2.0 * share * slope_high[1] - share * share * slope_high[0])
        return value, (-d_low / self.total_variance, -d_high / self.total_variance)


def multiotsu(hist, low, high, tau=2.0):
    """Minus the three-class between-class variance over the total variance.

    Parameters
    ----------
    hist : array_like, shape (256,)
        Pixel counts per magnitude, ``np.bincount(img.ravel(), minlength=256)``.
    low, high : float
        Thresholds: the classes are ``v <= low``, ``low < v <= high`` and ``v > high``
        (softly, see ``tau``).  A pair with ``low > high`` is taken sorted, as
        ``cv2.Canny`` takes its thresholds.
    tau : float, optional
        Softness of the class boundaries, in magnitude units; >= 0, 0 for hard steps.

    Returns
    -------
    float
        In [-1, 0]; lower is a better split.  0.0 for a histogram of one value.

    Notes
    -----
    With memberships ``c0 = 1 - w_low``, ``c1 = w_low - w_high``, ``c2 = w_high``
    (``w_t(v) = sigmoid((v - t) / tau)``), class masses ``M_k = sum p c_k`` and centred
    first moments ``S_k = sum p c_k (v - mu)``, the between-class variance is
    ``sum_k S_k**2 / M_k`` (``sum_k M_k (mu_k - mu)**2``), empty classes adding 0.  With
    ``tau = 0`` the integer pair minimizing it (ties to the smallest ``low``, then
    ``high``) is ``skimage.filters.threshold_multiotsu(img, classes=3)`` of the image.
    """
    return _MultiOtsuSurface(hist, tau).evaluate(low, high)[0]


def multiotsu_grad(hist, low, high, tau=2.0):
    """Gradient of :func:`multiotsu`; parameters as there.

    Returns
    -------
    (float, float)
        ``(d_low, d_high)``; ``(0.0, 0.0)`` for ``tau = 0`` and a one-valued histogram.
    """
    return _MultiOtsuSurface(hist, tau).evaluate(low, high)[1]


#: Objectives of a threshold *pair* ``name(hist, low, high, ...)``, mapped to their
#: ``(value_fn, grad_fn)`` pairs as :data:`OBJECTIVES` maps the one-threshold ones (whose
#: users, ``tune_threshold`` and the experiments, read a single ``t``).
PAIR_OBJECTIVES = {
    "multiotsu": (multiotsu, multiotsu_grad),
}
__all__ += ["PAIR_OBJECTIVES", "multiotsu", "multiotsu_grad"]


# ------------------------------------------------ the edge map's own structure


def nms_histogram(grey, l2=False):
    """256-bin histogram of the Sobel magnitude over the non-maximum-suppression survivors.

    The survivors are the pixels ``cv2.Canny(grey, 0, 0)`` keeps: local maxima of the
    gradient magnitude across the edge, with a magnitude above 0, i.e. every pixel that
    some Canny pair could make an edge.  Their magnitude is the one ``cv2.Canny``
    thresholds (``|dx| + |dy|`` of the 3x3 Sobel, replicated border; ``l2``: the
    Euclidean norm), clipped to 255 as in :func:`pipeline.stages.canny.magnitude_histogram`.
    The histogram of all pixels is dominated by flat regions; this one is the population
    of candidate edges the pair actually splits.

    Parameters
    ----------
    grey : ndarray, uint8, (H, W)
    l2 : bool

    Returns
    -------
    ndarray of int64, shape (256,)
    """
    from pipeline import ops  # the kernels' wrappers; optim stays importable without them

    grey = np.asarray(grey)
    if grey.dtype != np.uint8 or grey.ndim != 2:
        raise ValueError(f"grey must be a uint8 (H, W) image; got {grey.dtype} {grey.shape}")
    magnitude = ops.edges(grey, kind="sobel", norm="l2" if l2 else "l1", mapping="abs",
                          scale=1.0, border="replicate")
    survivors = ops.canny(grey, 0.0, 0.0, l2=l2) != 0
    return np.bincount(magnitude[survivors], minlength=256).astype(np.int64)


__all__ += ["nms_histogram"]
