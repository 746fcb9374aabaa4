"""Linux's ``SCHED_BATCH`` for a run's threads (``runtime.scheduling``).

Why: every hand-off between edgepipe's threads (a frame put in a queue, a capture's
answer) wakes a thread while the waker still holds Python's GIL.  Under the normal
policy Linux may let the woken thread run at once in the waker's place; it then
needs the GIL, which the waker, now off the core, still holds, and both wait for a
switch.  With many streams in one process (a dozen readers, two pool workers, two
sink threads a stream) there are thousands of such hand-offs a second; a run could fall
behind with the cores not even full, and ran better under this policy
(docs/streams.md, "Scheduling").
``SCHED_BATCH`` asks the scheduler not to preempt the waker for a woken thread; the
nice value and the share of the cores stay the same, and no privilege is needed.

The policy is per thread, and a thread inherits it from the thread that starts it,
so :func:`batch_threads` sets it on the calling thread around the code that starts
the run's threads (and gives the caller's own policy back after).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

#: ``runtime.scheduling``'s values.  ``auto``: batch for a live ``sources:`` run (its
#: streams share a processing pool), normal otherwise.
SCHEDULING = ("auto", "batch", "normal")


def available() -> bool:
    """Whether this system has ``SCHED_BATCH`` (Linux)."""
    return hasattr(os, "SCHED_BATCH") and hasattr(os, "sched_setscheduler")


def wants_batch(setting: str, live: bool, pooled: bool) -> bool:
    """Whether ``runtime.scheduling: setting`` asks for batch threads in this run."""
    if setting not in SCHEDULING:
        raise ValueError(f"scheduling must be one of {', '.join(SCHEDULING)}; got {setting!r}")
    if setting == "auto":
        return live and pooled
    return setting == "batch"


@contextlib.contextmanager
def batch_threads(enabled: bool = True) -> Iterator[bool]:
    """Threads started inside the block run under ``SCHED_BATCH``; yields whether it took.

    The calling thread is switched for the block and switched back after it.  Without
    ``SCHED_BATCH`` (not Linux), or when the system refuses (a seccomp profile), the
    block runs unchanged and yields False.
    """
    if not enabled or not available():
        yield False
        return
    try:
        before = os.sched_getscheduler(0), os.sched_getparam(0)
        switched = before[0] != os.SCHED_BATCH  # already batch: nothing to set or give back
        if switched:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        if switched:
            try:
                os.sched_setscheduler(0, *before)
            except OSError:  # a real-time policy the caller had may need a privilege we lost
                pass
