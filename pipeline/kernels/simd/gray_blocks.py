"""Grey blocks of 16 pixels as LLVM vector code, where numba's target CPU has AVX512-BW.

Twice as fast as numba's own vectorization of :func:`pipeline.kernels.gray.gray_row`'s
loops (82 instructions per 64 pixels on Zen 4, most of them taking B, G and R out of the
interleaved row and widening each byte to a 32-bit lane).  A block, through numba's
``@intrinsic``:

1. one masked load of exactly the block's 48 (BGR) or 64 (BGRA) bytes, never past
   them (a plain 48-byte vector load was legalized into byte inserts, 10% slower than
   numba's loop), and one byte shuffle that gives every pixel a 32-bit lane
   ``B, G, R, 0`` (for BGRA the bytes already lie so and the shuffle drops alpha);
2. the weighted sum in those lanes, either as two VNNI dot products (``vpdpbusd``: four
   unsigned bytes times four signed bytes, summed into a 32-bit lane without
   saturation) where the CPU has AVX512-VNNI, each weight split as ``256 * high + low``
   with both parts signed bytes (3735 = 256 * 15 - 105, 19235 = 256 * 75 + 35,
   9798 = 256 * 38 + 70), or as three multiplies of the masked bytes;
3. ``>> 15`` and a narrowing store of the 16 results into the destination row.

Every form computes the integer formula exactly (every sum is a whole number below
2**23), so each equals ``cv2.cvtColor`` on all 2**24 colours (tests/test_ops.py,
tests/kernels/test_gray_blocks.py).  Which form is compiled follows the features numba
compiles for (:func:`_target_has`), and numba's cache is keyed by the same list.

Only :mod:`pipeline.kernels.gray` imports this module, behind a guard: whatever fails
here, at import (a numba or llvmlite without these internals, a feature list that cannot
be read) or when the blocks are first compiled (:func:`vector_blocks_work`), leaves
numba's loops in place.  Without the JIT (``NUMBA_DISABLE_JIT=1``) :func:`gray_block` is
the plain loop.
"""

import functools

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.codegen import get_host_cpu_features
from numba.extending import intrinsic, overload

from pipeline.kernels.gray_formula import (
    BLOCK,
    GRAY_B,
    GRAY_G,
    GRAY_R,
    GRAY_ROUND,
    GRAY_SHIFT,
    block_loop,
    gray_value,
)
from pipeline.kernels.options import JIT

_WEIGHTS = (GRAY_B, GRAY_G, GRAY_R)
# 256 * high + low = weight, both parts signed bytes (vpdpbusd's second operand).
_HIGH = tuple((w + 128) >> 8 for w in _WEIGHTS)
_LOW = tuple(w - 256 * h for w, h in zip(_WEIGHTS, _HIGH))

_I8, _I32 = ir.IntType(8), ir.IntType(32)
_BYTES, _LANES = ir.VectorType(_I8, 4 * BLOCK), ir.VectorType(_I32, BLOCK)
_ZEROS = ir.Constant(_BYTES, [0] * 4 * BLOCK)
# Called only while a kernel compiles: looked up here so that a numba without it fails
# the import (and keeps the loops) rather than that compilation.
_function = cgutils.get_or_insert_function


def _target_has(*features):
    """Whether numba compiles for a CPU with all of ``features`` ("avx512bw", ...).

    The feature list is the one numba builds its target from: ``NUMBA_CPU_FEATURES``, else
    numba's reading of the host, which drops every AVX feature when AVX is off
    (``NUMBA_ENABLE_AVX=0``, or by default on hosts that report some older CPU names).
    The raw host list would put AVX-512 instructions into a module whose target has none,
    and LLVM aborts the process.  A later ``+x`` or ``-x`` overrides an earlier one.
    """
    listed = numba.config.CPU_FEATURES
    if listed is None:
        listed = get_host_cpu_features()
    enabled = {}
    for entry in listed.split(","):
        if entry[:1] in "+-" and len(entry) > 1:
            enabled[entry[1:]] = entry[0] == "+"
    return all(enabled.get(name, False) for name in ("avx512f",) + features)


