"""The soft two-class split that every histogram objective is built on.

Every objective reads the histogram of a uint8 edge-magnitude image (``hist[v]`` pixels
of magnitude ``v``), never the image, so one evaluation costs O(256) whatever the frame
size.  A pixel of magnitude ``v`` belongs to the edge class with the soft weight

    w(v) = sigmoid((v - t) / tau)

which makes each objective smooth in ``t`` and gives it an analytic derivative through
``dw/dt = -sigmoid'((v - t) / tau) / tau``.  ``tau = 0`` is the hard step, ``w(v) = 1``
for ``v > t`` and 0 otherwise (the classes of ``cv2.threshold``'s THRESH_BINARY), under
which every derivative is 0.

The objectives themselves: :mod:`pipeline.optim.threshold_objectives` (one threshold),
:mod:`pipeline.optim.pair_objectives` (a pair); running them: :mod:`pipeline.optim.tune`.
"""

import math
import numbers

import numpy as np

from pipeline.config.registry import Param

__all__ = ["LEVELS", "TAU", "TAU_PARAM", "ThresholdCurve", "histogram_probabilities"]

#: The softness every objective takes by default, in levels.
TAU = 2.0

#: ``tau`` as every objective declares it.
TAU_PARAM = Param("tau", float, TAU, min=0.0,
                  help="softness of the class boundary in levels (0: hard step, no gradient)")

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


def histogram_probabilities(hist):
    counts = _check_counts(hist, "hist", (256,), "one bin per uint8 magnitude")
    return counts / counts.sum()


def otsu_moments(hist):
    """What Otsu's objectives sum per class: the levels' probabilities, the same times
    each level's deviation from the mean level, and the total variance."""
    probabilities = histogram_probabilities(hist)
    centered = LEVELS - probabilities @ LEVELS
    weighted_deviation = probabilities * centered
    return probabilities, weighted_deviation, float(weighted_deviation @ centered)


class ThresholdCurve:
    """An objective with its histogram prepared once, as a function of ``t`` alone.

    Every objective is a function of a few weighted sums over the bins,
    ``sum(moment * w)`` and ``sum(moment * (1 - w))`` for each per-bin vector
    ``moment`` (the probabilities, the probabilities times the centred level, ...),
    and of the derivatives ``sum(moment * dw/dt)``.  The moments are stacked in one
    (k, 256) matrix and both weights in one (2, 256) matrix, so one evaluation is a
    handful of numpy calls whatever k is: this keeps a tuner run of 20 steps well under
    a millisecond.

    Subclasses (one per objective, registered as kind ``objective`` with their declared
    ``params``) pass ``tau`` and their moments to ``__init__`` and implement
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
        from pipeline.kernels.soft_threshold import soft_class_sums  # lazy: loads numba (0.3-0.8 s)

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
