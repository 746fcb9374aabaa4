"""numba kernels only: no I/O, no configuration, no logging.

Public, input-checked wrappers live in :mod:`pipeline.ops`.
"""

from pipeline.kernels import options  # noqa: F401  (sets the threading layer first)
