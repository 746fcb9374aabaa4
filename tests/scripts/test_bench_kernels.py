"""scripts/bench_kernels.py: the one-band/split-bands and Canny sections time what they say."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from tests.harness import ROOT

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                                reason="times the compiled kernels")


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "scripts"))  # the script imports benchtools, as when run
    try:
        spec = importlib.util.spec_from_file_location("bench_kernels", ROOT / "scripts" / "bench_kernels.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def test_bands_rows_time_one_band_and_the_split_of_each_size(bench):
    from pipeline import ops

    rows = bench.bands_rows([(96, 64), (128, 80)], 0.0)
    assert [r["size"] for r in rows] == ["96x64", "128x80"]
    for r in rows:
        # Each contender ran in every round (interleaved's minimum is 30 rounds).
        assert r["rounds"] >= 30
        assert r["bands"] == ops._bands(int(r["size"].split("x")[1]))
        assert r["one_band_ms"] > 0 and r["bands_ms"] > 0 and r["opencv_ms"] > 0
        assert r["ops_runs_one_band"]  # both are below ops.SMALL_FRAME
        assert r["opencv_chain"] in bench.opencv_chains(bench.photo_like_frame(96, 64))


def test_canny_rows_cover_a_detailed_and_two_smooth_photos(bench):
    assert len(bench.CANNY_PHOTOS) >= 3
    for name in bench.CANNY_PHOTOS:
        assert (bench.SAMPLES / name).is_file()  # committed samples, not ../shared
    rows = bench.canny_rows([(96, 64)], 0.0, 60, 140, False)
    frames = [r["frame"] for r in rows]
    assert frames == ["photo", "synthetic", *bench.CANNY_PHOTOS]
    # canny_rows exits if ops.canny and cv2.Canny differ; each row has its own timings.
    assert all(r["edgepipe_ms"] > 0 and r["opencv_ms"] > 0 for r in rows)
