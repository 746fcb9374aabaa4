"""pipeline.kernels.simd.gray_blocks: every compiled form of the 16-pixel grey block.

Which form is compiled follows the CPU features numba compiles for: the VNNI dot products
where they include AVX512-VNNI, plain vector IR on other AVX512-BW CPUs, numba's own loops
without AVX512-BW.  Each form is compiled in a child process told such a feature set, so
each is checked for real wherever the host can run it, on every colour and on every row
width up to a few blocks.
"""

import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from llvmlite import binding

from pipeline.kernels import gray
from pipeline.kernels.simd import gray_blocks
from tests import naive

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT") == "1"
needs_jit = pytest.mark.skipif(JIT_DISABLED, reason="compiled forms only")
HOST_FEATURES = binding.get_host_cpu_features().flatten()
HOST_HAS_VNNI = "+avx512vnni" in HOST_FEATURES.split(",")
HOST_HAS_BW = "+avx512bw" in HOST_FEATURES.split(",")


def test_weight_split_is_exact():
    for weight, high, low in zip(gray_blocks._WEIGHTS, gray_blocks._HIGH, gray_blocks._LOW):
        assert 256 * high + low == weight
        assert -128 <= high <= 127 and -128 <= low <= 127


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
def test_rows_of_every_width_match_the_plain_loop(channels, dtype):
    rng = np.random.default_rng(channels)
    for width in range(1, 70):
        frame = rng.integers(0, 256, (2, width, channels), dtype=np.uint8)
        pixels = frame.reshape(2, -1)
        # Row 1 of 2, then the same row as the last of the array (reads past a row's end
        # change no result: test_no_read_or_write_past_the_row_at_a_guard_page catches them).
        for rows, row in ((pixels, 1), (np.ascontiguousarray(pixels[1:]), 0)):
            guard = -1 if dtype == np.int16 else 7
            dst = np.full(width + 16, guard, dtype)
            gray.gray_row(rows, row, channels, dst[:width])
            np.testing.assert_array_equal(dst[:width], naive.grayscale(frame[1:, :, :3])[0],
                                          err_msg=str(width))
            assert (dst[width:] == guard).all(), "wrote past the row"


def test_rows_of_a_crop_stay_exact():
    rng = np.random.default_rng(5)
    big = rng.integers(0, 256, (6, 90, 3), dtype=np.uint8)
    crop = big[1:5, 7:80]  # rows apart: layout "A", each row still one run of bytes
    pixels = crop.reshape(4, -1)
    assert not pixels.flags.c_contiguous
    out = np.empty((4, 73), np.uint8)
    for row in range(4):
        gray.gray_row(pixels, row, 3, out[row])
    np.testing.assert_array_equal(out, cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_BGR2GRAY))


CHILD = textwrap.dedent("""
    import numpy as np, cv2
    from pipeline.kernels import gray
    values = np.arange(1 << 24, dtype=np.uint32)
    frame = np.stack([values & 255, (values >> 8) & 255, values >> 16], -1).astype(np.uint8)
    for channels, code in ((3, cv2.COLOR_BGR2GRAY), (4, cv2.COLOR_BGRA2GRAY)):
        image = frame.reshape(4096, 4096, 3)
        if channels == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
        out = np.empty((4096, 4096), np.uint8)
        gray.grayscale(image.reshape(4096, -1), channels, out)
        assert np.array_equal(out, cv2.cvtColor(image, code)), channels
        for width in range(1, 70):
            part = np.ascontiguousarray(image[:3, :width])  # the last block overlaps at most widths
            small = np.empty((3, width), np.int16)
            gray.grayscale(part.reshape(3, -1), channels, small)
            assert np.array_equal(small, cv2.cvtColor(part, code)), (channels, width)
    import numba
    asm = gray.gray_row.inspect_asm(gray.gray_row.signatures[0])
    print(numba.njit(lambda: gray.blocks_pay())(), "vpdpbusd" in asm)
""")


