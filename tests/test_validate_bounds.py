"""Values that would only fail deep in a run (an encoder refusing a bitrate) or blow up
memory (a picture pattern's width) are refused by ``edgepipe validate`` and ``run`` at
the config check: exit 2, file, line and key, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.harness import ROOT


def check(tmp_path, sink: str, command: str = "validate") -> subprocess.CompletedProcess:
    config = tmp_path / "c.yaml"
    config.write_text(f"version: 1\nsource: {{type: synthetic, length: 3, width: 64, height: 48}}\n"
                      f"stages: []\nsinks:\n  - {sink}\n")
    quiet = ["-q"] if command == "run" else []
    return subprocess.run([sys.executable, "-m", "pipeline", command, str(config), *quiet], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("bitrate", ["-1", "0", "999", "1e14", "'1e14'", "'20G'", "100000000000000"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_bitrate_out_of_range_is_exit_2_at_the_config_check(tmp_path, bitrate, command):
    done = check(tmp_path, f"video: {{path: {tmp_path / 'o.mp4'}, bitrate: {bitrate}}}", command)
    assert done.returncode == 2, done.stderr
    assert f"{tmp_path / 'c.yaml'}:5 sinks.0.video.bitrate: bitrate must be" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("bitrate", ["1000", "'800k'", "10000000000"])
def test_bitrates_in_range_pass(tmp_path, bitrate):
    done = check(tmp_path, f"video: {{path: {tmp_path / 'o.mp4'}, bitrate: {bitrate}}}")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("pattern, says", [
    ("x_{index:1000000000}.png", "asks for a field 1000000000 characters wide; at most 64"),
    ("x_{index:99999999999}.png", "asks for a field 99999999999 characters wide"),
    ("x_{index:.100000000f}.png", "asks for a field 100000000 characters wide"),
    ("x_{index[0]}.png", "no other field (nor .attribute or [item])"),
    ("x_{index:{w}}.png", "nested field"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_picture_pattern_that_would_demand_gigabytes_is_exit_2(tmp_path, pattern, says, command):
    done = check(tmp_path, f"images: {{path: '{tmp_path / pattern}'}}", command)
    assert done.returncode == 2, done.stderr
    assert f"{tmp_path / 'c.yaml'}:5 sinks.0.images.path: " in done.stderr and says in done.stderr
    assert "Traceback" not in done.stderr and list(tmp_path.iterdir()) == [tmp_path / "c.yaml"]


def test_a_pattern_of_width_64_still_writes(tmp_path):
    done = check(tmp_path, f"images: {{path: '{tmp_path / 'x_{index:064d}.png'}'}}", "run")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.glob("x_*.png")) == [f"x_{i:064d}.png" for i in range(3)]
