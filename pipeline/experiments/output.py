"""The experiment's files: every iteration to CSV (numbers exactly), the summary as JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from pipeline.experiments.functions import FUNCTIONS
from pipeline.io.outputs.commit import commit, write_atomically
from pipeline.io.outputs.folders import close_quietly, remove_quietly
from pipeline.io.temporaries import temporary_path
from pipeline.optim import make_optimizer


def optimizer_label(spec: dict) -> str:
    """The optimizer's repr, as plots and the CSV name it."""
    return repr(make_optimizer(spec))


def _format(number) -> str:
    """Shortest text that reads back as the same float ("" for None)."""
    if number is None:
        return ""
    return repr(float(number))


CSV_COLUMNS = ("run", "input", "optimizer", "start", "frame", "iteration", "x", "y", "value", "error")


def csv_rows(run):
    """The CSV rows of one run (its ``rows`` as the columns of :data:`CSV_COLUMNS`)."""
    minimum = None
    if run.input.kind == "function":
        minimum = FUNCTIONS[run.input.settings["function"]].minimum
    label = optimizer_label(run.optimizer)
    start = " ".join(_format(c) for c in run.start)
    for frame, iteration, point, value in run.rows:
        y = _format(point[1]) if len(point) > 1 else ""
        error = None if minimum is None else value - minimum
        yield (run.number, run.input.label, label, start, "" if frame is None else frame,
               iteration, _format(point[0]), y, _format(value), _format(error))


def csv_text(runs: list) -> str:
    """The whole CSV of ``runs`` as text (small experiments, tests)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        writer.writerows(csv_rows(run))
    return out.getvalue()


class CsvStream:
    """``iterations.csv`` written run by run, so no row waits in memory for the end.

    The rows go to a temporary file next to ``path`` as each run ends (the run's rows
    are dropped then); :meth:`commit` gives the whole file its name (fsync, rename),
    :meth:`discard` removes it.  Nothing is ever under ``path`` but a finished file.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.temp = temporary_path(self.path, "csv")
        self._handle = open(self.temp, "x", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(CSV_COLUMNS)
        self.rows = 0

    def add(self, run) -> None:
        """Write ``run``'s rows and forget them (``run.rows`` is emptied)."""
        for row in csv_rows(run):
            self._writer.writerow(row)
            self.rows += 1
        run.rows.clear()
        self._handle.flush()  # on disk as the run ends, not at the end of the experiment

    def commit(self) -> None:
        """Close, sync and rename onto ``path``; the temporary file is removed on failure."""
        try:
            self._handle.close()
            commit(self.temp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Remove the temporary file; safe to call twice."""
        close_quietly(self._handle)
        remove_quietly(self.temp)


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def summary_text(summary: dict) -> str:
    """The summary as JSON text (NaN and infinities as null, which JSON lacks)."""
    return json.dumps(_jsonable(summary), indent=2) + "\n"


def write_output(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all.

    The one place this package writes a finished file, through the project's
    output-safety module: a temporary name of this call's own (two processes writing one
    output never collide), fsync, rename, and no temporary left behind on failure.
    """
    write_atomically(path, data, sync=True)
