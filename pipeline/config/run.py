"""The run config (``edgepipe run``): a source, a chain of stages, sinks, the runtime.

A config names one source, a chain of stages, any number of sinks and the runtime::

    version: 1
    source: {type: file, path: clip.mp4}
    stages:
      - grayscale
      - gradient: {kind: sobel, norm: l2}
      - map: {mode: abs}
    sinks:
      - video: {path: out/edges.mp4}
    runtime: {mode: batch}

``sources:`` (a list of named sources) instead of ``source:`` runs several streams, each
with its own stages and sinks, ``{source}`` in a sink's path standing for the stream's
name; its rules are :mod:`pipeline.config.streams`'.

Every name is looked up in :mod:`pipeline.config.registry` and every setting is checked
against the declared :class:`~pipeline.config.registry.Param`; the components are then
built once, so a constructor's own checks (two settings that exclude each other) also run
at load time.
Constructors never open a device or a file, so a bad config fails with
:class:`~pipeline.config.document.ConfigError` before anything is touched.

The chain is checked for what flows through it (:mod:`pipeline.stages.kinds`): each
stage must get an image it can work on, and each picture sink a uint8 picture;
``grayscale: {from: luma}`` must be the first stage, with no ``overlay`` after it and a
source that has a luma plane (:func:`check_luma`), and then the source is told to hand
out its luma plane when the config builds it.

Reading, line numbers, limits and ``--set`` are :mod:`pipeline.config.document`'s, and
the top-level and section checks :mod:`pipeline.config.checks`', both shared with the batch
and experiment configs.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
from typing import Any

from pipeline.config.checks import VERSION, check_section, check_top_level, expect_kind
from pipeline.config.document import Document, load_document
from pipeline.config.overrides import apply_overrides, entry_name
from pipeline.config.registry import REGISTRIES, Param, ParamError, lookup
from pipeline.config.streams import Stream, check_sinks, check_sources, streams_of
from pipeline.io.overwrite import check_no_overwrite
from pipeline.runtime.scheduling import SCHEDULING
from pipeline.runtime.tuner import check_tuner_settings
from pipeline.stages import kinds
from pipeline.stages.chain import ask_for_luma
from pipeline.stages.grayscale import luma_refusal

TOP_LEVEL_KEYS = ("version", "source", "sources", "stages", "sinks", "runtime", "tuner")
DEFAULT_SOURCE = "synthetic"

# Packages whose modules register stages, sources, sinks, objectives and optimizers.
# Each is optional except the stages: a package that is not there yet is skipped.
PLUGIN_PACKAGES = ("pipeline.stages", "pipeline.io", "pipeline.optim")

Path = tuple  # a place in the document: ("stages", 1, "gradient", "kind")

# Sinks that do not store the picture (they record numbers, or nothing).
IMAGELESS_SINKS = ("stats", "discard")


class Runtime:
    """The ``runtime:`` section's declared settings (checked like a stage's)."""

    registry_name = "runtime"
    params = (
        Param("mode", str, "auto", choices=("auto", "live", "batch"),
              help="live drops the oldest queued frame to bound latency; batch loses "
                   "nothing; auto: live for live sources, else batch"),
        Param("queue_size", (int, type(None)), None, min=1, max=1024,
              help="frames each queue holds; null: 2 in live mode (8 in a live sources: "
                   "run, whose frames wait their turn), 8 in batch mode"),
        Param("max_frames", (int, type(None)), None, min=1,
              help="stop after this many frames from the source; null: until the end"),
        Param("fps", (float, type(None)), None, min=0.1, max=1000,
              help="frame rate for writers and live pacing; null: the source's, else 30"),
        Param("workers", (int, type(None)), None, min=1, max=256,
              help="threads processing the frames of a sources: config, shared by its "
                   "streams; null: the CPUs this process may use (one stream alone has "
                   "its own processing thread)"),
        Param("scheduling", str, "auto", choices=SCHEDULING,
              help="Linux: batch runs the threads under SCHED_BATCH (a thread woken by "
                   "another does not preempt it; measured with many streams in one process); "
                   "auto: batch for a live sources: run, else normal"),
    )


@dataclasses.dataclass
class Component:
    """One named, checked part of a config: a source, a stage or a sink.

    Attributes
    ----------
    kind : str
        Registry kind: ``"source"``, ``"stage"`` or ``"sink"``.
    name : str
        Registered name (``"gradient"``, ``"file"``...).
    settings : dict
        Checked settings with defaults filled in.
    path : tuple
        Where the settings live in the document, for error messages.
    """

    kind: str
    name: str
    settings: dict
    path: Path

    def build(self) -> Any:
        """A fresh instance (constructors open nothing)."""
        return lookup(self.kind, self.name)(**self.settings)


def load_plugins() -> None:
    """Import every module that registers components (idempotent)."""
    for package_name in PLUGIN_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ModuleNotFoundError as exc:
            if exc.name != package_name and not package_name.startswith(str(exc.name)):
                raise
            continue
        for info in pkgutil.iter_modules(getattr(package, "__path__", []),
                                         prefix=package_name + "."):
            importlib.import_module(info.name)


@dataclasses.dataclass
class Config:
    """A checked config, ready to build a pipeline from.

    Attributes
    ----------
    source : Component
    stages : list of Component
    sinks : list of Component
    runtime : dict
        Checked ``runtime:`` settings (see :class:`Runtime`).
    file : str
        Where the config came from (a path, or ``"<dict>"``).
    data : dict
        The document after overrides, as loaded.
    tuner : dict or None
        Checked ``tuner:`` settings (:data:`pipeline.runtime.tuner.TUNER_PARAMS`), or
        None when the config has no tuner.
    streams : list of Stream
        One per ``sources:`` item (its name, source and sinks with ``{source}`` filled),
        or the one stream of ``source:`` (name None); see :mod:`pipeline.config.streams`.
        With ``sources:``, :attr:`source` is the first stream's.
    """

    source: Component
    stages: list
    sinks: list
    runtime: dict
    file: str
    data: dict
    tuner: dict | None = None
    streams: list = dataclasses.field(default_factory=list)
    _doc: Document = dataclasses.field(repr=False, default=None)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: list[str] | tuple = ()) -> Config:
        """Load, override and check the YAML file at ``path``; raise :class:`ConfigError`."""
        return cls.from_document(load_document(path, "config", "configs/demo.yaml"), overrides)

    @classmethod
    def from_dict(cls, data: dict, overrides: list[str] | tuple = (),
                  file: str = "<dict>") -> Config:
        """Check a config given as Python data (a deep copy is kept)."""
        return cls.from_document(Document.from_data(data, file), overrides)

    @classmethod
    def from_document(cls, doc: Document, overrides: list[str] | tuple = ()) -> Config:
        """Check a parsed :class:`~pipeline.config.document.Document` (after ``overrides``)."""
        load_plugins()
        expect_kind(doc, "run")
        apply_overrides(doc, overrides)
        return _check(doc)

    @property
    def several(self) -> bool:
        """Whether the config lists its streams under ``sources:``."""
        return self.streams[0].name is not None

    def build(self, stream: Stream | None = None) -> tuple[Any, list, list]:
        """Fresh ``(source, stages, sinks)`` instances of ``stream`` (default the first)."""
        stream = stream or self.streams[0]
        source, stages = self.instance(stream.source), [self.instance(c) for c in self.stages]
        ask_for_luma(source, stages)  # grayscale from: luma, checked at load (check_luma)
        return source, stages, [self.instance(c) for c in stream.sinks]

    def instance(self, component: Component) -> Any:
        """A fresh instance of one of this config's components."""
        return build_component(self._doc, component)

    def to_dict(self) -> dict:
        """The checked config as data (every default spelled out); loads back equal."""
        def source(c: Component) -> dict:
            return {"type": c.name, **c.settings}
        sources = ({"sources": [{"name": s.name, **source(s.source)} for s in self.streams]}
                   if self.several else {"source": source(self.source)})
        return {
            "version": VERSION,
            **sources,
            "stages": [{c.name: dict(c.settings)} for c in self.stages],
            "sinks": [{c.name: dict(c.settings)} for c in self.sinks],
            "runtime": dict(self.runtime),
            **({"tuner": dict(self.tuner)} if self.tuner is not None else {}),
        }


