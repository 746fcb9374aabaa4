"""Thinning as ``bwmorph(bw, 'thin', Inf)``: against a plain-loop twin and scikit-image."""

import numpy as np
import pytest

from pipeline.quality import thin_map
from pipeline.quality.thinning import TABLES


def naive_thin(image):
    """Guo and Hall's two subiterations, written as the paper's conditions over the
    whole image each time (Lam, Lee and Suen 1992, p. 879), no tables, no lists."""
    image = (np.asarray(image) != 0).astype(np.uint8)
    height, width = image.shape

    def neighbours(y, x):  # x1..x8 = E, NE, N, NW, W, SW, S, SE
        out = []
        for dy, dx in ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)):
            yy, xx = y + dy, x + dx
            out.append(bool(0 <= yy < height and 0 <= xx < width and image[yy, xx]))
        return out

    def removable(b, first):
        g1 = sum(1 for i in (0, 2, 4, 6) if not b[i] and (b[i + 1] or b[(i + 2) % 8])) == 1
        n1 = sum(1 for k in (1, 3, 5, 7) if b[k - 1] or b[k])
        n2 = sum(1 for k in (1, 3, 5, 7) if b[k] or b[(k + 1) % 8])
        g2 = 2 <= min(n1, n2) <= 3
        if first:
            g3 = not ((b[1] or b[2] or not b[7]) and b[0])
        else:
            g3 = not ((b[5] or b[6] or not b[3]) and b[4])
        return g1 and g2 and g3

    while True:
        changed = False
        for first in (True, False):
            doomed = [(y, x) for y in range(height) for x in range(width)
                      if image[y, x] and removable(neighbours(y, x), first)]
            for y, x in doomed:
                image[y, x] = 0
            changed |= bool(doomed)
        if not changed:
            return image


def blobs(seed, shape=(23, 31)):
    rng = np.random.default_rng(seed)
    image = np.zeros(shape, np.uint8)
    for _ in range(6):
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        h, w = rng.integers(1, 8, 2)
        image[y:y + h, x:x + w] = 1
    image[rng.random(shape) < 0.05] = 1
    return image


@pytest.mark.parametrize("seed", range(12))
def test_thinning_equals_its_plain_loop_twin(seed):
    image = blobs(seed)
    assert np.array_equal(thin_map(image), naive_thin(image))


@pytest.mark.parametrize("seed", range(6))
def test_thinning_equals_scikit_image(seed):
    from skimage.morphology import thin

    image = blobs(seed, (40, 37))
    assert np.array_equal(thin_map(image), thin(image.astype(bool)).astype(np.uint8))


def test_the_tables_are_scikit_images():
    from skimage.morphology._skeletonize import G123_LUT, G123P_LUT

    assert np.array_equal(TABLES[0], G123_LUT) and np.array_equal(TABLES[1], G123P_LUT)


def test_a_thick_bar_thins_to_a_line_and_a_line_stays():
    bar = np.zeros((9, 20), np.uint8)
    bar[3:6, 2:18] = 1
    thinned = thin_map(bar)
    assert thinned.sum() < bar.sum() and (thinned.sum(axis=0)[4:16] == 1).all()
    assert np.array_equal(thin_map(thinned), thinned)


def test_the_input_is_not_modified_and_must_be_2d():
    image = blobs(0)
    before = image.copy()
    thin_map(image)
    assert np.array_equal(image, before)
    with pytest.raises(ValueError, match="2-D"):
        thin_map(np.zeros((2, 3, 4)))


@pytest.mark.parametrize("density", [0.5, 0.8, 0.97])
def test_dense_maps_thin_as_the_twin_does(density):
    # many passes: the kernel's re-checks of only the pixels near the last deletions
    # must land where checking everything lands
    image = (np.random.default_rng(int(density * 100)).random((34, 27)) < density).astype(np.uint8)
    assert np.array_equal(thin_map(image), naive_thin(image))
