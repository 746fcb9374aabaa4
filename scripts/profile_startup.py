"""Where a run's time goes before its first frame is written: one line per step, warm and cold.

Each run is a fresh ``python -m pipeline run CONFIG`` process (the job of
``scripts/bench_startup.py``: the demo config without its hud, or a 1080p H.264 file,
each into an FFV1 file with a ``stats`` sink on standard output).  A small bootstrap
(:data:`BOOT`) puts a clock on the run's own functions from outside, without changing
them, then runs ``edgepipe``'s entry point as ``python -m pipeline`` would.  The steps,
each in milliseconds from the moment this script started the process (the parent's and
the child's ``perf_counter`` are the same clock, ``CLOCK_MONOTONIC``, on Linux):

* ``interpreter up``: the bootstrap's first line runs (Python and ``site`` started);
* ``imports done``: ``pipeline.cli.main`` and what it imports;
* ``config checked``: :func:`pipeline.cli.run.config_of` returned;
* ``source opened``: the source's ``open()`` returned (sinks checked before it);
* ``first frame decoded``: the engine's warm-up begins on the first image read;
* ``warm-up done``: the chain ran once on its 32x32 crop (the OpenCV tier's calls
  recorded, or the kernels compiled or loaded when tiers are off);
* ``first frame processed``: the chain returned the first real frame;
* ``first stats line``: the parent read the first line on the child's standard output;
* ``kernels ready``: the kernel loader (a thread, after the first frame) had the numba
  kernels loaded from the cache (or, cold, compiled by its child process);
* ``numba imported``: when ``numba`` first appeared in ``sys.modules`` (checked at each
  step), or ``-`` if not before the end.

edgepipe's modules are compiled to bytecode beforehand, as ``pip install`` does (see
``scripts/bench_startup.py``); ``--no-bytecode-cache`` compiles them at every start.
Beside each wall-clock figure, the process's CPU time at that step (all its threads;
``time.process_time``), which a loaded machine inflates far less.  With ``--runs N``
each figure is the median of N runs.  Cold runs each get an empty
``NUMBA_CACHE_DIR``; warm runs one filled once by ``edgepipe warmup``.

Usage::

    python scripts/profile_startup.py                      # demo and file, 5 warm and 3 cold runs
    python scripts/profile_startup.py --jobs demo --runs 7 --cold-runs 0 --warm-cache /tmp/warm
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_startup import (ROOT, compile_bytecode, edgepipe_config, make_input,  # noqa: E402
                           python_environment, wait_for_compilers)

import yaml  # noqa: E402

STEPS = ("interpreter up", "imports done", "config checked", "source opened",
         "first frame decoded", "warm-up done", "first frame processed", "first stats line",
         "kernels ready", "numba imported")

#: Run in the child: clocks on the run's functions, then edgepipe's entry point.
BOOT = r"""
import sys, time, json, os
marks = {"interpreter up": time.perf_counter()}
cpu = {"interpreter up": time.process_time()}
numba_at = []
def mark(name):
    if name not in marks:
        marks[name], cpu[name] = time.perf_counter(), time.process_time()
    if not numba_at and "numba" in sys.modules:
        numba_at.append(time.perf_counter())
from pipeline.cli.guard import idle_blas_threads, quiet_native_logs
quiet_native_logs(sys.argv)  # as the entry point does before the commands' imports
idle_blas_threads()
import pipeline.cli.main as main
mark("imports done")
from pipeline.cli import run as run_command
from pipeline.runtime import engine as engine_module
from pipeline.stages import chain as chain_module, tiers

def wrap(owner, name, before=None, after=None):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        if before: before(*args, **kwargs)
        result = original(*args, **kwargs)
        if after: after(result, *args, **kwargs)
        return result
    setattr(owner, name, wrapper)

wrap(run_command, "config_of", after=lambda *a, **k: mark("config checked"))

def on_prepare(self, *args, **kwargs):
    source_open = self.source.open
    def opened():
        result = source_open()
        mark("source opened")
        return result
    self.source.open = opened
wrap(engine_module.Engine, "_prepare", before=on_prepare)
wrap(engine_module.Engine, "_warm_up", before=lambda *a: mark("first frame decoded"),
     after=lambda *a: mark("warm-up done"))
wrap(chain_module.Chain, "__call__",
     after=lambda result, self, frame, *a, **k: frame.index >= 0 and k.get("tier") is None
     and mark("first frame processed"))
wrap(tiers.KernelLoader, "_load", after=lambda *a: mark("kernels ready"))

