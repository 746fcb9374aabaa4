"""numba kernels of the boundary benchmark: thinning and one-to-one pixel matching.

Each module is self-contained (no ``@njit`` helper imported from another file), so that
numba's on-disk cache, which checks only the defining file's stamp, never serves a
kernel compiled against an older helper.
"""
