"""Border index rules shared by the stencil kernels.

``ZERO`` follows the lecture's loops: a pixel whose stencil leaves the image is 0.
``REFLECT101`` (OpenCV's ``BORDER_DEFAULT``) mirrors without repeating the edge:
``-1 -> 1``, ``n -> n - 2``; ``REPLICATE`` repeats the edge pixel.
"""

import numba

from pipeline.kernels.options import JIT

ZERO = 0
REFLECT101 = 1
REPLICATE = 2


@numba.njit(**JIT)
def border_index(k, n, border):
    """Map index ``k`` in ``[-1, n]`` into ``[0, n)``; ``ZERO`` clamps (callers mask)."""
    if 0 <= k < n:
        return k
    if border == REFLECT101 and n > 1:
        return 1 if k < 0 else n - 2
    return 0 if k < 0 else n - 1
