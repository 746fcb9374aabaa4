"""YAML configs: loading with line numbers, schema checks, ``--set`` overrides.

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

Every name is looked up in :mod:`pipeline.registry` and every setting is checked against
the declared :class:`~pipeline.registry.Param`; the components are then built once, so a
constructor's own checks (two settings that exclude each other) also run at load time.
Constructors never open a device or a file, so a bad config fails with
:class:`ConfigError` before anything is touched.

Only safe loading is used: the document is composed into a node tree by
``yaml.SafeLoader`` and each node is constructed by its safe constructors, which is what
``yaml.safe_load`` does; walking the tree ourselves keeps the line of every key.

``--set`` overrides (:func:`apply_override`) address the document by a dotted path:
``stages.1.gradient.kind=scharr`` (list index, then the stage's name), or
``stages.gradient.kind=scharr`` (the only stage of that name), ``source.path=in.mp4``,
``sinks.0.video.path=out/a.mp4``, ``runtime.mode=live``.  Values are parsed with
``yaml.safe_load``, so ``--set 'stages.4.overlay.color=[0, 0, 255]'`` is a list.
Setting ``source.type`` to a different type starts a fresh source mapping, since the old
type's keys would not fit the new one.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import os
import pkgutil
from typing import Any

import yaml

from pipeline.registry import REGISTRIES, Param, ParamError, check_settings, lookup

VERSION = 1
TOP_LEVEL_KEYS = ("version", "source", "stages", "sinks", "runtime", "tuner")
DEFAULT_SOURCE = "synthetic"

# Packages whose modules register stages, sources, sinks, objectives and optimizers.
# Each is optional except the stages: a package that is not there yet is skipped.
PLUGIN_PACKAGES = ("pipeline.stages", "pipeline.io", "pipeline.optim")

Path = tuple  # a place in the document: ("stages", 1, "gradient", "kind")


class ConfigError(Exception):
    """A config cannot be used: names the file, line and key, then what is wrong.

    Attributes
    ----------
    file : str or None
        The config file, ``"--set"`` for an override, ``"<dict>"`` for
        :meth:`Config.from_dict`.
    line : int or None
        1-based line of the key in the file.
    key : str or None
        Dotted place in the document, e.g. ``stages.1.gradient.kind``.
    message : str
        What is wrong and what would work.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 key: str | None = None):
        self.file, self.line, self.key, self.message = file, line, key, message
        super().__init__(str(self))

    def __str__(self) -> str:
        place = ""
        if self.file is not None:
            place = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.key:
            place = f"{place} {self.key}" if place else self.key
        return f"{place}: {self.message}" if place else self.message


class Runtime:
    """The ``runtime:`` section's declared settings (checked like a stage's)."""

    registry_name = "runtime"
    params = (
        Param("mode", str, "auto", choices=("auto", "live", "batch"),
              help="live drops the oldest queued frame to bound latency; batch loses "
                   "nothing; auto: live for live sources, else batch"),
        Param("queue_size", (int, type(None)), None, min=1, max=1024,
              help="frames each queue holds; null: 2 in live mode, 8 in batch mode"),
        Param("max_frames", (int, type(None)), None, min=1,
              help="stop after this many frames from the source; null: until the end"),
        Param("fps", (float, type(None)), None, min=0.1, max=1000,
              help="frame rate for writers and live pacing; null: the source's, else 30"),
    )


def dotted(path: Path) -> str:
    """``("stages", 1, "gradient")`` as ``"stages.1.gradient"``."""
    return ".".join(str(part) for part in path)


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


def read_config(path: str | os.PathLike, what: str, example: str) -> tuple[str, str]:
    """``(file, text)`` of a YAML config; :class:`ConfigError` if it cannot be read.

    ``what`` names the kind of config and ``example`` a path that exists, for the message.
    """
    file = os.fspath(path)
    try:
        with open(file, encoding="utf-8") as handle:
            return file, handle.read()
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found; give the path to a .yaml file, "
                          f"e.g. {example}", file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the {what} ({exc})", file) from None


