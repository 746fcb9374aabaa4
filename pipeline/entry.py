"""The ``edgepipe`` console script and ``python -m pipeline``: the guard around the CLI.

Installed before anything heavy is imported, so that whatever the moment:

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

Only ``os``, ``signal`` and ``sys`` are imported at module level.
"""

import os
import signal
import sys

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


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
    when the interrupts were not held (a test calling :func:`pipeline.cli.main`).
    """
    release_held()
    if _held["interrupted"]:
        _held["interrupted"] = False
        raise KeyboardInterrupt


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
    """The one line for Ctrl+C outside a run; return 130."""
    try:
        print("edgepipe: interrupted", file=sys.stderr)
    except (OSError, ValueError):
        pass
    return EXIT_INTERRUPTED


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
    except BrokenPipeError:
        return reader_gone()
    finally:
        # A command that left by another exception (argparse's SystemExit for --help or
        # a bad flag) never reached ready(): without this, a caller in the same process
        # (a test, a notebook) would have Ctrl+C swallowed from then on.
        release_held()


def _edgepipe(argv) -> int:
    from pipeline import cli  # after the guard is in place: it imports argparse and more

    return cli.main(argv)


def main(argv=None) -> int:
    """Run ``edgepipe`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    return guarded(_edgepipe, argv)


def console() -> int:
    """The ``edgepipe`` console script and ``python -m pipeline``: :func:`main`, then
    :func:`skip_final_collection` (the process ends next)."""
    code = main()
    skip_final_collection()
    return code


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
    import gc

    gc.freeze()
