"""The ``stdin`` source: a video piped into standard input (``edgepipe run - OUT``).

Any container FFmpeg probes from a pipe works: y4m (``ffmpeg -f yuv4mpegpipe -``), nut,
mpegts, matroska.  Decoding is the file source's (:mod:`pipeline.io.sources.file`,
FFmpeg's ``pipe:0`` protocol underneath); what a pipe cannot do is left out: no seeking
(``start`` decodes and drops the frames before it), no frame count (no progress total),
no ``loop``, and no second reading for the sound (the video is written without it, said
in the summary).
"""

from __future__ import annotations

import os
import stat
import sys

from pipeline.io.base import MediaInput, SourceError
from pipeline.io.sources.file import FileSource
from pipeline.config.registry import register

#: What FFmpeg calls standard input.
STDIN_URL = "pipe:0"

PIPE_HINT = "e.g. ffmpeg -i IN -f nut - | edgepipe run - OUT.mp4"


@register("source", "stdin")
class StdinSource(FileSource):
    """Standard input: a video piped in (y4m, nut, mpegts, matroska: what FFmpeg probes)."""

    params = tuple(p for p in FileSource.params if p.name not in ("path", "realtime", "loop"))
    path = STDIN_URL
    realtime = False
    loop = False

    def _describe(self) -> str:
        return "standard input"

    def _check_input(self) -> None:
        """SourceError when nothing is piped in (a terminal, or a closed descriptor)."""
        try:
            mode = os.fstat(0).st_mode
        except OSError:
            raise SourceError(f"standard input is closed; pipe a video into it, {PIPE_HINT}") from None
        if stat.S_ISCHR(mode) and sys.stdin is not None and sys.stdin.isatty():
            raise SourceError(f"standard input is a terminal, not a video; pipe one in, {PIPE_HINT}")

    def _seekable(self) -> bool:
        return False

    @property
    def media(self) -> MediaInput | None:
        """Standard input, not seekable: sinks cannot read it again for its sound."""
        if self._start_pts is None:
            return None
        return MediaInput(STDIN_URL, start=self._start_pts, seekable=False)

    def count_frames(self) -> int | None:
        """Unknown: a pipe is read once."""
        return None
