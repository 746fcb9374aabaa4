"""scripts/bench_streams.py: a quick run prints its table with numbers in every column and
leaves no process behind; Ctrl+C stops every sender and reader it started."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.harness import ROOT

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")

SCRIPT = ROOT / "scripts" / "bench_streams.py"
NUMBER = r"(\d+\.\d+)"
ROW = re.compile(rf"^\s*(\d+)  (one edgepipe|N edgepipe|N ffmpeg)\s+{NUMBER}\s+{NUMBER}\s+(\S+)\s+(\S+)"
                 rf"\s+{NUMBER}\s+(-?\d+\.\d+)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+(ok|BEHIND)$")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_streams", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_stream_a_short_while_prints_every_column(bench, tmp_path, capsys):
    report = tmp_path / "streams.json"
    assert bench.main(["--streams", "1", "--seconds", "2", "--settle", "0.5", "--json", str(report),
                       "--set", "runtime.queue_size=3"]) == 0
    out = capsys.readouterr().out
    rows = [ROW.match(line) for line in out.splitlines()]
    rows = {m.group(2): m for m in rows if m}
    assert set(rows) == {"one edgepipe", "N edgepipe", "N ffmpeg"}, out
    figures = json.loads(report.read_text())["results"][0]
    for column, match in rows.items():
        n, fps_min, fps_median, age, age_max, drops, lag, cores = (match.group(i) for i in range(1, 10) if i != 2)
        assert n == "1" and float(fps_min) == float(fps_median) > 0 and float(cores) > 0, match.group(0)
        assert float(drops) >= 0
        assert float(lag) == pytest.approx(figures[column]["lag_s_max"], abs=0.005)
        if column == "N ffmpeg":
            assert age == age_max == "-"
        else:  # edgepipe's frame age, from its stats lines
            assert float(age) == float(age_max) > 0
        assert float(fps_min) == pytest.approx(figures[column]["fps_min"], abs=0.05)
        assert float(cores) == pytest.approx(figures[column]["cpu_cores"], abs=0.005)
        probe, steal = float(match.group(10)), float(match.group(11))
        assert probe == pytest.approx(figures[column]["probe_ms"], abs=0.005) and probe > 0
        assert steal == pytest.approx(figures[column]["steal_pct"], abs=0.05) and 0 <= steal <= 100
    assert "N edgepipe CPU / one edgepipe" in out and "largest N kept up, one edgepipe:" in out
    assert bench.STARTED  # senders, edgepipe and ffmpeg readers: all stopped and waited for
    for pid in bench.STARTED:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_set_the_run_would_refuse_stops_it_before_any_stream(bench, capsys):
    with pytest.raises(SystemExit) as stopped:
        bench.main(["--streams", "1", "--set", "runtime.queue_size=0"])
    assert "--set runtime.queue_size" in str(stopped.value) and "[1, 1024]" in str(stopped.value)
    assert "N  column" not in capsys.readouterr().out  # no table: nothing was served


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    fields = handle.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry))
    return found


def test_ctrl_c_stops_every_sender_and_reader(tmp_path):
    script = subprocess.Popen([sys.executable, str(SCRIPT), "--streams", "2", "--seconds", "60",
                               "--columns", "one edgepipe"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    lines: list[str] = []  # the script's own warm-up and clip come before its table's header
    reader = threading.Thread(target=lambda: lines.extend(script.stdout), daemon=True)
    reader.start()
    try:
        end = time.monotonic() + 180  # a hang guard: the clip, the warm-up, the start
        children: set[int] = set()
        while len(children) < 3 or not any(line.lstrip().startswith("N  column") for line in lines):
            assert script.poll() is None and time.monotonic() < end, script.stderr.read()
            children = {pid for pid in children_of(script.pid) if "ffmpeg" in cmdline(pid)
                        and "-stream_loop" in cmdline(pid) or "pipeline run" in cmdline(pid)}
            time.sleep(0.2)
        script.send_signal(signal.SIGINT)  # the script alone: it must stop its children
        try:
            code = script.wait(60)
        except subprocess.TimeoutExpired:  # where it is stuck, for the report
            script.send_signal(signal.SIGUSR1)
            time.sleep(1)
            script.kill()
            for pid in children:  # not left to skew the tests after this one
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            pytest.fail(f"no exit 60 s after Ctrl+C; children {children}; "
                        f"stack:\n{script.stderr.read()}")
    finally:
        if script.poll() is None:
            script.kill()
            script.wait()
    assert code == 130, script.stderr.read()
    assert "every sender and reader stopped" in script.stderr.read()
    assert not [pid for pid in children if os.path.exists(f"/proc/{pid}")]


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