def build_component(doc: Document, component: Component) -> Any:
    """A fresh instance of ``component``; a constructor's ParamError placed at its key."""
    try:
        return component.build()
    except ParamError as exc:
        raise doc.error(component.path + (exc.key,), exc.message) from None


def _check(doc: Document) -> Config:
    data = check_top_level(doc, "config", TOP_LEVEL_KEYS)
    named = check_sources(doc, data, lambda place, item: _source(doc, item, place))
    source = named[0][1] if named else _source(doc, data.get("source"))
    stages = entries(doc, ("stages",), "stage", data.get("stages"))
    sinks = entries(doc, ("sinks",), "sink", data.get("sinks"))
    check_sinks(doc, sinks, several=named is not None)
    runtime = check_section(doc, ("runtime",), Runtime, data.get("runtime"))
    tuner = _tuner(doc, data["tuner"]) if "tuner" in data else None
    streams = streams_of(named, source, sinks)
    config = Config(source, stages, sinks, runtime, doc.file, data, tuner, streams, doc)
    built = [config.instance(c) for c in stages]  # constructors' own checks (settings that exclude each other)
    check_chain(doc, stages, built, sinks)
    check_luma(doc, stages, built, [stream.source for stream in streams])
    if tuner is not None:
        _check_tuner_target(doc, tuner, built)
    every_sink = [sink for stream in streams for sink in stream.sinks]
    for stream in streams:
        config.build(stream)  # each stream's filled sinks and its source, constructed
        check_no_overwrite(stream.source, every_sink, doc.error, lookup)
        _check_stem(doc, stream.source, sinks)
    return config


