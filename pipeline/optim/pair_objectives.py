"""Edge-quality objectives of a threshold *pair* ``(low, high)`` (Canny's), on 256-bin histograms.

``name(hist, low, high, ...)`` and ``name_grad(hist, low, high, ...)``, mapped by
:data:`PAIR_OBJECTIVES`; the class behind them is registered as kind ``objective``
(with ``thresholds = 2``).  :func:`pipeline.optim.tune.tune_pair` runs them.
"""

from pipeline.optim.curves import TAU, TAU_PARAM, ThresholdCurve, otsu_moments
from pipeline.config.registry import register

__all__ = ["PAIR_OBJECTIVES", "MultiOtsu", "multiotsu", "multiotsu_grad"]


@register("objective", "multiotsu")
class MultiOtsu:
    """Three-class multi-Otsu of a threshold pair (low, high), Canny's: minus the between-class variance.

    Reads the 256-bin magnitude histogram, prepared once; a function of (low, high)
    (see :func:`multiotsu`).

    The classes are ``v <= low``, ``low < v <= high`` and ``v > high``, each softened as
    in :func:`otsu`: with ``w_t(v) = sigmoid((v - t) / tau)`` their memberships are
    ``1 - w_low``, ``w_low - w_high`` and ``w_high``.  So every class sum is one of the
    two-class sums of :class:`~pipeline.optim.curves.ThresholdCurve` at ``low`` or at ``high``, or their
    difference, and the same numba loop computes them.
    """

    params = (TAU_PARAM,)
    thresholds = 2
    histogram = "magnitude"

    def __init__(self, hist, tau=TAU):
        probabilities, weighted_deviation, self.total_variance = otsu_moments(hist)
        self._curve = ThresholdCurve(tau, [probabilities, weighted_deviation])
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


def multiotsu(hist, low, high, tau=TAU):
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
    return MultiOtsu(hist, tau).evaluate(low, high)[0]


def multiotsu_grad(hist, low, high, tau=TAU):
    """Gradient of :func:`multiotsu`; parameters as there.

    Returns
    -------
    (float, float)
        ``(d_low, d_high)``; ``(0.0, 0.0)`` for ``tau = 0`` and a one-valued histogram.
    """
    return MultiOtsu(hist, tau).evaluate(low, high)[1]


#: Objectives of a threshold *pair* ``name(hist, low, high, ...)``, mapped to their
#: ``(value_fn, grad_fn)`` pairs as :data:`OBJECTIVES` maps the one-threshold ones (whose
#: users, ``tune_threshold`` and the experiments, read a single ``t``).
PAIR_OBJECTIVES = {
    "multiotsu": (multiotsu, multiotsu_grad),
}
