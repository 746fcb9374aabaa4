"""The derivative stencils, apart from the kernels: importing them does not import numba.

:mod:`pipeline.ops` and the OpenCV tier (:mod:`pipeline.opencv_tier`) need them before
the first frame; the kernels in :mod:`pipeline.kernels.derivatives` use the same ones.
"""

import numpy as np

# (across, along) weight pairs, in the order (offset -1, 0, +1).
FORWARD = ((0, -1, 1), (0, 1, 0))  # f[j+1] - f[j], step 1
CENTRAL = ((-1, 0, 1), (0, 1, 0))  # f[j+1] - f[j-1], step 2, the 1/2 left out
SOBEL = ((-1, 0, 1), (1, 2, 1))
SCHARR = ((-1, 0, 1), (3, 10, 3))
PREWITT = ((-1, 0, 1), (1, 1, 1))
STENCILS = {
    "forward": FORWARD,
    "central": CENTRAL,
    "sobel": SOBEL,
    "scharr": SCHARR,
    "prewitt": PREWITT,
}


def axis_weights(kind, axis, dtype):
    """Horizontal and vertical 3-tap weights of derivative ``kind`` along ``axis``.

    Parameters
    ----------
    dtype : numpy dtype
        ``int16`` for uint8 images, ``float32`` for float32 images: the kernels do
        their arithmetic (and keep their row buffers) in the weights' dtype.

    Returns
    -------
    horizontal, vertical : ndarray (3,) of ``dtype``
        Weights over columns ``j-1, j, j+1`` and over rows ``i-1, i, i+1``.
    """
    across, along = STENCILS[kind]
    if axis == "x":
        return np.array(across, dtype), np.array(along, dtype)
    return np.array(along, dtype), np.array(across, dtype)
