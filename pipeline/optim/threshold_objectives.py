"""Edge-quality objectives of one threshold ``t``, evaluated on 256-bin histograms.

Each objective comes as a value function and a derivative function of the same
signature, ``name(hist, t, ...)`` and ``name_grad(hist, t, ...)``; :data:`OBJECTIVES`
maps names to those pairs.  Behind both is the objective's class (registered as kind
``objective`` with its declared settings: ``edgepipe stages objective`` lists them),
which prepares the histogram once; :func:`pipeline.optim.tune.tune_threshold` runs it.
The soft split they share is explained in :mod:`pipeline.optim.curves`.
"""

import numbers

import numpy as np

from pipeline.optim.curves import (TAU, TAU_PARAM, ThresholdCurve, _check_counts,
                                   histogram_probabilities, otsu_moments)
from pipeline.config.registry import Param, register

__all__ = ["OBJECTIVES", "TARGET_FRACTION", "Agreement", "Density", "Otsu", "agreement",
           "agreement_grad", "density", "density_grad", "joint_histogram", "otsu", "otsu_grad"]

#: The edge fraction ``density`` aims at by default.
TARGET_FRACTION = 0.10


@register("objective", "otsu")
class Otsu(ThresholdCurve):
    """Otsu's class separation at a threshold: minus the between-class over the total variance.

    Reads the 256-bin magnitude histogram; lower is a better split (see :func:`otsu`).
    """

    params = (TAU_PARAM,)
    thresholds = 1
    histogram = "magnitude"

    def __init__(self, hist, tau=TAU):
        probabilities, weighted_deviation, total_variance = otsu_moments(hist)
        super().__init__(tau, [probabilities, weighted_deviation])
        self.total_variance = total_variance

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


@register("objective", "density")
class Density(ThresholdCurve):
    """Edge density: the squared distance of the fraction of edge pixels from a target.

    Reads the 256-bin magnitude histogram (see :func:`density`).
    """

    params = (Param("target", float, TARGET_FRACTION, min=0.0, max=1.0,
                    help="the wanted fraction of edge pixels"), TAU_PARAM)
    thresholds = 1
    histogram = "magnitude"

    def __init__(self, hist, target=TARGET_FRACTION, tau=TAU):
        if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0.0 <= target <= 1.0:
            raise ValueError(f"target must be an edge fraction in [0, 1]; got {target!r}")
        self.target = float(target)
        super().__init__(tau, [histogram_probabilities(hist)])

    def _evaluate(self, t):
        sums, slopes = self._weighted_sums(t)
        miss = float(sums[0, 0]) - self.target
        if slopes is None:
            return miss * miss, 0.0
        return miss * miss, 2.0 * miss * float(slopes[0])


@register("objective", "agreement")
class Agreement(ThresholdCurve):
    """Agreement with a reference edge mask: one minus the soft F1 score.

    Reads a (256, 2) joint histogram of magnitude and reference (:func:`joint_histogram`),
    which costs a reference per frame: offered by ``edgepipe experiment``, not the tuner.
    """

    params = (TAU_PARAM,)
    thresholds = 1
    histogram = "joint"

    def __init__(self, joint_hist, tau=TAU):
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


def otsu(hist, t, tau=TAU):
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
    return Otsu(hist, tau).value(t)


def otsu_grad(hist, t, tau=TAU):
    """Derivative of :func:`otsu` with respect to ``t``; parameters as there.

    Returns
    -------
    float
        0.0 for ``tau = 0`` and in the degenerate cases where :func:`otsu` is 0.
    """
    return Otsu(hist, tau).derivative(t)


def density(hist, t, target=TARGET_FRACTION, tau=TAU):
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
    return Density(hist, target, tau).value(t)


def density_grad(hist, t, target=TARGET_FRACTION, tau=TAU):
    """Derivative of :func:`density` with respect to ``t``; parameters as there."""
    return Density(hist, target, tau).derivative(t)


def agreement(joint_hist, t, tau=TAU):
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
    return Agreement(joint_hist, tau).value(t)


def agreement_grad(joint_hist, t, tau=TAU):
    """Derivative of :func:`agreement` with respect to ``t``; parameters as there."""
    return Agreement(joint_hist, tau).derivative(t)


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
