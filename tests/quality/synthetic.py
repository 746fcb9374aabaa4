"""Synthetic boundary maps with known answers (no BSDS500 needed)."""

import numpy as np


def outline(shape=(100, 100), top=20, left=20, size=40, shift=(0, 0)) -> np.ndarray:
    """A one-pixel square outline without its corners, uint8 0/1, moved by ``shift``.

    The corners go because the benchmark's thinning (``bwmorph thin``) removes them:
    this outline is what thinning leaves of the square's, so it is stable under it.
    """
    image = np.zeros(shape, np.uint8)
    y0, x0 = top + shift[0], left + shift[1]
    y1, x1 = y0 + size - 1, x0 + size - 1
    image[y0, x0:x1 + 1] = image[y1, x0:x1 + 1] = 1
    image[y0:y1 + 1, x0] = image[y0:y1 + 1, x1] = 1
    image[y0, x0] = image[y0, x1] = image[y1, x0] = image[y1, x1] = 0
    return image


def disc_photo(shape=(60, 80), centre=(30, 40), radius=15, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A BGR photo of a bright disc on a dark noisy ground, and the disc's boundary."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    inside = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2
    grey = np.where(inside, 190, 60).astype(np.float64) + rng.normal(0, 6, shape)
    photo = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    edge = inside & ~(np.roll(inside, 1, 0) & np.roll(inside, -1, 0)
                      & np.roll(inside, 1, 1) & np.roll(inside, -1, 1))
    return photo, edge.astype(np.uint8)
