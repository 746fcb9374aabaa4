"""Tiered start: frames go through OpenCV until the numba kernels are ready, then switch.

Compiling the kernels takes 15-60 s on a fresh install (numba's on-disk cache is empty,
or was made for other kernel sources); even loading them from the cache takes a second
or so.  A :class:`KernelLoader` gets them ready out of the way while the chain runs on
the OpenCV tier (:mod:`pipeline.opencv_tier`, the same bytes):

1. The warm-up (:func:`pipeline.runtime.warmup.warm_chain`) runs the chain once on a
   small sample on the OpenCV tier and records each :mod:`pipeline.ops` call it makes
   (:class:`pipeline.opencv_tier.Call`: copies of the arguments, layout kept, as that
   picks the compiled version).  On its own thread the loader makes those calls again
   on the kernel tier, which loads the kernels from the cache; no stage runs there, so
   a stage sees no other thread.  A cache miss does not compile there: numba's ``numba:compile`` event, which fires only after a miss,
   raises :class:`CacheMiss` on this thread before numba's compiler starts (a thread
   in numba's compiler holds the GIL for seconds, and the frames would stall with it).
2. After a miss it says so on stderr (:data:`NOTICE`, once per process, on its own line,
   terminal or not), and a child process (``python -m pipeline.stages.tiers``) makes the
   same calls, which compiles them into the on-disk cache, at a lower priority.
3. Then it loads again.  Should the child fail, the thread compiles in this process,
   as every start did before tiers existed.

The chain starts the loader after its first frame, and in a run the loader then waits
until that frame is written (:attr:`pipeline.runtime.workers.RunState.first_out`, at
most :data:`HOLD_SECONDS`): numba's import is most of a second of work on the GIL, and
begun at once it slowed the first frame's way through the sinks, which is what a user
waits for.  :meth:`~pipeline.stages.chain.Chain.__call__` sees :attr:`KernelLoader.ready` between
two frames and switches; :meth:`KernelLoader.switched` says so in one line when a
compile was announced (on a warm cache the switch, a second in, is only logged).
"""

from __future__ import annotations

import _thread
import contextlib
import fcntl
import logging
import os
import pickle
import subprocess
import sys
import threading
import time

from pipeline import opencv_tier, ops

log = logging.getLogger(__name__)

#: Said once per process when the kernels' cache misses and the child compiles them.
NOTICE = ("edgepipe: compiling kernels in the background (first run after an install or "
          "upgrade); frames go through OpenCV meanwhile, with the same output")

#: Set to 0 to wait for the kernels before the first frame, as before tiers existed.
ENVIRONMENT = "EDGEPIPE_OPENCV_TIER"

#: The longest a started loader waits for the run's first frame to be written (a sink that
#: takes longer to open, or never gets a frame, does not keep the kernels back for long).
HOLD_SECONDS = 1.0

_noticed = threading.Event()


def enabled() -> bool:
    """Whether runs start on the OpenCV tier (``EDGEPIPE_OPENCV_TIER`` is not ``0``)."""
    return os.environ.get(ENVIRONMENT, "1") != "0"


def say(line: str) -> None:
    """Write ``line`` on stderr on a line of its own, above a progress bar if one is drawn.

    Nothing with ``--quiet``, which sets this module's logger above INFO:
    the notice and the switch are news, not errors.
    """
    if sys.stderr is None or log.level > logging.INFO:
        return
    try:
        from tqdm import tqdm  # lazy: tqdm costs 20-70 ms; loaded at the first notice

        tqdm.write(line, file=sys.stderr)
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed meanwhile: nobody to tell
        pass


def notice_once() -> None:
    """Say :data:`NOTICE`, once per process."""
    if not _noticed.is_set():
        _noticed.set()
        say(NOTICE)


class CacheMiss(Exception):
    """numba was about to compile on the loader's thread."""


def _miss_guard(thread: int):
    """A numba listener that raises :class:`CacheMiss` when a kernel is about to compile
    on ``thread``.  numba is imported here (on the loader's thread), not with this module."""
    from numba.core import event as numba_event  # lazy: on the loader's thread, not the run's

    class MissGuard(numba_event.Listener):
        def on_start(self, event) -> None:
            # Only edgepipe's kernels: numba code of a stage of one's own was compiled by
            # the warm-up on the OpenCV tier already (it runs the same on both tiers).
            function = event.data["dispatcher"].py_func
            if (threading.get_ident() == thread
                    and function.__module__.startswith("pipeline.kernels")):
                raise CacheMiss(f"{function.__module__}.{function.__qualname__}")

        def on_end(self, event) -> None:
            pass

    return MissGuard()


def _missed(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, CacheMiss):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _make(call, guard) -> bool:
    from numba.core import event as numba_event  # lazy: on the loader's thread, not the run's

    try:
        if guard is None:
            call(ops)
        else:
            with numba_event.install_listener("numba:compile", guard):
                call(ops)
    except Exception as exc:  # noqa: BLE001
        if _missed(exc):
            return False
        log.debug("kernel warm-up of %r failed: %s", call, exc)
    return True


def warm(calls, compile_: bool = True) -> bool:
    """Make the recorded ``calls`` on the kernel tier; False if one would compile.

    With ``compile_`` false a cache miss stops before numba's compiler and returns
    False.  Any other error is left for the run's own frames to raise.
    """
    guard = None if compile_ else _miss_guard(threading.get_ident())
    token = opencv_tier.ACTIVE.set(False)
    try:
        return all(_make(call, guard) for call in calls)
    finally:
        opencv_tier.ACTIVE.reset(token)


