"""The batch config, checked with file, line and key; the plan of inputs and outputs.

::

    version: 1
    inputs: {glob: "recordings/**/*.mp4"}     # or {paths: [a.mp4, b.mp4]}, or {list: files.txt}
    output: {dir: out/edges, suffix: _edges, container: mp4}
    stages: [grayscale, {gradient: {kind: sobel}}, map]   # the chain of `edgepipe run`
    executor: {type: local, workers: auto}   # local | dask
    split: {frames: 900}                     # optional: long files in parallel parts

Each input is written to a mirrored path under ``output.dir``: its path relative to
the glob's fixed root (the folders before the first wildcard), or to the common folder
of a list, with ``suffix`` added to its stem and ``container`` as its extension::

    recordings/day1/cam2.mp4  ->  out/edges/day1/cam2_edges.mp4

Relative paths are taken from the current folder, as in ``edgepipe run``; the paths in
a ``list`` file are taken from the list file's folder.

The stages are checked by the project's own config machinery (the same
:class:`~pipeline.config.Config` a run uses), so a wrong stage setting fails here with
the batch file's name, line and key.
"""

from __future__ import annotations

import copy
import dataclasses
import glob
import hashlib
import json
import os
from typing import Any

from pipeline.config import (Component, Config, ConfigError, Document, check_chain, dotted, expect_kind,
                             load_document)
from pipeline.io import formats
from pipeline.registry import Param, ParamError, build, check_settings

VERSION = 1
TOP_LEVEL_KEYS = ("version", "inputs", "output", "stages", "executor", "split")
#: Containers an output can have; the video sink picks the codec from the extension.
CONTAINERS = formats.output_containers()
#: Stages whose output depends on time or run state, so a split run cannot match the
#: unsplit one frame for frame.
TIME_DEPENDENT_STAGES = ("hud",)
AUTO = "auto"

Path = tuple


class InputsSection:
    """``inputs:``: exactly one of ``glob``, ``paths`` or ``list``."""

    registry_name = "inputs"
    params = (
        Param("glob", (str, type(None)), None,
              help="files to process, e.g. 'recordings/**/*.mp4' (** matches folders)"),
        Param("paths", (list, type(None)), None, help="files to process, listed"),
        Param("list", (str, type(None)), None,
              help="a text file naming one input per line (# comments, blank lines allowed)"),
    )


#: The ``video`` sink's keys an ``output:`` section takes, with the sink's own schema
#: (types, defaults, choices, help): one definition, so batch and run mean the same.
VIDEO_KEYS = ("codec", "crf", "bitrate", "preset", "pix_fmt", "audio", "fourcc")


def _video_params() -> tuple:
    from pipeline.io.sinks.video import VideoSink
    return tuple(param for param in VideoSink.params if param.name in VIDEO_KEYS)


class OutputSection:
    """``output:``: where the edge videos go, how they are named, and the video sink's encoding keys."""

    registry_name = "output"
    params = (
        Param("dir", str, help="output folder; inputs are mirrored below it"),
        Param("suffix", str, "_edges", help="added to each input's stem"),
        Param("container", str, "mp4", choices=CONTAINERS,
              help="output extension; the codec follows it (mp4, mov, mkv: h264; webm: vp9; avi: mjpeg)"),
        *_video_params(),
        Param("manifest", (str, type(None)), None,
              help="JSON Lines record of every file's outcome (null: DIR/manifest.jsonl)"),
    )


class ExecutorSection:
    """``executor:``: a local process pool, or a Dask cluster."""

    registry_name = "executor"
    params = (
        Param("type", str, "local", choices=("local", "dask"),
              help="local: a process pool on this machine; dask: a dask.distributed cluster"),
        Param("workers", (int, str), AUTO,
              help="worker processes (local, or a dask LocalCluster); auto: one per core. "
                   "With a dask address: wait for this many workers to join before starting "
                   "(auto: start with whoever is there)"),
        Param("threads_per_worker", (int, str), AUTO,
              help="numba/OpenCV threads per worker; auto: cores // workers (at least 1)"),
        Param("address", (str, type(None)), None,
              help="dask scheduler, e.g. tcp://10.0.0.5:8786 (null: start a LocalCluster)"),
        Param("retries", int, 2, min=0, max=10,
              help="times a file is tried again after its worker process died"),
    )