def compiled_form(features, tmp_path):
    """Run CHILD compiled for ``features``: (blocks used, vpdpbusd in the code)."""
    env = dict(os.environ, NUMBA_CPU_FEATURES=features, NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return tuple(word == "True" for word in done.stdout.split()[-2:])


def features_without(*names):
    kept = [f for f in HOST_FEATURES.split(",") if f[1:] not in names]
    return ",".join(kept + ["-" + name for name in names])


@needs_jit
@pytest.mark.skipif(not HOST_HAS_BW, reason="this CPU has no AVX512-BW")
def test_plain_vector_form_is_exact_on_every_colour_and_width(tmp_path):
    assert compiled_form(features_without("avx512vnni"), tmp_path) == (True, False)


@needs_jit
@pytest.mark.skipif(not HOST_HAS_VNNI, reason="this CPU has no AVX512-VNNI")
def test_vnni_form_is_exact_on_every_colour_and_width(tmp_path):
    assert compiled_form(HOST_FEATURES, tmp_path) == (True, True)


@needs_jit
def test_without_avx512_the_loops_run_and_are_exact(tmp_path):
    avx512 = [f[1:] for f in HOST_FEATURES.split(",") if f.startswith("+avx512")]
    assert compiled_form(features_without(*avx512, "avx512bw"), tmp_path) == (False, False)


GUARDED = textwrap.dedent("""
    import ctypes, mmap, sys
    import numpy as np, cv2
    from pipeline.kernels import gray

    PAGE = mmap.PAGESIZE
    libc = ctypes.CDLL(None)

    def before_guard(count, dtype):
        # ``count`` elements ending exactly where an inaccessible page begins.
        block = mmap.mmap(-1, 2 * PAGE)
        start = ctypes.addressof(ctypes.c_char.from_buffer(block))
        assert libc.mprotect(ctypes.c_void_p(start + PAGE), PAGE, 0) == 0  # PROT_NONE
        size = np.dtype(dtype).itemsize
        return np.frombuffer(block, dtype, count=count, offset=PAGE - count * size)

    rng = np.random.default_rng(0)
    for channels, code in ((3, cv2.COLOR_BGR2GRAY), (4, cv2.COLOR_BGRA2GRAY)):
        for width in range(1, 70):
            row = before_guard(width * channels, np.uint8)
            row[:] = rng.integers(0, 256, row.size, dtype=np.uint8)
            for dtype in (np.uint8, np.int16):
                dst = before_guard(width, dtype)
                gray.gray_row(row.reshape(1, -1), 0, channels, dst)
                expected = cv2.cvtColor(row.reshape(1, width, channels).copy(), code)[0]
                assert np.array_equal(dst, expected), (channels, width, dtype)
    print("ok")
""")


@needs_jit
def test_no_read_or_write_past_the_row_at_a_guard_page(tmp_path):
    # Rows and outputs that end where an inaccessible page begins: a block that read or
    # wrote one byte past them ends the child with SIGSEGV.  A plain 64-byte load in place
    # of the masked one passed every other test here.
    done = subprocess.run([sys.executable, "-c", GUARDED], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)))
    assert done.returncode == 0 and done.stdout.split()[-1:] == ["ok"], (done.returncode, done.stderr[-2000:])


@needs_jit
@pytest.mark.parametrize("setting", ["NUMBA_ENABLE_AVX=0", "NUMBA_CPU_NAME=nocona"])
def test_avx_turned_off_in_numba_compiles_the_loops(setting, tmp_path):
    # numba drops every AVX feature from its target then: emitting VNNI or AVX-512 blocks
    # into such a module made LLVM abort the process ("Do not know how to split").
    name, value = setting.split("=")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CPU_FEATURES"}
    env.update({name: value, "NUMBA_CACHE_DIR": str(tmp_path)})
    code = ("import numba, numpy as np, cv2; from pipeline import ops; from pipeline.kernels import gray; "
            "f = np.random.default_rng(1).integers(0, 256, (9, 77, 3), dtype=np.uint8); "
            "assert np.array_equal(ops.grayscale(f), cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)); "
            "print(numba.njit(lambda: gray.blocks_pay())())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "False"
