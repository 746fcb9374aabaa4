"""Optional vector forms of kernels, written as LLVM IR through numba's ``@intrinsic``.

A plug-in, not a dependency: the modules here use numba's and llvmlite's internals
(``numba.core.cgutils``, ``numba.core.codegen``, ``llvmlite.ir``), which change between
releases, so the one kernel that uses them imports them behind a guard and keeps a plain
numba form giving the same values (:mod:`pipeline.kernels.gray`).  ``EDGEPIPE_SIMD=0``
turns them off, for a comparison run or a numba they do not support.
"""
