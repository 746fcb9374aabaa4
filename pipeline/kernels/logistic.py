"""The logistic function on one float64, for other kernels to call.

:mod:`pipeline.activations` builds its ``sigmoid`` ufunc (and ``swish``, ``softplus``'s
gradient) on this, and :mod:`pipeline.kernels.soft_threshold` calls it directly: the
tuner's objective then needs no ufunc, and a run with a tuner does not load the
activation module's eighteen compiled ufuncs (over a second at start-up).
"""

import math

import numba

from pipeline.kernels.options import JIT


# exp() takes -|x|, never x, even in the branch that only runs for x <= 0: LLVM may
# evaluate a cheap branch on both paths (exp is an intrinsic it can speculate), and
# exp(1e4) evaluated "for nothing" would still raise the overflow flag.
@numba.njit(**JIT)
def sigmoid_scalar(x):
    """``1 / (1 + exp(-x))`` for one float, without overflow for any finite ``x``."""
    e = math.exp(-abs(x))
    if x >= 0.0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)
