"""A batch job: its checked config and the plan of inputs and outputs.

The config is :mod:`pipeline.config.batch`'s (checked with file, line and key); here
each input gets its mirrored path under ``output.dir``: its path relative to the glob's
fixed root (the folders before the first wildcard), or to the common folder of a list,
with ``suffix`` added to its stem and ``container`` as its extension::

    recordings/day1/cam2.mp4  ->  out/edges/day1/cam2_edges.mp4

Relative paths are taken from the current folder, as in ``edgepipe run``; the paths in
a ``list`` file are taken from the list file's folder.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Any

from pipeline.config.batch import BatchConfig
from pipeline.io.formats import natural_sort_key
from pipeline.io.temporaries import is_temporary
from pipeline.io.overwrite import find_overwrite


@dataclasses.dataclass(frozen=True)
class WorkItem:
    """One input file and where its edge video goes.

    Attributes
    ----------
    input : str
        Absolute path of the input video.
    output : str
        Absolute path of the finished output.
    relative : str
        The input's path below the mirrored root (for messages).
    """

    input: str
    output: str
    relative: str


class BatchJob(BatchConfig):
    """A checked batch config that can plan its work (load it with :func:`load_job`)."""

    def plan(self) -> list[WorkItem]:
        """Every input with its output path, in natural order; ConfigError if none."""
        return plan_outputs(self)


def load_job(path: str | os.PathLike, overrides: list[str] | tuple = ()) -> BatchJob:
    """Load and check a batch config file (:meth:`BatchConfig.from_yaml`)."""
    return BatchJob.from_yaml(path, overrides)


def job_from_text(text: str, file: str, overrides: list[str] | tuple = ()) -> BatchJob:
    """Check a batch config given as YAML text (``file`` names it in errors)."""
    return BatchJob.from_text(text, file, overrides)


def job_from_dict(data: Any, file: str = "<dict>", overrides: list[str] | tuple = (),
                  lines: dict | None = None) -> BatchJob:
    """Check a batch config given as Python data."""
    return BatchJob.from_dict(data, file, overrides, lines)


def glob_root(pattern: str) -> str:
    """The folders of ``pattern`` before its first wildcard: ``a/b/**/*.mp4`` -> ``a/b``."""
    parts = os.path.normpath(pattern).split(os.sep)
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    root = os.sep.join(fixed)
    if pattern.startswith(os.sep) and not root:
        root = os.sep
    return root or "."


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def list_inputs(job: BatchJob) -> tuple[list[str], str]:
    """The input files (absolute, existing or not) and the root their outputs mirror."""
    inputs = job.inputs
    if inputs["glob"] is not None:
        pattern = os.path.expanduser(inputs["glob"])
        found = [os.path.abspath(p) for p in glob.glob(pattern, recursive=True)]
        found = [p for p in found if os.path.isfile(p) and not is_temporary(os.path.basename(p))]
        outputs = [p for p in found if _inside(p, job.output_dir)]
        found = [p for p in found if not _inside(p, job.output_dir)]
        if not found and outputs:
            raise job.error(("inputs", "glob"),
                            f"glob {inputs['glob']!r}: its {len(outputs)} match(es) all lie "
                            f"inside output.dir ({job.output_dir}, first: {outputs[0]!r}) and "
                            "were left out because they are outputs; point the glob at the "
                            "inputs, or choose another output.dir")
        if not found:
            folder = os.path.abspath(glob_root(pattern))
            raise job.error(("inputs", "glob"),
                            f"glob {inputs['glob']!r} matches no file (looked in {folder}); "
                            f"check the folder and the extension, e.g. 'recordings/**/*.mp4'")
        return found, os.path.abspath(glob_root(pattern))
    if inputs["paths"] is not None:
        found = [os.path.abspath(os.path.expanduser(p)) for p in inputs["paths"]]
        where = ("inputs", "paths")
    else:
        list_file = os.path.expanduser(inputs["list"])
        try:
            with open(list_file, encoding="utf-8") as handle:
                entries = [line.strip() for line in handle]
        except OSError as exc:
            raise job.error(("inputs", "list"),
                            f"cannot read the list of inputs {inputs['list']!r} ({exc.strerror})") from None
        base = os.path.dirname(os.path.abspath(list_file))
        found = [os.path.abspath(os.path.join(base, os.path.expanduser(e)))
                 for e in entries if e and not e.startswith("#")]
        where = ("inputs", "list")
        if not found:
            raise job.error(where, f"the list {inputs['list']!r} names no file")
    root = os.path.commonpath([os.path.dirname(p) for p in found])
    missing = [p for p in found if not os.path.isfile(p)]
    if missing and len(missing) == len(found):
        raise job.error(where, f"none of the inputs exists (first: {missing[0]!r})")
    return found, root


def plan_outputs(job: BatchJob) -> list[WorkItem]:
    """Every input with its mirrored output path; ConfigError on none or on collisions.

    A missing file from a ``paths`` or ``list`` input stays in the plan, so it is
    reported as failed with the others rather than stopping the job.
    """
    found, root = list_inputs(job)
    out_dir = job.output_dir
    suffix, extension = job.output["suffix"], "." + job.output["container"]
    items: dict[str, WorkItem] = {}
    seen_inputs = set()
    for path in sorted(dict.fromkeys(found), key=natural_sort_key):
        real = os.path.realpath(path)
        if real in seen_inputs:
            continue
        seen_inputs.add(real)
        relative = os.path.relpath(path, root)
        stem, _ = os.path.splitext(relative)
        output = os.path.join(out_dir, stem + suffix + extension)
        if output in items:
            other = items[output].input
            raise job.error(("output",), f"{other!r} and {path!r} would both be written to "
                                         f"{output!r}; give them different names or another suffix")
        items[output] = WorkItem(path, output, relative)
    clash = find_overwrite(items, [item.input for item in items.values()])  # real files: links too
    if clash is not None:
        raise job.error(("output",), f"the output {clash[0]!r} would overwrite the input "
                                     f"{clash[1]!r} (both name {os.path.realpath(clash[1])}); "
                                     "choose another output dir or suffix")
    return list(items.values())