class Document:
    """A YAML document as plain Python, with the line of every key and list item."""

    def __init__(self, data: Any, lines: dict, file: str):
        self.data = data
        self.lines = lines  # Path -> 1-based line, or "--set KEY" for overridden places
        self.file = file

    @classmethod
    def parse(cls, text: str, file: str) -> "Document":
        try:
            # The reader checks the characters as the loader is made (a control
            # character raises ReaderError here, before any parsing).
            loader = yaml.SafeLoader(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", file, 1) from None
        try:
            node = loader.get_single_node()
            lines: dict = {}
            data = None if node is None else _construct(loader, node, (), lines, file)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = None if mark is None else mark.line + 1
            problem = exc.problem or "not valid YAML"
            raise ConfigError(f"not valid YAML: {problem}", file, line) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", file) from None
        except RecursionError:
            raise ConfigError("nested too deeply to be a config (lists or mappings inside "
                              "each other hundreds of levels down)", file, 1) from None
        finally:
            loader.dispose()
        return cls(data, lines, file)

    def error(self, path: Path, message: str) -> ConfigError:
        """A ConfigError at ``path``, placed at its line or the nearest enclosing one."""
        for end in range(len(path), -1, -1):
            where = self.lines.get(tuple(path[:end]))
            if isinstance(where, str):  # an override put this value there
                return ConfigError(message, "--set", None, where)
            if where is not None:
                return ConfigError(message, self.file, where, dotted(path) or None)
        return ConfigError(message, self.file, None, dotted(path) or None)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict,
               file: str) -> Any:
    """Safe-construct ``node`` recursively, recording the line of each key and item."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (
            "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
        # !!set, !!omap... as safe_load builds them; any other tag raises there.
        return loader.construct_object(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # merge keys (<<) as safe_load does
        result = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise ConfigError(f"keys must be plain words; got {key!r}", file,
                                  key_node.start_mark.line + 1, dotted(path) or None)
            if key in result:
                raise ConfigError(f"key {key!r} appears twice", file,
                                  key_node.start_mark.line + 1, dotted(path + (key,)))
            lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = _construct(loader, value_node, path + (key,), lines, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            items.append(_construct(loader, item, path + (index,), lines, file))
        return items
    return loader.construct_object(node, deep=True)


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"stages.1.gradient.kind=scharr"`` into the key and the YAML-parsed value."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"expected KEY=VALUE, e.g. stages.1.gradient.kind=scharr; got {text!r}",
                          "--set", None, key or None)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"value {raw!r} is not valid YAML ({problem})", "--set", None, key) from None
    return key, value


def _entry_name(entry: Any) -> str | None:
    """The name of a stage or sink entry (a bare name or a one-key mapping)."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        return next(iter(entry))
    return None


def apply_override(doc: Document, text: str) -> None:
    """Apply one ``KEY=VALUE`` override to the document in place."""
    key, value = parse_override(text)

    def fail(message: str) -> ConfigError:
        return ConfigError(message, "--set", None, key)

    if not isinstance(doc.data, dict):
        raise fail("the config is not a mapping, nothing to override")
    parts: list[Any] = key.split(".")
    if any(part == "" for part in parts):
        raise fail("empty part in the key; use dots between parts, e.g. runtime.mode")
    container: Any = doc.data
    path: Path = ()
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(container, list):
            index = _list_index(container, part, path, fail)
            if last:
                if index == len(container):
                    container.append(value)
                else:
                    container[index] = value
                path += (index,)
                break
            if index == len(container):
                # appending a new entry by name: stages.6.hud.corner=top-right
                if path not in (("stages",), ("sinks",)):
                    raise fail(f"{dotted(path)} has {len(container)} entries; "
                               f"set {dotted(path + (index,))}=VALUE to append one")
                container.append({parts[position + 1]: {}})
            entry = container[index]
            if isinstance(entry, str) and len(parts) > position + 1:
                # a bare stage name gets settings: "gradient" -> {"gradient": {}}
                entry = container[index] = {entry: {}}
            container, path = entry, path + (index,)
            if not part.lstrip("-").isdigit():
                # addressed by name (stages.gradient.kind): the name was this part
                if isinstance(container, dict) and container.get(part) is None:
                    container[part] = {}
                container, path = container[part], path + (part,)
            continue
        if not isinstance(container, dict):
            raise fail(f"{dotted(path) or 'the config'} is {container!r}, not a mapping")
        if path in (("stages",), ("sinks",)):
            raise fail(f"after {path[0]} comes a list index or a {path[0][:-1]} name; got {part!r}")
        if len(path) == 2 and path[0] in ("stages", "sinks") and part not in container:
            have = _entry_name(container)
            raise fail(f"{dotted(path)} is {have!r}, not {part!r}")
        if last:
            if path == ("source",) and part == "type" and container.get("type") != value:
                container.clear()  # the old type's keys would not fit the new type
                _forget(doc, path)
            container[part] = value
            path += (part,)
            break
        if container.get(part) is None:
            container[part] = {}
        elif path == () and part == "source" and isinstance(container[part], str):
            container[part] = {"type": container[part]}
        container, path = container[part], path + (part,)
    _forget(doc, path)
    doc.lines[path] = key