# Read once, here: numba fixes its target when it is imported, and a list that cannot be
# read fails this import.
HAS_BW = _target_has("avx512bw")
HAS_VNNI = _target_has("avx512bw", "avx512vnni")


def gray_block(src, start, channels, dst, at):
    """``dst[at:at + 16]`` = grey of the 16 pixels of ``src`` (uint8) from byte ``start``.

    ``channels`` is 3 (BGR) or 4 (BGRA).  Compiled, on rows whose elements are adjacent,
    this is the vector form of the module docstring; otherwise, and without the JIT, it is
    the plain loop :func:`~pipeline.kernels.gray_formula.block_loop`.
    """
    block_loop(src, start, channels, dst, at)


def blocks_pay():
    """Whether :func:`gray_block` is worth calling: True where the CPU has AVX512-BW.

    Its masked byte load is one instruction there; elsewhere LLVM splits it into one
    conditional load per byte, and numba's own loop is faster.  Compiled code asks the
    features it is compiled for; plain Python (``NUMBA_DISABLE_JIT=1``) answers True, so
    that the pure-Python test runs walk the same blocks.
    """
    return True


@overload(blocks_pay, jit_options=dict(nogil=True))
def _blocks_pay_jit():
    answer = vector_blocks_work()
    return lambda: answer


def _splat(value):
    return ir.Constant(_LANES, [value] * BLOCK)


def _packed(b, g, r):
    """Three signed bytes as one little-endian 32-bit lane ``b, g, r, 0``."""
    word = (b & 255) | (g & 255) << 8 | (r & 255) << 16
    return _splat(word - (1 << 32) if word >= 1 << 31 else word)


def _weighted_sum(builder, lanes, vnni):
    """``3735 B + 19235 G + 9798 R + 2**14`` for lanes holding ``B, G, R`` and a byte of weight 0."""
    if vnni:
        dot = _function(builder.module, ir.FunctionType(_LANES, [_LANES] * 3),
                        "llvm.x86.avx512.vpdpbusd.512")
        high = builder.call(dot, [_splat(0), lanes, _packed(*_HIGH)])
        low = builder.call(dot, [_splat(GRAY_ROUND), lanes, _packed(*_LOW)])
        return builder.add(builder.shl(high, _splat(8)), low)
    byte = _splat(255)
    b = builder.and_(lanes, byte)
    g = builder.and_(builder.lshr(lanes, _splat(8)), byte)
    r = builder.and_(builder.lshr(lanes, _splat(16)), byte)
    return builder.add(
        builder.add(builder.mul(b, _splat(_WEIGHTS[0])), builder.mul(g, _splat(_WEIGHTS[1]))),
        builder.add(builder.mul(r, _splat(_WEIGHTS[2])), _splat(GRAY_ROUND)))


