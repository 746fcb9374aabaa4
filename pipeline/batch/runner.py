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
import sys
import time
from typing import Any, TextIO

from pipeline.batch import split, tasks
from pipeline.batch.cluster import DaskExecutor, address_problem
from pipeline.batch.executors import ExecutorError, LocalPool
from pipeline.batch.jobs import BatchJob, WorkItem
from pipeline.config.batch import available_cores
from pipeline.batch.manifest import Manifest, ManifestError, file_identity
from pipeline.batch.summary import BatchSummary, ProgressBar
from pipeline.batch.output_folder import BatchError, OutputLock, check_manifest, check_output, sweep

POLL_SECONDS = 0.2


class Terminated(Exception):
    """Raised in the driver by the SIGTERM handler the command installs."""


# ---------------------------------------------------------------------- running
@dataclasses.dataclass
class _FileRun:
    """A file on its way through the executor."""

    item: WorkItem
    started: float
    identity: tuple | None
    stage: str = "file"  # file | probe | parts | join
    parts: dict = dataclasses.field(default_factory=dict)  # index -> [folder, frames or None]
    ranges: list = dataclasses.field(default_factory=list)
    fps: float | None = None
    error: str | None = None
    frames_done: int = 0
    worker: str | None = None
    waiting: int = 0  # tasks of this file in the executor


def make_executor(job: BatchJob, files: int):
    """The executor the job's config names, sized for ``files`` files."""
    settings = job.executor
    if settings["type"] == "dask":
        problem = settings["address"] and address_problem(settings["address"])
        if problem:  # a config or command-line mistake: exit 2, naming the key
            raise job.error(("executor", "address"), problem)
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
    check_manifest(job, items)
    check_output(job)
    try:
        return _run_planned(job, items, force, progress, stream, executor)
    except ManifestError as exc:
        raise BatchError(f"{job.file}: {exc}") from None


def _run_planned(job: BatchJob, items: list[WorkItem], force: bool, progress: bool,
                 stream: TextIO, executor) -> BatchSummary:
    started = time.monotonic()
    summary = BatchSummary([], len(items), manifest=job.manifest_path)
    with OutputLock(job.output_dir), Manifest(job.manifest_path) as manifest:
        summary.notes = list(manifest.notes)
        sweep(job, items)
        records: dict[str, dict] = {}
        todo = _skip_complete(job, items, manifest, records, force)
        summary.records = [records[i.input] for i in items if i.input in records]
        bar = ProgressBar(len(items), stream) if progress else None
        if job.executor["type"] == "local" and job.workers * job.threads > available_cores():
            print(f"edgepipe batch: warning: {job.workers} workers x {job.threads} threads is more "
                  f"than the {available_cores()} cores here; they will share them", file=stream)
        own = executor is None
        interrupted = None
        try:
            if todo:
                # named already, in case a signal comes while the executor starts
                summary.executor = _executor_name(job)
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


def _skip_complete(job: BatchJob, items: list[WorkItem], manifest: Manifest, records: dict,
                   force: bool) -> list[WorkItem]:
    """Record each file the manifest proves complete as skipped; return the others."""
    todo = []
    for item in items:
        done = None if force else manifest.completed(item.input, item.output, job.chain_digest)
        if done is None:
            todo.append(item)
            continue
        records[item.input] = manifest.write({
            **_base_record(item, "skipped", job), "frames": done.get("frames"),
            "seconds": 0.0, "fps": None, "error": None, "parts": done.get("parts"),
            "output_bytes": done.get("output_bytes"),
            "output_mtime_ns": done.get("output_mtime_ns"),
            "input_bytes": done.get("input_bytes"), "input_mtime_ns": done.get("input_mtime_ns"),
            "done_at": done.get("time"), "worker": done.get("worker")})
    return todo


def _executor_name(job: BatchJob) -> str:
    settings = job.executor
    if settings["type"] == "dask":
        where = f"at {settings['address']}" if settings["address"] else "LocalCluster"
        return f"dask {where}, starting"
    return "local pool, starting"


def _base_record(item: WorkItem, status: str, job: BatchJob) -> dict:
    return {"input": item.input, "output": item.output, "status": status, "chain": job.chain_digest}


def _payload(job: BatchJob, **fields: Any) -> dict:
    return {"stages": job.stages, "video": job.video, "threads": _task_threads(job),
            **fields}


def _task_threads(job: BatchJob) -> int:
    settings = job.executor
    if settings["type"] == "dask" and settings["address"] and settings["threads_per_worker"] == "auto":
        return 1
    return job.threads


def _drive(job: BatchJob, todo: list[WorkItem], executor, manifest: Manifest,
           records: dict, summary: BatchSummary, items: list[WorkItem], bar) -> None:
    _Driver(job, executor, manifest, records, summary, items, bar).run(todo)


