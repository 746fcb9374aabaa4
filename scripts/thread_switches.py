"""Context switches and CPU of a running process, per thread name, over a few seconds.

    python scripts/thread_switches.py PID [--seconds 8]

Reads ``/proc/PID/task/*/status`` (voluntary + involuntary switches) and ``stat`` (utime +
stime) twice and prints, per thread name with digits folded (``edgepipe-pool-#``), the
threads, switches a second and cores.  Python threads are named from ``py-spy dump``
when py-spy is installed (``pip install py-spy``); without it every thread shows the name
the kernel has for it (``/proc/.../comm``), which for Python threads is the process's.

docs/streams.md ("Thread wake-ups") used it on a twelve-stream run of
``scripts/bench_streams.py``: ``python scripts/thread_switches.py $(pgrep -f "pipeline run")``.
Linux only.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def python_names(pid: int) -> dict[str, str]:
    """Native thread id -> Python thread name, from ``py-spy dump`` (empty without py-spy)."""
    if shutil.which("py-spy") is None:
        return {}
    dump = subprocess.run(["py-spy", "dump", "--pid", str(pid)], capture_output=True, text=True).stdout
    return {m.group(1): m.group(2) for m in re.finditer(r'^Thread (\d+) \([^)]*\): "([^"]*)"', dump, re.M)}


def sample(pid: int, names: dict[str, str]) -> dict[str, tuple[str, int, int]]:
    """Thread id -> (name, switches so far, CPU ticks so far); threads gone meanwhile left out."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status", encoding="ascii") as handle:
                status = dict(line.split(":\t", 1) for line in handle.read().splitlines() if ":\t" in line)
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as handle:
                fields = handle.read().rpartition(")")[2].split()
        except OSError:
            continue
        switches = int(status["voluntary_ctxt_switches"]) + int(status["nonvoluntary_ctxt_switches"])
        name = names.get(tid) or status["Name"].strip()
        found[tid] = (name, switches, int(fields[11]) + int(fields[12]))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pid", type=int)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    if not os.path.isdir(f"/proc/{args.pid}/task"):
        raise SystemExit(f"thread_switches: no process {args.pid} (Linux /proc needed)")
    names = python_names(args.pid)
    before = sample(args.pid, names)
    time.sleep(args.seconds)
    after = sample(args.pid, names)
    groups = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for tid, (name, switches, ticks) in after.items():
        _, switches0, ticks0 = before.get(tid, (name, 0, 0))
        group = groups[re.sub(r"\d+", "#", name)]
        group[0] += 1
        group[1] += (switches - switches0) / args.seconds
        group[2] += (ticks - ticks0) / TICK / args.seconds
    print(f"{'threads named':32} {'threads':>7} {'switches/s':>10} {'cores':>6}")
    for name, (count, switches, cores) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        print(f"{name:32} {count:7d} {switches:10.0f} {cores:6.3f}")
    print(f"{'all':32} {len(after):7d} {sum(g[1] for g in groups.values()):10.0f} "
          f"{sum(g[2] for g in groups.values()):6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