def report():
    mark("end")
    if numba_at:
        marks["numba imported"] = numba_at[0]
    elif "numba" in sys.modules:
        marks["numba imported"] = marks["end"]
    os.write(int(os.environ["PROFILE_STARTUP_FD"]), json.dumps([marks, cpu]).encode())
import atexit
atexit.register(report)
from pipeline.cli.entry import console
sys.argv = ["edgepipe", *sys.argv[1:]]
code = console()
sys.exit(code)
"""


def one_run(config: Path, cache: Path, environment: dict) -> dict[str, float]:
    """The step marks of one run, in ms from the process's start."""
    read, write = os.pipe()
    env = dict(environment, NUMBA_CACHE_DIR=str(cache), PROFILE_STARTUP_FD=str(write))
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", BOOT, "run", str(config)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
                               pass_fds=(write,), start_new_session=True)
    os.close(write)
    first = None
    for line in process.stdout:
        if first is None and not line.startswith(b"#"):
            first = time.perf_counter()
    if process.wait() != 0:
        raise SystemExit(f"edgepipe run {config} failed ({process.returncode})")
    with os.fdopen(read, "rb") as pipe:
        marks, cpu = json.loads(pipe.read() or b"[{}, {}]")
    marks["first stats line"] = first
    wait_for_compilers(str(cache))  # a cold run's child goes on: the next run waits for it
    found = {step: (marks[step] - began) * 1000 for step in STEPS if marks.get(step)}
    found.update({f"{step} cpu": seconds * 1000 for step, seconds in cpu.items()})
    return found


def median_marks(runs: list[dict[str, float]]) -> dict[str, float | None]:
    """Each step's median over ``runs`` (None unless every run saw it), and its CPU time's
    (``"STEP cpu"``)."""
    keys = [*STEPS, *(f"{step} cpu" for step in STEPS)]
    return {key: (statistics.median(r[key] for r in runs) if runs and all(key in r for r in runs)
                  else None) for key in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs per job")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold runs per job (0: none)")
    parser.add_argument("--frames", type=int, default=60, help="frames of the 1080p file")
    parser.add_argument("--jobs", nargs="+", default=["demo", "file"], choices=["demo", "file"])
    parser.add_argument("--warm-cache", type=Path, metavar="DIR",
                        help="the warm runs' NUMBA_CACHE_DIR, already warm for the jobs (kept, "
                             "no edgepipe warmup); default a new one filled by edgepipe warmup")
    parser.add_argument("--no-bytecode-cache", dest="bytecode_cache", action="store_false",
                        help="edgepipe's modules compiled from source at every start")
    args = parser.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores; edgepipe's bytecode "
          f"{'compiled beforehand' if args.bytecode_cache else 'compiled at every start'}")
    with tempfile.TemporaryDirectory(prefix="profile-startup-") as temp:
        folder = Path(temp)
        source = make_input(folder, args.frames) if "file" in args.jobs else None
        warm_cache = args.warm_cache or folder / "warm-cache"
        if args.bytecode_cache:
            compile_bytecode()
        environment = python_environment(args.bytecode_cache)
        if args.warm_cache is None and args.runs:
            subprocess.run([sys.executable, "-m", "pipeline", "warmup"], check=True,
                           capture_output=True, env=dict(environment, NUMBA_CACHE_DIR=str(warm_cache)))
        for job in args.jobs:
            config = folder / f"{job}.yaml"
            config.write_text(yaml.safe_dump(edgepipe_config(job, source, folder / f"{job}.mkv",
                                                             args.frames)))
            warm = [one_run(config, warm_cache, environment) for _ in range(args.runs)]
            cold = [one_run(config, Path(tempfile.mkdtemp(prefix="cold-", dir=folder)), environment)
                    for _ in range(args.cold_runs)]
            print(f"\n{job}: ms from the process's start, median of {args.runs} warm"
                  + (f" and {args.cold_runs} cold runs" if cold else " runs"))
            print("| step | ms warm | ms cold | CPU ms warm | CPU ms cold |\n"
                  "| --- | ---: | ---: | ---: | ---: |")
            warm_m = median_marks(warm)
            cold_m = median_marks(cold) if cold else {}
            for step in STEPS:
                shown = [f"{m[key]:.0f}" if m.get(key) is not None else "-"
                         for key in (step, f"{step} cpu") for m in (warm_m, cold_m)]
                print(f"| {step} | {' | '.join(shown)} |")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
