"""pipeline.kernels.gray_blocks: both compiled forms of the 16-pixel grey block.

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

from pipeline.kernels import gray, gray_blocks
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
        # Row 1 of 2, then the same row as the last of the array: a block that read past
        # the row would read the next row's bytes, or past the array's end.
        for rows, row in ((pixels, 1), (np.ascontiguousarray(pixels[1:]), 0)):
            guard = -1 if dtype == np.int16 else 7
            dst = np.full(width + 16, guard, dtype)
            gray.gray_row(rows, row, channels, dst[:width])
            np.testing.assert_array_equal(dst[:width], naive.grayscale(frame[1:, :, :3])[0],
                                          err_msg=str(width))
            assert (dst[width:] == guard).all(), "wrote past the row"


def test_rows_of_a_crop_use_the_vector_form_and_stay_exact():
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
    from pipeline.kernels import gray_blocks
    asm = gray.gray_row.inspect_asm(gray.gray_row.signatures[0])
    print(numba.njit(lambda: gray_blocks.blocks_pay())(), "vpdpbusd" in asm)
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
