"""``edgepipe`` (= ``python -m pipeline``): the parser, and every command ended one way.

Each command is a module of this package with ``add_parser(commands)`` and
``run(args) -> int``, imported only when its parser is built: ``edgepipe run`` imports
the run's modules, not those of ``batch`` (Dask's executors, hashing), ``experiment``
(csv, the quality runners) or ``warmup`` (tens of milliseconds of a start-up that should
show a first frame within half a second); ``--help`` and a mistyped command build
every parser.  :func:`main` parses, then calls the command through
:func:`pipeline.cli.outcome.conclude`, so every command has ``--json``, ``--traceback``,
``--quiet`` and the exit codes of :data:`pipeline.cli.guard.EXIT_CODES` (the one table;
each command's ``--help`` prints it, in the command's own words where they differ).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pipeline import __version__
from pipeline.cli.guard import EXIT_USAGE, exit_codes_help, interrupted, reader_gone
from pipeline.cli.outcome import conclude, quiet_helpers

#: The logger of :mod:`pipeline.stages.tiers`, whose notices ``--quiet`` silences.
TIERS_LOGGER = "pipeline.stages.tiers"

#: The commands, in the order ``--help`` lists them: name -> module (see :func:`command`).
COMMANDS = {name: f"pipeline.cli.{name}"
            for name in ("run", "validate", "stages", "batch", "experiment", "warmup")}

EPILOG = exit_codes_help() + """

examples:
  edgepipe run clip.mp4 edges.mp4              a file to a file (no YAML)
  edgepipe run 0                               the first camera to a window
  edgepipe run configs/demo.yaml
  edgepipe validate configs/webcam.yaml
  edgepipe stages
  edgepipe batch configs/batch.yaml
  edgepipe experiment configs/experiments/local-minimum.yaml
  edgepipe COMMAND --help                      each command's options and examples
"""


def command(name: str):
    """The module of command ``name`` (imported at the first call)."""
    return importlib.import_module(COMMANDS[name])


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``edgepipe`` parser with every command's sub-parser, or command ``only``'s."""
    top = argparse.ArgumentParser(
        prog="edgepipe",
        description="Edge maps from cameras, streams and video files, in real time.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"edgepipe {__version__}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name in ([only] if only in COMMANDS else COMMANDS):
        command(name).add_parser(commands)
    return top


def parse(argv: list[str]):
    """``argv`` parsed; for ``run``, OUTPUTs may also follow a flag, as ffmpeg users write
    them (``edgepipe run IN --start 5 OUT``: argparse alone takes OUT for an unknown word).
    When ``argv`` starts with a command's name only that command's parser is built."""
    top = parser(argv[0] if argv else None)
    args, extra = top.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "run" and not any(
            word.startswith("-") and word != "-" for word in extra):
        args.words += extra
        return args
    return top.parse_args(argv)  # anything else left over: argparse's own error


def main(argv: list[str] | None = None) -> int:
    """Run ``edgepipe`` with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    The process's entry point wraps this in the guard (:mod:`pipeline.cli.entry`); called
    directly (a test), Ctrl+C is still one line and 130, a closed pipe quiet and 141.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return interrupted()
    except BrokenPipeError:
        return reader_gone()


def _main(argv: list[str]) -> int:
    try:
        args = parse(argv)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    args.argv = argv
    # Sinks log what a user needs to see (the URL of the http view, a codec fallback);
    # helpers' own INFO chatter (Dask's scheduler and workers) only with --verbose.
    logging.basicConfig(level=logging.INFO, format="edgepipe: %(message)s")
    quiet_helpers(getattr(args, "verbose", False))
    # --quiet: no news either (kernels compiling in the background, then ready); errors
    # and warnings still come.  By name: importing the tiers here would load numpy.
    logging.getLogger(TIERS_LOGGER).setLevel(logging.WARNING if getattr(args, "quiet", False)
                                             else logging.NOTSET)
    return conclude(command(args.command).run, args)
