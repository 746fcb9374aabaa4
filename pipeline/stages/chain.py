"""``Chain``: the ordered stages of a config, with fusable runs merged into one pass."""

from __future__ import annotations

import time
from typing import Sequence

from pipeline import opencv_tier
from pipeline.frame import Frame
from pipeline.stages.base import Stage, StageError
from pipeline.stages.gradient import FusedEdges, Gradient
from pipeline.stages.grayscale import Grayscale, wants_luma
from pipeline.stages.map import Map
from pipeline.stages.threshold import Threshold

FUSED_SHIFT_OFFSET = 127.5  # the offset ops.edges uses for mapping="shift"


def can_fuse(gradient: Stage, mapping: Stage) -> bool:
    """Whether ``gradient`` then ``mapping`` equals one :func:`pipeline.ops.edges` call."""
    if not isinstance(gradient, Gradient) or not isinstance(mapping, Map):
        return False
    return mapping.mode == "abs" or (mapping.mode == "shift" and mapping.offset == FUSED_SHIFT_OFFSET)


def defers_luma(stages: Sequence[Stage]) -> bool:
    """Whether the source may leave a limited-range luma plane unexpanded
    (:class:`~pipeline.frame.LimitedLuma`): the chain starts with ``grayscale: {from:
    luma}`` folded into a fused edge pass, which expands the plane row by row as it
    reads it, one pass over the frame fewer than expanding it first."""
    return wants_luma(stages) and len(stages) >= 3 and can_fuse(stages[1], stages[2])


def ask_for_luma(source, stages: Sequence[Stage]) -> None:
    """Have ``source`` hand out the decoder's luma plane when the chain starts with
    ``grayscale: {from: luma}`` (the config checked that it can), unexpanded when the
    chain's fused pass expands it (:func:`defers_luma`)."""
    if wants_luma(stages):
        source.take_luma(deferred=defers_luma(stages))


def plan(stages: Sequence[Stage], fuse: bool = True) -> list[Stage]:
    """The steps that run: ``[grayscale,] gradient, map(abs|shift)`` become one FusedEdges."""
    steps: list[Stage] = []
    index = 0
    while index < len(stages):
        stage = stages[index]
        if fuse and index + 1 < len(stages) and can_fuse(stage, stages[index + 1]):
            folded = bool(steps) and isinstance(steps[-1], Grayscale)
            if folded:
                steps.pop()
            after = stages[index + 2] if index + 2 < len(stages) else None
            steps.append(FusedEdges(stage, stages[index + 1], grayscale=folded,
                                    threshold=after if isinstance(after, Threshold) else None))
            index += 2
            continue
        steps.append(stage)
        index += 1
    return steps


class Chain:
    """Stages applied in order to each frame, like torchvision's ``Compose``.

    Parameters
    ----------
    stages : sequence of Stage
        As the config lists them.
    fuse : bool
        Merge ``[grayscale,] gradient, map`` into one pass (same output, one pass over
        the frame instead of five).

    Attributes
    ----------
    steps : list of Stage
        What actually runs; ``step.label`` names each in timing reports.
    tier : {"kernels", "opencv"}
        What the steps' :mod:`pipeline.ops` calls run on: the numba kernels, or
        OpenCV and numpy (:mod:`pipeline.opencv_tier`, the same bytes) until a
        :class:`~pipeline.stages.tiers.KernelLoader` in :attr:`loader` has them ready;
        then the chain switches between two frames.  The loader is started once the
        first frame is through (loading competes with that frame for the GIL).
    loader_after : threading.Event or None
        Set when the run's first frame is written (the engine's
        :attr:`~pipeline.runtime.workers.RunState.first_out`): the loader, started after
        the first frame, waits for it before it loads.  None: it loads at once.
    """

    def __init__(self, stages: Sequence[Stage], fuse: bool = True):
        self.stages = list(stages)
        self.steps = plan(self.stages, fuse)
        self.tier = "kernels"
        self.loader = None
        self.loader_after = None

    def leave_histograms(self, read_after: bool) -> None:
        """Make histograms only where they are read: after the chain, or by a later stage.

        ``map``, the fused edges step, ``threshold: auto`` and ``canny`` with ``auto``
        leave ``frame.side["histogram"]`` by default, so that a chain called on its own
        keeps every side value.  The engine calls this once a run is set up, with
        ``read_after`` true when :meth:`~pipeline.runtime.engine.Engine.frames` hands
        frames to a caller; while a tuner runs it calls it before each frame, with
        ``read_after`` true on the frames the tuner will take.  A later stage reads one
        when :attr:`~pipeline.stages.base.Stage.reads_histogram` says so on that frame
        (``threshold: auto`` without a chosen value, for Otsu).  At 1080p the histogram
        is a quarter of the fused pass.
        """
        for position, step in enumerate(self.steps):
            if hasattr(step, "leaves_histogram"):
                step.leaves_histogram = read_after or any(later.reads_histogram
                                                          for later in self.steps[position + 1:])

    def bind(self, controls) -> None:
        """Give every stage the run's controls."""
        for stage in self.stages:
            stage.bind(controls)
        for step in self.steps:
            step.bind(controls)

    @property
    def labels(self) -> list[str]:
        """One label per step, made unique with ``#2``... when a stage repeats."""
        labels, seen = [], {}
        for step in self.steps:
            seen[step.label] = seen.get(step.label, 0) + 1
            labels.append(step.label if seen[step.label] == 1 else f"{step.label}#{seen[step.label]}")
        return labels

    def __call__(self, frame: Frame, seconds: list[float] | None = None,
                 tier: str | None = None) -> Frame:
        """Run every step on ``frame``; add each step's time to ``seconds[i]`` if given.

        ``tier`` overrides :attr:`tier` for this call (the loader warms the kernels so).
        """
        if tier is None:
            if self.tier == "opencv" and self.loader is not None and self.loader.ready.is_set():
                self.tier = "kernels"
                self.loader.switched(frame.index)
            tier = self.tier
        token = opencv_tier.ACTIVE.set(tier == "opencv")
        clock = time.perf_counter
        try:
            for position, step in enumerate(self.steps):
                start = clock()
                try:
                    frame = step(frame)
                except Exception as exc:
                    raise StageError(f"stage {self.labels[position]} failed on frame "
                                     f"{frame.index}: {exc}") from exc
                if seconds is not None:
                    seconds[position] += clock() - start
        finally:
            opencv_tier.ACTIVE.reset(token)
        if self.loader is not None and not self.loader.started and frame.index >= 0:
            self.loader.start(self.loader_after)  # after the first frame, which it would slow down
        return frame

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        inner = ", ".join(repr(step) for step in self.steps)
        return f"Chain([{inner}])"
