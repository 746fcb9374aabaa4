"""Several streams in one run config: ``sources:`` and sinks with ``{source}`` in them.

::

    sources:
      - {name: door, type: url, url: rtsp://10.0.0.5/stream}
      - {name: yard, type: file, path: yard.mp4}
    stages: [grayscale, gradient, map]
    sinks:
      - video: {path: out/{source}.mp4}      # one file per stream: out/door.mp4, out/yard.mp4
      - stats: {path: out/all.jsonl}         # one file for all, each line with a "source"

Each stream gets its own instances of the stages (its own histograms, its own tuned
values) and of every sink whose ``path`` (or ``url``) holds ``{source}``, filled with the
stream's name (the ``window`` sink's ``title``: one window per stream).  A sink without
``{source}`` takes every stream only where it can: the ``stats`` sink (one file, a
``source`` field on each line), the ``http`` sink (one server, a grid page with a tile per
stream: :mod:`pipeline.io.sinks.http.streams`), the ``window`` sink (one window, a tile per
stream, at most :data:`GRID_TILES`: :mod:`pipeline.io.sinks.window_grid`) and ``discard``;
any other is refused here, naming the key, before anything is opened.  ``source:`` (one stream)
stays as it was, and a ``{source}`` there is refused.

This module checks the shape; :mod:`pipeline.config.run` checks each source's settings
(passed in as ``source_of``) and the chain, and :mod:`pipeline.runtime.streams` runs the
streams side by side.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

from pipeline.config.document import Document

#: What ``{source}`` stands for in a sink's path or url.
PLACEHOLDER = "{source}"
#: The settings of a sink that may hold it.
TEMPLATE_KEYS = ("path", "url")
#: ... and of the sinks that have another (a window per stream: its title).
OWN_TEMPLATE_KEYS = {"window": ("title",)}
#: Sinks that take every stream when their path has no ``{source}`` (the http sink has
#: none: one server and page for all; the window sink one window, a grid of tiles).
SHARED_SINKS = ("stats", "http", "window")
#: Streams one window's grid shows (tiles; the browser's grid shows as many).
GRID_TILES = 16
#: Sinks that are simply given to every stream (they write nothing).
COPIED_SINKS = ("discard",)
#: A stream's name: it goes into file names, so a plain word.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME_RULE = ("a word of letters, digits, '_', '-' and '.' (not first), at most 64 "
             "characters, as it goes into file names through {source}")


@dataclasses.dataclass
class Stream:
    """One stream of a config: its name, its source and its sinks (``{source}`` filled).

    Attributes
    ----------
    name : str or None
        The ``name`` of a ``sources:`` item; None for a config with one ``source:``.
    source : Component
    sinks : list of Component
        This stream's sinks in config order; a sink shared by all streams (a ``stats``
        sink without ``{source}``) is the config's own Component, the same object in
        every stream (see :func:`is_shared`).
    """

    name: str | None
    source: Any
    sinks: list


def is_shared(component) -> bool:
    """Whether a sink of a several-stream config is one sink for every stream."""
    return component.name in SHARED_SINKS and not _template_key(component)


def _template_key(component) -> str | None:
    for key in TEMPLATE_KEYS + OWN_TEMPLATE_KEYS.get(component.name, ()):
        value = component.settings.get(key)
        if isinstance(value, str) and PLACEHOLDER in value:
            return key
    return None


def filled(component, name: str):
    """``component`` with ``{source}`` in its path (or url, or title) replaced by ``name``.

    A window per stream saves its snapshots in ``snapshot_dir/NAME`` (as the grid window
    does), or where a ``{source}`` in ``snapshot_dir`` says.
    """
    key = _template_key(component)
    if key is None:
        return component
    settings = {**component.settings, key: component.settings[key].replace(PLACEHOLDER, name)}
    if component.name == "window":
        folder = str(settings["snapshot_dir"])  # checked: its default is in
        settings["snapshot_dir"] = (folder.replace(PLACEHOLDER, name) if PLACEHOLDER in folder
                                    else f"{folder.rstrip('/') or '/'}/{name}")
    return dataclasses.replace(component, settings=settings)


def check_sources(doc: Document, data: dict, source_of: Callable) -> list | None:
    """The ``(name, source Component)`` of each ``sources:`` item, or None without ``sources:``.

    ``source_of(place, mapping)`` checks one source's settings (``type`` and the rest).
    """
    if "sources" not in data:
        return None
    if "source" in data:
        raise doc.error(("sources",), "give source: (one stream) or sources: (a list of "
                                      "streams, each with a name), not both")
    items = data["sources"]
    if not isinstance(items, list) or not items:
        raise doc.error(("sources",), "sources must be a list of streams, each a mapping with "
                                      "a name and a type, e.g. '- {name: door, type: url, url: "
                                      f"rtsp://...}}'; got {items!r}")
    named, seen = [], {}
    for index, item in enumerate(items):
        place = ("sources", index)
        if not isinstance(item, dict):
            raise doc.error(place, f"each stream is a mapping with a name and a type; got {item!r}")
        name = item.get("name")
        if name is None:
            raise doc.error(place, f"stream {index} needs a name ({NAME_RULE})")
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise doc.error(place + ("name",), f"a stream's name is {NAME_RULE}; got {name!r}")
        if name in seen:
            raise doc.error(place + ("name",), f"name {name!r} is already stream {seen[name]}'s "
                                               f"(sources.{seen[name]}.name); each stream needs its own")
        seen[name] = index
        settings = {key: value for key, value in item.items() if key != "name"}
        named.append((name, source_of(place, settings)))
    _check_grid(doc, data.get("sinks"), len(named))
    return named


def _check_grid(doc: Document, sinks, count: int) -> None:
    """Refuse a window grid (a ``window`` sink without ``{source}``) of more than
    :data:`GRID_TILES` streams, naming its key; other shapes are the sinks' check's."""
    if count <= GRID_TILES or not isinstance(sinks, list):
        return
    for index, item in enumerate(sinks):
        if item == "window":
            settings = {}
        elif isinstance(item, dict) and list(item) == ["window"]:
            settings = item["window"] if isinstance(item["window"], dict) else {}
        else:
            continue
        title = settings.get("title")
        if isinstance(title, str) and PLACEHOLDER in title:
            continue
        raise doc.error(("sinks", index, "window"),
                        f"one window shows at most {GRID_TILES} streams as tiles, and this "
                        f"config has {count} (sources:); put {{source}} in its title for a "
                        "window per stream (e.g. title: 'edgepipe {source}'), or use the http "
                        "sink's grid page")


def check_sinks(doc: Document, sinks: list, several: bool) -> None:
    """Refuse ``{source}`` in a one-stream config, and a sink all streams cannot share."""
    for component in sinks:
        key = _template_key(component)
        if not several:
            if key is not None:
                raise doc.error(component.path + (key,),
                                "{source} stands for a stream's name, and this config has one "
                                "source:; list the streams under sources: (each with a name) "
                                "or write the name out")
            continue
        if key is not None or component.name in SHARED_SINKS + COPIED_SINKS:
            continue
        keys = [k for k in TEMPLATE_KEYS if k in component.settings]
        if keys:
            hint = (f"put {{source}} in its {keys[0]} for one output per stream, e.g. "
                    f"{_example(component.settings[keys[0]])!r}")
        else:
            hint = "it has no path to put {source} in; run it with one source:"
        raise doc.error(component.path, f"sink {component.name} takes one stream, and this config "
                                        f"has several (sources:); {hint} (sinks that take "
                                        f"every stream: {', '.join(SHARED_SINKS + COPIED_SINKS)}; "
                                        "the http sink and the window show them all as tiles)")


def _example(value: str) -> str:
    head, dot, tail = value.rpartition(".")
    if "/" in tail or not dot:
        return value + "_{source}"
    return f"{head}_{{source}}.{tail}"


def streams_of(named: list | None, source, sinks: list) -> list[Stream]:
    """Every stream of a checked config: one per ``sources:`` item, else the one ``source:``."""
    if named is None:
        return [Stream(None, source, list(sinks))]
    return [Stream(name, component,
                   [sink if is_shared(sink) else filled(sink, name) for sink in sinks])
            for name, component in named]
