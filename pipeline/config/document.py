"""One YAML loader for every config (run, batch, experiment): lines and limits.

:func:`load_document` reads a config file and :class:`Document` keeps its data as
plain Python with the 1-based line of every key and list item, so any schema can place
an error at ``file:line key``.  The same rules hold for every kind of config:

- the file is a regular file, a FIFO or a process substitution (``<(...)``), at most
  :data:`MAX_CONFIG_BYTES`; a device such as ``/dev/zero`` is refused before it is read;
- a key written twice in one mapping is an error, but a YAML merge key (``<<: *base``)
  may be overridden by the mapping's own keys, as YAML defines it;
- aliases (``*name``) are expanded at most :data:`MAX_VALUES` values in all (a
  "billion laughs" file is refused at once, in bounded memory), and an alias that
  contains itself is refused;
- numbers in exponent form (``3e3``, ``1e-4``, ``1E6``) are numbers, as in YAML 1.2
  and JSON, though PyYAML's YAML 1.1 resolver reads them as text.

Only safe construction is used: the document is composed by ``yaml.SafeLoader`` (the
subclass :class:`ConfigLoader` adds the exponent rule) and each scalar is built by its
safe constructors, as ``yaml.safe_load`` does.

``--set`` overrides are applied to a :class:`Document` by :mod:`pipeline.config.overrides`.
"""

from __future__ import annotations

import copy
import os
import re
import stat
from typing import Any

import yaml

from pipeline.errors import EdgepipeError

#: Largest config file read, in bytes (configs are a few KB; this bounds a hostile pipe).
MAX_CONFIG_BYTES = 1024 * 1024
#: Most values (scalars, lists, mappings) a document may expand to, aliases included.
MAX_VALUES = 50_000

MERGE_TAG = "tag:yaml.org,2002:merge"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"

Path = tuple  # a place in the document: ("stages", 1, "gradient", "kind")


class ConfigError(EdgepipeError):
    """A config cannot be used: names the file, line and key, then what is wrong.

    Attributes
    ----------
    file : str or None
        The config file, ``"--set"`` for an override, ``"<dict>"`` for data given
        from Python.
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


def dotted(path: Path) -> str:
    """``("stages", 1, "gradient")`` as ``"stages.1.gradient"``."""
    return ".".join(str(part) for part in path)


class ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``3e3``, ``1e-4``, ``1.5E+6`` as floats.

    YAML 1.1 (PyYAML's resolver) wants a dot and a signed exponent; YAML 1.2's core
    schema and JSON do not.  Only plain (unquoted) scalars are resolved, so ``'3e3'``
    stays text.
    """


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def read_config(path: str | os.PathLike, what: str, example: str) -> tuple[str, str]:
    """``(file, text)`` of a YAML config; :class:`ConfigError` if it cannot be read.

    Only regular files and pipes (FIFOs, ``<(...)``) are read, and at most
    :data:`MAX_CONFIG_BYTES`.  ``what`` names the kind of config and ``example`` a path
    that exists, for the message.
    """
    file = os.fspath(path)
    try:
        _check_file_type(file, os.stat(file).st_mode, what)
        with open(file, "rb") as handle:
            # The stat above and this one bracket a swap of the file between them.
            _check_file_type(file, os.fstat(handle.fileno()).st_mode, what)
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found; give the path to a .yaml file, "
                          f"e.g. {example}", file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} ({exc.strerror or exc})", file) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"the {what} is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MB; "
                          f"a config is a few KB of YAML (is this the right file?)", file)
    try:
        return file, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read the {what}: not UTF-8 text (byte {exc.start})", file) from None


def _check_file_type(file: str, mode: int, what: str) -> None:
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return
    if stat.S_ISDIR(mode):
        kind = "a folder"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    else:
        kind = "not a file"
    raise ConfigError(f"the {what} is {kind}, not a regular file; give the path to a .yaml "
                      f"file (a pipe such as <(...) works too)", file)