def _check_stem(doc: Document, source: Component, sinks: list) -> None:
    """``{stem}`` (the input picture's name) in an images sink needs pictures as the source."""
    if source.name == "images":
        return
    for sink in sinks:
        path = sink.settings.get("path")
        if sink.name == "images" and isinstance(path, str) and "{stem}" in path:
            raise doc.error(sink.path + ("path",), f"{path!r} names pictures by {{stem}}, the input "
                            f"picture's name, but the source is {source.name!r}, not pictures; use "
                            "{index}, or read pictures (source: {type: images, glob: ...})")


def _check_tuner_target(doc: Document, tuner: dict, stages: list) -> None:
    """A ``targets: canny`` tuner needs a canny stage with an ``auto`` value to steer."""
    if tuner["targets"] != "canny":
        return
    if not any(stage.registry_name == "canny" and stage.automatic for stage in stages):
        raise doc.error(("tuner", "targets"), "targets canny tunes the low and high of a canny "
                                              "stage with low or high auto, and the chain has none; "
                                              "add '- canny: {low: auto, high: auto}' to the stages "
                                              "(or tune the threshold: targets: threshold)")


def check_chain(doc: Document, components: list, stages: list, sinks: list = ()) -> str:
    """Refuse a chain whose stages (or sinks) cannot take what comes before them.

    Parameters
    ----------
    doc : Document
        For the error's place.
    components : list of Component
        The stages as configured (their paths place the error).
    stages : list of Stage
        The same stages, built.
    sinks : list of Component
        The sinks; picture sinks need a uint8 picture at the end of the chain.

    Returns
    -------
    str
        The kind of image the chain ends with (:mod:`pipeline.stages.kinds`).
    """
    steps = [(c.name, stage.accepts, stage.output_kind) for c, stage in zip(components, stages)]
    for index, message in kinds.check_flow(steps):
        raise doc.error(components[index].path[:2], message)
    last = kinds.final_kind(steps)
    for sink in sinks:
        accepts = getattr(lookup("sink", sink.name), "accepts", None)
        if accepts is None:
            accepts = kinds.ALL if sink.name in IMAGELESS_SINKS else kinds.PICTURES
        if last not in accepts:
            made_by = f"stage {components[-1].name}" if components else "the source"
            raise doc.error(sink.path[:2], f"sink {sink.name} writes a uint8 picture, but "
                                           f"{made_by} gives {kinds.a(kinds.describe(last))}; end the "
                                           f"chain with map, threshold, overlay or hud")
    return last


