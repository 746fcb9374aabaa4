"""Markers by kind of test, so a part of the suite can run alone:

    python -m pytest -m "not slow"          # the quick part, for every edit
    python -m pytest -m "browser or display" # what needs Chromium or Xvfb

The table below is by module path (a module's tests share what makes them slow: processes,
real programs, a cold compile); a test may add its own marker as well.  The full suite,
markers or not, is what `.ci/run` runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Modules whose tests start real programs or processes and wait on them, or compile kernels in
# child processes: seconds each, minutes together.
SLOW = {
    "end_to_end/",
    "batch/test_cluster.py",
    "batch/test_runner.py",
    "batch/test_split.py",
    "batch/test_executors.py",
    "batch/test_tasks.py",
    "batch/test_summary.py",
    "runtime/test_warmup.py",
    "runtime/test_streams_live.py",    # real senders killed, frozen, resized mid-run
    "scripts/test_bench_streams.py",
    "kernels/test_gray_blocks.py",
    "kernels/test_options.py",
    "scripts/test_bench_histogram.py",
    "scripts/test_bench_startup.py",   # real edgepipe runs, pure Python
    "test_config_fuzz.py",
    "cli/test_guard.py",
    "io/sources/test_url.py",
    "io/sources/test_live.py",
    "io/sinks/test_window.py",
    "io/sinks/test_window_grid.py",    # a child per test, and real runs
    "io/sinks/test_network",           # real receivers (ffmpeg listening) per test
    "io/media/test_parity.py",         # edgepipe and ffmpeg converting each hard case
    "io/media/test_writer_ffmpeg.py",
    "io/sources/test_url_exit.py",
    "cli/test_outcome.py",             # every command's ending, in child processes
    "quality/test_experiment.py",
    "runtime/test_precompile.py",      # compiles in a child
    "kernels/test_simd_fallback.py",   # the package without its SIMD module, in a child
}
BROWSER = {"end_to_end/test_http_browser", "end_to_end/test_video_playback.py",
           "end_to_end/test_video_range_chromium.py"}
DISPLAY = {"io/sinks/test_window.py", "io/sinks/test_window_grid.py"}
NETWORK = {"io/sources/test_url.py", "runtime/test_streams_live.py", "scripts/test_bench_streams.py",
           "io/sources/test_live.py", "io/sinks/test_http", "io/sinks/test_network",
           "io/sinks/test_window_grid.py",
           "batch/test_cluster.py", "end_to_end/test_http_browser"}
AVX512 = {"kernels/test_gray_blocks.py", "scripts/test_bench_histogram.py"}
MARKERS = {"slow": SLOW, "browser": BROWSER, "display": DISPLAY, "network": NETWORK,
           "avx512": AVX512}
DESCRIPTIONS = {
    "slow": "starts real programs or processes, or compiles in a child: not for every edit",
    "browser": "drives the real headless Chromium",
    "display": "opens real windows on a virtual display (Xvfb)",
    "network": "talks to servers on 127.0.0.1 (RTSP, HTTP, Dask)",
    "avx512": "checks the AVX-512 grey blocks (skipped forms on other CPUs)",
}


def pytest_configure(config):
    for name, text in DESCRIPTIONS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if HERE not in path.parents:
            continue
        where = path.relative_to(HERE).as_posix()
        for name, prefixes in MARKERS.items():
            if any(where.startswith(prefix) for prefix in prefixes):
                item.add_marker(getattr(pytest.mark, name))
        if "real_display" in item.name or "window_one_liner" in item.name:
            item.add_marker(pytest.mark.display)
