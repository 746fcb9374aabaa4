"""What a batch job reports: its :class:`BatchSummary` and, on a terminal, its :class:`ProgressBar`."""

from __future__ import annotations

import dataclasses
import time
from typing import TextIO

#: Seconds between two redraws of the bar.
PROGRESS_EVERY = 0.25


# ---------------------------------------------------------------------- progress
class ProgressBar:
    """The job's bar on a terminal (tqdm): files done of total, moving within each file.

    A file in flight counts the fraction of its frames written so far (workers report
    them), so the bar, the frame count and the estimate of the time left move while a
    long file runs, not only when it ends.
    """

    FORMAT = "batch {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]"

    def __init__(self, total: int, stream: TextIO):
        from tqdm import tqdm  # lazy: tqdm costs 20-70 ms; only a run shown on a terminal draws a bar

        self.total = total
        self.started = time.monotonic()
        self._bar = tqdm(total=total, file=stream, bar_format=self.FORMAT, dynamic_ncols=True,
                         mininterval=PROGRESS_EVERY, smoothing=0.1, leave=True)

    def update(self, summary: "BatchSummary", frames_in_flight: int = 0,
               fraction_in_flight: float = 0.0) -> None:
        """Show ``summary``'s finished files plus the work in flight."""
        finished = summary.count("done") + summary.count("failed") + summary.count("skipped")
        frames = summary.frames_processed + frames_in_flight
        elapsed = time.monotonic() - self.started
        extra = "".join(f", {summary.count(s)} {s}" for s in ("failed", "skipped") if summary.count(s))
        self._bar.set_postfix_str(f"{finished}/{self.total} files{extra}, {frames} frames, "
                                  f"{frames / elapsed if elapsed > 0 else 0.0:.0f} fps", refresh=False)
        self._bar.update(min(self.total, finished + fraction_in_flight) - self._bar.n)

    def finish(self, summary: "BatchSummary") -> None:
        self.update(summary)
        self._bar.close()


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
        Worker processes that died and had their task run again (local pool, Dask).
    manifest : str
        The manifest file.
    notes : list of str
        What was odd on the way, one line each (damaged manifest lines skipped).
    """

    records: list
    planned: int
    seconds: float = 0.0
    executor: str = ""
    stop_reason: str = "finished"
    worker_deaths: int = 0
    manifest: str = ""
    notes: list = dataclasses.field(default_factory=list)

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
            "manifest": self.manifest, "notes": list(self.notes), "files": self.records,
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
        lines += [f"  note     {note}" for note in self.notes]
        if self.failed:
            lines.append("  failed:")
            lines += [f"    {r['input']}: {r['error']}" for r in self.failed]
        return "\n".join(lines)
