"""The ``discard`` sink: drops every frame (benchmarks, soak runs)."""

from __future__ import annotations

import logging

from pipeline.io.base import Sink
from pipeline.config.registry import register

log = logging.getLogger(__name__)


@register("sink", "discard")
class DiscardSink(Sink):
    """Drops every frame (counting them): measures the chain without any output cost."""

    params = ()

    def __init__(self, *args, **settings):
        super().__init__(*args, **settings)
        self.frames_written = 0

    def open(self, first, fps, controls=None) -> None:
        """Reset the count."""
        self.frames_written = 0

    def write(self, frame) -> None:
        """Count the frame and let it go."""
        self.frames_written += 1
