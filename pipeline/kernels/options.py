"""The one place where numba compilation flags are chosen.

Every kernel in :mod:`pipeline.kernels` is compiled with one of these option sets.

* ``nogil``: kernels release the GIL, so capture and encode threads keep running while a
  frame is processed.
* ``cache``: compiled machine code is written to disk (``__pycache__`` or
  ``NUMBA_CACHE_DIR``), so only the first start ever pays compile time.
* ``fastmath`` is off on purpose.  The contract of these kernels is bit-exactness with
  OpenCV and with the plain-loop twins in ``tests/naive.py``.  ``contract`` would fuse
  ``a*b + c`` into an FMA, ``arcp``/``afn`` change rounding, and ``nnan``/``ninf`` break
  NaN/inf inputs (stumpy issue #708); none of them buys much for integer stencils.
"""

import os

import numba

JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")
PARALLEL_JIT = dict(JIT, parallel=True)

# The runtime calls parallel kernels from the processing thread while the tuner and
# sinks run in others.  Numba's default "workqueue" layer aborts the process when two
# threads launch parallel regions at once; "threadsafe" picks TBB, else OpenMP, both of
# which allow concurrent launches.  A user's NUMBA_THREADING_LAYER still wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "threadsafe"
