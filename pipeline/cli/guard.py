"""The guard around every ``edgepipe`` command: exit codes, signals, standard streams.

The exit codes are defined here and nowhere else (:data:`EXIT_CODES`); every command's
``--help`` prints them from this table (:func:`exit_codes_help`).

The guard is installed before anything heavy is imported, so that whatever the moment:

* Ctrl+C (during numba's imports, the parser, the run) ends in one line and exit 130.
  Until a command calls :func:`ready` (just before it opens anything), SIGINT only
  sets a flag: a KeyboardInterrupt raised inside a C extension's import comes out as
  an unrelated ImportError (numpy: "PyCapsule_Import could not import module
  datetime"), so none may be raised there.  :func:`ready` restores Python's handler
  and raises the interrupt that came meanwhile, at a safe point;
* a reader that went away (``edgepipe stages | head -1``) ends quietly with exit 141,
  as the Python docs' note on SIGPIPE advises (the rest of the output goes to
  ``/dev/null`` so the interpreter's final flush does not fail again);
* closed standard streams (``2>&-``, ``>&-``, ``<&-``) are reopened on ``/dev/null``,
  so no ``isatty()`` is called on None and no file the run opens later gets
  descriptor 2 (where OpenCV and FFmpeg would write their log lines into it).

:func:`install_stop_signals` is the one way SIGINT and SIGTERM become a stop: a run's
engine and a batch job stop cleanly with it, and every other command unwinds on SIGTERM
through :class:`Terminated` (installed by :func:`pipeline.cli.outcome.conclude`), so all
end in exit 143 with one line, printed here (:func:`terminated`) as Ctrl+C's is
(:func:`interrupted`).

Only ``gc``, ``os``, ``signal`` and ``sys`` are imported, and nothing of the package: the
engine, the sinks and the commands may all import this module.
"""

from __future__ import annotations

import gc
import os
import signal
import sys

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool its reader left
EXIT_TERMINATED = 143  # 128 + SIGTERM

#: Every exit code of every command, and what it means.
EXIT_CODES = {
    EXIT_OK: "finished",
    EXIT_FAILED: "a failure at run time (a source, sink, stage, file or worker), or an\n"
                 "unexpected error (one line; --traceback shows where)",
    EXIT_USAGE: "bad command line or config (the message names file, line and key);\n"
                "nothing was opened",
    EXIT_INTERRUPTED: "interrupted by Ctrl+C; outputs are finalized",
    EXIT_BROKEN_PIPE: "the reader of the output went away (edgepipe stages | head -1)",
    EXIT_TERMINATED: "terminated by SIGTERM; outputs are finalized",
}

#: The stop reason each signal gives a run or a job (its summary's ``stop_reason``).
STOP_REASONS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


def exit_codes_help(own: dict[int, str] | None = None) -> str:
    """The ``exit codes:`` part of a command's ``--help``, from :data:`EXIT_CODES`.

    ``own`` says a code in the command's own words (``batch``: "every file done"); a
    code that is not in the table is a ValueError.
    """
    own = own or {}
    unknown = set(own) - set(EXIT_CODES)
    if unknown:
        raise ValueError(f"exit codes {sorted(unknown)} are not in the table {sorted(EXIT_CODES)}")
    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES.items():
        text = own.get(code, meaning)
        first, *rest = text.split("\n")
        lines.append(f"  {code:<4} {first}")
        lines += [f"       {line}" for line in rest]
    return "\n".join(lines)


# ---------------------------------------------------------------------- Ctrl+C held
_held = {"interrupted": False}


def _hold(signum, frame) -> None:
    _held["interrupted"] = True


def hold_interrupts() -> None:
    """Until :func:`ready`, a Ctrl+C is remembered instead of raised (main thread only)."""
    try:
        signal.signal(signal.SIGINT, _hold)
    except ValueError:  # not the main thread: nothing to hold
        pass


def release_held() -> None:
    """Give Ctrl+C back its default handler if the hold is still in place (no raise)."""
    try:
        if signal.getsignal(signal.SIGINT) is _hold:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread: nothing was held
        pass


def ready() -> None:
    """From here on Ctrl+C raises KeyboardInterrupt again; one that came meanwhile, now.

    Commands call it after their imports and checks, before anything opens.  Harmless
    when the interrupts were not held (a test calling :func:`pipeline.cli.main.main`).
    """
    release_held()
    if _held["interrupted"]:
        _held["interrupted"] = False
        raise KeyboardInterrupt


class Terminated(BaseException):
    """SIGTERM, in a command without a stop of its own: it unwinds like Ctrl+C (a
    BaseException, so no ``except Exception`` swallows it) and ends in exit 143."""


