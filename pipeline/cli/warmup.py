"""``edgepipe warmup``: compile every kernel version a run can ask for, ahead of time
(:mod:`pipeline.runtime.precompile` says which and how)."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli.guard import EXIT_OK, exit_codes_help, ready
from pipeline.cli.outcome import add_report_options, write_json
from pipeline.runtime.precompile import precompile

HELP = "compile the numba kernels into the on-disk cache ahead of time"
DESCRIPTION = (
    "Fill numba's on-disk cache with every kernel version pipeline.ops can call (grey, BGR "
    "and BGRA frames with contiguous or strided rows; each image dtype an op takes), so that "
    "no run compiles. For a container or cluster image, or a CI cache step; set "
    "NUMBA_CACHE_DIR as the runs will. Runs start at once without it too (frames go through "
    "OpenCV while a child process compiles), but only a filled cache makes the kernels "
    "ready within a second.")
EPILOG = exit_codes_help({0: "every kernel version is in the cache"})


def add_parser(commands) -> argparse.ArgumentParser:
    """Add ``warmup`` to the ``edgepipe`` sub-commands; return its parser."""
    warmup = commands.add_parser("warmup", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_report_options(warmup, "no line per compiled kernel and no summary")
    return warmup


def run(args) -> int:
    """``edgepipe warmup``: fill the cache, say how many versions were compiled, and where."""
    import numba  # lazy: seconds to import; the other commands do not need it

    import pipeline.kernels  # lazy: loads numba; points it at edgepipe's cache folder  # noqa: F401

    ready()

    def say(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    say(f"edgepipe warmup: kernels cache {numba.config.CACHE_DIR}")
    compiled, loaded, seconds = precompile(say)
    say(f"edgepipe warmup: {compiled} kernel calls compiled, {loaded} already cached, "
        f"in {seconds:.1f} s")
    write_json(args, {"ok": True, "exit_code": EXIT_OK, "cache": numba.config.CACHE_DIR,
                      "compiled": compiled, "cached": loaded, "seconds": seconds})
    return EXIT_OK
