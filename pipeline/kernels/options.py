"""The one place where numba compilation flags are chosen.

Every kernel in :mod:`pipeline.kernels` is compiled with one of these option sets.

* ``nogil``: kernels release the GIL, so capture and encode threads keep running while a
  frame is processed.
* ``cache``: compiled machine code is written to disk, so only the first start ever pays
  compile time.  It goes to the user's cache folder (``$XDG_CACHE_HOME/edgepipe/numba``
  or ``~/.cache/edgepipe/numba`` on Linux, the platform's equivalent elsewhere, from
  platformdirs), never into the installed package: numba's default, ``__pycache__``
  beside the source, left a folder behind in ``site-packages/pipeline`` that pip's
  uninstall did not remove, and Python then imported it as a namespace package that
  shadowed the next (editable) install.  ``NUMBA_CACHE_DIR`` still wins.
  The folder is named after a digest of the kernels' sources (:func:`sources_digest`):
  numba checks only the stamp of the file that defines a cached function, so after an
  ``@njit`` helper in another module changed (``derivatives.py`` under ``edges.py``,
  say), it went on loading the kernel compiled with the old helper.
* ``fastmath`` is off on purpose.  The contract of these kernels is bit-exactness with
  OpenCV and with the plain-loop twins in ``tests/naive.py``.  ``contract`` would fuse
  ``a*b + c`` into an FMA, ``arcp``/``afn`` change rounding, and ``nnan``/``ninf`` break
  NaN/inf inputs (stumpy issue #708); none of them buys much for integer stencils.
"""

import ctypes
import hashlib
import os
import sys

import numba
import platformdirs


def sources_digest(folder: str = os.path.dirname(__file__)) -> str:
    """16 hex digits of a SHA-256 over the names and bytes of the kernels' ``.py`` files,
    those in subfolders (the optional vector forms in ``simd/``) included."""
    digest = hashlib.sha256()
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if name != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, folder).replace(os.sep, "/").encode() + b"\0")
                with open(path, "rb") as source:
                    digest.update(source.read() + b"\0")
    return digest.hexdigest()[:16]


#: False when ``EDGEPIPE_SIMD`` is 0 (or off, false, no): the kernels then leave out the
#: optional vector forms of :mod:`pipeline.kernels.simd` and use their plain loops.
SIMD = os.environ.get("EDGEPIPE_SIMD", "1").strip().lower() not in ("0", "off", "false", "no")

#: Where compiled kernels are cached unless NUMBA_CACHE_DIR says otherwise: one folder
#: per version of the kernels' sources, so a changed helper never meets stale code.
CACHE_DIR = os.path.join(platformdirs.user_cache_dir("edgepipe", appauthor=False), "numba",
                         sources_digest())

# numba reads NUMBA_CACHE_DIR when it is imported, and picks a cache locator when each
# cache=True function is decorated: setting the config here, before any kernel module
# defines its functions, is early enough.
if not os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = CACHE_DIR


def cache_apart(name: str) -> None:
    """Cache the kernels defined from now on in subfolder ``name`` of the cache folder.

    For kernels compiled without the vector forms (:mod:`pipeline.kernels.gray`): numba
    keys a cached kernel by its own code only, yet it keeps the form it was compiled
    with, and loading one compiled with the vector forms imports their module again.
    """
    numba.config.CACHE_DIR = os.path.join(numba.config.CACHE_DIR, name)

JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")
PARALLEL_JIT = dict(JIT, parallel=True)



def _preload_tbb():
    """Load the ``tbb`` wheel's libtbb so numba's TBB layer can link against it.

    pip installs ``libtbb.so.12`` into ``<prefix>/lib``, which is not on the loader's
    path, and numba's ``tbbpool`` extension carries no rpath.  A library already loaded
    with RTLD_GLOBAL satisfies the extension's dependency by its soname.
    """
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, sys.exec_prefix)):
        path = os.path.join(prefix, "lib", "libtbb.so.12")
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            return


# The runtime calls parallel kernels from the processing thread while the tuner and
# sinks run in others.  Numba's default "workqueue" layer aborts the process when two
# threads launch parallel regions at once.  TBB allows it and, unlike GNU OpenMP, does
# not stall when a worker thread is descheduled: the calling thread steals the
# remaining row bands.  On two cores shared with decode and encode threads, OpenMP's
# barrier waited a whole scheduler tick (8 ms for a 2 ms frame); TBB did not.
# "threadsafe" takes TBB if it loads, else OpenMP.  A user's NUMBA_THREADING_LAYER wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    if sys.platform.startswith("linux"):
        _preload_tbb()
    numba.config.THREADING_LAYER = "threadsafe"