def raise_terminated(reason: str = "terminated") -> None:
    """An ``on_stop`` for :func:`install_stop_signals`: raise :class:`Terminated`."""
    raise Terminated(reason)


def install_stop_signals(on_stop, ctrl_c: bool = True):
    """Make SIGTERM (and, with ``ctrl_c``, SIGINT) call ``on_stop(reason)``.

    ``reason`` is ``"interrupted"`` (SIGINT) or ``"terminated"`` (SIGTERM).  Signals
    belong to the main thread: elsewhere nothing is installed.  Returns a function that
    puts the previous handlers back.

    Parameters
    ----------
    on_stop : callable
        Called in the main thread with the reason; it may raise (a batch job's SIGTERM
        raises its ``Terminated``) or set a flag (a run's engine stops its threads).
    ctrl_c : bool
        Also SIGINT; without it Ctrl+C stays Python's KeyboardInterrupt.
    """
    def handler(signum, _frame) -> None:
        on_stop(STOP_REASONS[signum])

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM) if ctrl_c else (signal.SIGTERM,):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: signals are the main thread's
        pass

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


# ---------------------------------------------------------------------- standard streams
def reopen_closed_streams() -> None:
    """Give closed descriptors 0, 1 and 2 ``/dev/null``, and ``sys.std*`` a file on them."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            spare = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: fd itself
            if spare != fd:
                os.dup2(spare, fd)
                os.close(spare)
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, encoding="utf-8", errors="backslashreplace",
                                    closefd=False))


def quiet_native_logs(argv) -> None:
    """Keep OpenCV's own log lines off stderr, unless ``--traceback`` is in ``argv``.

    Our one-line errors say what OpenCV's and FFmpeg's log lines would; a user's own
    setting of these variables wins.  Called before anything imports OpenCV.
    """
    if "--traceback" not in argv:
        os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def idle_blas_threads() -> None:
    """Let OpenBLAS's idle threads sleep at once rather than spin (a user's setting wins).

    numpy and OpenCV each bring an OpenBLAS whose threads, started as it loads, spin for
    2**28 cycles (about 0.1 s) waiting for work before they sleep: 60-90 ms of CPU taken
    from the first frame on a two-core machine, for matrix products a run does not make.
    Only how long an idle thread waits changes, not how the work is split, so no result
    does.  Called before anything imports numpy; child processes (the kernels' compile,
    batch workers) inherit it.
    """
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # 2**4 cycles, OpenBLAS's least


def is_terminal(stream) -> bool:
    """Whether ``stream`` is a terminal (False for None, closed or fake streams)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def reader_gone() -> int:
    """Send what is left of stdout to ``/dev/null`` (the reader left); return 141."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass
    return EXIT_BROKEN_PIPE


def interrupted() -> int:
    """The one line for Ctrl+C, printed from here only; return 130."""
    _say("edgepipe: interrupted")
    return EXIT_INTERRUPTED


def terminated() -> int:
    """The one line for SIGTERM outside a run's own stop, printed from here only; return 143."""
    _say("edgepipe: terminated")
    return EXIT_TERMINATED


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------------- the guard
def guarded(command, *args) -> int:
    """``command(*args)`` (returning an exit code) inside the guard described above."""
    try:
        hold_interrupts()
        reopen_closed_streams()
        code = command(*args)
        ready()  # a command that never opened anything: an interrupt held until now
        sys.stdout.flush()  # here, where a broken pipe is still ours to handle
        return code
    except KeyboardInterrupt:
        return interrupted()
    except Terminated:
        return terminated()
    except BrokenPipeError:
        return reader_gone()
    finally:
        # A command that left by another exception (argparse's SystemExit for --help or
        # a bad flag) never reached ready(): without this, a caller in the same process
        # (a test, a notebook) would have Ctrl+C swallowed from then on.
        release_held()


def skip_final_collection() -> None:
    """Leave out the interpreter's last garbage collection, for a process about to end.

    At exit CPython collects every object graph left, and after a run numba's and LLVM's
    are large: that took 0.3-0.5 s after every command, more than the rest of a short
    run's teardown.  :func:`gc.freeze` moves them where no collection looks.  Nothing
    in them needs finalizing: outputs are committed and closed before a command returns,
    ``atexit`` handlers (logging's flush, ``weakref.finalize`` clean-ups such as
    temporary folders) still run, and the interpreter still flushes the standard
    streams.  Only for a process that is ending: in a test or a notebook the frozen
    objects would never be collected.
    """
    gc.freeze()
