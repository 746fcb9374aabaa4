"""How a command ends: exit codes, the one-line error, the summary and its JSON.

Below both the ``edgepipe`` parser (:mod:`pipeline.cli`) and its sub-commands
(:mod:`pipeline.batch.command`, :mod:`pipeline.experiments`), so neither imports the
other.  Only the standard library is imported here: the entry point uses it before
anything heavy has loaded.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool its reader left
EXIT_TERMINATED = 143


#: Libraries whose INFO lines are their own business (Dask's scheduler, workers, nanny).
HELPER_LOGGERS = ("distributed", "dask", "tornado", "bokeh")


def quiet_helpers(verbose: bool = False) -> None:
    """Keep helper libraries' logging at WARNING (INFO with ``--verbose``).

    Dask sets its loggers' levels from its config when ``distributed`` is imported, so
    the level goes into that config (its environment variable, which worker processes
    inherit) as well as onto the loggers.
    """
    level = "info" if verbose else "warning"
    os.environ["DASK_LOGGING__DISTRIBUTED"] = level
    for name in HELPER_LOGGERS:
        logging.getLogger(name).setLevel(level.upper())
    scheduler = logging.getLogger("distributed.scheduler")
    if not verbose and not any(isinstance(f, ShutdownRaceFilter) for f in scheduler.filters):
        scheduler.addFilter(ShutdownRaceFilter())


class ShutdownRaceFilter(logging.Filter):
    """Drop the scheduler's CRITICAL "Closed comm ... while trying to write" about the
    ``remove-client`` event it sends to the client that has just closed: Dask's own race
    at every LocalCluster shutdown, after the work is done (it lost nothing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Closed comm") and "remove-client" in message)


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


def write_json(args, data: dict) -> bool:
    """Write ``data`` to ``--json`` (if given): ``-`` is stdout, a path is replaced whole.

    The file is written under a temporary name and renamed, so a reader never sees half
    of it; False (and one error line) when it cannot be written.
    """
    if not getattr(args, "json", None):
        return True
    text = json.dumps(data, indent=2, default=str)
    if args.json == "-":
        print(text)
        return True
    from pipeline.io.outputs.commit import write_atomically  # (only when asked: it is not light)

    try:
        write_atomically(args.json, (text + "\n").encode("utf-8"))
    except OSError as exc:
        error(f"cannot write the summary to {args.json}: {exc.strerror or exc}")
        return False
    return True


def fail(message: str, args, code: int = EXIT_FAILED, summary=None, outputs=None) -> int:
    """A command that failed: the error line, and ``--json`` saying so; returns ``code``.

    ``--json`` gets ``ok: false``, the exit code and the error, plus what the run did
    before it failed (``summary``, ``outputs``) when there is one, so a script never
    reads an older file's success.
    """
    error(message)
    data = {"ok": False, "exit_code": code, "error": message}
    if summary is not None:
        data.update(summary.to_dict())
    if outputs is not None:
        data["outputs"] = outputs
    write_json(args, data)
    return code


def report(summary, args, ok: bool = True, outputs=None, output_lines=()) -> int:
    """Print ``summary`` (unless ``--quiet``), write ``--json``; return the exit code.

    Shared by ``run`` and ``batch``: interrupted and terminated runs keep their codes,
    otherwise 0 when ``ok`` and 1 when not.  ``summary`` has ``format()``,
    ``to_dict()`` and ``stop_reason``; a batch summary's ``failed`` records are
    printed even with ``--quiet`` (an error is never hidden).  ``outputs`` (records of
    what was written) go into the JSON, ``output_lines`` after the summary.
    """
    if summary.stop_reason == "interrupted":
        code = EXIT_INTERRUPTED
    elif summary.stop_reason == "terminated":
        code = EXIT_TERMINATED
    else:
        code = EXIT_OK if ok else EXIT_FAILED
    if not args.quiet:
        print("\n".join([summary.format(), *output_lines]), file=sys.stderr)
    else:
        for record in getattr(summary, "failed", ()):
            error(f"{record['input']}: {record['error']}")
    data = {"ok": code == EXIT_OK, "exit_code": code, **summary.to_dict()}
    if outputs is not None:
        data["outputs"] = outputs
    if not write_json(args, data):
        return EXIT_FAILED
    return code
