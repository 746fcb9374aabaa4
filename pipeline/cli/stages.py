"""``edgepipe stages [KIND ...]``: every stage, source, sink, objective and optimizer with
its parameters (the text is :mod:`pipeline.cli.helptext`'s)."""

from __future__ import annotations

import argparse

from pipeline.cli.guard import EXIT_OK, exit_codes_help, ready
from pipeline.cli.helptext import describe
from pipeline.cli.outcome import add_report_options, write_json
from pipeline.config.document import ConfigError
from pipeline.config.registry import KINDS

EPILOG = exit_codes_help({0: "listed", 2: "a KIND that is not one of them"})


def add_parser(commands) -> argparse.ArgumentParser:
    """Add ``stages`` to the ``edgepipe`` sub-commands; return its parser."""
    stages = commands.add_parser("stages", help="list stages, sources, sinks and their parameters",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    stages.add_argument("kinds", nargs="*", metavar="KIND",
                        help="only these: stage(s), source(s), sink(s), objective(s), "
                             "optimizer(s), runtime")
    add_report_options(stages, "print nothing (with --json: only the JSON)")
    return stages


def run(args) -> int:
    """Run ``edgepipe stages`` for parsed ``args``; return the exit code."""
    # The listing heads its parts "stages", "sources", "sinks": those names work too.
    singular = {f"{kind}s": kind for kind in (*KINDS, "runtime")}
    kinds = [singular.get(kind, kind) for kind in args.kinds]
    try:
        text = describe(kinds)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    ready()
    if not args.quiet:
        print(text)
    write_json(args, {"ok": True, "exit_code": EXIT_OK, "kinds": kinds or None, "text": text})
    return EXIT_OK
