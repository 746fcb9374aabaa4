"""What the kernel benchmarks share: the frames they time on, and how they time them.

Imported by the ``bench_*.py`` scripts, which run as ``python scripts/X.py`` (so this
folder is on ``sys.path``): a synthetic photo-like frame, a real photo of any size, and
calls timed in rounds of one call each in a shuffled order (:func:`interleaved`).
"""

import pathlib
import random
import statistics
import time

import cv2
import numpy as np

SAMPLES = pathlib.Path(__file__).resolve().parents[1] / "samples"
#: OpenCV's sample stereo pair (samples/README.md): two real 1282x1110 photos.
PHOTO_PAIR = ("aloeL.jpg", "aloeR.jpg")


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


def photo_frame(width: int, height: int) -> np.ndarray:
    """A real photo as a uint8 BGR frame of any size, at native resolution where it fits.

    The two photos of ``PHOTO_PAIR`` side by side make a 2564x1110 picture (the seam, one
    column, runs down the middle); a size that fits is its centre crop, pixels untouched.
    A larger size (4K) is the picture scaled up (cubic) just enough to cover it, then
    cropped.  No sample photo is 1920x1080 or larger, and scaling a 512-pixel one up
    smooths away the texture that makes a real photo expensive for Canny.

    Parameters
    ----------
    width, height : int
        The frame's size in pixels.

    Returns
    -------
    numpy.ndarray
        (height, width, 3) uint8, C-contiguous.
    """
    photos = []
    for name in PHOTO_PAIR:
        image = cv2.imread(str(SAMPLES / name), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read the sample photo {SAMPLES / name}")
        photos.append(image)
    picture = np.hstack(photos)
    h, w = picture.shape[:2]
    if width > w or height > h:
        scale = max(width / w, height / h)
        size = (max(width, int(np.ceil(w * scale))), max(height, int(np.ceil(h * scale))))
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_CUBIC)
        h, w = picture.shape[:2]
    top, left = (h - height) // 2, (w - width) // 2
    return np.ascontiguousarray(picture[top:top + height, left:left + width])


def interleaved(fns, min_seconds, min_rounds=30, seed=0, clock=time.perf_counter):
    """Seconds of every call of every function in ``fns``, in rounds of one call each.

    Each round calls them in a fresh random order (seeded, so runs repeat), so every
    contender follows every other about equally often.  Rotating one fixed order, as
    this did before, kept each contender behind the same one: ``edges`` always came
    after the plain copy and the heaviest OpenCV chain (caches and TBB workers cold),
    and ``+hist`` always after ``edges`` (both warm), which put +hist/edges below 1.
    ``clock`` times each call (``time.thread_time``: CPU time of the calling thread, for
    contenders that run in it alone); the run's length is always wall time.
    """
    names = list(fns)
    order = random.Random(seed)
    for fn in fns.values():
        fn()
    times = {name: [] for name in names}
    start = time.perf_counter()
    rounds = 0
    while rounds < min_rounds or time.perf_counter() - start < min_seconds:
        for name in order.sample(names, len(names)):
            t = clock()
            fns[name]()
            times[name].append(clock() - t)
        rounds += 1
    return times


def median_ratio(top, bottom):
    """Median over the rounds of ``top[r] / bottom[r]``."""
    return statistics.median(a / b for a, b in zip(top, bottom))
