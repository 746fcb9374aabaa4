"""The batch config (``edgepipe batch``), checked with file, line and key.

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

The stages are checked by the run config's rules (the same
:class:`~pipeline.config.run.Config` a run uses), so a wrong stage setting fails here
with the batch file's name, line and key.  The plan of inputs and outputs is
:mod:`pipeline.batch.jobs`'s.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from typing import Any

from pipeline.config.checks import check_section, check_top_level, expect_kind
from pipeline.config.document import ConfigError, Document, dotted, load_document
from pipeline.config.overrides import apply_overrides
from pipeline.config.registry import Param, ParamError, build
from pipeline.config.run import Component, Config, check_chain
from pipeline.io import formats
from pipeline.io.sinks.video import VideoSink

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


class OutputSection:
    """``output:``: where the edge videos go, how they are named, and the video sink's encoding keys."""

    registry_name = "output"
    params = (
        Param("dir", str, help="output folder; inputs are mirrored below it"),
        Param("suffix", str, "_edges", help="added to each input's stem"),
        Param("container", str, "mp4", choices=CONTAINERS,
              help="output extension; the codec follows it (mp4, mov, mkv: h264; webm: vp9; avi: mjpeg)"),
        *(param for param in VideoSink.params if param.name in VIDEO_KEYS),
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


@dataclasses.dataclass
class BatchConfig:
    """A checked batch config (:class:`pipeline.batch.jobs.BatchJob` adds its plan).

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

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: list[str] | tuple = ()) -> BatchConfig:
        """Load and check a batch config; raise :class:`ConfigError` naming file, line, key.

        Parameters
        ----------
        path : path-like
            The YAML file.
        overrides : list of str
            ``KEY=VALUE`` strings as for ``edgepipe run --set``: ``executor.workers=2``,
            ``inputs.glob='clips/*.mp4'``, ``stages.1.gradient.kind=scharr``.
        """
        return cls.from_document(load_document(path, "batch config", "configs/batch.yaml"), overrides)

    @classmethod
    def from_text(cls, text: str, file: str, overrides: list[str] | tuple = ()) -> BatchConfig:
        """Check a batch config given as YAML text (``file`` names it in errors)."""
        return cls.from_document(Document.parse(text, file), overrides)

    @classmethod
    def from_dict(cls, data: Any, file: str = "<dict>", overrides: list[str] | tuple = (),
                  lines: dict | None = None) -> BatchConfig:
        """Check a batch config given as Python data (a deep copy is kept)."""
        return cls.from_document(Document.from_data(data, file, lines), overrides)

    @classmethod
    def from_document(cls, doc: Document, overrides: list[str] | tuple = ()) -> BatchConfig:
        """Check a parsed batch config (:func:`~pipeline.config.document.load_document`).

        ``inputs: "a/*.mp4"`` and ``inputs: [a.mp4]`` are read as a glob and a list of
        paths first, so ``--set inputs.glob=...`` applies to either spelling.
        """
        expect_kind(doc, "batch")
        if isinstance(doc.data, dict) and "inputs" in doc.data:
            doc.data["inputs"] = _inputs_mapping(doc.data["inputs"])
        apply_overrides(doc, overrides)
        return cls(*_check(doc), doc)


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


def _inputs_mapping(value: Any) -> Any:
    """``inputs: "a/*.mp4"`` is a glob and ``inputs: [a.mp4]`` a list of paths."""
    if isinstance(value, str):
        return {"glob": value}
    if isinstance(value, list):
        return {"paths": value}
    return value


def _section(doc: Document, name: str, cls: type) -> dict:
    return check_section(doc, (name,), cls, doc.data.get(name))


#: What an unknown top-level key that a run config has means here.
_RUN_KEY_HINT = " (a batch config has no 'source' or 'sinks': inputs and output replace them)"


def _check(doc: Document) -> tuple:
    """The checked fields of a :class:`BatchConfig`, in order (its document aside)."""
    data, file = check_top_level(doc, "batch config", TOP_LEVEL_KEYS,
                                 dict.fromkeys(("source", "sinks", "runtime"), _RUN_KEY_HINT)), doc.file
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
    return file, inputs, output, executor, split, stages, workers, threads


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
