"""The manifest: one JSON object per line for every file a batch job touched.

A line is appended (and flushed to disk) as each file ends; nothing is rewritten, so a
job killed at any moment loses at most the line it was writing: the reader skips a
damaged line (cut short, not UTF-8, not a JSON object) and says which in
:attr:`Manifest.notes`, and the next append starts on a fresh line, so a half line never
swallows the next record.  The latest line for an input wins.  Fields::

    {"input": "/data/rec/a.mp4", "output": "/out/edges/a_edges.mp4", "status": "done",
     "frames": 900, "seconds": 4.1, "fps": 219.5, "error": null, "parts": 1,
     "output_bytes": 1843221, "output_mtime_ns": 1700000000123456789,
     "input_bytes": 9123344, "input_mtime_ns": 1690000000000000000,
     "chain": "3f2a...", "worker": "host:1234", "time": "2024-..."}

``status`` is ``done``, ``failed`` or ``skipped`` (already complete on a rerun).  Only
the driver writes it, never the workers, so a cluster needs no shared locking.  The
manifest is an output like the others: the runner refuses a manifest path that names
the job's config, its list of inputs, an input or an output (see
:func:`pipeline.batch.output_folder.check_manifest`).

A file counts as complete (and a rerun skips it) when the latest ``done`` record for
its input names the same output, the output is still there with the recorded size and
modification time, the input still has its recorded size and modification time, and
the chain digest is the job's (see :attr:`pipeline.config.batch.BatchConfig.chain_digest`).
An output without such a record (a worker finished it just as the job was killed) is
redone: a record is the only proof that a file was written whole.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, Iterator

from pipeline.errors import EdgepipeError

STATUSES = ("done", "failed", "skipped")


def file_identity(path: str) -> tuple[int, int] | None:
    """``(size in bytes, modification time in ns)`` of ``path``, None if it is not a file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns) if os.path.isfile(path) else None


#: A manifest line longer than this is damaged (a record is a few hundred bytes).
MAX_LINE = 1 << 20


class ManifestError(EdgepipeError):
    """The manifest cannot be read or written: one line naming the file and the cause."""


def read_records(path: str, notes: list | None = None) -> Iterator[dict]:
    """Every well-formed record of the manifest at ``path``, oldest first (none if absent).

    A damaged line (cut short by a kill, not UTF-8, not a JSON object with an ``input``)
    is skipped; ``notes``, if given, gets one line naming it.
    """
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ManifestError(f"cannot read the manifest {path!r} ({exc.strerror}); "
                            "output.manifest must name a file") from None
    with handle:
        number = 0
        while True:
            try:
                line = handle.readline(MAX_LINE + 1)
            except OSError as exc:
                raise ManifestError(f"cannot read the manifest {path!r} ({exc.strerror})") from None
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE:  # skip the rest of an absurd line without holding it
                while line and not line.endswith(b"\n"):
                    line = handle.readline(MAX_LINE)
                record, problem = None, f"longer than {MAX_LINE} bytes"
            else:
                record, problem = _parse(line)
            if record is not None:
                yield record
            elif problem and notes is not None:
                notes.append(f"manifest {path} line {number} is damaged ({problem}); skipped, "
                             "so the file it was about is redone")


def _parse(line: bytes) -> tuple[dict | None, str]:
    """The record on ``line``, or None and what is wrong with it ('' for a blank line)."""
    if not line.strip():
        return None, ""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8"
    except RecursionError:
        return None, "nested too deeply"
    except ValueError:
        return None, "not JSON: cut short by a kill?"
    if not (isinstance(record, dict) and isinstance(record.get("input"), str)):
        return None, "not a record with an input"
    return record, ""


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
        self.notes: list[str] = []  # damaged lines skipped
        for record in read_records(path, self.notes):
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
        try:
            if self._handle is None:
                self._open()
            self._handle.write(json.dumps(record, sort_keys=False) + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            self._drop_handle()
            raise ManifestError(f"cannot write the manifest {self.path!r} ({exc.strerror}); "
                                "the files done so far are on disk, a rerun redoes the "
                                "ones without a record") from None
        self.latest[record["input"]] = record
        if record["status"] == "done":
            self.done[record["input"]] = record
        return record

    def _open(self) -> None:
        """Open for appending; end a line a kill cut short, so the next record stands alone."""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "a+b") as probe:
            end = probe.seek(0, os.SEEK_END)
            if end:
                probe.seek(end - 1)
                if probe.read(1) != b"\n":
                    probe.write(b"\n")
        self._handle = open(self.path, "a", encoding="utf-8")

    def _drop_handle(self) -> None:
        """Forget a handle whose write failed (its buffered rest cannot be written either)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass  # the half line it leaves is skipped by the reader, ended by the next append

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            try:
                handle.close()
            except OSError as exc:
                raise ManifestError(f"cannot write the manifest {self.path!r} ({exc.strerror})") from None

    def __enter__(self) -> "Manifest":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
