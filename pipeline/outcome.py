"""How a command ends: exit codes, the one-line error, the summary and its JSON.

Below both the ``edgepipe`` parser (:mod:`pipeline.cli`) and its sub-commands
(:mod:`pipeline.batch.command`, :mod:`pipeline.experiments`), so neither imports the
other.  Only the standard library is imported here: the entry point uses it before
anything heavy has loaded.
"""

from __future__ import annotations

import json
import sys
import traceback

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool its reader left
EXIT_TERMINATED = 143


def error(message: str) -> None:
    """Print ``edgepipe: error: MESSAGE`` on stderr (always, ``--quiet`` or not), with
    every secret in a URL (a password, a ``?token=``) replaced by ``***``."""
    from pipeline.redact import redact_text

    print(f"edgepipe: error: {redact_text(message)}", file=sys.stderr)


def add_report_options(parser, quiet: str) -> None:
    """Add the options :func:`report` and the error guard read: ``--quiet``, ``--json``, ``--traceback``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser (``run``, ``batch``).
    quiet : str
        What ``--quiet`` leaves out, for its help.
    """
    parser.add_argument("-q", "--quiet", action="store_true", help=quiet)
    parser.add_argument("--json", metavar="PATH",
                        help="also write the summary as JSON to PATH ('-' for stdout)")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an unexpected error")


def unexpected(exc: BaseException, args) -> int:
    """A bug's way out: one line naming it (the traceback with ``--traceback``); exit 1."""
    if args.traceback:
        traceback.print_exc()
    error(f"unexpected {type(exc).__name__}: {exc} (rerun with --traceback for details)")
    return EXIT_FAILED


def is_terminal(stream) -> bool:
    """Whether ``stream`` is a terminal (False for None, closed or fake streams)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def report(summary, args, ok: bool = True) -> int:
    """Print ``summary`` (unless ``--quiet``), write ``--json``; return the exit code.

    Shared by ``run`` and ``batch``: interrupted and terminated runs keep their codes,
    otherwise 0 when ``ok`` and 1 when not.  ``summary`` has ``format()``,
    ``to_dict()`` and ``stop_reason``; a batch summary's ``failed`` records are
    printed even with ``--quiet`` (an error is never hidden).
    """
    if not args.quiet:
        print(summary.format(), file=sys.stderr)
    else:
        for record in getattr(summary, "failed", ()):
            error(f"{record['input']}: {record['error']}")
    if args.json:
        text = json.dumps(summary.to_dict(), indent=2)
        if args.json == "-":
            print(text)
        else:
            try:
                with open(args.json, "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
            except OSError as exc:
                error(f"cannot write the summary to {args.json}: {exc.strerror}")
                return EXIT_FAILED
    if summary.stop_reason == "interrupted":
        return EXIT_INTERRUPTED
    if summary.stop_reason == "terminated":
        return EXIT_TERMINATED
    return EXIT_OK if ok else EXIT_FAILED