def _list_index(items: list, part: str, path: Path, fail) -> int:
    """The list index named by ``part``: a number, or the name of a unique entry."""
    if part.lstrip("-").isdigit():
        index = int(part)
        if not 0 <= index <= len(items):
            last = f"0..{len(items) - 1}" if items else "none yet"
            raise fail(f"{dotted(path)} has {len(items)} entries (indices {last}; "
                       f"{len(items)} appends); got {index}")
        return index
    matches = [i for i, entry in enumerate(items) if _entry_name(entry) == part]
    if len(matches) != 1:
        names = ", ".join(str(_entry_name(entry)) for entry in items) or "none"
        how = "no" if not matches else "more than one"
        raise fail(f"{dotted(path)} has {how} entry named {part!r} (entries: {names}); "
                   f"use its index instead")
    return matches[0]


def _forget(doc: Document, prefix: Path) -> None:
    """Drop recorded lines under ``prefix`` (the values there were replaced)."""
    for known in [p for p in doc.lines if p[: len(prefix)] == prefix]:
        del doc.lines[known]


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
    """

    source: Component
    stages: list
    sinks: list
    runtime: dict
    file: str
    data: dict
    tuner: dict | None = None
    _doc: Document = dataclasses.field(repr=False, default=None)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: list[str] | tuple = ()) -> "Config":
        """Load, override and check the YAML file at ``path``; raise :class:`ConfigError`."""
        file, text = read_config(path, "config", "configs/demo.yaml")
        return cls._from_document(Document.parse(text, file), overrides)

    @classmethod
    def from_dict(cls, data: dict, overrides: list[str] | tuple = (),
                  file: str = "<dict>") -> "Config":
        """Check a config given as Python data (a deep copy is kept)."""
        try:
            data = copy.deepcopy(data)
        except RecursionError:
            raise ConfigError("nested too deeply to be a config", file) from None
        return cls._from_document(Document(data, {}, file), overrides)

    @classmethod
    def _from_document(cls, doc: Document, overrides) -> "Config":
        if isinstance(overrides, str):
            overrides = [overrides]
        load_plugins()
        for text in overrides:
            apply_override(doc, text)
        return _check(doc)

    def build(self) -> tuple[Any, list, list]:
        """Fresh ``(source, stages, sinks)`` instances; nothing is opened."""
        return (self._build(self.source), [self._build(c) for c in self.stages],
                [self._build(c) for c in self.sinks])

    def _build(self, component: Component) -> Any:
        try:
            return component.build()
        except ParamError as exc:
            raise self._doc.error(component.path + (exc.key,), exc.message) from None

    def to_dict(self) -> dict:
        """The checked config as data (every default spelled out); loads back equal."""
        return {
            "version": VERSION,
            "source": {"type": self.source.name, **self.source.settings},
            "stages": [{c.name: dict(c.settings)} for c in self.stages],
            "sinks": [{c.name: dict(c.settings)} for c in self.sinks],
            "runtime": dict(self.runtime),
            **({"tuner": dict(self.tuner)} if self.tuner is not None else {}),
        }


def _check(doc: Document) -> Config:
    data = doc.data
    if data is None:
        raise ConfigError("the config is empty; start with 'version: 1'", doc.file, 1)
    if not isinstance(data, dict):
        raise ConfigError(f"a config is a mapping of {', '.join(TOP_LEVEL_KEYS)}; "
                          f"got {type(data).__name__}", doc.file, 1)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise doc.error((key,), f"unknown top-level key {key!r}; known keys: "
                                    f"{', '.join(TOP_LEVEL_KEYS)}")
    if "version" not in data:
        raise ConfigError(f"'version: {VERSION}' is required at the top of every config",
                          doc.file, 1, "version")
    version = data["version"]
    if version != VERSION or isinstance(version, bool):
        raise doc.error(("version",), f"version must be {VERSION}; got {version!r}")

    source = _source(doc, data.get("source"))
    stages = _entries(doc, "stages", "stage", data.get("stages"))
    sinks = _entries(doc, "sinks", "sink", data.get("sinks"))
    runtime = _settings(doc, ("runtime",), Runtime, data.get("runtime"))
    tuner = _tuner(doc, data["tuner"]) if "tuner" in data else None
    config = Config(source, stages, sinks, runtime, doc.file, data, tuner, doc)
    config.build()  # constructors' own checks (settings that exclude each other)
    from pipeline.io.overwrite import check_no_overwrite  # a run never writes over its input

    check_no_overwrite(source, sinks, doc.error, lookup)
    return config


def _tuner(doc: Document, settings: Any) -> dict:
    from pipeline.runtime.tuner import check_tuner_settings

    try:
        return check_tuner_settings(settings)
    except ParamError as exc:
        raise doc.error(("tuner", *exc.key.split(".")), exc.message) from None


def _settings(doc: Document, path: Path, cls: type, settings: Any) -> dict:
    if settings is not None and not isinstance(settings, dict):
        raise doc.error(path, f"settings of {cls.registry_name!r} must be a mapping of "
                              f"keys to values; got {settings!r}")
    try:
        return check_settings(cls, settings)
    except ParamError as exc:
        key_path = path + (exc.key,) if settings and exc.key in settings else path
        raise doc.error(key_path, exc.message) from None


def _lookup(doc: Document, path: Path, kind: str, name: Any) -> type:
    if not isinstance(name, str):
        raise doc.error(path, f"a {kind} is named by a word; got {name!r}")
    try:
        return lookup(kind, name)
    except ParamError as exc:
        raise doc.error(path, exc.message) from None


def _source(doc: Document, source: Any) -> Component:
    if source is None:
        source = {"type": DEFAULT_SOURCE}
    if isinstance(source, str):
        source = {"type": source}
    if not isinstance(source, dict):
        raise doc.error(("source",), f"source must be a mapping with a 'type' "
                                     f"({', '.join(sorted(REGISTRIES['source']))}); got {source!r}")
    if "type" not in source:
        raise doc.error(("source",), f"source needs a 'type': one of "
                                     f"{', '.join(sorted(REGISTRIES['source'])) or 'none registered'}")
    settings = {k: v for k, v in source.items() if k != "type"}
    cls = _lookup(doc, ("source", "type"), "source", source["type"])
    checked = _settings(doc, ("source",), cls, settings)
    return Component("source", source["type"], checked, ("source",))


def _entries(doc: Document, section: str, kind: str, entries: Any) -> list[Component]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise doc.error((section,), f"{section} must be a list (one '- name' or "
                                    f"'- name: {{settings}}' per line); got {entries!r}")
    components = []
    for index, entry in enumerate(entries):
        path = (section, index)
        if isinstance(entry, dict) and len(entry) != 1:
            keys = ", ".join(map(str, entry)) or "none"
            raise doc.error(path, f"each {kind} is a name or one 'name: {{settings}}' "
                                  f"mapping; got keys {keys} (is the indentation right?)")
        name = _entry_name(entry)
        if name is None:
            raise doc.error(path, f"each {kind} is a name or one 'name: {{settings}}' "
                                  f"mapping; got {entry!r}")
        cls = _lookup(doc, path, kind, name)
        settings = entry.get(name) if isinstance(entry, dict) else None
        checked = _settings(doc, path + (name,), cls, settings)
        components.append(Component(kind, name, checked, path + (name,)))
    return components


def load(path: str | os.PathLike, overrides: list[str] | tuple = ()) -> Config:
    """Shorthand for :meth:`Config.from_yaml`."""
    return Config.from_yaml(path, overrides)
