"""Soft two-class sums over a 256-bin histogram: the inner loop of the tuner's objectives.

One pass over the grey levels computes, for each moment vector ``m``,
``sum m w``, ``sum m (1 - w)`` and ``sum m w (1 - w)`` with ``w(v) = sigmoid((v - t) / tau)``.
In numpy this was a dozen small array operations per evaluation, 15 us of interpreter
overhead each time, 21 times per tuner update, all holding the GIL.
"""

import numba

from pipeline.kernels.logistic import sigmoid_scalar as _sigmoid_scalar
from pipeline.kernels.options import JIT


@numba.njit(**JIT)
def soft_class_sums(moments, t, inverse_tau, sums, slopes):
    """Fill ``sums`` (k, 2) and ``slopes`` (k,) for threshold ``t``.

    Parameters
    ----------
    moments : float64 array (k, 256)
    t, inverse_tau : float
    sums : float64 array (k, 2)
        ``sums[i] = (sum(m_i * w), sum(m_i * (1 - w)))``.
    slopes : float64 array (k,)
        ``sum(m_i * dw/dt)`` with ``dw/dt = -w (1 - w) / tau``.

    Notes
    -----
    ``1 - w`` is ``sigmoid(-z)``, not a difference, so it keeps full precision where
    ``w`` is near 1.
    """
    k = moments.shape[0]
    for i in range(k):
        sums[i, 0] = 0.0
        sums[i, 1] = 0.0
        slopes[i] = 0.0
    for v in range(moments.shape[1]):
        z = (v - t) * inverse_tau
        edge = _sigmoid_scalar(z)
        background = _sigmoid_scalar(-z)
        slope = edge * background
        for i in range(k):
            m = moments[i, v]
            sums[i, 0] += m * edge
            sums[i, 1] += m * background
            slopes[i] += m * slope
    for i in range(k):
        slopes[i] *= -inverse_tau
