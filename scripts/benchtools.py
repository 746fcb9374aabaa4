"""What the kernel benchmarks share: the synthetic frame they time on.

Imported by ``bench_canny.py`` and ``bench_kernels.py``, which run as
``python scripts/X.py`` (so this folder is on ``sys.path``).  Both time on the same
frame so their tables can be read side by side.
"""

import cv2
import numpy as np


def photo_like_frame(width: int, height: int) -> np.ndarray:
    """A photo-like uint8 BGR frame: smooth noise with hard-edged discs, from a fixed seed.

    Parameters
    ----------
    width, height : int
        The frame's size in pixels.

    Returns
    -------
    numpy.ndarray
        (height, width, 3) uint8; the same for the same size on every run.
    """
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    frame = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(frame, centre, int(rng.integers(10, height // 4)), colour, -1)
    return frame
