"""Compile the chain's kernels before the clock starts.

numba compiles a kernel the first time it is called with a new type signature (dtype,
dimensions, memory layout).  With an empty cache (a fresh machine, a new version) that
takes seconds, and it used to happen inside the first frames: a batch run reported
``latency p95 5402 ms`` for a chain that takes milliseconds a frame.

:func:`warm_chain` runs the chain once on a small crop of the first frame, before that
frame is stamped with its capture time.  The crop keeps what selects the compiled
version: dtype, channel count and whether the array is C-contiguous.

The edgepipe kernels themselves are not waited for: the chain starts on the OpenCV
tier (the same bytes) and a :class:`~pipeline.stages.tiers.KernelLoader` gets the
kernels ready out of the way (:mod:`pipeline.stages.tiers`); ``EDGEPIPE_OPENCV_TIER=0``
waits for them here instead, as before.  What still compiles here is numba code
outside the kernels (a stage of one's own).

When numba really compiles here (its cache missed), stderr is told once per process, as
the compile starts, why nothing moves yet, on a line of its own (above a progress bar),
whether or not it is a terminal.  What tells is numba's own ``numba:compile`` event
(:mod:`numba.core.event`), which fires after a cache miss only: loading a cached kernel
says nothing, and no timing guess is involved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import threading
import time

import numpy as np

from pipeline import opencv_tier
from pipeline.frame import Frame
from pipeline.stages import tiers

log = logging.getLogger(__name__)

#: What stderr is told when numba compiles during the warm-up (its cache missed).
NOTICE = "edgepipe: compiling kernels (first run only)..."

#: Side of the square crop the chain is warmed on: big enough for every stencil.
WARM_SIZE = 32

_noticed = threading.Event()  # the notice is shown once per process


def warm_sample(image: np.ndarray) -> np.ndarray:
    """A small crop of ``image`` that numba types exactly as it types ``image``.

    Same dtype and channels; a C-contiguous image gives a C-contiguous copy, a strided
    view gives a strided view (numba compiles each layout separately).
    """
    crop = image[:WARM_SIZE, :WARM_SIZE]
    return crop.copy() if image.flags.c_contiguous else crop


def _notice() -> None:
    if _noticed.is_set():
        return
    _noticed.set()
    tiers.say(NOTICE)


def _compile_watch():
    """numba's event module and a listener that counts compiles (cache misses) and shows
    :data:`NOTICE` at the first.  numba is imported here, not with this module."""
    from numba.core import event as numba_event  # lazy: numba takes 0.3-0.8 s to import

    class CompileWatch(numba_event.Listener):
        compiles = 0

        def on_start(self, event) -> None:
            self.compiles += 1
            _notice()

        def on_end(self, event) -> None:
            pass

    return numba_event, CompileWatch()


@dataclasses.dataclass(frozen=True)
class WarmUp:
    """What :func:`warm_chain` did: its wall time and how many kernels numba compiled."""

    seconds: float
    compiles: int
    tiered: bool = False  # the chain started on the OpenCV tier, a loader getting the kernels


def warm_chain(chain, image: np.ndarray) -> WarmUp:
    """Run ``chain`` once on :func:`warm_sample` of ``image``.

    The chain must not be bound to the run's controls (so the warm-up changes nothing
    the run shows).  An error here is left for the real frame to raise, with its index.
    stderr gets :data:`NOTICE` once per process if numba compiles meanwhile.  Unless
    :func:`pipeline.stages.tiers.enabled` says no, the chain is put on the OpenCV tier
    first and given a :class:`~pipeline.stages.tiers.KernelLoader` (which the chain
    starts once its first frame is through).
    """
    sample = warm_sample(image)
    tiered = tiers.enabled() and chain.tier == "kernels" and chain.loader is None
    if tiered:
        chain.tier = "opencv"
    # On the OpenCV tier numba compiles only if something imported it already (a stage
    # of one's own): importing it just to listen would cost the first frame 0.3-0.8 s.
    watch, listening = None, contextlib.nullcontext()
    if not tiered or "numba" in sys.modules:
        numba_event, watch = _compile_watch()
        listening = numba_event.install_listener("numba:compile", watch)
    began = time.perf_counter()
    calls: list = []
    recording = opencv_tier.RECORDING.set(calls if tiered else None)
    with listening:
        try:
            chain(Frame(-1, began, sample, sample))
        except Exception as exc:  # noqa: BLE001  (the first real frame reports it properly)
            log.debug("warm-up of %r on a %s %s crop failed: %s", chain, sample.dtype,
                      sample.shape, exc)
        finally:
            opencv_tier.RECORDING.reset(recording)
    tiered = tiered and bool(calls)  # no op called: nothing to wait for
    if tiered:
        chain.loader = tiers.KernelLoader(calls)  # the chain starts it after a frame
    elif chain.loader is None:
        chain.tier = "kernels"
    return WarmUp(time.perf_counter() - began, watch.compiles if watch else 0, tiered)
