"""How every command ends: the one-line error, the summary, its JSON, and the exit code.

Every command (``run``, ``validate``, ``stages``, ``batch``, ``experiment``, ``warmup``)
is called through :func:`conclude`, which gives the same ending to all of them:

* what the command returns (a code from :mod:`pipeline.cli.guard`, most often through
  :func:`report` or :func:`fail`);
* a config or command-line error (:class:`~pipeline.config.ConfigError`): one line,
  exit 2; any other error a user can meet (:class:`~pipeline.errors.EdgepipeError`):
  one line, exit 1;
* Ctrl+C: ``edgepipe: interrupted``, exit 130; SIGTERM: ``edgepipe: terminated``, 143
  (a run and a batch job stop cleanly first); a reader that went away: quiet, 141;
* anything else is a bug: one line naming it and ``--traceback``, exit 1.

``--json PATH`` always gets ``ok``, ``exit_code`` and, when it failed, ``error``, so a
script never reads an older file's success.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback

from pipeline.cli.guard import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED,
                                EXIT_USAGE, Terminated, install_stop_signals, interrupted,
                                raise_terminated, reader_gone, terminated)
from pipeline.config.document import ConfigError
from pipeline.errors import EdgepipeError
from pipeline.io.outputs.commit import write_atomically
from pipeline.redact import redact_text

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
    print(f"edgepipe: error: {redact_text(message)}", file=sys.stderr)


def add_report_options(parser, quiet: str) -> None:
    """Add the options every command has: ``--quiet``, ``--json``, ``--traceback``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    quiet : str
        What ``--quiet`` leaves out, for its help.
    """
    parser.add_argument("-q", "--quiet", action="store_true", help=quiet)
    parser.add_argument("--json", metavar="PATH",
                        help="also write the outcome as JSON to PATH ('-' for stdout): ok, "
                             "exit_code, error or the command's summary")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an unexpected error")


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
    try:
        write_atomically(args.json, (text + "\n").encode("utf-8"))
    except OSError as exc:
        error(f"cannot write the summary to {args.json}: {exc.strerror or exc}")
        return False
    return True


def fail(message: str, args, code: int = EXIT_FAILED, summary=None, outputs=None) -> int:
    """A command that failed: the error line, and ``--json`` saying so; returns ``code``.

    ``--json`` gets ``ok: false``, the exit code and the error, plus what the run did
    before it failed (``summary``, ``outputs``) when there is one.
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

    Interrupted and terminated runs keep their codes, otherwise 0 when ``ok`` and 1
    when not.  ``summary`` has ``format()``, ``to_dict()`` and ``stop_reason``; a batch
    summary's ``failed`` records are printed even with ``--quiet`` (an error is never
    hidden).  ``outputs`` (records of what was written) go into the JSON,
    ``output_lines`` after the summary.
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


def unexpected(exc: BaseException, args) -> int:
    """A bug's way out: one line naming it (the traceback with ``--traceback``), and
    ``--json`` saying so; exit 1."""
    if getattr(args, "traceback", False):
        traceback.print_exception(exc)
    message = f"unexpected {type(exc).__name__}: {exc}"
    error(f"{message} (rerun with --traceback for details)")
    write_json(args, {"ok": False, "exit_code": EXIT_FAILED, "error": message})
    return EXIT_FAILED


def conclude(command, args) -> int:
    """``command(args)``, ended the one way every command ends (see the module's text).

    SIGTERM raises :class:`~pipeline.cli.guard.Terminated` meanwhile (exit 143), unless
    the command installs a stop of its own (a run's engine, a batch job).
    """
    restore = install_stop_signals(raise_terminated, ctrl_c=False)
    try:
        return command(args)
    except KeyboardInterrupt:
        return _stopped(interrupted(), "interrupted", args)
    except Terminated:
        return _stopped(terminated(), "terminated", args)
    except BrokenPipeError:
        return reader_gone()
    except EdgepipeError as exc:
        return fail(str(exc), args, EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED)
    except Exception as exc:  # noqa: BLE001  (a bug: one line unless asked)
        return unexpected(exc, args)
    finally:
        restore()


def _stopped(code: int, reason: str, args) -> int:
    write_json(args, {"ok": False, "exit_code": code, "error": reason})
    return code

