"""scripts/thread_switches.py: per thread name, the switches and CPU of a real process."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.harness import ROOT

SCRIPT = ROOT / "scripts" / "thread_switches.py"

# A child with one thread that wakes 100 times a second and one that sleeps.
CHILD = """
import threading, time
def tick():
    while True:
        time.sleep(0.01)
threading.Thread(target=tick, name="ticker", daemon=True).start()
print("ready", flush=True)
time.sleep(600)
"""


def test_a_waking_thread_shows_its_switches_and_the_rows_add_up():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        done = subprocess.run([sys.executable, str(SCRIPT), str(child.pid), "--seconds", "1"],
                              capture_output=True, text=True, timeout=120)
    finally:
        child.kill()
        child.wait()
    assert done.returncode == 0, done.stderr
    rows = [re.match(r"^(.+?)\s+(\d+)\s+(\d+)\s+(\d+\.\d+)$", line) for line in done.stdout.splitlines()[1:]]
    assert all(rows), done.stdout
    table = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in rows}
    threads, switches = table.pop("all")
    assert threads == sum(t for t, _ in table.values()) >= 2
    assert switches >= 5  # the ticker wakes up to a hundred times a second
    assert abs(switches - sum(s for _, s in table.values())) <= len(table)  # rounding


def test_a_process_that_is_not_there_is_named():
    done = subprocess.run([sys.executable, str(SCRIPT), "999999999"], capture_output=True, text=True)
    assert done.returncode == 1 and "no process 999999999" in done.stderr
