"""A batch job's output folder: writable, one job at a time, swept, its manifest checked.

Before any file is submitted the runner (:mod:`pipeline.batch.runner`) checks that the
output folder (and the manifest's) can be written, refuses a manifest path that would
spoil another file, takes the job lock in the folder (:class:`OutputLock`) and removes
what an interrupted run left there (:func:`sweep`).
"""

from __future__ import annotations

import os
import shutil

from pipeline.batch import split
from pipeline.batch.jobs import BatchJob, WorkItem
from pipeline.errors import EdgepipeError
from pipeline.io.base import SinkError
from pipeline.io.outputs import locks
from pipeline.io.outputs.folders import check_writable_folder
from pipeline.io.overwrite import find_overwrite
from pipeline.io.temporaries import lock_path, sweep_temporaries

LOCK_NAME = ".edgepipe-batch.lock"


class BatchError(EdgepipeError):
    """A batch job cannot start (output folder, lock, executor): one line, and a fix."""


def check_manifest(job: BatchJob, items: list[WorkItem]) -> None:
    """The manifest is an output like the others: ConfigError at ``output.manifest`` if it
    is a folder or a device, or names the job's config, its list of inputs, an input or
    an output (JSON lines appended to any of them would spoil it)."""
    path = job.manifest_path
    where = ("output", "manifest")
    if os.path.isdir(path):
        raise job.error(where, f"the manifest {path!r} is a folder; name a file, e.g. "
                               f"{os.path.join(path, 'manifest.jsonl')!r}")
    if os.path.exists(path) and not os.path.isfile(path):
        raise job.error(where, f"the manifest {path!r} is not a regular file (a device or a "
                               "pipe cannot keep records); name a file")
    inputs = {"the job's config": job.file}
    if job.inputs.get("list") is not None:
        inputs["the list of inputs"] = os.path.expanduser(job.inputs["list"])
    for what, other in inputs.items():
        if other and find_overwrite([path], [other]) is not None:
            raise job.error(where, f"the manifest {path!r} is {what} ({other}); records appended "
                                   "to it would spoil it: name another file")
    clash = find_overwrite([path], [item.input for item in items])
    if clash is not None:
        raise job.error(where, f"the manifest {path!r} is the input {clash[1]!r}; name another file")
    real = os.path.realpath(path)
    for item in items:
        if os.path.realpath(item.output) == real:
            raise job.error(where, f"the manifest {path!r} is the output of {item.input!r}; "
                                   "name another file")


def check_output(job: BatchJob) -> None:
    """The output folder (and the manifest's) can be created and written; BatchError if not."""
    for folder, what in ((job.output_dir, "output.dir"),
                         (os.path.dirname(job.manifest_path), "output.manifest")):
        try:
            check_writable_folder(os.path.join(folder, "probe"), f"batch {what}")
        except SinkError as exc:
            raise BatchError(f"{job.file}: {exc}") from None


class OutputLock:
    """One job per output folder: :class:`pipeline.io.outputs.locks.FolderLock` on ``LOCK_NAME``.

    The kernel drops it when the process dies, so a killed job never leaves it stuck.
    """

    def __init__(self, folder: str):
        self._lock = locks.FolderLock(folder, "batch job", LOCK_NAME)
        self.path = str(self._lock.path)

    def __enter__(self) -> "OutputLock":
        try:
            self._lock.acquire()
        except SinkError as exc:
            raise BatchError(str(exc)) from None
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()


def sweep(job: BatchJob, items: list[WorkItem]) -> int:
    """Remove temporaries next to ``items``' outputs and all split parts; return the count.

    The job lock proves no batch worker writes here, so staging names go whatever their
    pid; a sink's temporary goes only when its output's lock is free (no run writes it).
    """
    removed = 0
    for item in items:
        lock = locks.OutputLock(lock_path(item.output), item.output, "batch")
        try:
            lock.acquire()  # sweeps what killed plain writers left
        except SinkError:
            continue  # an edgepipe run writes this output now: leave its files alone
        try:
            removed += len(lock.swept) + len(sweep_temporaries(item.output, "batch", writers_gone=True))
        finally:
            lock.release()
    shutil.rmtree(os.path.join(job.output_dir, split.PARTS_FOLDER), ignore_errors=True)
    return removed