def _block_intrinsic(channels):
    # Byte k of lane i: source byte channels * i + k for B, G, R; the zero vector's first
    # byte (index 64) for the fourth.
    size = channels * BLOCK  # bytes read: exactly the block's pixels, never past them
    order = [channels * i + k if k < 3 else 4 * BLOCK for i in range(BLOCK) for k in range(4)]
    shuffle = ir.Constant(ir.VectorType(_I32, 4 * BLOCK), order)
    wanted = ir.Constant(ir.VectorType(ir.IntType(1), 4 * BLOCK), [k < size for k in range(4 * BLOCK)])

    @intrinsic
    def block(typingctx, src, start, dst, at):
        # Rows whose elements are adjacent (the caller checks any that are not "C"):
        # the block is read and written as one vector each.
        if not (isinstance(src, types.Array) and src.ndim == 1 and src.dtype == types.uint8
                and isinstance(dst, types.Array) and dst.ndim == 1
                and isinstance(dst.dtype, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            src_ty, start_ty, dst_ty, at_ty = signature.args
            source = context.make_array(src_ty)(context, builder, args[0])
            target = context.make_array(dst_ty)(context, builder, args[2])
            first = context.cast(builder, args[1], start_ty, types.intp)
            where = context.cast(builder, args[3], at_ty, types.intp)
            address = builder.gep(builder.bitcast(source.data, _I8.as_pointer()), [first])
            pointer = builder.bitcast(address, _BYTES.as_pointer())
            # Named as with typed pointers; LLVM renames it for opaque ones.
            load = _function(
                builder.module, ir.FunctionType(_BYTES, [pointer.type, _I32, wanted.type, _BYTES]),
                "llvm.masked.load.v64i8.p0v64i8")
            row = builder.call(load, [pointer, _I32(1), wanted, _ZEROS])
            pixels = builder.shuffle_vector(row, _ZEROS, shuffle)
            total = _weighted_sum(builder, builder.bitcast(pixels, _LANES), HAS_VNNI)
            grey = builder.lshr(total, _splat(GRAY_SHIFT))
            element = context.get_data_type(dst_ty.dtype)
            narrow = ir.VectorType(element, BLOCK)
            out = builder.gep(builder.bitcast(target.data, element.as_pointer()), [where])
            fitted = grey if element.width == 32 else (
                builder.trunc(grey, narrow) if element.width < 32 else builder.zext(grey, narrow))
            builder.store(fitted, builder.bitcast(out, narrow.as_pointer()), align=1)
            return context.get_dummy_value()

        return types.void(src, start, dst, at), codegen

    return block


_bgr_block = _block_intrinsic(3)
_bgra_block = _block_intrinsic(4)


@overload(gray_block, jit_options=dict(nogil=True))
def _gray_block_jit(src, start, channels, dst, at):
    if not (isinstance(dst.dtype, types.Integer) and vector_blocks_work()):
        return lambda src, start, channels, dst, at: block_loop(src, start, channels, dst, at)
    adjacent = src.layout == "C" and dst.layout == "C"
    size = dst.dtype.bitwidth // 8

    def impl(src, start, channels, dst, at):
        # A row of a crop (layout "A") is still one run of bytes; anything else is looped.
        if not (adjacent or (src.strides[0] == 1 and dst.strides[0] == size)):
            block_loop(src, start, channels, dst, at)
        elif channels == 4:
            _bgra_block(src, start, dst, at)
        else:
            _bgr_block(src, start, dst, at)

    return impl


# ---------------------------------------------------------------- the check on first use

#: Why the vector blocks are not used although the target has AVX512-BW (the error their
#: check met), or None.
CHECK_ERROR = None


@numba.njit(**JIT)
def _check_blocks(pixels, bgr8, bgr16, bgra8, bgra32):
    # Every vector form that gray_row compiles: 3 and 4 channels, 8-, 16- and 32-bit rows.
    _bgr_block(pixels, 0, bgr8, 0)
    _bgr_block(pixels, 0, bgr16, 0)
    _bgra_block(pixels, 0, bgra8, 0)
    _bgra_block(pixels, 0, bgra32, 0)


@functools.cache
def vector_blocks_work():
    """Whether :func:`gray_block` compiles to the vector blocks: the target has AVX512-BW,
    and the blocks compile and give the formula's values on 16 pixels in every form.

    Asked while a kernel that calls the blocks is compiled (so never when it comes from
    numba's cache), once per process.  Any failure of that check (a numba whose compiler
    internals changed, say) answers False, which compiles numba's loops instead.
    """
    global CHECK_ERROR
    if not HAS_BW:
        return False
    try:
        # Bytes spread over 0..255, so that every lane sees small, large and mixed values.
        pixels = ((np.arange(4 * BLOCK) * 97 + 13) % 256).astype(np.uint8)
        rows = {3: (np.zeros(BLOCK, np.uint8), np.zeros(BLOCK, np.int16)),
                4: (np.zeros(BLOCK, np.uint8), np.zeros(BLOCK, np.int32))}
        _check_blocks(pixels, *rows[3], *rows[4])
        for channels, made in rows.items():
            expected = [int(gray_value(*pixels[channels * k:channels * k + 3])) for k in range(BLOCK)]
            for row in made:
                if row.tolist() != expected:
                    raise ArithmeticError(f"{channels}-channel block into {row.dtype} gave "
                                          f"{row.tolist()}, the formula {expected}")
    except Exception as error:  # noqa: BLE001 - any failure keeps numba's loops
        CHECK_ERROR = f"{type(error).__name__}: {error}"
        return False
    return True
