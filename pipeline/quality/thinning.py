"""Morphological thinning as MATLAB's ``bwmorph(bw, 'thin', Inf)`` does it.

The benchmark thins every thresholded boundary map before matching
(``evaluation_bdry_image.m``: ``bmap = double(bwmorph(bmap, 'thin', inf))``).  MATLAB's
'thin' is the two-subiteration parallel algorithm of Guo and Hall (1989), as given by
Lam, Lee and Suen (1992, p. 879): in each subiteration every foreground pixel whose
8-neighbourhood satisfies G1, G2 and G3 (first subiteration) or G3' (second) is deleted,
all at once, from the neighbourhoods seen before the subiteration began; passes repeat
until one changes nothing.  Pixels outside the image count as background.

The neighbourhood code is ``sum(bit_k << k)`` over the neighbours
``x1..x8 = E, NE, N, NW, W, SW, S, SE`` (``bit_0`` is east), the ordering of the paper's
conditions and of scikit-image's ``thin`` (which reproduces bwmorph).
"""

import numpy as np

#: (dy, dx) of neighbour bit k: E, NE, N, NW, W, SW, S, SE.
NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))


def _bits(code: int) -> list:
    return [bool(code >> k & 1) for k in range(8)]


def _g1(b) -> bool:
    # Hilditch's crossing number: exactly one 4-connected "0 then 1" transition.
    return sum(1 for i in (0, 2, 4, 6) if not b[i] and (b[i + 1] or b[(i + 2) % 8])) == 1


def _g2(b) -> bool:
    n1 = sum(1 for k in (1, 3, 5, 7) if b[k - 1] or b[k])
    n2 = sum(1 for k in (1, 3, 5, 7) if b[k] or b[(k + 1) % 8])
    return min(n1, n2) in (2, 3)


def _g3(b) -> bool:
    return not ((b[1] or b[2] or not b[7]) and b[0])


def _g3_prime(b) -> bool:
    return not ((b[5] or b[6] or not b[3]) and b[4])


def deletion_tables() -> np.ndarray:
    """(2, 256) bool: whether a pixel with neighbourhood code c goes in subiteration 0 / 1."""
    tables = np.zeros((2, 256), dtype=np.bool_)
    for code in range(256):
        b = _bits(code)
        both = _g1(b) and _g2(b)
        tables[0, code] = both and _g3(b)
        tables[1, code] = both and _g3_prime(b)
    return tables


#: The two subiterations' deletion tables, computed from the conditions above.
TABLES = deletion_tables()


def thin_map(image) -> np.ndarray:
    """A copy of a binary map thinned as ``bwmorph(image, 'thin', Inf)``; uint8 0/1.

    Raises
    ------
    ValueError
        ``image`` is not two-dimensional.
    """
    from pipeline.quality.kernels.boundaries import thin  # lazy: loads numba (0.3-0.8 s)

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"thin_map needs a 2-D map; got shape {image.shape}")
    out = np.ascontiguousarray(image != 0, dtype=np.uint8)
    thin(out, TABLES)
    return out