class KernelLoader:
    """Gets a chain's kernels ready on a thread (and a child process after a cache miss).

    Parameters
    ----------
    calls : list of pipeline.opencv_tier.Call
        The ops calls of one warm-up frame on the OpenCV tier.
    clock : callable
        Seconds, for the time the kernels took.
    """

    def __init__(self, calls, clock=time.perf_counter):
        self.calls = list(calls)
        self.clock = clock
        self.ready = threading.Event()
        self.compiled = False  # a cache miss was announced and compiled
        self.child_failure: str | None = None
        self.seconds: float | None = None
        self._began = clock()
        self._after: threading.Event | None = None
        self._thread = threading.Thread(target=self._load, name="edgepipe-kernels",
                                        daemon=True)

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def start(self, after: threading.Event | None = None) -> "KernelLoader":
        """Start loading; with ``after``, once it is set (at most :data:`HOLD_SECONDS`)."""
        self._after = after
        if after is None:
            # Short switches before the thread exists: begun at the default 5 ms, the new
            # thread's first imports kept the caller (the frame's thread) waiting that long
            # in start() for the GIL.  A held thread waits without it and sets them itself.
            _short_switches(+1)
        try:
            self._thread.start()
        except BaseException:
            if after is None:
                _short_switches(-1)
            raise
        return self

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the kernels; whether they are ready."""
        self._thread.join(timeout)
        return self.ready.is_set()

    def _load(self) -> None:
        if self._after is not None:
            self._after.wait(HOLD_SECONDS)
            _short_switches(+1)
        try:
            with _LOADING_LOCK:  # two loaders' first imports of numba at once can fail
                import numba.core.event  # noqa: F401  # lazy: the loader thread's job
            if not warm(self.calls, compile_=False):
                self.compiled = True
                notice_once()
                self.child_failure = self._compile_in_child()
                if self.child_failure is not None or not warm(self.calls, compile_=False):
                    log.warning("kernels were not compiled in a child process (%s); "
                                "compiling them here", self.child_failure or "cache missed")
                    warm(self.calls)
        except KeyboardInterrupt:
            # Only the main thread gets Ctrl+C; one raised here (numba's import is the
            # first on this thread now) is the user's all the same: pass it on.
            _thread.interrupt_main()
            return
        except BaseException as exc:  # noqa: BLE001  (the OpenCV tier carries on)
            log.warning("kernels could not be made ready (%s); frames stay on OpenCV", exc)
            return
        finally:
            _short_switches(-1)
        self.seconds = self.clock() - self._began
        self.ready.set()

    def _compile_in_child(self) -> str | None:
        """Compile the calls' kernels in a child process; None, else what went wrong."""
        payload = pickle.dumps(self.calls)
        try:
            # Its own session: a Ctrl+C to the run's process group does not end the compile,
            # which goes on filling the cache for the next run.
            child = subprocess.run([sys.executable, "-m", "pipeline.stages.tiers"],
                                   input=payload, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=_child_environment(),
                                   start_new_session=True)
        except OSError as exc:
            return f"cannot start {sys.executable}: {exc.strerror}"
        if child.returncode != 0:
            lines = child.stderr.decode("utf-8", "replace").strip().splitlines()
            return f"exit status {child.returncode}: {lines[-1] if lines else 'no message'}"
        return None

    def switched(self, index: int) -> None:
        """The chain runs on the kernels from frame ``index`` on: one line if compiled."""
        line = (f"edgepipe: kernels ready after {self.seconds:.1f} s; frames from "
                f"{index} on run on them")
        if self.compiled:
            say(line)
        else:
            log.debug(line)


_LOADING = {"count": 0, "interval": None}
_LOADING_LOCK = threading.Lock()


def _short_switches(step: int) -> None:
    """A short GIL switch interval while any loader runs (numba's Python work would keep the
    GIL from the frame thread for 5 ms at a time); the process's own interval back when the
    last one ends, however loaders overlap (two chains in one process)."""
    with _LOADING_LOCK:
        if step > 0 and _LOADING["count"] == 0:
            _LOADING["interval"] = sys.getswitchinterval()
            sys.setswitchinterval(min(_LOADING["interval"], 0.0005))
        _LOADING["count"] += step
        if step < 0 and _LOADING["count"] == 0:
            sys.setswitchinterval(_LOADING["interval"])


def _child_environment() -> dict:
    # The child imports pipeline from where this process found it.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def main() -> int:
    """The child: make the pickled calls from stdin, compiling them into the on-disk cache."""
    try:
        os.nice(5)  # the frames of the parent come first
    except OSError:
        pass
    calls = pickle.load(sys.stdin.buffer)
    with _compile_lock():
        warm(calls)  # an error is the run's to report, not ours
    return 0


@contextlib.contextmanager
def _compile_lock():
    """One compiling child per cache folder at a time: runs started together on a cold
    cache (a test suite, a batch of jobs) would otherwise each compile the same kernels
    at once, every child outliving its run.  The next child then finds them cached."""
    import numba  # noqa: F401  # lazy: 0.3-0.8 s; loaded by the compiling child only

    from pipeline.kernels import options  # lazy: loads numba; it sets numba's cache folder

    folder = os.environ.get("NUMBA_CACHE_DIR") or options.CACHE_DIR
    try:
        os.makedirs(folder, exist_ok=True)
        handle = open(os.path.join(folder, "compile.lock"), "a")
    except OSError:
        yield  # no lock where the cache cannot be written: numba will say so
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


if __name__ == "__main__":
    sys.exit(main())
