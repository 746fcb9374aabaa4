"""The ``stats`` sink: one JSON line per frame."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from typing import Any

import numpy as np

from pipeline.io.base import Sink, SinkError
from pipeline.io.outputs.commit import StagedOutput
from pipeline.io.outputs.folders import check_writable_folder, close_quietly
from pipeline.config.registry import Param, register

log = logging.getLogger(__name__)

#: Returned by :func:`jsonable` for values a JSON line leaves out (arrays, objects).
NOT_JSON = object()


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types, or :data:`NOT_JSON` for arrays and other objects.

    numpy scalars become numbers; non-finite floats become None (JSON has no NaN);
    tuples become lists; mappings and lists keep only their JSON-able members.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out = {str(k): jsonable(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NOT_JSON}
    if isinstance(value, (list, tuple)):
        items = [jsonable(v) for v in value]
        return [v for v in items if v is not NOT_JSON]
    if hasattr(value, "__dataclass_fields__"):
        return jsonable({name: getattr(value, name) for name in value.__dataclass_fields__})
    return NOT_JSON



@register("sink", "stats")
class StatsSink(Sink):
    """One JSON object per frame, one per line (JSON Lines), for plots and regressions.

    Fields: ``index``; ``captured_at`` (Unix time of capture); ``latency_ms`` (capture
    to this sink); ``threshold`` and ``drops`` (from ``frame.side``, else the run's live
    stats); then every other JSON-able value in ``frame.side`` (the tuner's, the
    stages'), by name.  Arrays such as the histogram are left out.  ``path: "-"`` writes
    to standard output; a file is written under a temporary name and renamed on close.
    Each line is flushed as its frame passes, so a reader of the pipe or of the
    temporary file (``tail -f``) sees every frame as it happens.
    """

    params = (
        Param("path", str, help="JSON Lines file, e.g. out/stats.jsonl, or - for standard output"),
    )

    def __init__(self, *args, **settings):
        super().__init__(*args, **settings)
        self._handle = None
        self._controls = None
        self._output: StagedOutput | None = None
        self.frames_written = 0

    @property
    def to_stdout(self) -> bool:
        """True when ``path`` is ``-``."""
        return self.path == "-"

    def check(self) -> None:
        """The output folder exists or can be created, and is writable."""
        if not self.to_stdout:
            if os.path.isdir(self.path):
                raise SinkError(f"stats sink: {self.path!r} is a folder; give a file name such as {os.path.join(self.path, 'stats.jsonl')!r}")
            output = StagedOutput(self.path, "stats sink")
            if not output.direct:  # /dev/null, a pipe: written in place
                check_writable_folder(self.path, "stats sink")
                output.lock.check_free()

    def failure(self, cause: str) -> SinkError:
        """The error for a stats file that cannot be completed, naming the output and ``cause``."""
        return SinkError(f"stats sink: cannot write {self.path!r}: {cause}; nothing was saved under that name")

    def open(self, first, fps, controls=None) -> None:
        """Open the temporary file (or take standard output)."""
        self._controls = controls
        self.frames_written = 0
        if self.to_stdout:
            self._handle = sys.stdout
            return
        self._output = StagedOutput(self.path, "stats sink")
        temp = self._output.begin()
        try:
            self._handle = open(temp, "w", encoding="utf-8")
        except OSError as error:
            self.abort()
            raise self.failure(error.strerror) from error

    def record(self, frame, controls=None) -> dict:
        """The JSON object written for ``frame`` (live numbers from ``controls``, else the open's)."""
        now = time.perf_counter()
        latency = now - frame.timestamp
        controls = controls if controls is not None else self._controls
        live = controls.snapshot() if controls is not None else None
        side = frame.side
        threshold = side.get("threshold", live.threshold if live is not None else None)
        drops = side.get("drops", live.dropped if live is not None else None)
        row = {
            "index": int(frame.index),
            "captured_at": round(time.time() - latency, 6),
            "latency_ms": round(latency * 1000.0, 3),
            "threshold": jsonable(threshold),
            "drops": jsonable(drops),
        }
        for key, value in side.items():
            if key in row:
                continue
            value = jsonable(value)
            if value is not NOT_JSON:
                row[key] = value
        return row

    def write(self, frame) -> None:
        """Append one line for ``frame``."""
        self.write_row(self.record(frame))

    def write_row(self, row: dict) -> None:
        """Append ``row`` (a :meth:`record`, perhaps with more fields) as one line."""
        if self._handle is None:
            raise SinkError(f"stats sink {self.path!r} is not open")
        line = json.dumps(row, separators=(",", ":")) + "\n"
        try:
            self._handle.write(line)
            # Each line reaches the file as its frame passes, so `tail -f` (or a pipe
            # reader) sees it then, not at the next 8 KiB of buffer.
            self._handle.flush()
        except OSError as error:
            raise self.failure(error.strerror) from error
        self.frames_written += 1
        if self._output is not None and self._output.due():
            problem = self._output.problem()
            if problem is not None:
                raise self.failure(problem)

    def close(self) -> None:
        """Flush, and move the finished file onto its final name."""
        if self._handle is None:
            return
        if self.to_stdout:
            self._handle.flush()
            self._handle = None
            return
        handle, self._handle = self._handle, None
        try:
            handle.close()
        except OSError as error:
            self._output.discard()
            raise self.failure(error.strerror) from error
        finally:
            close_quietly(handle)
        self._output.commit()

    def abort(self) -> None:
        """Close and remove the temporary file."""
        if self._handle is not None and not self.to_stdout:
            close_quietly(self._handle)
        self._handle = None
        if self._output is not None:
            self._output.discard()
