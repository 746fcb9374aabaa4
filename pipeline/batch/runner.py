"""The driver of a batch job: plan, skip what is finished, run the rest, record, report.

::

    summary = run_job(load_job("configs/batch.yaml"), progress=True)
    print(summary.format())

Order of work:

1. Plan inputs -> outputs (:meth:`BatchJob.plan`); check the output folder is writable;
   take the job lock in it (one job per output folder at a time).
2. Remove what an interrupted run left: hidden temporary and staging files next to
   planned outputs, and the parts folder of split files.
3. Skip every file the manifest proves complete (unless ``force``), recording it as
   ``skipped``; submit the rest.  A file to split is probed first, then its parts run in
   parallel, then one task joins them.
4. Record each file's outcome in the manifest as it ends.  A failed file does not stop
   the others.
5. On Ctrl+C or SIGTERM: stop the workers at once (their temporary files are removed;
   files in flight get no record, so a rerun redoes them).
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import sys
import time
from typing import Any, TextIO

from pipeline.batch import split, tasks
from pipeline.batch.executors import DaskExecutor, ExecutorError, LocalPool
from pipeline.batch.jobs import BatchJob, WorkItem, available_cores
from pipeline.batch.manifest import Manifest, file_identity

LOCK_NAME = ".edgepipe-batch.lock"
POLL_SECONDS = 0.2
PROGRESS_EVERY = 0.25


class BatchError(Exception):
    """A batch job cannot start (output folder, lock, executor): one line, and a fix."""


class Terminated(Exception):
    """Raised in the driver by the SIGTERM handler the command installs."""


# ---------------------------------------------------------------------- output folder
def check_output(job: BatchJob) -> None:
    """The output folder (and the manifest's) can be created and written; BatchError if not."""
    from pipeline.io.base import SinkError
    from pipeline.io.outputs import check_writable_folder

    for folder, what in ((job.output_dir, "output.dir"),
                         (os.path.dirname(job.manifest_path), "output.manifest")):
        try:
            check_writable_folder(os.path.join(folder, "probe"), f"batch {what}")
        except SinkError as exc:
            raise BatchError(f"{job.file}: {exc}") from None


class OutputLock:
    """An exclusive ``flock`` on ``<output>/.edgepipe-batch.lock`` for the job's lifetime.

    The kernel drops it when the process dies, so a killed job never leaves it stuck.
    """

    def __init__(self, folder: str):
        self.path = os.path.join(folder, LOCK_NAME)
        self._handle = None

    def __enter__(self) -> "OutputLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise BatchError(f"another batch job ({holder}) is writing to {os.path.dirname(self.path)!r}; "
                             "wait for it, or choose another output dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def temporaries_of(output: str) -> list[str]:
    """Hidden partial files next to ``output``: a sink's temporary and our staging names."""
    folder, name = os.path.split(output)
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    prefixes = (f".{name}.", f"..{name}.")
    return [os.path.join(folder, entry) for entry in entries
            if entry.startswith(prefixes) and (".part-" in entry or ".batch-" in entry)]


def sweep(job: BatchJob, items: list[WorkItem]) -> int:
    """Remove temporaries next to ``items``' outputs and all split parts; return the count."""
    removed = 0
    for item in items:
        for path in temporaries_of(item.output):
            try:
                os.remove(path)
                removed += 1
            except FileNotFoundError:
                pass
    shutil.rmtree(os.path.join(job.output_dir, split.PARTS_FOLDER), ignore_errors=True)
    return removed


# ---------------------------------------------------------------------- progress
class ProgressBar:
    """One line on a terminal: files done of total, failures, frames and frame rate."""

    def __init__(self, total: int, stream: TextIO, width: int = 24):
        self.total, self.stream, self.width = total, stream, width
        self.started = time.monotonic()
        self._last = 0.0
        self._shown = False

    def update(self, summary: "BatchSummary", frames_in_flight: int = 0, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        finished = summary.count("done") + summary.count("failed") + summary.count("skipped")
        fill = int(self.width * finished / self.total) if self.total else self.width
        frames = summary.frames_processed + frames_in_flight
        elapsed = now - self.started
        rate = frames / elapsed if elapsed > 0 else 0.0
        extra = "".join(f"  {summary.count(s)} {s}" for s in ("failed", "skipped") if summary.count(s))
        line = (f"\rbatch [{'#' * fill}{'-' * (self.width - fill)}] {finished}/{self.total} files"
                f"{extra}  {frames} frames  {rate:.0f} fps  {_clock(elapsed)}")
        self.stream.write(line + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def finish(self, summary: "BatchSummary") -> None:
        self.update(summary, force=True)
        self.stream.write("\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


# ---------------------------------------------------------------------- summary
@dataclasses.dataclass
class BatchSummary:
    """What a batch job did.

    Attributes
    ----------
    records : list of dict
        One manifest record per planned file, in plan order (missing for files that
        were in flight when the job was interrupted).
    planned : int
        Files in the plan.
    seconds : float
        Wall time of the job.
    executor : str
        Which executor ran it.
    stop_reason : str
        ``"finished"``, ``"interrupted"`` (Ctrl+C) or ``"terminated"`` (SIGTERM).
    worker_deaths : int
        Worker processes that died and had their task run again (local pool).
    """

    records: list
    planned: int
    seconds: float = 0.0
    executor: str = ""
    stop_reason: str = "finished"
    worker_deaths: int = 0
    manifest: str = ""

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r["status"] == status)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "failed"]

    @property
    def frames_processed(self) -> int:
        return sum(r.get("frames") or 0 for r in self.records if r["status"] == "done")

    @property
    def fps(self) -> float:
        return self.frames_processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and self.stop_reason == "finished"

    def to_dict(self) -> dict:
        return {
            "planned": self.planned, "done": self.count("done"), "skipped": self.count("skipped"),
            "failed": self.count("failed"), "frames": self.frames_processed,
            "seconds": self.seconds, "fps": self.fps, "executor": self.executor,
            "stop_reason": self.stop_reason, "worker_deaths": self.worker_deaths,
            "manifest": self.manifest, "files": self.records,
        }

    def format(self) -> str:
        """A short report: counts, speed, and every failed file with its error."""
        unfinished = self.planned - len(self.records)
        lines = [
            f"edgepipe batch: {self.stop_reason} ({self.executor})",
            f"  files    {self.planned} planned: {self.count('done')} done, "
            f"{self.count('skipped')} skipped (already complete), {self.count('failed')} failed"
            + (f", {unfinished} not finished" if unfinished else ""),
            f"  speed    {self.frames_processed} frames in {self.seconds:.2f} s = {self.fps:.1f} fps, "
            f"{60 * self.count('done') / self.seconds if self.seconds > 0 else 0:.1f} files/min",
            f"  manifest {self.manifest}",
        ]
        if self.worker_deaths:
            lines.append(f"  workers  {self.worker_deaths} died and had their files run again")
        if self.failed:
            lines.append("  failed:")
            lines += [f"    {r['input']}: {r['error']}" for r in self.failed]
        return "\n".join(lines)


# ---------------------------------------------------------------------- running
@dataclasses.dataclass
class _FileRun:
    """A file on its way through the executor."""

    item: WorkItem
    started: float
    identity: tuple | None
    stage: str = "file"  # file | probe | parts | join
    parts: dict = dataclasses.field(default_factory=dict)  # index -> (folder, frames or None)
    ranges: list = dataclasses.field(default_factory=list)
    fps: float | None = None
    error: str | None = None
    frames_done: int = 0
    worker: str | None = None


def make_executor(job: BatchJob, files: int):
    """The executor the job's config names, sized for ``files`` files."""
    settings = job.executor
    if settings["type"] == "dask":
        wait_for = settings["workers"] if settings["address"] and settings["workers"] != "auto" else None
        return DaskExecutor(settings["address"], job.workers, _task_threads(job), settings["retries"],
                            wait_for=wait_for)
    return LocalPool(job.workers, job.threads, settings["retries"])


def run_job(job: BatchJob, *, force: bool = False, progress: bool = False,
            stream: TextIO | None = None, executor=None) -> BatchSummary:
    """Run a checked batch job to the end; return its :class:`BatchSummary`.

    Parameters
    ----------
    job : BatchJob
        From :func:`pipeline.batch.jobs.load_job`.
    force : bool
        Redo every file, complete or not.
    progress : bool
        Draw a progress bar on ``stream``.
    stream : file, optional
        Where progress goes (stderr by default).
    executor : optional
        Use this executor instead of the one the config names (tests, benchmarks);
        it is not closed.

    Raises
    ------
    ConfigError
        The inputs match nothing, or two inputs share an output.
    BatchError, ExecutorError
        The output folder is not writable, another job holds it, the executor cannot
        start.  Nothing was processed.
    """
    stream = stream or sys.stderr
    items = job.plan()
    check_output(job)
    started = time.monotonic()
    summary = BatchSummary([], len(items), manifest=job.manifest_path)
    with OutputLock(job.output_dir), Manifest(job.manifest_path) as manifest:
        sweep(job, items)
        records: dict[str, dict] = {}
        todo = []
        for item in items:
            done = None if force else manifest.completed(item.input, item.output, job.chain_digest)
            if done is not None:
                records[item.input] = manifest.write({
                    **_base_record(item, "skipped", job), "frames": done.get("frames"),
                    "seconds": 0.0, "fps": None, "error": None, "parts": done.get("parts"),
                    "output_bytes": done.get("output_bytes"),
                    "output_mtime_ns": done.get("output_mtime_ns"),
                    "input_bytes": done.get("input_bytes"), "input_mtime_ns": done.get("input_mtime_ns"),
                    "done_at": done.get("time"), "worker": done.get("worker")})
            else:
                todo.append(item)
        summary.records = [records[i.input] for i in items if i.input in records]
        bar = ProgressBar(len(items), stream) if progress else None
        if job.executor["type"] == "local" and job.workers * job.threads > available_cores():
            print(f"edgepipe batch: warning: {job.workers} workers x {job.threads} threads is more "
                  f"than the {available_cores()} cores here; they will share them", file=stream)
        own = executor is None
        interrupted = None
        try:
            if todo:
                if own:
                    executor = make_executor(job, len(todo))
                summary.executor = executor.description
                _drive(job, todo, executor, manifest, records, summary, items, bar)
            else:
                summary.executor = "nothing to do"
        except KeyboardInterrupt:
            interrupted = "interrupted"
        except Terminated:
            interrupted = "terminated"
        finally:
            if own and executor is not None and todo:
                executor.close(kill=interrupted is not None)
            summary.worker_deaths = getattr(executor, "deaths", 0)
            sweep(job, todo)
        summary.records = [records[i.input] for i in items if i.input in records]
        summary.seconds = time.monotonic() - started
        summary.stop_reason = interrupted or "finished"
        if bar is not None:
            bar.finish(summary)
    return summary


def _base_record(item: WorkItem, status: str, job: BatchJob) -> dict:
    return {"input": item.input, "output": item.output, "status": status, "chain": job.chain_digest}


def _payload(job: BatchJob, **fields: Any) -> dict:
    return {"stages": job.stages, "fourcc": job.output["fourcc"], "threads": _task_threads(job),
            **fields}


def _task_threads(job: BatchJob) -> int:
    settings = job.executor
    if settings["type"] == "dask" and settings["address"] and settings["threads_per_worker"] == "auto":
        return 1
    return job.threads


def _drive(job: BatchJob, todo: list[WorkItem], executor, manifest: Manifest,
           records: dict, summary: BatchSummary, items: list[WorkItem], bar) -> None:
    tickets: dict[int, tuple[_FileRun, str, int]] = {}
    for item in todo:
        run = _FileRun(item, time.monotonic(), file_identity(item.input))
        if job.split is not None:
            run.stage = "probe"
            ticket = executor.submit(tasks.probe_file, _payload(job, input=item.input,
                                                                frames=job.split["frames"]))
        else:
            ticket = executor.submit(tasks.process_file, _payload(job, input=item.input,
                                                                  output=item.output))
        tickets[ticket] = (run, run.stage, 0)

    def finish(run: _FileRun, status: str, frames: int | None = None, error: str | None = None,
               seconds: float | None = None) -> None:
        # an unsplit file: the worker's own time; a split one: probe to join, wall clock
        seconds = seconds if seconds is not None else time.monotonic() - run.started
        output = file_identity(run.item.output) if status == "done" else None
        record = {**_base_record(run.item, status, job), "frames": frames,
                  "seconds": round(seconds, 4),
                  "fps": round(frames / seconds, 2) if frames and seconds > 0 else None,
                  "error": error, "parts": max(1, len(run.ranges)),
                  "output_bytes": output[0] if output else None,
                  "output_mtime_ns": output[1] if output else None,
                  "input_bytes": run.identity[0] if run.identity else None,
                  "input_mtime_ns": run.identity[1] if run.identity else None,
                  "worker": run.worker}
        if status == "done" and output is None:
            record.update(status="failed", error="the worker reported success but the output "
                                                 "is not there (is the output folder shared "
                                                 "with every worker?)")
        records[run.item.input] = manifest.write(record)
        summary.records = [records[i.input] for i in items if i.input in records]
        if run.ranges:
            split.remove_parts(job.output_dir, run.item.output)

    while tickets:
        for ticket, ok, value in executor.poll(POLL_SECONDS):
            run, kind, index = tickets.pop(ticket)
            if ok and not value.get("ok"):
                ok, value = False, value.get("error") or "failed"
            if ok:
                run.worker = value.get("worker")
            if kind == "file":
                if ok:
                    finish(run, "done", value["frames"], seconds=value.get("seconds"))
                else:
                    finish(run, "failed", error=value)
            elif kind == "probe":
                if not ok:
                    finish(run, "failed", error=value)
                    continue
                run.fps = value["fps"]
                run.ranges = split.frame_ranges(value["frames"], job.split["frames"])
                if len(run.ranges) <= 1:  # short file: one task, no parts
                    run.ranges = []
                    run.stage = "file"
                    t = executor.submit(tasks.process_file, _payload(job, input=run.item.input,
                                                                     output=run.item.output))
                    tickets[t] = (run, "file", 0)
                    continue
                run.stage = "parts"
                for i, (start, stop) in enumerate(run.ranges):
                    folder = split.part_folder(job.output_dir, run.item.output, i)
                    run.parts[i] = [folder, None]
                    t = executor.submit(tasks.process_part, _payload(
                        job, input=run.item.input, start=start, count=stop - start,
                        total=value["frames"], boundaries=value["boundaries"],
                        seek=job.split["seek"], folder=folder))
                    tickets[t] = (run, "part", i)
            elif kind == "part":
                if not ok:
                    run.error = run.error or f"part {index + 1} of {len(run.ranges)}: {value}"
                else:
                    run.parts[index][1] = value["frames"]
                    run.frames_done += value["frames"]
                waiting = any(r is run for r, _, _ in tickets.values())
                if waiting:
                    continue
                if run.error:
                    finish(run, "failed", error=run.error)
                    continue
                run.stage = "join"
                t = executor.submit(tasks.join_parts, _payload(
                    job, input=run.item.input, output=run.item.output, fps=run.fps,
                    parts=[run.parts[i] for i in range(len(run.ranges))]))
                tickets[t] = (run, "join", 0)
            elif kind == "join":
                if ok:
                    finish(run, "done", value["frames"])
                else:
                    finish(run, "failed", error=value)
        if bar is not None:
            in_flight = sum({id(r): r.frames_done for r, _, _ in tickets.values()}.values())
            bar.update(summary, in_flight)


__all__ = ["run_job", "BatchSummary", "BatchError", "ExecutorError", "Terminated", "check_output"]
