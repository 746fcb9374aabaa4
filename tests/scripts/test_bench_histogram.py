"""scripts/bench_histogram.py: its conflict-detection count is exact, and a quick run prints both."""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

from tests.harness import ROOT

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                                reason="LLVM intrinsics need the JIT")


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "scripts"))  # the script imports benchtools, as when run
    try:
        spec = importlib.util.spec_from_file_location("bench_histogram", ROOT / "scripts" / "bench_histogram.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def test_conflict_count_equals_bincount(bench):
    if not bench.vector_counting_available():
        pytest.skip("this CPU has no AVX512-CD and AVX512-VPOPCNTDQ")
    rng = np.random.default_rng(3)
    cases = [rng.integers(0, 256, (37, 41), dtype=np.uint8),  # 1517 pixels: a 13-pixel tail
             np.full((16, 16), 200, np.uint8),                  # every lane one value
             rng.integers(0, 3, (64, 64), dtype=np.uint8)]      # many duplicates per step
    for image in cases:
        counts = np.zeros(256, np.uint32)
        bench.conflict_histogram(image, counts)
        np.testing.assert_array_equal(counts, np.bincount(image.ravel(), minlength=256))


def test_quick_run_prints_both_counts(bench, capsys):
    if not bench.vector_counting_available():
        with pytest.raises(SystemExit, match="AVX512-CD"):
            bench.main(["--quick"])
        return
    bench.main(["--quick"])
    out = capsys.readouterr().out
    assert "conflict/scalar" in out and out.count("640x480") == 2
