"""The manifest: one JSON object per line for every file a batch job touched.

A line is appended (and flushed to disk) as each file ends; nothing is rewritten, so a
job killed at any moment loses at most the line it was writing, which the reader
skips.  The latest line for an input wins.  Fields::

    {"input": "/data/rec/a.mp4", "output": "/out/edges/a_edges.mp4", "status": "done",
     "frames": 900, "seconds": 4.1, "fps": 219.5, "error": null, "parts": 1,
     "output_bytes": 1843221, "output_mtime_ns": 1700000000123456789,
     "input_bytes": 9123344, "input_mtime_ns": 1690000000000000000,
     "chain": "3f2a...", "worker": "host:1234", "attempts": 1, "time": "2024-..."}

``status`` is ``done``, ``failed`` or ``skipped`` (already complete on a rerun).  Only
the driver writes it, never the workers, so a cluster needs no shared locking.

A file counts as complete (and a rerun skips it) when the latest ``done`` record for
its input names the same output, the output is still there with the recorded size and
modification time, the input still has its recorded size and modification time, and
the chain digest is the job's (see :attr:`pipeline.batch.jobs.BatchJob.chain_digest`).
An output without such a record (a worker finished it just as the job was killed) is
redone: a record is the only proof that a file was written whole.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, Iterator

STATUSES = ("done", "failed", "skipped")


def file_identity(path: str) -> tuple[int, int] | None:
    """``(size in bytes, modification time in ns)`` of ``path``, None if it is not a file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns) if os.path.isfile(path) else None


def read_records(path: str) -> Iterator[dict]:
    """Every well-formed record of the manifest at ``path``, oldest first (none if absent)."""
    try:
        handle = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:  # a line cut short by a kill
                continue
            if isinstance(record, dict) and isinstance(record.get("input"), str):
                yield record


class Manifest:
    """Append-only JSON Lines record of outcomes, with the latest ``done`` per input.

    Parameters
    ----------
    path : str
        The manifest file; its folder is created when the first record is written.
    """

    def __init__(self, path: str):
        self.path = path
        self.done: dict[str, dict] = {}
        self.latest: dict[str, dict] = {}
        for record in read_records(path):
            self.latest[record["input"]] = record
            if record.get("status") == "done":
                self.done[record["input"]] = record
        self._handle = None

    def completed(self, input_path: str, output_path: str, chain: str) -> dict | None:
        """The ``done`` record proving ``output_path`` complete, or None (see module doc)."""
        record = self.done.get(input_path)
        if record is None or record.get("output") != output_path or record.get("chain") != chain:
            return None
        if file_identity(output_path) != (record.get("output_bytes"), record.get("output_mtime_ns")):
            return None
        if file_identity(input_path) != (record.get("input_bytes"), record.get("input_mtime_ns")):
            return None
        return record

    def write(self, record: dict[str, Any]) -> dict:
        """Append ``record`` (``time`` added), flush it to disk, and return it."""
        if record.get("status") not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {record.get('status')!r}")
        record = dict(record)
        record.setdefault("time", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        if self._handle is None:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")
        self._handle.write(json.dumps(record, sort_keys=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.latest[record["input"]] = record
        if record["status"] == "done":
            self.done[record["input"]] = record
        return record

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "Manifest":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