class SplitSection:
    """``split:``: cut each long file into frame ranges processed in parallel."""

    registry_name = "split"
    params = (
        Param("frames", int, min=2, help="frames per part; a file no longer than this is not split"),
        Param("seek", str, "verify", choices=("verify", "exact"),
              help="verify: seek to a part's start and check its first and last frames "
                   "against a decode from the start (falls back to exact on a mismatch); "
                   "exact: every part decodes from the start and skips to its range"),
    )


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


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


@dataclasses.dataclass
class BatchJob:
    """A checked batch config.

    Attributes
    ----------
    file : str
        Where the config came from.
    inputs, output, executor : dict
        Checked sections with defaults filled in.
    split : dict or None
        Checked ``split:`` section, or None when files are not split.
    stages : list
        The chain, every default spelled out (as ``Config.to_dict()`` gives it).
    workers, threads : int
        Resolved worker processes and threads per worker.
    """

    file: str
    inputs: dict
    output: dict
    executor: dict
    split: dict | None
    stages: list
    workers: int
    threads: int
    _doc: Document | None = dataclasses.field(repr=False, default=None)

    @property
    def manifest_path(self) -> str:
        """The manifest file (absolute)."""
        return os.path.abspath(self.output["manifest"]
                               or os.path.join(self.output["dir"], "manifest.jsonl"))

    @property
    def output_dir(self) -> str:
        return os.path.abspath(self.output["dir"])

    @property
    def chain_digest(self) -> str:
        """A short hash of everything that shapes an output's pixels and encoding.

        A manifest record made under another chain, container or codec does not count
        as complete, so changing the stages and rerunning redoes every file.
        """
        shape = {"stages": self.stages, "container": self.output["container"], **self.video}
        text = json.dumps(shape, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def video(self) -> dict:
        """The ``video`` sink settings every output is written with (``output:``'s keys)."""
        return {key: self.output[key] for key in VIDEO_KEYS}

    def error(self, path: Path, message: str) -> ConfigError:
        """A ConfigError at ``path`` in the batch file (its line, or the nearest above)."""
        if self._doc is None:
            return ConfigError(message, self.file, None, dotted(path) or None)
        return self._doc.error(path, message)

    def run_config(self, source: str, output: str) -> dict:
        """The ``edgepipe run`` config that processes one file: file -> stages -> video.

        Parameters
        ----------
        source : str
            The input video.
        output : str
            The video sink's path (the sink itself writes under a temporary name).
        """
        return file_run_config(source, output, self.stages, self.video)

    def plan(self) -> list[WorkItem]:
        """Every input with its output path, in natural order; ConfigError if none."""
        return plan_outputs(self)


def file_run_config(source: str, output: str, stages: list, video: dict | None = None) -> dict:
    """A run config for one file in batch mode: every frame, in order, none dropped.

    ``video`` holds the ``video`` sink's settings (:data:`VIDEO_KEYS`).
    """
    return {
        "version": 1,
        "source": {"type": "file", "path": source},
        "stages": copy.deepcopy(stages),
        "sinks": [{"video": {"path": output, **(video or {})}}],
        "runtime": {"mode": "batch"},
    }


# ---------------------------------------------------------------------- loading
def load_job(path: str | os.PathLike, overrides: list[str] | tuple = ()) -> BatchJob:
    """Load and check a batch config; raise :class:`ConfigError` naming file, line, key.

    Parameters
    ----------
    path : path-like
        The YAML file.
    overrides : list of str
        ``KEY=VALUE`` strings as for ``edgepipe run --set``: ``executor.workers=2``,
        ``inputs.glob='clips/*.mp4'``, ``stages.1.gradient.kind=scharr``.
    """
    return job_from_document(load_document(path, "batch config", "configs/batch.yaml"), overrides)


def job_from_text(text: str, file: str, overrides: list[str] | tuple = ()) -> BatchJob:
    """Check a batch config given as YAML text (``file`` names it in errors)."""
    return job_from_document(Document.parse(text, file), overrides)


def job_from_dict(data: Any, file: str = "<dict>", overrides: list[str] | tuple = (),
                  lines: dict | None = None) -> BatchJob:
    """Check a batch config given as Python data."""
    try:
        data = copy.deepcopy(data)
    except RecursionError:
        raise ConfigError("nested too deeply to be a config", file) from None
    return job_from_document(Document(data, dict(lines or {}), file), overrides)


def job_from_document(doc: Document, overrides: list[str] | tuple = ()) -> BatchJob:
    """Check a parsed batch config (:func:`pipeline.config.load_document`) after ``overrides``.

    ``inputs: "a/*.mp4"`` and ``inputs: [a.mp4]`` are read as a glob and a list of paths
    first, so ``--set inputs.glob=...`` applies to either spelling.
    """
    expect_kind(doc, "batch")
    if isinstance(doc.data, dict) and "inputs" in doc.data:
        doc.data["inputs"] = _inputs_mapping(doc.data["inputs"])
    doc.apply(overrides)
    return _check(doc)


def _inputs_mapping(value: Any) -> Any:
    """``inputs: "a/*.mp4"`` is a glob and ``inputs: [a.mp4]`` a list of paths."""
    if isinstance(value, str):
        return {"glob": value}
    if isinstance(value, list):
        return {"paths": value}
    return value


def _section(doc: Document, name: str, cls: type) -> dict:
    settings = doc.data.get(name)
    if settings is not None and not isinstance(settings, dict):
        raise doc.error((name,), f"{name} must be a mapping of keys to values; got {settings!r}")
    try:
        return check_settings(cls, settings)
    except ParamError as exc:
        where = (name, exc.key) if settings and exc.key in settings else (name,)
        raise doc.error(where, exc.message) from None


def _check(doc: Document) -> BatchJob:
    data, file = doc.data, doc.file
    if data is None:
        raise ConfigError("the batch config is empty; start with 'version: 1'", file, 1)
    if not isinstance(data, dict):
        raise ConfigError(f"a batch config is a mapping of {', '.join(TOP_LEVEL_KEYS)}; "
                          f"got {type(data).__name__}", file, 1)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            hint = " (a batch config has no 'source' or 'sinks': inputs and output replace them)" \
                if key in ("source", "sinks", "runtime") else ""
            raise doc.error((key,), f"unknown top-level key {key!r}{hint}; known keys: "
                                              f"{', '.join(TOP_LEVEL_KEYS)}")
    if "version" not in data:
        raise ConfigError(f"'version: {VERSION}' is required at the top of every config",
                          file, 1, "version")
    if data["version"] != VERSION or isinstance(data["version"], bool):
        raise doc.error(("version",), f"version must be {VERSION}; got {data['version']!r}")
    for key in ("inputs", "output"):
        if data.get(key) is None:
            example = ("inputs: {glob: 'recordings/**/*.mp4'}" if key == "inputs"
                       else "output: {dir: out/edges}")
            raise ConfigError(f"{key!r} is required, e.g. {example}", file, 1, key)

    data["inputs"] = _inputs_mapping(data["inputs"])
    inputs = _section(doc, "inputs", InputsSection)
    given = [name for name in ("glob", "paths", "list") if inputs[name] is not None]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        raise doc.error(("inputs",), f"inputs takes exactly one of glob, paths, list; "
                                               f"got {what}")
    if inputs["paths"] is not None:
        if not inputs["paths"] or not all(isinstance(p, str) and p for p in inputs["paths"]):
            raise doc.error(("inputs", "paths"),
                         f"paths must be a non-empty list of file names; got {inputs['paths']!r}")

    output = _section(doc, "output", OutputSection)
    if not output["dir"].strip():
        raise doc.error(("output", "dir"), "dir must name a folder; got ''")
    if os.sep in output["suffix"] or "/" in output["suffix"]:
        raise doc.error(("output", "suffix"),
                     f"suffix is added to a file name and cannot hold a folder; got {output['suffix']!r}")
    try:
        build("sink", "video", {"path": "x." + output["container"], **{k: output[k] for k in VIDEO_KEYS}})
    except ParamError as exc:
        raise doc.error(("output", exc.key), exc.message) from None

    executor = _section(doc, "executor", ExecutorSection)
    for key in ("workers", "threads_per_worker"):
        value = executor[key]
        if (isinstance(value, str) and value != AUTO) or (isinstance(value, int) and value < 1):
            raise doc.error(("executor", key),
                         f"{key} must be a whole number >= 1 or auto; got {executor[key]!r}")
    if executor["address"] is not None:
        if executor["type"] != "dask":
            raise doc.error(("executor", "address"),
                         "address is the dask scheduler's; set type: dask, or leave address out")
    workers, threads = resolve_workers(executor["workers"], executor["threads_per_worker"])

    split = None
    if data.get("split") is not None:
        split = _section(doc, "split", SplitSection)

    stages = _check_stages(doc)
    if split is not None:
        for index, entry in enumerate(stages):
            name = next(iter(entry))
            if name in TIME_DEPENDENT_STAGES:
                raise doc.error(("stages", index),
                             f"stage {name!r} draws live run statistics, so a split file could "
                             f"not match the unsplit one frame for frame; remove it or remove split")
    return BatchJob(file, inputs, output, executor, split, stages, workers, threads, doc)


def resolve_workers(workers: int | str, threads: int | str,
                    cores: int | None = None) -> tuple[int, int]:
    """Worker processes and threads each, within the cores (``auto`` fills them).

    ``workers: auto`` is one worker per core with one thread each; ``threads: auto`` is
    ``cores // workers``.  Asking for more than the cores is allowed (the caller knows
    its I/O) but warned about by the runner.
    """
    cores = cores or available_cores()
    if workers == AUTO:
        workers = cores if threads == AUTO else max(1, cores // threads)
    if threads == AUTO:
        threads = max(1, cores // workers)
    return int(workers), int(threads)


def _check_stages(doc: Document) -> list:
    """The chain, checked by the run config's rules with the batch file's lines."""
    stages = doc.data.get("stages")
    if stages is None:
        raise ConfigError("'stages' is required: the chain each file goes through, e.g. "
                          "stages: [grayscale, {gradient: {kind: sobel}}, map]", doc.file, 1, "stages")
    run = file_run_config("input.mp4", "output.mp4", [])
    run["stages"], run["sinks"] = stages, []
    config = Config.from_document(doc.section(("stages",), run))
    if not config.stages:
        raise doc.error(("stages",), "stages is empty; a batch job needs at least one stage")
    # Each file's chain ends in the output video: it must get a picture.
    video = Component("sink", "video", {}, ("output",))
    check_chain(doc, config.stages, config.build()[1], [video])
    return config.to_dict()["stages"]


# ---------------------------------------------------------------------- planning
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


def natural_key(path: str) -> list:
    """Sort key under which ``clip2`` comes before ``clip10``."""
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def is_temporary(name: str) -> bool:
    """Whether a file name is a hidden partial output (see :func:`pipeline.io.temporaries.is_temporary`)."""
    from pipeline.io.temporaries import is_temporary as temporary

    return temporary(name)


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
    for path in sorted(dict.fromkeys(found), key=natural_key):
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
    from pipeline.io.overwrite import find_overwrite  # real files: symlinked dirs, hard links

    clash = find_overwrite(items, [item.input for item in items.values()])
    if clash is not None:
        raise job.error(("output",), f"the output {clash[0]!r} would overwrite the input "
                                     f"{clash[1]!r} (both name {os.path.realpath(clash[1])}); "
                                     "choose another output dir or suffix")
    return list(items.values())
