"""The checks every config schema (run, batch, experiment) shares.

- :func:`check_top_level`: the document is a mapping of the schema's keys, starting
  with ``version: 1``;
- :func:`check_section`: one section's settings against its declared
  :class:`~pipeline.config.registry.Param` tuple, the error placed at the key at fault;
- :func:`check_bounds`: a ``[lo, hi]`` box;
- :func:`expect_kind`: a top-level ``kind:`` names the schema that checks it;
- :data:`EXPERIMENT_HEAD`, :func:`check_experiment_head`, :class:`ExperimentHead`: what
  both kinds of experiment config start with (``version``, ``name``, ``description``,
  ``output``).

Each error is a :class:`~pipeline.config.document.ConfigError` naming the file, the line
and the key, and what would work.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from pathlib import Path as FilePath
from typing import Any

from pipeline.config.document import ConfigError, Document
from pipeline.config.registry import REQUIRED, Param, ParamError, check_settings

#: The one version every config has.
VERSION = 1

Path = tuple  # a place in the document: ("stages", 1, "gradient", "kind")

#: The kinds of config, and the command that runs each.
CONFIG_KINDS = {"run": "edgepipe run", "batch": "edgepipe batch", "experiment": "edgepipe experiment"}


def check_top_level(doc: Document, what: str, keys: tuple, hints: dict | None = None) -> dict:
    """The document's top-level mapping, its keys and ``version`` checked.

    Parameters
    ----------
    doc : Document
        The parsed config.
    what : str
        What the config is called in messages (``"config"``, ``"batch config"``).
    keys : tuple of str
        The schema's top-level keys.
    hints : dict, optional
        A line added to the unknown-key error for some keys (``{"sinks": "..."}``).

    Returns
    -------
    dict
        ``doc.data``.
    """
    data = doc.data
    if data is None:
        raise ConfigError(f"the {what} is empty; start with 'version: {VERSION}'", doc.file, 1)
    if not isinstance(data, dict):
        raise ConfigError(f"{'an' if what[0] in 'aeiou' else 'a'} {what} is a mapping of "
                          f"{', '.join(keys)}; got {type(data).__name__}", doc.file, 1)
    for key in data:
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, 1)
            hint = (hints or {}).get(key) or (f" (did you mean {close[0]!r}?)" if close else "")
            raise doc.error((key,), f"unknown top-level key {key!r}{hint}; known keys: {', '.join(keys)}")
    if "version" not in data:
        raise ConfigError(f"'version: {VERSION}' is required at the top of every config",
                          doc.file, 1, "version")
    version = data["version"]
    if version != VERSION or isinstance(version, bool):
        raise doc.error(("version",), f"version must be {VERSION}; got {version!r}")
    return data


def check_section(doc: Document, path: Path, cls: type, settings: Any, optional: bool = True) -> dict:
    """``settings`` checked against ``cls.params``, defaults filled in.

    ``optional``: a missing section (None) takes every default; otherwise it must be a
    mapping.  An error is placed at the key at fault, or at ``path``.
    """
    if not isinstance(settings, dict) and not (optional and settings is None):
        raise doc.error(path, f"settings of {cls.registry_name!r} must be a mapping of keys to "
                              f"values; got {settings!r}")
    try:
        return check_settings(cls, settings)
    except ParamError as exc:
        where = path + (exc.key,) if settings and exc.key in settings else path
        raise doc.error(where, exc.message) from None


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_bounds(doc: Document, path: Path, bounds: Any) -> list | None:
    """``[lo, hi]`` as two floats with ``lo < hi`` (None stays None)."""
    if bounds is None:
        return None
    if len(bounds) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                   for b in bounds) or not bounds[0] < bounds[1]:
        raise doc.error(path, f"bounds must be two numbers [lo, hi] with lo < hi; got {bounds!r}")
    return [float(bounds[0]), float(bounds[1])]


def declared_kind(doc: Document) -> str | None:
    """The top-level ``kind:`` (removed from the data, since no schema has it), or None."""
    data = doc.data
    if not isinstance(data, dict) or "kind" not in data:
        return None
    kind = data.pop("kind")
    if not isinstance(kind, str) or kind not in CONFIG_KINDS:
        raise doc.error(("kind",), f"kind must be one of {', '.join(CONFIG_KINDS)}; got {kind!r}")
    return kind


def expect_kind(doc: Document, wanted: str) -> None:
    """Accept (and drop) a top-level ``kind: WANTED``; refuse another kind, naming its command."""
    kind = declared_kind(doc)
    if kind is not None and kind != wanted:
        raise doc.error(("kind",), f"this is a {kind} config (kind: {kind}); run it with "
                                   f"{CONFIG_KINDS[kind]}, not {CONFIG_KINDS[wanted]}")


#: The settings both kinds of experiment config (optimizer grids, quality) start with.
EXPERIMENT_HEAD = (
    Param("version", int, REQUIRED, choices=(VERSION,), help="always 1"),
    Param("name", (str, type(None)), None, help="names the output folder; null: the file's stem"),
    Param("description", str, "", help="one line for the summary"),
    Param("output", (str, type(None)), None, help="output folder; null: out/experiments/NAME"),
)


@dataclasses.dataclass
class ExperimentHead:
    """What both kinds of checked experiment start with (their classes add the rest)."""

    name: str
    description: str
    file: str
    output: FilePath


def check_experiment_head(doc: Document, cls: type, output: str | None) -> tuple[dict, str, FilePath]:
    """An experiment config's top-level settings, its name and its output folder.

    ``cls`` declares the kind's top-level settings (starting with :data:`EXPERIMENT_HEAD`);
    ``output``, when given, replaces the config's output folder.
    """
    keys = tuple(param.name for param in cls.params)
    top = check_section(doc, (), cls, check_top_level(doc, "experiment config", keys))
    name = top["name"] or FilePath(doc.file).stem
    if not re.fullmatch(r"[\w.-]+", name):
        raise doc.error(("name",), f"name must be letters, digits, '.', '_' or '-'; got {name!r}")
    return top, name, FilePath(output or top["output"] or os.path.join("out", "experiments", name))
