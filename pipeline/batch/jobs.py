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

import yaml

from pipeline.config import Config, ConfigError, read_config
from pipeline.registry import Param, ParamError, build, check_settings

VERSION = 1
TOP_LEVEL_KEYS = ("version", "inputs", "output", "stages", "executor", "split")
#: Containers an output can have; the video sink picks the codec from the extension.
CONTAINERS = ("mp4", "mkv", "avi", "mov", "m4v")
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


class OutputSection:
    """``output:``: where the edge videos go and how they are named."""

    registry_name = "output"
    params = (
        Param("dir", str, help="output folder; inputs are mirrored below it"),
        Param("suffix", str, "_edges", help="added to each input's stem"),
        Param("container", str, "mp4", choices=CONTAINERS,
              help="output extension; the codec follows it (mp4: mp4v, mkv: FFV1, avi: MJPG)"),
        Param("fourcc", (str, type(None)), None, help="codec, e.g. mp4v or FFV1 (null: by container)"),
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
    _lines: dict = dataclasses.field(repr=False, default_factory=dict)

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
        shape = {"stages": self.stages, "container": self.output["container"],
                 "fourcc": self.output["fourcc"]}
        text = json.dumps(shape, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def error(self, path: Path, message: str) -> ConfigError:
        """A ConfigError at ``path`` in the batch file (its line, or the nearest above)."""
        return _error(self.file, self._lines, path, message)

    def run_config(self, source: str, output: str) -> dict:
        """The ``edgepipe run`` config that processes one file: file -> stages -> video.

        Parameters
        ----------
        source : str
            The input video.
        output : str
            The video sink's path (the sink itself writes under a temporary name).
        """
        return file_run_config(source, output, self.stages, self.output["fourcc"])

    def plan(self) -> list[WorkItem]:
        """Every input with its output path, in natural order; ConfigError if none."""
        return plan_outputs(self)


def file_run_config(source: str, output: str, stages: list, fourcc: str | None = None) -> dict:
    """A run config for one file in batch mode: every frame, in order, none dropped."""
    return {
        "version": 1,
        "source": {"type": "file", "path": source},
        "stages": copy.deepcopy(stages),
        "sinks": [{"video": {"path": output, "fourcc": fourcc}}],
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
    file, text = read_config(path, "batch config", "configs/batch.yaml")
    return job_from_text(text, file, overrides)


def job_from_text(text: str, file: str, overrides: list[str] | tuple = ()) -> BatchJob:
    """Check a batch config given as YAML text (``file`` names it in errors)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"not valid YAML: {exc.problem or exc}", file,
                          None if mark is None else mark.line + 1) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file) from None
    lines: dict = {}
    if node is not None:
        _record_lines(node, (), lines)
    return job_from_dict(data, file, overrides, lines)


def job_from_dict(data: Any, file: str = "<dict>", overrides: list[str] | tuple = (),
                  lines: dict | None = None) -> BatchJob:
    """Check a batch config given as Python data."""
    data = copy.deepcopy(data)
    lines = dict(lines or {})
    if isinstance(overrides, str):
        overrides = [overrides]
    stage_overrides = []
    for text in overrides:
        if text.split("=", 1)[0].strip().startswith("stages"):
            stage_overrides.append(text)  # the run config's machinery handles the chain
        else:
            data = _apply_override(data, text, lines)
    return _check(data, file, lines, stage_overrides)


def _record_lines(node: yaml.Node, path: Path, lines: dict) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _record_lines(item, path + (index,), lines)


def _error(file: str, lines: dict, path: Path, message: str) -> ConfigError:
    for end in range(len(path), -1, -1):
        where = lines.get(tuple(path[:end]))
        if isinstance(where, str):  # an override put this value there
            return ConfigError(message, "--set", None, where)
        if where is not None and end > 0:
            return ConfigError(message, file, where, _dotted(path))
    return ConfigError(message, file, None, _dotted(path) or None)


def _dotted(path: Path) -> str:
    return ".".join(str(part) for part in path)


def _parse_dotted(key: str) -> Path:
    return tuple(int(part) if part.isdigit() else part for part in key.split("."))


def _apply_override(data: Any, text: str, lines: dict) -> Any:
    if "=" not in text:
        raise ConfigError(f"an override is KEY=VALUE, e.g. executor.workers=2; got {text!r}",
                          "--set", None, text)
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"value is not valid YAML: {exc}", "--set", None, key) from None
    parts = key.split(".")
    if not key or any(not part for part in parts):
        raise ConfigError("empty part in the key; use dots between parts, e.g. executor.workers",
                          "--set", None, key)
    if parts[0] not in TOP_LEVEL_KEYS:
        raise ConfigError(f"unknown top-level key {parts[0]!r}; known keys: "
                          f"{', '.join(TOP_LEVEL_KEYS)}", "--set", None, key)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the config is not a mapping, nothing to override", "--set", None, key)
    container = data
    for part in parts[:-1]:
        if part == "inputs" and isinstance(container.get(part), (str, list)):
            container[part] = _inputs_mapping(container[part])
        if not isinstance(container.get(part), dict):
            container[part] = {}
        container = container[part]
    container[parts[-1]] = value
    path = tuple(parts)
    for known in [p for p in lines if p[:len(path)] == path]:
        del lines[known]
    lines[path] = key
    return data


def _inputs_mapping(value: Any) -> Any:
    """``inputs: "a/*.mp4"`` is a glob and ``inputs: [a.mp4]`` a list of paths."""
    if isinstance(value, str):
        return {"glob": value}
    if isinstance(value, list):
        return {"paths": value}
    return value


def _section(data: dict, lines: dict, file: str, name: str, cls: type) -> dict:
    settings = data.get(name)
    if settings is not None and not isinstance(settings, dict):
        raise _error(file, lines, (name,), f"{name} must be a mapping of keys to values; "
                                           f"got {settings!r}")
    try:
        return check_settings(cls, settings)
    except ParamError as exc:
        where = (name, exc.key) if settings and exc.key in settings else (name,)
        raise _error(file, lines, where, exc.message) from None


def _check(data: Any, file: str, lines: dict, stage_overrides: list[str]) -> BatchJob:
    if data is None:
        raise ConfigError("the batch config is empty; start with 'version: 1'", file, 1)
    if not isinstance(data, dict):
        raise ConfigError(f"a batch config is a mapping of {', '.join(TOP_LEVEL_KEYS)}; "
                          f"got {type(data).__name__}", file, 1)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            hint = " (a batch config has no 'source' or 'sinks': inputs and output replace them)" \
                if key in ("source", "sinks", "runtime") else ""
            raise _error(file, lines, (key,), f"unknown top-level key {key!r}{hint}; known keys: "
                                              f"{', '.join(TOP_LEVEL_KEYS)}")
    if "version" not in data:
        raise ConfigError(f"'version: {VERSION}' is required at the top of every config",
                          file, 1, "version")
    if data["version"] != VERSION or isinstance(data["version"], bool):
        raise _error(file, lines, ("version",), f"version must be {VERSION}; got {data['version']!r}")
    for key in ("inputs", "output"):
        if data.get(key) is None:
            example = ("inputs: {glob: 'recordings/**/*.mp4'}" if key == "inputs"
                       else "output: {dir: out/edges}")
            raise ConfigError(f"{key!r} is required, e.g. {example}", file, 1, key)

    data["inputs"] = _inputs_mapping(data["inputs"])
    inputs = _section(data, lines, file, "inputs", InputsSection)
    given = [name for name in ("glob", "paths", "list") if inputs[name] is not None]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        raise _error(file, lines, ("inputs",), f"inputs takes exactly one of glob, paths, list; "
                                               f"got {what}")
    if inputs["paths"] is not None:
        if not inputs["paths"] or not all(isinstance(p, str) and p for p in inputs["paths"]):
            raise _error(file, lines, ("inputs", "paths"),
                         f"paths must be a non-empty list of file names; got {inputs['paths']!r}")

    output = _section(data, lines, file, "output", OutputSection)
    if not output["dir"].strip():
        raise _error(file, lines, ("output", "dir"), "dir must name a folder; got ''")
    if os.sep in output["suffix"] or "/" in output["suffix"]:
        raise _error(file, lines, ("output", "suffix"),
                     f"suffix is added to a file name and cannot hold a folder; got {output['suffix']!r}")
    try:
        build("sink", "video", {"path": "x." + output["container"], "fourcc": output["fourcc"]})
    except ParamError as exc:
        raise _error(file, lines, ("output", exc.key), exc.message) from None

    executor = _section(data, lines, file, "executor", ExecutorSection)
    for key in ("workers", "threads_per_worker"):
        value = executor[key]
        if (isinstance(value, str) and value != AUTO) or (isinstance(value, int) and value < 1):
            raise _error(file, lines, ("executor", key),
                         f"{key} must be a whole number >= 1 or auto; got {executor[key]!r}")
    if executor["address"] is not None:
        if executor["type"] != "dask":
            raise _error(file, lines, ("executor", "address"),
                         "address is the dask scheduler's; set type: dask, or leave address out")
    workers, threads = resolve_workers(executor["workers"], executor["threads_per_worker"])

    split = None
    if data.get("split") is not None:
        split = _section(data, lines, file, "split", SplitSection)

    stages = _check_stages(data.get("stages"), file, lines, stage_overrides)
    if split is not None:
        for index, entry in enumerate(stages):
            name = next(iter(entry))
            if name in TIME_DEPENDENT_STAGES:
                raise _error(file, lines, ("stages", index),
                             f"stage {name!r} draws live run statistics, so a split file could "
                             f"not match the unsplit one frame for frame; remove it or remove split")
    job = BatchJob(file, inputs, output, executor, split, stages, workers, threads)
    job._lines = lines
    return job


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


def _check_stages(stages: Any, file: str, lines: dict, overrides: list[str]) -> list:
    if stages is None:
        raise ConfigError("'stages' is required: the chain each file goes through, e.g. "
                          "stages: [grayscale, {gradient: {kind: sobel}}, map]", file, 1, "stages")
    run = file_run_config("input.mp4", "output.mp4", [])
    run["stages"] = stages
    try:
        config = Config.from_dict(run, overrides, file=file)
    except ConfigError as exc:
        if exc.file == file and exc.line is None and exc.key:
            raise _error(file, lines, _parse_dotted(exc.key), exc.message) from None
        raise
    if not config.stages:
        raise _error(file, lines, ("stages",), "stages is empty; a batch job needs at least one stage")
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
    """Whether a file name is a hidden partial output (ours or a sink's)."""
    return name.startswith(".") and (".part-" in name or ".batch-" in name)


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
    inputs = {item.input for item in items.values()}
    for item in items.values():
        if item.output in inputs:
            raise job.error(("output",), f"the output of {item.input!r} would overwrite the "
                                         f"input {item.output!r}; choose another output dir or suffix")
    return list(items.values())
