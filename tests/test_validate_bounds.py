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
