"""BGR(A) to grey, bit-exact with ``cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)``.

Two forms of one formula, ``(3735 B + 19235 G + 9798 R + 2**14) >> 15``:

* :func:`gray_row`'s loops, which numba vectorizes itself: 82 instructions per 64 pixels
  on Zen 4 (`inspect_asm`), most of them taking B, G and R out of the interleaved row and
  widening each byte to a 32-bit lane;
* where numba's target CPU has AVX512-BW, blocks of 16 pixels written as LLVM vector code
  (:func:`gray_block`, through numba's ``@intrinsic``), twice as fast:

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
compiles for (:func:`_target_has`), and numba's cache is keyed by the same list.  Without
the JIT (``NUMBA_DISABLE_JIT=1``) :func:`gray_block` is the plain loop.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.codegen import get_host_cpu_features
from numba.extending import intrinsic, overload

from pipeline.kernels.options import JIT, PARALLEL_JIT

# OpenCV's 8-bit path is fixed point with 15 fractional bits, not the float formula
# 0.114 B + 0.587 G + 0.299 R: these weights sum to 1 << 15 and reproduce cvtColor on
# all 2**24 colours (checked exhaustively against OpenCV 5.0.0 and 5.1.0).
GRAY_SHIFT = 15
GRAY_B = 3735
GRAY_G = 19235
GRAY_R = 9798
GRAY_ROUND = 1 << (GRAY_SHIFT - 1)


@numba.njit(**JIT)
def gray_row(pixels, row, channels, dst):
    """Write the grey values of image row ``row`` into ``dst``.

    Parameters
    ----------
    pixels : uint8 array (H, W * channels), C-contiguous rows
        The frame with its channels flattened into the row: each row is then a plain
        1-D array, read 16 pixels at a time as vector code where the CPU has
        AVX512-BW (:func:`gray_block`; numba's own vectorization of the loops below
        took twice as long), by those loops elsewhere.
    row : int
    channels : int
        1 (grey, copied), 3 (BGR) or 4 (BGRA, alpha ignored).
    dst : array (W,), any numeric dtype

    Notes
    -----
    ``gray = (3735 B + 19235 G + 9798 R + 2**14) >> 15``
    """
    src = pixels[row]
    width = dst.shape[0]
    if (channels == 3 or channels == 4) and width >= BLOCK and blocks_pay():
        # Blocks of 16 pixels as vector code (gray_block); the last block ends at the
        # row's end and may overlap the one before it (it writes the same values again):
        # a scalar tail of up to 15 pixels cost as much as the rest of a 640-pixel row.
        for k in range(width // BLOCK):
            gray_block(src, channels * BLOCK * k, channels, dst, BLOCK * k)
        if width % BLOCK:
            gray_block(src, channels * (width - BLOCK), channels, dst, width - BLOCK)
    elif channels == 3:  # constant strides, so that LLVM vectorizes the loads
        for j in range(width):
            dst[j] = _gray(src[3 * j], src[3 * j + 1], src[3 * j + 2])
    elif channels == 4:
        for j in range(width):
            dst[j] = _gray(src[4 * j], src[4 * j + 1], src[4 * j + 2])
    else:
        for j in range(width):
            dst[j] = src[j]


@numba.njit(**JIT)
def _gray(b, g, r):
    return (
        GRAY_B * np.int32(b) + GRAY_G * np.int32(g) + GRAY_R * np.int32(r) + GRAY_ROUND
    ) >> GRAY_SHIFT


@numba.njit(**PARALLEL_JIT)
def grayscale(pixels, channels, out):
    """Fill ``out`` (H, W) uint8 with the grey image of ``pixels`` (H, W * channels)."""
    for i in numba.prange(out.shape[0]):
        gray_row(pixels, i, channels, out[i])


# ---------------------------------------------------------------- blocks of 16 pixels

#: Pixels per block: one 512-bit vector of 32-bit lanes.
BLOCK = 16

_WEIGHTS = (GRAY_B, GRAY_G, GRAY_R)
# 256 * high + low = weight, both parts signed bytes (vpdpbusd's second operand).
_HIGH = tuple((w + 128) >> 8 for w in _WEIGHTS)
_LOW = tuple(w - 256 * h for w, h in zip(_WEIGHTS, _HIGH))

_I8, _I32 = ir.IntType(8), ir.IntType(32)
_BYTES, _LANES = ir.VectorType(_I8, 4 * BLOCK), ir.VectorType(_I32, BLOCK)
_ZEROS = ir.Constant(_BYTES, [0] * 4 * BLOCK)


def gray_block(src, start, channels, dst, at):
    """``dst[at:at + 16]`` = grey of the 16 pixels of ``src`` (uint8) from byte ``start``.

    ``channels`` is 3 (BGR) or 4 (BGRA).  Compiled, on rows whose elements are adjacent,
    this is the vector form of the module docstring; otherwise, and without the JIT, it is
    the plain loop :func:`_block_loop`.
    """
    _block_loop(src, start, channels, dst, at)


@numba.njit(**JIT)
def _block_loop(src, start, channels, dst, at):
    for k in range(BLOCK):
        p = start + channels * k
        dst[at + k] = _gray(src[p], src[p + 1], src[p + 2])


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
    answer = _target_has("avx512bw")
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
        dot = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_LANES, [_LANES] * 3), "llvm.x86.avx512.vpdpbusd.512")
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
            load = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(_BYTES, [pointer.type, _I32, wanted.type, _BYTES]),
                "llvm.masked.load.v64i8.p0v64i8")
            row = builder.call(load, [pointer, _I32(1), wanted, _ZEROS])
            pixels = builder.shuffle_vector(row, _ZEROS, shuffle)
            vnni = _target_has("avx512bw", "avx512vnni")
            total = _weighted_sum(builder, builder.bitcast(pixels, _LANES), vnni)
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
    if not isinstance(dst.dtype, types.Integer):
        return lambda src, start, channels, dst, at: _block_loop(src, start, channels, dst, at)
    adjacent = src.layout == "C" and dst.layout == "C"
    size = dst.dtype.bitwidth // 8

    def impl(src, start, channels, dst, at):
        # A row of a crop (layout "A") is still one run of bytes; anything else is looped.
        if not (adjacent or (src.strides[0] == 1 and dst.strides[0] == size)):
            _block_loop(src, start, channels, dst, at)
        elif channels == 4:
            _bgra_block(src, start, dst, at)
        else:
            _bgr_block(src, start, dst, at)

    return impl
