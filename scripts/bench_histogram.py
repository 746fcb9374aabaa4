#!/usr/bin/env python
"""The edge image's 256-bin histogram: edgepipe's scalar count against AVX-512 vector counting.

Why this exists: issue 13 asks for ``edges(hist=True)`` at most 1.15x ``edges()``, which
needs counting under about 0.06 ns a pixel.  ``pipeline.kernels.maps`` counts one pixel
at a time (eight uint32 lanes, words of eight zeros skipped).  AVX-512 has no histogram
instruction; the vector loop it allows is conflict detection, here written as LLVM IR
through numba's ``@intrinsic``, 16 pixels a step::

    idx  = the 16 bytes widened to 32-bit lanes         vpmovzxbd
    old  = the counters at idx                           vpgatherdd
    dup  = per lane, the earlier lanes with its value    vpconflictd
    new  = old + popcount(dup) + 1                       vpopcntd, vpaddd
    store new at idx                                     vpscatterdd

(of lanes with one value the highest is stored last and holds the full count).  Both
kernels are checked against ``np.bincount`` first, then timed on one thread in rounds,
one call each in a fresh random order; the figures are medians over the rounds (ns a
pixel) and the median of the per-round ratios.  Each call zeroes its own counters.

    python scripts/bench_histogram.py [--rounds 300] [--quick]

Needs a CPU with AVX512-CD (conflict detection) and AVX512-VPOPCNTDQ; elsewhere it says
so and stops.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numba
import numpy as np
from benchtools import interleaved, median_ratio, photo_frame, photo_like_frame
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from pipeline import ops
from pipeline.kernels import maps

_I1, _I8, _I32 = ir.IntType(1), ir.IntType(8), ir.IntType(32)
_LANES = ir.VectorType(_I32, 16)
_POINTERS = ir.VectorType(_I32.as_pointer(), 16)
_ALL = ir.Constant(ir.VectorType(_I1, 16), [1] * 16)


@intrinsic
def _count16(typingctx, counts, pixels, at):
    """Add ``pixels[at:at + 16]`` (uint8) to ``counts`` (uint32, 256) by conflict detection."""
    if not (isinstance(counts, types.Array) and counts.dtype == types.uint32
            and isinstance(pixels, types.Array) and pixels.dtype == types.uint8):
        return None

    def codegen(context, builder, signature, args):
        table = context.make_array(signature.args[0])(context, builder, args[0])
        row = context.make_array(signature.args[1])(context, builder, args[1])
        first = context.cast(builder, args[2], signature.args[2], types.intp)
        module = builder.module

        def declare(name, result, *params):
            return cgutils.get_or_insert_function(module, ir.FunctionType(result, params), name)

        gather = declare("llvm.masked.gather.v16i32.v16p0i32", _LANES, _POINTERS, _I32, _ALL.type, _LANES)
        scatter = declare("llvm.masked.scatter.v16i32.v16p0i32", ir.VoidType(), _LANES, _POINTERS,
                          _I32, _ALL.type)
        conflict = declare("llvm.x86.avx512.conflict.d.512", _LANES, _LANES)
        popcount = declare("llvm.ctpop.v16i32", _LANES, _LANES)
        address = builder.bitcast(builder.gep(row.data, [first]), ir.VectorType(_I8, 16).as_pointer())
        index = builder.zext(builder.load(address, align=1), _LANES)
        # A vector GEP (one base, 16 indices); llvmlite types its result as one pointer.
        where = builder.gep(table.data, [index], source_etype=_I32)
        where.type = _POINTERS
        old = builder.call(gather, [where, _I32(4), _ALL, ir.Constant(_LANES, ir.Undefined)])
        before = builder.call(popcount, [builder.call(conflict, [index])])
        new = builder.add(builder.add(old, before), ir.Constant(_LANES, [1] * 16))
        builder.call(scatter, [new, where, _I32(4), _ALL])
        return context.get_dummy_value()

    return types.void(counts, pixels, at), codegen


@numba.njit(nogil=True)
def conflict_histogram(image, counts):
    """Histogram of uint8 ``image`` into zeroed uint32 ``counts`` (256,), 16 pixels a step."""
    flat = image.reshape(image.size)
    whole = flat.shape[0] - flat.shape[0] % 16
    for at in range(0, whole, 16):
        _count16(counts, flat, at)
    for j in range(whole, flat.shape[0]):
        counts[flat[j]] += 1


def vector_counting_available() -> bool:
    features = binding.get_host_cpu_features().flatten().split(",")
    return "+avx512cd" in features and "+avx512vpopcntdq" in features


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="rounds at 640x480 (a third at 1080p)")
    parser.add_argument("--quick", action="store_true", help="only 640x480, 30 rounds")
    args = parser.parse_args(argv)
    if not vector_counting_available():
        sys.exit("bench_histogram: this CPU has no AVX512-CD and AVX512-VPOPCNTDQ; nothing to compare")
    sizes = [(640, 480)] if args.quick else [(640, 480), (1920, 1080)]
    print(f"histogram of the edge image, one thread: numba {numba.__version__}, "
          f"{binding.get_host_cpu_name()}")
    print(f"{'frame':>10} | {'size':>9} | {'zeros':>5} | {'scalar ns/px':>12} | "
          f"{'conflict ns/px':>14} | {'conflict/scalar':>15} | rounds")
    for width, height in sizes:
        for name, make in (("photo", photo_frame), ("synthetic", photo_like_frame)):
            image = ops.edges(make(width, height))
            parts = np.zeros((1, maps.HIST_LANES, 256), np.uint32)
            counts = np.zeros(256, np.uint32)

            def scalar():
                parts.fill(0)
                maps.histogram(image, parts)

            def vector():
                counts.fill(0)
                conflict_histogram(image, counts)

            scalar()
            vector()
            expected = np.bincount(image.ravel(), minlength=256)
            assert np.array_equal(parts.sum(axis=(0, 1)), expected), "scalar count differs"
            assert np.array_equal(counts, expected), "conflict-detection count differs"
            rounds = 30 if args.quick else (args.rounds if width < 1000 else max(10, args.rounds // 3))
            times = interleaved({"scalar": scalar, "vector": vector}, 0.0, min_rounds=rounds)
            per_pixel = {k: statistics.median(v) * 1e9 / image.size for k, v in times.items()}
            ratio = median_ratio(times["vector"], times["scalar"])
            print(f"{name:>10} | {f'{width}x{height}':>9} | {np.mean(image == 0):5.0%} | "
                  f"{per_pixel['scalar']:12.3f} | {per_pixel['vector']:14.3f} | {ratio:14.2f}x | {rounds}")


if __name__ == "__main__":
    main()