class Document:
    """A YAML document as plain Python, with the line of every key and list item.

    Attributes
    ----------
    data : object
        The document (dicts, lists, scalars), changed in place by overrides.
    lines : dict
        Path -> 1-based line, or the ``--set`` key that put the value there.
    file : str
        The file's name for messages.
    """

    def __init__(self, data: Any, lines: dict, file: str):
        self.data = data
        self.lines = lines
        self.file = file

    @classmethod
    def parse(cls, text: str, file: str) -> Document:
        """Compose and construct ``text``; :class:`ConfigError` with the line on bad YAML."""
        try:
            # The reader checks the characters as the loader is made (a control
            # character raises ReaderError here, before any parsing).
            loader = ConfigLoader(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", file, 1) from None
        try:
            node = loader.get_single_node()
            lines: dict = {}
            data = None if node is None else _Builder(loader, file, lines).value(node, ())
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

    @classmethod
    def from_data(cls, data: Any, file: str = "<dict>", lines: dict | None = None) -> Document:
        """A document of Python ``data`` (a deep copy, so checks and overrides leave it be)."""
        try:
            data = copy.deepcopy(data)
        except RecursionError:
            raise ConfigError("nested too deeply to be a config", file) from None
        return cls(data, dict(lines or {}), file)

    def error(self, path: Path, message: str) -> ConfigError:
        """A ConfigError at ``path``, placed at its line or the nearest enclosing one."""
        for end in range(len(path), -1, -1):
            where = self.lines.get(tuple(path[:end]))
            if isinstance(where, str):  # an override put this value there
                return ConfigError(message, "--set", None, where)
            if where is not None:
                return ConfigError(message, self.file, where, dotted(path) or None)
        return ConfigError(message, self.file, None, dotted(path) or None)

    def section(self, prefix: Path, data: Any = None) -> Document:
        """A document of ``data`` whose lines are this one's under ``prefix``, re-rooted.

        The run-config checks use it on the ``stages:`` of a batch config, so their
        errors keep the batch file's lines.
        """
        lines = {path: line for path, line in self.lines.items() if path[:len(prefix)] == prefix}
        return Document(data, lines, self.file)


def load_document(path: str | os.PathLike, what: str = "config",
                  example: str = "configs/demo.yaml") -> Document:
    """Read and parse a config file: the shared first step of every loader (the
    ``--set`` overrides come next, :func:`pipeline.config.overrides.apply_overrides`).

    Parameters
    ----------
    path : path-like
        The YAML file (a regular file or a pipe).
    what : str
        The kind of config, for messages ("batch config").
    example : str
        A shipped config of that kind, named when the file is missing.

    Raises
    ------
    ConfigError
        Naming the file (and the line) and what would work.
    """
    file, text = read_config(path, what, example)
    return Document.parse(text, file)


class _Builder:
    """Safe-constructs a node tree once, recording lines, with a budget for aliases."""

    def __init__(self, loader: yaml.SafeLoader, file: str, lines: dict):
        self.loader, self.file, self.lines = loader, file, lines
        self.count = 0
        self.seen: set[int] = set()  # nodes built once: meeting one again is an alias
        self.active: set[int] = set()  # nodes being built: meeting one is a cycle
        self.last_alias: yaml.Node | None = None

    def value(self, node: yaml.Node, path: Path, lines: dict | None = None) -> Any:
        lines = self.lines if lines is None else lines
        key = id(node)
        if key in self.active:
            raise ConfigError("an alias (*name) refers to a value that contains it; "
                              "a config cannot be infinite", self.file,
                              node.start_mark.line + 1, dotted(path) or None)
        if key in self.seen:
            self.last_alias = node
        self.seen.add(key)
        self.count += 1
        if self.count > MAX_VALUES:
            where = self.last_alias or node
            raise ConfigError(
                f"aliases expand to more than {MAX_VALUES} values (the value anchored at "
                f"line {where.start_mark.line + 1} is repeated over and over); a config "
                f"holds a few hundred: write the values out, or nest fewer aliases",
                self.file, where.start_mark.line + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (MAP_TAG, SEQ_TAG):
            # !!set, !!omap... as safe_load builds them; any other tag raises there.
            return self.loader.construct_object(node, deep=True)
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node, deep=True)
        self.active.add(key)
        try:
            if isinstance(node, yaml.SequenceNode):
                items = []
                for index, item in enumerate(node.value):
                    lines[path + (index,)] = item.start_mark.line + 1
                    items.append(self.value(item, path + (index,), lines))
                return items
            return self.mapping(node, path, lines)
        finally:
            self.active.discard(key)

    def mapping(self, node: yaml.MappingNode, path: Path, lines: dict) -> dict:
        result: dict = {}
        merged: list[yaml.Node] = []
        own = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merged.extend(self.merge_sources(value_node, path))
            else:
                own.append((key_node, value_node))
        # Earlier merge sources win over later ones, and the mapping's own keys over all.
        for source in reversed(merged):
            source_lines: dict = {}
            values = self.value(source, path, source_lines)
            for key in values:
                if key in result:  # an earlier source's value, with its lines, is replaced
                    forget_lines(lines, path + (key,))
            lines.update(source_lines)
            result.update(values)
        written = set()
        for key_node, value_node in own:
            key = self.value(key_node, path, {})
            line = key_node.start_mark.line + 1
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise ConfigError(f"keys must be plain words; got {key!r}", self.file, line,
                                  dotted(path) or None)
            if key in written:
                raise ConfigError(f"key {key!r} appears twice", self.file, line,
                                  dotted(path + (key,)))
            written.add(key)
            if key in result:  # overrides a merged value: forget the merged lines
                forget_lines(lines, path + (key,))
            lines[path + (key,)] = line
            result[key] = self.value(value_node, path + (key,), lines)
        return result

    def merge_sources(self, node: yaml.Node, path: Path) -> list:
        """The mappings a ``<<`` key merges: one mapping, or a list of them."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode) or source.tag != MAP_TAG:
                raise ConfigError("a merge key (<<) takes a mapping or a list of mappings, "
                                  "e.g. '<<: *defaults'", self.file, source.start_mark.line + 1,
                                  dotted(path + ("<<",)))
        return list(sources)


def forget_lines(lines: dict, prefix: Path) -> None:
    """Forget recorded lines at and under ``prefix`` (the value there is replaced)."""
    for known in [p for p in lines if p[:len(prefix)] == prefix]:
        del lines[known]