def check_luma(doc: Document, components: list, stages: list, sources: list) -> None:
    """Refuse ``grayscale: {from: luma}`` where it cannot hold (not first, a later
    ``overlay``, a source without a luma plane), at its ``from`` key; see
    :func:`pipeline.stages.grayscale.luma_refusal`."""
    refusal = luma_refusal(stages, [(c.name, lookup("source", c.name)) for c in sources])
    if refusal is not None:
        index, message = refusal
        raise doc.error(components[index].path + ("from",), message)


def _tuner(doc: Document, settings: Any) -> dict:
    try:
        return check_tuner_settings(settings)
    except ParamError as exc:
        raise doc.error(("tuner", *exc.key.split(".")), exc.message) from None


def _lookup(doc: Document, path: Path, kind: str, name: Any) -> type:
    if not isinstance(name, str):
        raise doc.error(path, f"a {kind} is named by a word; got {name!r}")
    try:
        return lookup(kind, name)
    except ParamError as exc:
        raise doc.error(path, exc.message) from None


def _source(doc: Document, source: Any, place: Path = ("source",)) -> Component:
    if source is None:
        source = {"type": DEFAULT_SOURCE}
    if isinstance(source, str):
        source = {"type": source}
    if not isinstance(source, dict):
        raise doc.error(place, f"source must be a mapping with a 'type' "
                               f"({', '.join(sorted(REGISTRIES['source']))}); got {source!r}")
    if "type" not in source:
        raise doc.error(place, f"source needs a 'type': one of "
                               f"{', '.join(sorted(REGISTRIES['source'])) or 'none registered'}")
    settings = {k: v for k, v in source.items() if k != "type"}
    cls = _lookup(doc, place + ("type",), "source", source["type"])
    checked = check_section(doc, place, cls, settings)
    return Component("source", source["type"], checked, place)


def entries(doc: Document, place: Path, kind: str, items: Any) -> list[Component]:
    """The checked components of a list of ``- name`` or ``- name: {settings}`` at ``place``."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise doc.error(place, f"{place[-1]} must be a list (one '- name' or "
                               f"'- name: {{settings}}' per line); got {items!r}")
    components = []
    for index, entry in enumerate(items):
        path = place + (index,)
        if isinstance(entry, dict) and len(entry) != 1:
            keys = ", ".join(map(str, entry)) or "none"
            raise doc.error(path, f"each {kind} is a name or one 'name: {{settings}}' "
                                  f"mapping; got keys {keys} (is the indentation right?)")
        name = entry_name(entry)
        if name is None:
            raise doc.error(path, f"each {kind} is a name or one 'name: {{settings}}' "
                                  f"mapping; got {entry!r}")
        cls = _lookup(doc, path, kind, name)
        settings = entry.get(name) if isinstance(entry, dict) else None
        checked = check_section(doc, path + (name,), cls, settings)
        components.append(Component(kind, name, checked, path + (name,)))
    return components


def load(path: str | os.PathLike, overrides: list[str] | tuple = ()) -> Config:
    """Shorthand for :meth:`Config.from_yaml`."""
    return Config.from_yaml(path, overrides)