class _Driver:
    """Submits each file's tasks and handles each answer, one method per kind of task."""

    def __init__(self, job: BatchJob, executor, manifest: Manifest, records: dict,
                 summary: BatchSummary, items: list[WorkItem], bar):
        self.job, self.executor, self.manifest, self.bar = job, executor, manifest, bar
        self.records, self.summary, self.items = records, summary, items
        self.tickets: dict[int, tuple[_FileRun, str, int]] = {}  # ticket -> (run, kind, part)
        self.handlers = {"file": self.on_file, "probe": self.on_probe, "part": self.on_part,
                         "join": self.on_join}

    def run(self, todo: list[WorkItem]) -> None:
        for item in todo:
            run = _FileRun(item, time.monotonic(), file_identity(item.input))
            if self.job.split is not None:
                run.stage = "probe"
                self.submit(run, "probe", tasks.probe_file, input=item.input,
                            frames=self.job.split["frames"])
            else:
                self.submit_file(run)
        while self.tickets:
            for ticket, ok, value in self.executor.poll(POLL_SECONDS):
                run, kind, index = self.tickets.pop(ticket)
                run.waiting -= 1
                if ok and not value.get("ok"):
                    ok, value = False, value.get("error") or "failed"
                if ok:
                    run.worker = value.get("worker")
                self.handlers[kind](run, ok, value, index)
            if self.bar is not None:
                self.bar.update(self.summary, *self.in_flight())

    def submit(self, run: _FileRun, kind: str, task, index: int = 0, **fields) -> None:
        ticket = self.executor.submit(task, _payload(self.job, **fields))
        self.tickets[ticket] = (run, kind, index)
        run.waiting += 1

    def submit_file(self, run: _FileRun) -> None:
        run.stage = "file"
        self.submit(run, "file", tasks.process_file, input=run.item.input, output=run.item.output)

    # ------------------------------------------------------------------ one handler per task
    def on_file(self, run: _FileRun, ok: bool, value, index: int) -> None:
        if ok:
            self.finish(run, "done", value["frames"], seconds=value.get("seconds"))
        else:
            self.finish(run, "failed", error=value)

    def on_probe(self, run: _FileRun, ok: bool, value, index: int) -> None:
        if not ok:
            self.finish(run, "failed", error=value)
            return
        run.fps = value["fps"]
        run.ranges = split.frame_ranges(value["frames"], self.job.split["frames"])
        if len(run.ranges) <= 1:  # short file: one task, no parts
            run.ranges = []
            self.submit_file(run)
            return
        run.stage = "parts"
        for i, (start, stop) in enumerate(run.ranges):
            folder = split.part_folder(self.job.output_dir, run.item.output, i)
            run.parts[i] = [folder, None]
            self.submit(run, "part", tasks.process_part, i, input=run.item.input, start=start,
                        count=stop - start, total=value["frames"],
                        boundaries=value["boundaries"], seek=self.job.split["seek"],
                        folder=folder)

    def on_part(self, run: _FileRun, ok: bool, value, index: int) -> None:
        if not ok:
            run.error = run.error or f"part {index + 1} of {len(run.ranges)}: {value}"
        else:
            run.parts[index][1] = value["frames"]
            run.frames_done += value["frames"]
        if run.waiting:
            return
        if run.error:
            self.finish(run, "failed", error=run.error)
            return
        run.stage = "join"
        self.submit(run, "join", tasks.join_parts, input=run.item.input, output=run.item.output,
                    fps=run.fps, parts=[run.parts[i] for i in range(len(run.ranges))])

    def on_join(self, run: _FileRun, ok: bool, value, index: int) -> None:
        if ok:
            self.finish(run, "done", value["frames"])
        else:
            self.finish(run, "failed", error=value)

    # ------------------------------------------------------------------ records, progress
    def finish(self, run: _FileRun, status: str, frames: int | None = None,
               error: str | None = None, seconds: float | None = None) -> None:
        """Record the file's outcome in the manifest (and remove its parts)."""
        # an unsplit file: the worker's own time; a split one: probe to join, wall clock
        seconds = seconds if seconds is not None else time.monotonic() - run.started
        output = file_identity(run.item.output) if status == "done" else None
        record = {**_base_record(run.item, status, self.job), "frames": frames,
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
        self.records[run.item.input] = self.manifest.write(record)
        self.summary.records = [self.records[i.input] for i in self.items if i.input in self.records]
        if run.ranges:
            split.remove_parts(self.job.output_dir, run.item.output)

    def in_flight(self) -> tuple[int, float]:
        """Frames written by files in flight, and the fraction of those files done."""
        reported = getattr(self.executor, "progress", {})
        frames: dict[int, int] = {}
        fractions: dict[int, float] = {}
        for ticket, (run, kind, index) in self.tickets.items():
            done, total = reported.get(ticket, (0, None))
            key = id(run)
            frames[key] = frames.get(key, run.frames_done) + done
            if kind == "file" and total:
                fractions[key] = min(done / total, 0.99)
            elif kind == "part" and run.ranges:
                whole = run.ranges[-1][1] - run.ranges[0][0]
                fractions[key] = fractions.get(key, run.frames_done / whole) + done / whole
        return sum(frames.values()), sum(min(f, 0.99) for f in fractions.values())


__all__ = ["run_job", "BatchSummary", "ExecutorError", "Terminated"]
